"""Time every screen through AppTest, logged in as admin: first visit and revisit.

Run by benchmarks/run.py in its own process (so its peak memory is the app's), with
DATABASE_URL pointing at the store to measure. Prints one JSON object.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
SCREENS = ["overview", "accounts", "account", "feedback", "nps", "loyalty", "outreach", "data", "admin"]


def main() -> int:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    started = time.perf_counter()
    at.run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input("hearth-demo")
    at.button[0].click()
    at.run()
    result: dict[str, object] = {"login_s": round(time.perf_counter() - started, 3), "screens": {}}
    for screen in SCREENS:
        if screen == "account":
            at.query_params["id"] = "1"
        at.switch_page(f"views/{screen}.py")
        t0 = time.perf_counter()
        at.run()
        first = time.perf_counter() - t0
        t1 = time.perf_counter()
        at.run()
        second = time.perf_counter() - t1
        result["screens"][screen] = {
            "first_s": round(first, 3),
            "revisit_s": round(second, 3),
            "error": str(at.exception[0].message)[:200] if at.exception else None,
            "max_table_rows": max((len(df.value) for df in at.dataframe), default=0),
        }
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
