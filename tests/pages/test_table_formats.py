"""Every table on every screen shows numbers and dates the way the README promises (its
"Readable" rule: thousands separators, percentages as "12.3 %", dates as "30 Nov 2026").

Each screen, tab and Overview section is opened as the admin (who may open them all) on the demo
store; for every table the column settings the browser receives are checked against the values
the table holds:

- a quantity with a value of 1,000 or more has a format that groups thousands ("%,d"); ids are
  not quantities and are left as they are;
- no column uses Streamlit's "percent" format ("54.9%") and no tile reads "54.9%": a percentage
  reads "54.9 %" everywhere;
- a number column holds numbers (the grid marks a name in the Admin audit log's "Record id"
  column in red);
- a column holding dates or times has a date format that names the month ("D MMM YYYY"), not the
  ISO form "2026-11-30" the grid draws without one.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
from streamlit.testing.v1 import AppTest

from tests.pages.helpers import app_as, open_tab

IDS = {"Record id", "#", "Campaign", "Answer id", "Customer id", "Order or refund id"}
SCREENS = {  # page -> (tab key, tab labels) or Overview sections
    "views/my_work.py": None, "views/accounts.py": None, "views/feedback.py": None, "views/nps.py": None,
    "views/outreach.py": None, "views/data.py": None,
    "views/loyalty.py": ("loy_tab", ["Balances", "Expiring in 30 days", "Customer ledger", "Programme"]),
    "views/admin.py": ("admin_tab", ["Users", "Audit log", "Churn model", "Loyalty", "Feedback model",
                                     "Task rules"]),
}
OVERVIEW_SECTIONS = ["Trends", "Cohorts", "Revenue mix", "Health bands", "NPS and loyalty", "Outreach results",
                     "Lifetime value"]


def _is_dates(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, dt.date | dt.datetime | pd.Timestamp) for v in present)


def findings(at: AppTest, where: str) -> list[str]:
    """What breaks the rules above in the tables AppTest holds for one screen."""
    out: list[str] = []
    for tile in getattr(at, "metric", []):
        if re.search(r"\d%", f"{tile.value} {tile.proto.delta}"):
            out.append(f"{where}: the tile {tile.label!r} reads {tile.value!r} (a percentage reads '54.9 %')")
    for df in at.dataframe:
        columns = json.loads(df.proto.columns) if df.proto.columns else {}
        frame = df.value
        for name in frame.columns:
            config = columns.get(str(name), {})
            if config.get("hidden"):
                continue
            label = config.get("label") or str(name)
            kind = config.get("type_config", {})
            form = kind.get("format") or ""
            values = frame[name]
            if kind.get("type") == "number" and not pd.api.types.is_numeric_dtype(values):
                text = values.dropna().astype(str)
                words = text[~text.str.fullmatch(r"-?[\d.]+")]
                if len(words):
                    # The grid marks each such cell in red as a type error.
                    out.append(f"{where}: {label!r} is a number column holding text ({words.iloc[0]!r})")
            if form == "percent":
                out.append(f"{where}: {label!r} uses the percent format (54.9%)")
            if _is_dates(values):
                if kind.get("type") not in ("date", "datetime") or "MMM" not in form:
                    out.append(f"{where}: {label!r} holds dates shown without a month name ({form or 'no format'})")
            elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                big = values.dropna().abs()
                if label not in IDS and len(big) and big.max() >= 1000 and "," not in form:
                    out.append(f"{where}: {label!r} shows {big.max():.0f} without thousands separators "
                               f"({form or 'no format'})")
    return out


def test_every_table_groups_thousands_and_names_months(demo_app: str) -> None:
    seen: list[str] = []
    tables = 0
    at = app_as("admin", "views/overview.py")
    for section in OVERVIEW_SECTIONS:
        at.session_state["ov_section"] = section
        at.run()
        assert not at.exception, at.exception
        seen += findings(at, f"Overview, {section}")
        tables += len(at.dataframe)
    for page, tabs in SCREENS.items():
        at.switch_page(page)
        at.run()
        assert not at.exception, at.exception
        for label in (tabs[1] if tabs else [None]):
            if label:
                open_tab(at, tabs[0], label)
                if label == "Customer ledger":
                    at.text_input(key="loy_ledger_customer").input("C0000001").run()
                assert not at.exception, at.exception
            seen += findings(at, f"{page}{', ' + label if label else ''}")
            tables += len(at.dataframe)
    assert tables >= 12  # the walk reached the tables (a walk that shows none would pass)
    assert seen == [], "\n".join(seen)


def test_the_rules_find_what_they_look_for() -> None:
    class Fake:  # what AppTest gives for one table: the values and the settings sent with them
        def __init__(self, frame: pd.DataFrame, columns: dict) -> None:
            self.value = frame
            self.proto = type("P", (), {"columns": json.dumps(columns)})()

    frame = pd.DataFrame({"points": [12_345], "when": [dt.date(2026, 11, 30)], "share": [0.5], "id": [4567]})
    at = type("At", (), {"dataframe": [Fake(frame, {
        "points": {"label": "Balance", "type_config": {"type": "number", "format": "%d"}},
        "when": {"label": "When", "type_config": {"type": "date"}},
        "share": {"label": "Share", "type_config": {"type": "number", "format": "percent"}},
        "id": {"label": "Record id", "type_config": {"type": "number", "format": "%d"}}})]})()
    found = findings(at, "here")
    assert len(found) == 3
    at.metric = [type("M", (), {"label": "Redemption rate", "value": "57.6%", "proto": type("P", (), {"delta": ""})})]
    assert findings(at, "here")[0] == "here: the tile 'Redemption rate' reads '57.6%' (a percentage reads '54.9 %')"
    assert any("'Balance' shows 12345" in f for f in found)
    assert any("'When' holds dates" in f for f in found)
    assert any("'Share' uses the percent format" in f for f in found)
