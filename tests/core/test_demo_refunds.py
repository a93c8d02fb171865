"""The demo store has refunds (issue 14) and follows HEARTH_POINTS_EXPIRY_MONTHS."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from core import loyalty
from core.config import get_settings
from core.demo import INCIDENT_DAYS_AGO, INCIDENT_SKU, INCIDENT_WINDOW_DAYS, generate_demo

TODAY = date(2026, 11, 1)


def test_a_few_percent_of_orders_are_refunded_more_of_the_leaking_batch():
    f = generate_demo(customers=1500, seed=11, today=TODAY)
    orders, refunds = f["orders"].set_index("id"), f["refund"]
    share = len(refunds) / len(orders)
    assert 0.02 < share < 0.05
    # Every refund names a real order of the same customer, after it, for at most its total.
    o = orders.loc[refunds["order_id"]]
    assert (o["customer_id"].to_numpy() == refunds["customer_id"].to_numpy()).all()
    assert (pd.to_datetime(refunds["refunded_at"]).to_numpy() > o["ordered_at"].to_numpy()).all()
    assert (refunds["amount_cents"].to_numpy() <= o["total_cents"].to_numpy()).all()  # whole cents
    assert (refunds["amount_cents"] > 0).all() and (refunds["kind"] == "refund").all()
    # A third of the leaking batch's orders in the incident window are refunded, against 3 %.
    start = pd.Timestamp(TODAY) - pd.Timedelta(days=INCIDENT_DAYS_AGO)
    window = orders[(orders["ordered_at"] >= start)
                    & (orders["ordered_at"] < start + pd.Timedelta(days=INCIDENT_WINDOW_DAYS))]
    lines = f["order_line"]
    batch = window.index[window.index.isin(lines.loc[lines["sku"] == INCIDENT_SKU, "order_id"])]
    refunded = refunds["order_id"].isin(batch)
    assert len(batch) >= 20
    assert refunded.sum() / len(batch) > 0.15
    assert (refunds.loc[refunded, "reason"] == "leaking bottle (batch LAU-101)").all()


@pytest.fixture
def no_expiry(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HEARTH_POINTS_EXPIRY_MONTHS", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_demo_without_expiry_never_expires_points_and_never_goes_below_zero(no_expiry):
    f = generate_demo(customers=400, seed=5, today=TODAY)
    entries = f["loyalty_entry"]
    assert not (entries["kind"] == "expire").any()
    assert entries["expires_at"].isna().all()
    b = loyalty.customer_balances(entries, as_of=TODAY)
    assert (b["expired"] == 0).all() and (b["balance"] >= 0).all()
    assert loyalty.ledger_problems(entries) == []
