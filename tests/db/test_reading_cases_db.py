"""Files read into exactly the records they hold, or refused with nothing imported (issue 14,
kind 4), through the whole import on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlmodel import Session, select

from core.importing import ImportFailed, import_csv
from core.nps import nps_summary
from db.models import AuditLog, Customer, Feedback, Order

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"


def imp(session: Session, kind: str, data: bytes | str, filename: str = "f.csv"):
    data = data.encode() if isinstance(data, str) else data
    return import_csv(session=session, kind=kind, data=data, filename=filename, actor="admin")


def refused(session: Session, kind: str, data: bytes | str) -> ImportFailed:
    with pytest.raises(ImportFailed) as err:
        imp(session, kind, data)
    return err.value


def test_excel_sep_hint_imports_two_customers_like_the_file_without_it(session):
    data = (CASES / "excel-sep-hint" / "customers_sep_hint.csv").read_bytes()
    summary = imp(session, "customers", data, "customers_sep_hint.csv")
    assert (summary.rows, summary.inserted) == (2, 2)
    customers = {c.external_id: (c.name, c.email_opt_in) for c in session.exec(select(Customer)).all()}
    assert customers == {"C3001": ("Ines Roth", True), "C3002": ("Luc Faure", False)}
    # The same file without the hint line changes nothing.
    again = imp(session, "customers", data.split(b"\n", 1)[1], "customers.csv")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


def test_stray_quote_is_refused_naming_row_4_and_nothing_is_imported(session):
    data = (CASES / "stray-quote-in-comment" / "feedback.csv").read_bytes()
    err = refused(session, "feedback", data)
    assert [(p.row, p.column) for p in err.problems] == [(4, "comment")]
    assert session.exec(select(Feedback)).all() == []
    entry = session.exec(select(AuditLog).where(AuditLog.action == "import.feedback.rejected")).one()
    assert "row 4, column comment" in json.loads(entry.detail)["first"][0]


def test_stray_quote_file_with_the_quote_fixed_gives_nps_33_from_6_answers(session):
    data = (CASES / "stray-quote-in-comment" / "feedback.csv").read_text()
    fixed = data.replace('"Arrived late again', '"Arrived late again"')
    assert imp(session, "feedback", fixed).inserted == 6
    scores = [f.nps_score for f in session.exec(select(Feedback)).all()]
    assert sorted(scores) == [2, 3, 9, 9, 10, 10]
    # Promoters 4 (9, 9, 10, 10), detractors 2 (3, 2): (4 - 2) / 6 = 33.3.
    summary = nps_summary(pd.Series(scores))
    assert round(summary["nps"], 1) == 33.3 and summary["responses"] == 6


@pytest.mark.parametrize("text, where", [
    ("customer_id,ordered_at,total\nC1,2025-01-01,5\nC2,0001-01-01,5\n", (3, "ordered_at")),
    ("customer_id,ordered_at,total\nC1,9999-12-31,5\nC2,2025-01-01,5\n", (2, "ordered_at")),
    ("order_id,customer_id,ordered_at,total\n6.52E+12,C1,2025-01-01,5\nO2,C2,2025-01-01,5\n", (2, "order_id")),
    ("customer_id,ordered_at,total,sku,quantity,unit_price\nC1,2025-01-05,17,DET,2,8.5\n"
     "C1,2025-01-05,17,DET,2,8.5\n", (3, "order_id")),
    ("customer_id;ordered_at;total\nC1;2025-01-01;5\nC2,2025-01-01,5\n", (3, None)),
])
def test_bad_orders_files_land_nothing(session, text, where):
    err = refused(session, "orders", text)
    assert (err.problems[0].row, err.problems[0].column) == where
    assert session.exec(select(Order)).all() == []
    assert session.exec(select(Customer)).all() == []


def test_placeholder_signup_date_names_row_column_and_value(session):
    err = refused(session, "customers", "customer_id,signup_date\nC1,2024-06-01\nC2,1900-01-01\n")
    assert str(err.problems[0]).startswith("row 3, column signup_date: '1900-01-01' is a placeholder")
    assert session.exec(select(Customer)).all() == []
