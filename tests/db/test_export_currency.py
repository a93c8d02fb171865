"""Exports say the currency of their amounts: a `currency` column (HEARTH_CURRENCY) beside the
numbers, which stay numbers a spreadsheet can add. Expected values written by hand."""

from __future__ import annotations

import io
from datetime import date, datetime

import pandas as pd
import pytest

from core.config import get_settings
from core.exporting import audited_csv, export_csv
from core.roles import Role
from tests.factories import make_customer, make_order

ADMIN = frozenset({Role.ADMIN})


@pytest.fixture
def pounds(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HEARTH_CURRENCY", "GBP")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _read(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), dtype={"currency": str})


def test_the_accounts_export_names_the_currency_of_its_amounts(session, pounds) -> None:  # noqa: ANN001
    c = make_customer(session, external_id="X1", signup_date=date(2026, 1, 2))
    make_order(session, c, datetime(2026, 3, 1, 12), 80.5)
    session.commit()
    buffer = io.BytesIO()
    export_csv(session=session, kind="accounts", roles=ADMIN, actor="admin", out=buffer)
    frame = _read(buffer.getvalue())
    row = frame.set_index("customer_id").loc["X1"]
    assert row["currency"] == "GBP"
    assert row["revenue"] == 80.5 and row["gross_sales"] == 80.5  # written "80.50", from whole cents
    assert b",80.50,80.50,0.00," in buffer.getvalue()


def test_an_export_without_money_has_no_currency_column(session) -> None:  # noqa: ANN001
    data = audited_csv(session=session, frame=pd.DataFrame({"customer_id": ["X1"], "score": [3]}), kind="test",
                       actor="admin", roles=ADMIN, filename="t.csv")
    assert list(_read(data).columns) == ["customer_id", "score"]
    data = audited_csv(session=session, frame=pd.DataFrame({"customer_id": ["X1"], "value_at_risk": [12]}),
                       kind="test", actor="admin", roles=ADMIN, filename="t.csv")
    assert _read(data).to_dict("records") == [{"customer_id": "X1", "value_at_risk": 12, "currency": "EUR"}]
