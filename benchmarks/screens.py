"""Time every screen through AppTest, logged in as admin.

Run by benchmarks/run.py in its own process (so its peak memory is the app's), with
DATABASE_URL pointing at the store to measure. Prints one JSON object. Per screen:

- first_s: the first visit, with the process's caches empty (st.cache_data cleared) and the
  day's results precomputed, as after the nightly `python -m core precompute`;
- revisit_s: the same screen again (the cache now warm);
- filter_s: one filter changed (a tier, a segment, a band ...), where the screen has one;
- cold_s: the first visit with nothing precomputed either, as for the first visitor after
  an import during the day (only with --cold).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st
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


def _forget_precomputed() -> None:
    from core import precomputed
    from core.config import get_settings
    from db.engine import get_engine, session_scope

    with session_scope(get_engine(get_settings().database_url)) as session:
        precomputed.forget(session)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="also time each screen with nothing precomputed")
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
        st.cache_data.clear()
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
        # Last, because forgetting the precomputed results changes what the others measure.
        for screen in SCREENS:
            _forget_precomputed()
            st.cache_data.clear()
            at.switch_page(f"views/{screen}.py")
            result["screens"][screen]["cold_s"] = round(_timed_run(at), 3)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
