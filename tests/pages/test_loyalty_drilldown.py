"""Drill-down of the loyalty figures: the Loyalty screen's five programme tiles and its "Outstanding
points and liability" line, and the Overview's three loyalty tiles, open the members behind them
(manager: with names; exec: by segment and region only), and the members add up to the figure.

Every other loyalty entry of the demo store is removed; the entries below are built by hand, so
the expected figures are worked out by hand, not by the code under test."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete
from sqlmodel import Session

from db.engine import get_engine
from db.models import LoyaltyEntry, utcnow
from tests.factories import make_customer, make_loyalty
from tests.pages.helpers import app_as, open_tab, page_text

SEGMENT = "loydrill"


@pytest.fixture
def store(demo_app: str) -> dict:
    """A (north-x): earns 500 30 days ago (expiring in 10 days), redeems 100 5 days ago -> 400.
    B (south-x): earns 300 60 days ago (expiring in 200 days) -> 300.
    C (north-x): earns 100 400 days ago, expiring 300 days ago -> 100 expired, balance 0.
    So: members 3; outstanding 400 + 300 = 700 points; liability 700 x 0.01 = 7.00; earned 900,
    redeemed 100 (redemption rate 100 / 900 = 11.1 %), expired 100 (breakage 11.1 %).
    At the end of the month of C's earning (400 days ago) only C held points: 100."""
    now = utcnow().replace(microsecond=0)
    with Session(get_engine(demo_app)) as s:
        s.execute(delete(LoyaltyEntry))
        a, b, c = (make_customer(s, external_id=f"LOY-{k}", name=f"Loyperson {k}sen", segment=SEGMENT, region=r,
                                 signup_date=(now - timedelta(days=500)).date())
                   for k, r in (("A", "north-x"), ("B", "south-x"), ("C", "north-x")))
        make_loyalty(s, a, now - timedelta(days=30), "earn", 500, expires_at=now + timedelta(days=10))
        make_loyalty(s, a, now - timedelta(days=5), "redeem", -100)
        make_loyalty(s, b, now - timedelta(days=60), "earn", 300, expires_at=now + timedelta(days=200))
        make_loyalty(s, c, now - timedelta(days=400), "earn", 100, expires_at=now - timedelta(days=300))
        s.commit()
    return {"month_of_c": f"{now - timedelta(days=400):%Y-%m}", "this_month": f"{now:%Y-%m}"}


def _members(at, key: str):  # noqa: ANN001, ANN202
    """The table a drill opened, told apart by its columns: the programme tiles' members have earned
    points; a month end's members have their points (balance) and nothing else."""
    people = {"external_id", "name", "owner", "segment", "region", "members"}
    if key.endswith("month_end_members"):
        found = [df.value for df in at.dataframe if set(df.value.columns) - people == {"balance"}]
    else:
        found = [df.value for df in at.dataframe if "earned" in df.value.columns and "link" not in df.value.columns]
    assert len(found) == 1, [list(df.value.columns) for df in at.dataframe]
    return found[0]


def test_a_manager_opens_the_members_behind_the_programme_tiles(store):
    at = open_tab(app_as("manager", "views/loyalty.py", timeout=120), "loy_tab", "Programme")
    assert not at.exception, at.exception
    box = at.selectbox(key="loy_drill_programme")
    assert "Outstanding points (the members holding them) (700 points)" in box.options
    assert "Liability (the members holding the points) (€7.00)" in box.options
    assert "Redemption rate (points earned and redeemed, per member) (11.1 %: 100 of 900 points)" in box.options
    assert "Breakage (points earned and expired, per member) (11.1 %: 100 of 900 points)" in box.options

    box.set_value("outstanding").run()
    rows = _members(at, "loy_programme_members")
    assert list(zip(rows["external_id"], rows["balance"], strict=True)) == [("LOY-A", 400), ("LOY-B", 300)]
    assert list(rows["name"]) == ["Loyperson Asen", "Loyperson Bsen"]
    assert int(rows["balance"].sum()) == 700  # = the tile

    at.selectbox(key="loy_drill_programme").set_value("redemption").run()
    rows = _members(at, "loy_programme_members")
    assert set(rows["external_id"]) == {"LOY-A", "LOY-B", "LOY-C"}
    assert (int(rows["redeemed"].sum()), int(rows["earned"].sum())) == (100, 900)

    at.selectbox(key="loy_drill_programme").set_value("enrolment").run()
    assert len(_members(at, "loy_programme_members")) == 3  # the members

    at.selectbox(key="loy_month_end").set_value(store["month_of_c"]).run()
    assert not at.exception, at.exception
    rows = _members(at, "loy_month_end_members")
    assert list(zip(rows["external_id"], rows["balance"], strict=True)) == [("LOY-C", 100)]


