"""Spreadsheet formulas do not leak through a table download (issue 19, point 7).

Streamlit's own "Download as CSV" in every st.dataframe toolbar writes raw cells and leaves no
audit entry, so it is off (client.disableDataExport; the browser test
tests/e2e/test_table_toolbar.py checks the toolbar). What a screen offers instead is Hearth's
export: one formula rule (core.exporting) and an audit entry, the selection export included."""

from __future__ import annotations

import csv
import io
import tomllib
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from core.roles import Role
from core.scoring import score_all
from db.engine import get_engine
from db.models import AuditLog, Customer

ROOT = Path(__file__).resolve().parents[2]
FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"open\")", "=cmd|' /C calc'!A0", "@SUM(1+1)", "+1+2",
            "-2+3", "\t=1+1", "\r=1+1"]


def test_streamlit_table_download_is_off() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True


def test_the_tables_own_rule_is_the_exports_rule() -> None:
    from ui.safe import formula_safe

    frame = pd.DataFrame({"name": FORMULAS, "n": range(len(FORMULAS))})
    for cells in (formula_safe,):
        out = cells(frame, ["name"])
        assert out["name"].tolist() == ["'" + f for f in FORMULAS]
        assert out["n"].tolist() == list(range(len(FORMULAS)))


def test_export_the_selection_is_formula_safe_and_audited(demo_app: str) -> None:
    from ui.accounts import selection_csv

    engine = get_engine(demo_app)
    with Session(engine) as session:
        customers = session.execute(select(Customer).order_by(Customer.id).limit(len(FORMULAS))).scalars().all()
        for customer, formula in zip(customers, FORMULAS, strict=True):
            customer.name = formula
        session.commit()
        ids = [c.id for c in customers]
    score_all(engine=engine)
    data = selection_csv("manager", frozenset({Role.ACCOUNT_MANAGER}), ids, "accounts-selection.csv")()
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    # Every cell keeps its row (a bare carriage return is a line break inside the quoted cell,
    # not a new row whose first cell would run) and starts with the apostrophe.
    assert len(rows) == len(FORMULAS)
    assert sorted(r["name"] for r in rows) == sorted("'" + f.replace("\r", "\n") for f in FORMULAS)
    with Session(engine) as session:
        entry = session.execute(select(AuditLog).where(AuditLog.action == "export.accounts_selection")).scalar_one()
    assert entry.actor == "manager"
    assert '"rows": 7' in entry.detail and "accounts-selection.csv" in entry.detail
