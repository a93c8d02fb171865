"""Time every screen through AppTest, logged in as admin.

Run by benchmarks/run.py in its own process (so its peak memory is the app's), with
DATABASE_URL pointing at the store to measure. Prints one JSON object. Per screen:

- first_s: the first visit, with the process's kept figures empty (core.readcache cleared),
  as for the first visitor after a restart or a write to the tables the screen reads;
- revisit_s: the same screen again (the cache now warm);
- filter_s: one filter changed (a tier, a segment, a band ...), where the screen has one;
- cold_s: the first visit again after clearing the kept figures, once every screen has been
  visited (only with --cold).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
SCREENS = ["overview", "accounts", "account", "feedback", "nps", "loyalty", "outreach", "data", "admin"]


def _pick_second(key: str) -> Callable[[AppTest], None]:
    def change(at: AppTest) -> None:
        box = at.selectbox(key=key)
        box.select_index(1)

    return change


# One filter change per screen that has filters: what a user does next after opening it.
FILTERS: dict[str, Callable[[AppTest], None]] = {
    "overview": _pick_second("ov_segment"),
    "accounts": lambda at: at.multiselect(key="acc_bands").set_value(["at_risk"]),
    "feedback": _pick_second("fb_assignee"),
    "nps": _pick_second("nps_split"),
    "loyalty": lambda at: at.multiselect(key="loy_tier_filter").set_value(
        at.multiselect(key="loy_tier_filter").value[1:]),
}


def _timed_run(at: AppTest) -> float:
    t0 = time.perf_counter()
    at.run()
    return time.perf_counter() - t0


def _forget_kept_figures() -> None:
    from core import readcache

    readcache.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="also time each screen again from cold")
    args = parser.parse_args(argv)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
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
        _forget_kept_figures()
        first = _timed_run(at)
        revisit = _timed_run(at)
        error = str(at.exception[0].message)[:200] if at.exception else None
        rows = max((len(df.value) for df in at.dataframe), default=0)
        filter_s = None
        if screen in FILTERS and not error:
            try:
                FILTERS[screen](at)
                filter_s = round(_timed_run(at), 3)
            except (KeyError, IndexError, ValueError) as exc:
                error = f"filter: {exc}"
        result["screens"][screen] = {"first_s": round(first, 3), "revisit_s": round(revisit, 3),
                                     "filter_s": filter_s, "cold_s": None, "error": error,
                                     "max_table_rows": rows}
    if args.cold:
        # Last, because forgetting the kept figures changes what the others measure.
        for screen in SCREENS:
            _forget_kept_figures()
            at.switch_page(f"views/{screen}.py")
            result["screens"][screen]["cold_s"] = round(_timed_run(at), 3)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