def test_an_exec_sees_the_programme_members_by_segment_and_region(store):
    at = app_as("exec", "views/loyalty.py", timeout=120)
    assert not at.exception, at.exception
    at.selectbox(key="loy_drill_programme").set_value("liability").run()
    assert not at.exception, at.exception
    rows = _members(at, "loy_programme_members")
    got = {r.region: (r.members, r.balance, round(r.liability * 100)) for r in rows.itertuples()}
    assert got == {"north-x": (1, 400, 400), "south-x": (1, 300, 300)}
    assert round(rows["liability"].sum() * 100) == 700  # = the liability tile, to the cent
    at.selectbox(key="loy_month_end").options  # noqa: B018 - the box is there for exec too
    text = page_text(at)
    assert "Loyperson" not in text and "LOY-" not in text


@pytest.mark.parametrize("username", ["manager", "exec"])
def test_the_overview_loyalty_tiles_open_their_members(store, username):
    at = app_as(username, "views/overview.py", timeout=120)
    at.selectbox(key="ov_segment").set_value(SEGMENT).run()
    box = at.selectbox(key="ov_drill")
    assert "Outstanding points (the members holding them) (700)" in box.options
    assert "Redemption rate (points earned and redeemed, per member) (11.1 %)" in box.options
    box.set_value("loyalty_liability").run()
    assert not at.exception, at.exception
    rows = _members(at, "ov_drill_members")
    assert int(rows["balance"].sum()) == 700
    if username == "manager":
        assert list(rows["name"]) == ["Loyperson Asen", "Loyperson Bsen"]
    else:
        assert set(rows["region"]) == {"north-x", "south-x"} and "name" not in rows.columns
        assert "Loyperson" not in page_text(at)
    at.selectbox(key="ov_drill").set_value("redemption_rate").run()
    rows = _members(at, "ov_drill_members")
    assert (int(rows["redeemed"].sum()), int(rows["earned"].sum())) == (100, 900)


@pytest.mark.parametrize("username", ["manager", "exec"])
def test_a_point_of_the_overview_liability_line_opens_the_members_holding_the_points(store, username):
    at = app_as(username, "views/overview.py", timeout=120)
    at.segmented_control(key="ov_section").set_value("NPS and loyalty").run()
    assert not at.exception, at.exception
    value = f"{store['this_month']}|liability"
    assert f"Liability at the end of {store['this_month']} (€7.00, 700 points)" in at.selectbox(
        key="ov_drill_loyalty").options
    at.selectbox(key="ov_drill_loyalty").set_value(value).run()
    assert not at.exception, at.exception
    rows = _members(at, "ov_loyalty_month_end_members")
    assert int(rows["balance"].sum()) == 700  # = the line's point: 700 points, 7.00
    if username == "manager":
        assert list(zip(rows["external_id"], rows["balance"], strict=True)) == [("LOY-A", 400), ("LOY-B", 300)]
    else:
        assert {r.region: (r.members, r.balance) for r in rows.itertuples()} == {"north-x": (1, 400),
                                                                                 "south-x": (1, 300)}
        assert "Loyperson" not in page_text(at)
