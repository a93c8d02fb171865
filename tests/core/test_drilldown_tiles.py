"""core.drilldown for the Overview's, NPS's and Loyalty's tiles, on SQLite and PostgreSQL: the
orders and refunds behind the money tiles, the customers behind the onboarding and reactivation
tiles, the answers of a window and the members behind the programme figures. Expected values are
worked out by hand; each list is also checked against the tile core computes (it must add up)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from core import drilldown
from core.kpis import KpiError, compute_kpis, retention_extras
from core.loyalty import loyalty_kpis
from core.roles import NotAllowed, Role
from tests.factories import make_customer, make_feedback, make_loyalty, make_order, make_refund, make_ticket

D = date(2026, 6, 30)  # as of; the 30-day period is 1-30 June
MANAGER = frozenset({Role.ACCOUNT_MANAGER})
EXEC = frozenset({Role.EXEC})


@pytest.fixture
def book(session):  # noqa: ANN001, ANN201
    """A (vip, north): orders 10.01 on 29 June 23:59 (code XC1) and 20.02 on 1 June 00:00, refund
    3.33 of the first on 30 June. B (vip, south): order 30.03 on 31 May 23:59 (before the period),
    refunded 1.11 on 2 June; a cancellation of 5.00 on 3 June (never counted). C (family, north): an
    order of 99.99 on 1 July (after D). Gross 30.03, refunds 4.44, revenue 25.59, 2 orders, average
    16.02 (30.03 / 2 = 15.015 -> 15.02 half up)."""
    a = make_customer(session, external_id="A", name="Ann", segment="vip", region="north",
                      subscription_status="paused")
    b = make_customer(session, external_id="B", name="Ben", segment="vip", region="south")
    c = make_customer(session, external_id="C", name="Cat", segment="family", region="north")
    a1 = make_order(session, a, datetime(2026, 6, 29, 23, 59), 10.01, external_id="OA1", offer_code="XC1")
    make_order(session, a, datetime(2026, 6, 1, 0, 0), 20.02, external_id="OA2")
    b1 = make_order(session, b, datetime(2026, 5, 31, 23, 59), 30.03, external_id="OB1")
    make_order(session, c, datetime(2026, 7, 1, 0, 0), 99.99, external_id="OC1")
    make_refund(session, a, datetime(2026, 6, 30, 12), 3.33, order=a1, external_id="RA1")
    make_refund(session, b, datetime(2026, 6, 2, 12), 1.11, order=b1, external_id="RB1")
    make_refund(session, b, datetime(2026, 6, 3, 12), 5.00, external_id="RB2", kind="cancellation")
    make_ticket(session, a, datetime(2026, 6, 5), external_id="T1")
    make_feedback(session, a, datetime(2026, 6, 10), nps_score=9, channel="email")
    make_feedback(session, b, datetime(2026, 6, 11), nps_score=None, channel="web", comment="no score")
    make_feedback(session, None, datetime(2026, 6, 12), nps_score=None, channel="web")
    make_loyalty(session, a, datetime(2026, 6, 1), "earn", 200, expires_at=datetime(2027, 1, 1))
    make_loyalty(session, a, datetime(2026, 6, 2), "redeem", -50)
    make_loyalty(session, b, datetime(2026, 6, 1), "earn", 100, expires_at=datetime(2026, 6, 15))
    session.commit()


def _cents(values) -> int:  # noqa: ANN001
    return sum(round(float(v) * 100) for v in values)


def test_the_money_tiles_open_orders_and_refunds_that_add_up_to_the_cent(session, book):
    k = compute_kpis(session=session, as_of=D, horizon_days=30)
    assert (k["revenue"], k["gross_sales"], k["refunds"], k["orders"]) == (25.59, 30.03, 4.44, 2)
    rows = drilldown.sales_records(session=session, roles=MANAGER, which="revenue", as_of=D, horizon_days=30)
    assert list(zip(rows["kind"], rows["reference"], rows["name"], strict=True)) == [
        ("refund", "RA1", "Ann"), ("order", "OA1", "Ann"), ("refund", "RB1", "Ben"), ("order", "OA2", "Ann")]
    orders, refunds = rows[rows["kind"] == "order"], rows[rows["kind"] == "refund"]
    assert _cents(orders["amount"]) - _cents(refunds["amount"]) == round(k["revenue"] * 100)
    assert len(orders) == k["orders"]
    gross = drilldown.sales_records(session=session, roles=MANAGER, which="average_order_value", as_of=D,
                                    horizon_days=30)
    assert (len(gross), _cents(gross["amount"])) == (2, 3003)
    only = drilldown.sales_records(session=session, roles=MANAGER, which="refunds", as_of=D, horizon_days=30)
    assert list(only["reference"]) == ["RA1", "RB1"]  # the cancellation is not a refund
    by = drilldown.sales_breakdown(session=session, which="revenue", as_of=D, horizon_days=30)
    assert [(r.region, r.orders, _cents([r.gross_sales]), _cents([r.refunds]), _cents([r.revenue]))
            for r in by.itertuples()] == [("north", 2, 3003, 333, 2670), ("south", 0, 0, 111, -111)]
    with pytest.raises(NotAllowed):
        drilldown.sales_records(session=session, roles=EXEC, which="revenue", as_of=D, horizon_days=30)
    with pytest.raises(KpiError, match="no drill-down"):
        drilldown.sales_breakdown(session=session, which="profit", as_of=D, horizon_days=30)


def test_the_extras_tiles_open_the_customers_they_count(session, book):
    x = retention_extras(session=session, as_of=D, horizon_days=30)
    tickets = drilldown.extra_records(session=session, which="tickets", as_of=D, horizon_days=30)
    assert list(tickets["ticket"]) == ["T1"] and len(tickets) == x["tickets"]
    paused = drilldown.extra_records(session=session, which="paused", as_of=D, horizon_days=30)
    assert len(paused) == x["subscriptions_paused"] == 1
    lapsed = drilldown.extra_records(session=session, which="lapsed", as_of=D, horizon_days=30)
    assert (len(lapsed), int(lapsed["reactivated"].sum())) == (x["lapsed_customers"], x["reactivated_customers"])
    new = drilldown.extra_records(session=session, which="onboarding", as_of=D, horizon_days=30)
    assert len(new) == x["new_customers"]
    with pytest.raises(ValueError, match="no drill-down"):
        drilldown.extra_records(session=session, which="nope", as_of=D)


def test_the_answers_of_a_window_include_the_unscored_ones(session, book):
    since, until = datetime(2026, 6, 1), datetime(2026, 6, 30, 23, 59, 59)
    rows = drilldown.window_answers(session=session, roles=MANAGER, since=since, until=until)
    assert len(rows) == 3 and int(rows["score"].notna().sum()) == 1
    by = drilldown.window_answer_breakdown(session=session, since=since, until=until)
    assert sorted(zip(by["segment"], by["channel"], by["answers"], by["scored"], strict=True)) == [
        ("(none)", "web", 1, 0), ("vip", "email", 1, 1), ("vip", "web", 1, 0)]
    with pytest.raises(NotAllowed):
        drilldown.window_answers(session=session, roles=EXEC, since=since, until=until)


def test_the_programme_figures_open_their_members(session, book):
    k = loyalty_kpis(session=session, as_of=D)
    rows = drilldown.programme_members(session=session, as_of=D, which="outstanding")
    assert list(rows["balance"]) == [150]  # A only: B's 100 expired on 15 June
    assert int(rows["balance"].sum()) == k["outstanding_points"] == 150  # B's 100 expired on 15 June
    red = drilldown.programme_members(session=session, as_of=D, which="redemption")
    assert (int(red["redeemed"].sum()), int(red["earned"].sum())) == (50, 300)
    assert len(drilldown.programme_members(session=session, as_of=D, which="enrolment")) == 2
    ends = drilldown.month_end_members(session=session, as_of=D, month="2026-06")
    assert int(ends["balance"].sum()) == 150
    agg = drilldown.programme_records(session=session, roles=None, as_of=D, which="liability")
    assert _cents(agg["liability"]) == round(k["liability"] * 100) == 150  # 150 points x 0.01
    with pytest.raises(NotAllowed):
        drilldown.programme_records(session=session, roles=EXEC, as_of=D, which="outstanding")


def test_onboarding_without_a_second_order(session):  # noqa: ANN001
    """One new customer in the cohort (D = 30 June, H = 30: first orders in [2 April, 2 May)), first
    order 10 April and no second: 1 new customer, none came back, no days to a second order."""
    a = make_customer(session, external_id="N", name="Nia", segment="vip", region="north")
    make_order(session, a, datetime(2026, 4, 10), 5.0)
    session.commit()
    x = retention_extras(session=session, as_of=D, horizon_days=30)
    new = drilldown.extra_records(session=session, which="onboarding", as_of=D, horizon_days=30)
    assert len(new) == x["new_customers"] == 1
    assert int(new["came_back"].sum()) == 0 and new["days_to_second"].isna().all()
