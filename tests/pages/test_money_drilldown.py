"""Drill-down of the Overview's money tiles: revenue, gross sales, refunds and average order value
open the orders and refunds of the period behind them (manager: with names; exec: by segment and
region, no names), and the rows add up to the tile to the cent. A row of "Offer-code revenue"
opens the orders that used the code.

The store is the demo store plus three hand-built customers in a segment of their own, as of
today with the default 90-day horizon; every expected figure is worked out by hand below."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from db.engine import get_engine
from db.models import Outreach, utcnow
from tests.factories import make_customer, make_order, make_refund
from tests.pages.helpers import app_as, page_text

SEGMENT = "moneydrill"


@pytest.fixture
def store(demo_app: str) -> dict:
    """A (north-x): orders 12.34 (5 days ago, offer code XMONEY1 of a win-back outreach) and 20.01
    (10 days ago), a refund of 2.50 of the first (3 days ago).
    B (south-x): an order of 7.66 (30 days ago) and a cancellation of 7.66 (29 days ago: never
    counted, neither as an order nor as a refund).
    C (north-x): an order of 99.99 120 days ago (before the period) and a refund of 5.00 of it
    4 days ago (counted in the period: refunds count by refund date).

    Gross sales 12.34 + 20.01 + 7.66 = 40.01; refunds 2.50 + 5.00 = 7.50; revenue 32.51; orders 3;
    average order value 40.01 / 3 = 13.3366... -> 13.34.
    By segment and region: north-x 2 orders, gross 32.35, refunds 7.50, revenue 24.85;
    south-x 1 order, gross 7.66, refunds 0, revenue 7.66."""
    now = utcnow().replace(microsecond=0)
    with Session(get_engine(demo_app)) as s:
        a, b, c = (make_customer(s, external_id=f"MNY-{k}", name=f"Moneyperson {k}berg", segment=SEGMENT,
                                 region=r, signup_date=(now - timedelta(days=400)).date())
                   for k, r in (("A", "north-x"), ("B", "south-x"), ("C", "north-x")))
        s.add(Outreach(customer_id=a.id, template="win_back", channel="outbox", triggered_by="manager",
                       triggered_at=now - timedelta(days=8), idempotency_key="moneydrill-1", status="sent",
                       offer_code="XMONEY1"))
        a1 = make_order(s, a, now - timedelta(days=5), 12.34, external_id="MNY-O1", offer_code="XMONEY1")
        make_order(s, a, now - timedelta(days=10), 20.01, external_id="MNY-O2")
        b1 = make_order(s, b, now - timedelta(days=30), 7.66, external_id="MNY-O3")
        c1 = make_order(s, c, now - timedelta(days=120), 99.99, external_id="MNY-O4")
        make_refund(s, a, now - timedelta(days=3), 2.50, order=a1, external_id="MNY-R1")
        make_refund(s, b, now - timedelta(days=29), 7.66, order=b1, external_id="MNY-R2", kind="cancellation")
        make_refund(s, c, now - timedelta(days=4), 5.00, order=c1, external_id="MNY-R3")
        s.commit()
    return {"now": now}


def _overview(username: str, drill: str | None):  # noqa: ANN202
    at = app_as(username, "views/overview.py", timeout=120)
    assert not at.exception, at.exception
    at.selectbox(key="ov_segment").set_value(SEGMENT).run()
    if drill is not None:
        at.selectbox(key="ov_drill").set_value(drill).run()
    assert not at.exception, at.exception
    return at


def _table(at):  # noqa: ANN001, ANN202
    """The one table of orders and refunds (or of their breakdown) on the page."""
    tables = [df.value for df in at.dataframe if {"kind", "revenue"} & set(df.value.columns)
              and "template" not in df.value.columns]
    assert len(tables) == 1, [list(df.value.columns) for df in at.dataframe]
    return tables[0]


def _cents(values) -> int:  # noqa: ANN001
    return sum(round(float(v) * 100) for v in values)


def test_a_manager_opens_the_orders_and_refunds_behind_the_money_tiles(store):
    at = _overview("manager", "revenue")
    box = at.selectbox(key="ov_drill")
    options = box.options  # as the user reads them
    assert "Revenue (the orders and refunds of the period) (€32.51)" in options
    assert "Gross sales (the orders of the period) (€40.01)" in options
    assert "Refunds (the refunds of the period) (€7.50)" in options
    assert "Average order value (the orders of the period) (€13.34 from 3 orders)" in options

    rows = _table(at)
    assert sorted(zip(rows["kind"], rows["reference"], rows["external_id"], rows["name"], strict=True)) == [
        ("order", "MNY-O1", "MNY-A", "Moneyperson Aberg"), ("order", "MNY-O2", "MNY-A", "Moneyperson Aberg"),
        ("order", "MNY-O3", "MNY-B", "Moneyperson Bberg"),
        ("refund", "MNY-R1", "MNY-A", "Moneyperson Aberg"), ("refund", "MNY-R3", "MNY-C", "Moneyperson Cberg")]
    orders, refunds = rows[rows["kind"] == "order"], rows[rows["kind"] == "refund"]
    # The opened rows reconcile with the tile to the cent: orders - refunds = revenue 32.51.
    assert _cents(orders["amount"]) - _cents(refunds["amount"]) == 3251
    assert list(rows["at"]) == sorted(rows["at"], reverse=True)  # newest first
    assert dict(zip(refunds["reference"], refunds["refunded_order"], strict=True)) == {
        "MNY-R1": "MNY-O1", "MNY-R3": "MNY-O4"}
    assert "3 orders (€40.01) and 2 refunds (€7.50)" in page_text(at)

    at.selectbox(key="ov_drill").set_value("gross_sales").run()
    rows = _table(at)
    assert set(rows["kind"]) == {"order"} and len(rows) == 3  # = the orders tile
    assert _cents(rows["amount"]) == 4001  # = gross sales
    assert dict(zip(rows["reference"], rows["offer_code"], strict=True))["MNY-O1"] == "XMONEY1"

    at.selectbox(key="ov_drill").set_value("average_order_value").run()
    rows = _table(at)
    assert len(rows) == 3 and _cents(rows["amount"]) == 4001  # 40.01 / 3 -> 13.34, the tile

    at.selectbox(key="ov_drill").set_value("refunds").run()
    rows = _table(at)
    assert list(rows["reference"]) == ["MNY-R1", "MNY-R3"]  # the cancellation is not a refund
    assert _cents(rows["amount"]) == 750


def test_an_exec_sees_the_money_behind_the_tiles_by_segment_and_region_without_names(store):
    at = _overview("exec", "revenue")
    rows = _table(at)
    assert list(rows.columns) == ["segment", "region", "orders", "gross_sales", "refunds", "revenue"]
    got = {r.region: (r.orders, round(r.gross_sales * 100), round(r.refunds * 100), round(r.revenue * 100))
           for r in rows.itertuples()}
    assert got == {"north-x": (2, 3235, 750, 2485), "south-x": (1, 766, 0, 766)}
    assert _cents(rows["revenue"]) == 3251 and int(rows["orders"].sum()) == 3
    text = page_text(at)
    assert "Moneyperson" not in text and "MNY-" not in text

    at.selectbox(key="ov_drill").set_value("refunds").run()
    rows = _table(at)
    assert {r.region: round(r.refunds * 100) for r in rows.itertuples()} == {"north-x": 750}
    assert "Moneyperson" not in page_text(at)


@pytest.mark.parametrize("username", ["manager", "exec"])
def test_a_row_of_offer_code_revenue_opens_the_orders_that_used_the_code(store, username):
    at = _overview(username, None)
    at.segmented_control(key="ov_section").set_value("Outreach results").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="ov_drill_offer")
    assert len(box.options) == 1
    at.selectbox(key="ov_drill_offer").set_value(box.options[0]).run()
    rows = _table(at)
    if username == "manager":
        assert list(zip(rows["reference"], rows["name"], rows["offer_code"], strict=True)) == [
            ("MNY-O1", "Moneyperson Aberg", "XMONEY1")]
        assert _cents(rows["amount"]) == 1234
    else:
        assert [(r.region, r.orders, round(r.revenue * 100)) for r in rows.itertuples()] == [("north-x", 1, 1234)]
        assert "Moneyperson" not in page_text(at)
