"""Drill-down of the Overview's "Onboarding, reactivation, subscriptions and support" tiles: each
opens the customers it counts (the tickets, for tickets per 100) from the "Open a count" box,
manager with names, exec by segment and region only.

The store is the demo store plus four hand-built customers in a segment of their own, as of today
with the default 90-day horizon; every expected figure is worked out by hand below."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from db.engine import get_engine
from db.models import utcnow
from tests.factories import make_customer, make_order, make_ticket
from tests.pages.helpers import app_as, page_text

SEGMENT = "xtradrill"


@pytest.fixture
def store(demo_app: str) -> None:
    """Onboarding cohort: first order between 150 and 60 days ago.
    N1 (north-x, paused): orders 100 and 80 days ago -> new, 2nd order after 20 days (came back).
    N2 (south-x, cancelled): orders 90 and 10 days ago -> new, 2nd order after 80 days (too late).
    N3 (north-x): one order 120 days ago -> new, no 2nd order.
    L1 (south-x, paused): orders 200 and 5 days ago -> not new.
    So: 3 new customers, 1 came back (33.3 %), days to 2nd order median(20, 80) = 50.
    Reactivation (t = the start of the day 29 days ago; inactive = no order in the 90 days up to t):
    lapsed N3 (last order 120 days ago) and L1 (200 days ago); L1 ordered after t -> 1 reactivated.
    Tickets: L1 one opened 3 days ago (N1's 100 days ago is outside); active in the period (an order in
    the last 90 days): N1 (80 days ago), N2, L1 -> 1 ticket, 100 / 3 = 33.3 per 100.
    Subscriptions: paused N1, L1; cancelled N2."""
    now = utcnow().replace(microsecond=0)
    with Session(get_engine(demo_app)) as s:
        people = {k: make_customer(s, external_id=f"XTR-{k}", name=f"Xtraperson {k}", segment=SEGMENT, region=r,
                                   subscription_status=sub, signup_date=(now - timedelta(days=300)).date())
                  for k, r, sub in (("N1", "north-x", "paused"), ("N2", "south-x", "cancelled"),
                                    ("N3", "north-x", None), ("L1", "south-x", "paused"))}
        for k, days in (("N1", 100), ("N1", 80), ("N2", 90), ("N2", 10), ("N3", 120), ("L1", 200), ("L1", 5)):
            make_order(s, people[k], now - timedelta(days=days), 30.0)
        make_ticket(s, people["L1"], now - timedelta(days=3), external_id="XTR-T1", topic="late delivery")
        make_ticket(s, people["N1"], now - timedelta(days=100), external_id="XTR-T0")
        s.commit()


def _overview(username: str):  # noqa: ANN202
    at = app_as(username, "views/overview.py", timeout=120)
    assert not at.exception, at.exception
    at.selectbox(key="ov_segment").set_value(SEGMENT).run()
    tiles = {m.label: m.value for m in at.metric}
    assert (tiles["2nd order in 60 days"], tiles["Days to 2nd order"], tiles["Lapsed reactivated"],
            tiles["Tickets per 100"], tiles["Subs paused"], tiles["Subs cancelled"]) == (
        "33.3 %", "50", "50.0 %", "33.3", "2", "1")
    return at


def _opened(at, drill: str):  # noqa: ANN001, ANN202
    at.selectbox(key="ov_drill").set_value(drill).run()
    assert not at.exception, at.exception
    marks = {"first_order", "last_order_before", "ticket", "tickets", "subscription_status", "came_back",
             "reactivated"}
    found = [df.value for df in at.dataframe if marks & set(df.value.columns)
             or list(df.value.columns) == ["segment", "region", "customers"]]
    assert len(found) == 1, [list(df.value.columns) for df in at.dataframe]
    return found[0]


def test_a_manager_opens_the_customers_behind_the_onboarding_and_support_tiles(store):
    at = _overview("manager")
    options = at.selectbox(key="ov_drill").options
    assert ("2nd order in 60 days and days to 2nd order (the new customers of the cohort) "
            "(3 new customers, 33.3 % ordered again)") in options
    assert "Lapsed reactivated (the customers lapsed at the start, and who came back) (2 lapsed, 1 reactivated)" \
        in options

    rows = _opened(at, "onboarding")
    assert dict(zip(rows["external_id"], rows["came_back"], strict=True)) == {"XTR-N1": 1, "XTR-N2": 0, "XTR-N3": 0}
    assert sorted(round(d) for d in rows["days_to_second"].dropna()) == [20, 80]
    rows = _opened(at, "lapsed")
    assert dict(zip(rows["external_id"], rows["reactivated"], strict=True)) == {"XTR-L1": 1, "XTR-N3": 0}
    rows = _opened(at, "tickets")
    assert list(zip(rows["ticket"], rows["name"], strict=True)) == [("XTR-T1", "Xtraperson L1")]
    assert sorted(_opened(at, "paused")["external_id"]) == ["XTR-L1", "XTR-N1"]
    assert list(_opened(at, "cancelled")["external_id"]) == ["XTR-N2"]


def test_an_exec_sees_them_by_segment_and_region_without_names(store):
    at = _overview("exec")
    rows = _opened(at, "onboarding")
    assert {r.region: (r.customers, r.came_back) for r in rows.itertuples()} == {"north-x": (2, 1),
                                                                                  "south-x": (1, 0)}
    rows = _opened(at, "lapsed")
    assert {r.region: (r.customers, r.reactivated) for r in rows.itertuples()} == {"north-x": (1, 0),
                                                                                    "south-x": (1, 1)}
    rows = _opened(at, "tickets")
    assert {r.region: r.tickets for r in rows.itertuples()} == {"south-x": 1}
    rows = _opened(at, "paused")
    assert {r.region: r.customers for r in rows.itertuples()} == {"north-x": 1, "south-x": 1}
    text = page_text(at)
    assert "Xtraperson" not in text and "XTR-" not in text
