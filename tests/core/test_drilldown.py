"""core.drilldown on SQLite and PostgreSQL: the records behind a count, worked out by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from core import drilldown
from core.kpis import KpiError
from core.roles import NotAllowed, Role
from tests.factories import make_customer, make_feedback, make_loyalty, make_order

D = date(2026, 6, 30)  # as of; the 30-day period is 1-30 June, the one before 2-31 May
MANAGER = frozenset({Role.ACCOUNT_MANAGER})
SUPPORT = frozenset({Role.SUPPORT_LEAD})
EXEC = frozenset({Role.EXEC})


@pytest.fixture
def book(session):  # noqa: ANN001, ANN201
    a = make_customer(session, external_id="A", name="Ann", segment="vip", region="north", signup_date=date(2025, 1, 1))
    b = make_customer(session, external_id="B", name="Ben", segment="vip", region="south", signup_date=date(2025, 1, 1))
    c = make_customer(session, external_id="C", name="Cat", segment="family", region="north",
                      signup_date=date(2025, 1, 1))
    make_customer(session, external_id="Z", name="Zed", segment="family", region="north",
                  signup_date=date(2026, 7, 5))  # signs up after D: not a customer yet
    make_order(session, a, datetime(2026, 6, 29, 23, 59), 10.0)  # in the period
    make_order(session, a, datetime(2026, 5, 2, 0, 0), 20.0)     # first moment of the period before
    make_order(session, b, datetime(2026, 5, 31, 23, 59), 30.0)  # last moment of the period before
    make_order(session, b, datetime(2026, 7, 1, 0, 0), 99.0)     # after D: not counted
    make_order(session, c, datetime(2026, 4, 15), 5.0)           # before both periods
    f1 = make_feedback(session, a, datetime(2026, 6, 1, 9), nps_score=6, channel="email", comment="Slow")
    f2 = make_feedback(session, c, datetime(2026, 6, 20, 9), nps_score=0, channel="web", comment="Broken")
    make_feedback(session, b, datetime(2026, 6, 10), nps_score=7, channel="email")
    make_feedback(session, b, datetime(2026, 6, 11), nps_score=None, channel="email", comment="no score")
    make_loyalty(session, a, datetime(2026, 6, 1), "earn", 200, expires_at=datetime(2026, 7, 10))
    make_loyalty(session, b, datetime(2026, 6, 1), "earn", 50, expires_at=datetime(2027, 1, 1))
    session.commit()
    return {"f1": f1.id, "f2": f2.id}


def test_overview_counts_open_their_customers(session, book):
    churned = drilldown.kpi_customers(session=session, roles=MANAGER, kpi="churned", as_of=D, horizon_days=30)
    assert list(churned["external_id"]) == ["B"]  # ordered 31 May, not in June
    active = drilldown.kpi_customers(session=session, roles=SUPPORT, kpi="active_customers", as_of=D,
                                     horizon_days=30)
    assert list(zip(active["external_id"], active["orders_in_period"], active["orders_previous_period"],
                    strict=True)) == [("A", 1, 1)]
    known = drilldown.kpi_customers(session=session, roles=MANAGER, kpi="customers", as_of=D, horizon_days=30)
    assert set(known["external_id"]) == {"A", "B", "C"}
    only_south = drilldown.kpi_customers(session=session, roles=MANAGER, kpi="customers", as_of=D,
                                         horizon_days=30, region="south")
    assert list(only_south["name"]) == ["Ben"]
    counts = drilldown.kpi_breakdown(session=session, kpi="customers", as_of=D, horizon_days=30)
    assert sorted(zip(counts["segment"], counts["region"], counts["customers"], strict=True)) == [
        ("family", "north", 1), ("vip", "north", 1), ("vip", "south", 1)]
    with pytest.raises(NotAllowed):
        drilldown.kpi_customers(session=session, roles=EXEC, kpi="churned", as_of=D, horizon_days=30)
    with pytest.raises(KpiError, match="no drill-down"):
        drilldown.kpi_breakdown(session=session, kpi="revenue", as_of=D, horizon_days=30)


def test_a_month_opens_its_customers(session, book):
    may = drilldown.month_customers(session=session, roles=MANAGER, month="2026-05", as_of=D)
    assert list(zip(may["external_id"], may["orders"], may["gross_sales"], strict=True)) == [
        ("B", 1, 30.0), ("A", 1, 20.0)]
    july = drilldown.month_breakdown(session=session, month="2026-07", as_of=D)
    assert july.empty  # B's July order lies after D
    with pytest.raises(KpiError, match="YYYY-MM"):
        drilldown.month_breakdown(session=session, month="May", as_of=D)
    with pytest.raises(NotAllowed):
        drilldown.month_customers(session=session, roles=EXEC, month="2026-05", as_of=D)


def test_nps_groups_open_their_answers(session, book):
    since, until = datetime(2026, 6, 1), datetime(2026, 6, 30, 23, 59, 59)
    det = drilldown.nps_answers(session=session, roles=SUPPORT, group="detractors", since=since, until=until)
    assert list(zip(det["answer_id"], det["customer"], det["score"], det["comment"], strict=True)) == [
        (book["f2"], "C", 0, "Broken"), (book["f1"], "A", 6, "Slow")]  # newest first
    counts = drilldown.nps_breakdown(session=session, group="detractors", since=since, until=until)
    assert sorted(zip(counts["segment"], counts["region"], counts["channel"], counts["answers"], strict=True)) == [
        ("family", "north", "web", 1), ("vip", "north", "email", 1)]
    passives = drilldown.nps_breakdown(session=session, group="passives", since=since, until=until)
    assert int(passives["answers"].sum()) == 1  # B's 7; the answer without a score counts nowhere
    assert drilldown.nps_answers(session=session, roles=MANAGER, group="promoters", since=since,
                                 until=until).empty
    with pytest.raises(NotAllowed):
        drilldown.nps_answers(session=session, roles=EXEC, group="detractors", since=since, until=until)
    with pytest.raises(ValueError, match="no NPS group"):
        drilldown.nps_breakdown(session=session, group="critics", since=since, until=until)


def test_a_bar_is_its_week_or_month_cut_to_the_window():
    since, until = datetime(2026, 6, 10), datetime(2026, 6, 30, 23, 59, 59)
    assert drilldown.period_window(date(2026, 6, 1), "M", since, until) == (since, until)
    start, end = drilldown.period_window(datetime(2026, 6, 15), "W", since, until)  # a Monday
    assert (start, end) == (datetime(2026, 6, 15), datetime(2026, 6, 21, 23, 59, 59, 999999))


def test_loyalty_members_as_aggregates(session, book):
    expiring = drilldown.loyalty_breakdown(session=session, as_of=D, which="expiring")
    assert list(zip(expiring["segment"], expiring["region"], expiring["members"], expiring["expiring_points"],
                    strict=True)) == [("vip", "north", 1, 200)]
    top = drilldown.loyalty_breakdown(session=session, as_of=D, which="top")
    assert int(top["members"].sum()) == 2 and int(top["balance"].sum()) == 250
    assert not {"name", "customer", "customer_id"} & set(top.columns)
    # A bar of Members per tier (tiers by points earned in 12 months: A 200 and B 50, both Bronze).
    bronze = drilldown.loyalty_breakdown(session=session, as_of=D, which="members", tier="Bronze")
    assert int(bronze["members"].sum()) == 2
    assert drilldown.loyalty_breakdown(session=session, as_of=D, which="members", tier="Gold").empty
