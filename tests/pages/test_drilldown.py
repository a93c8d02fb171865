"""Drill-down: the Overview's, NPS's and Loyalty's counts open the records behind them for
the roles that may see them, and only aggregates (no names, no ids) for exec.

The store is the demo store plus six hand-built customers in a segment of their own; the
answers and loyalty entries are replaced by hand-built ones, so every expected record below is
worked out by hand from the fixture, not by the code under test."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import delete, update
from sqlmodel import Session

from db.engine import get_engine
from db.models import Feedback, LoyaltyEntry, Outreach, Task, utcnow
from tests.factories import make_customer, make_feedback, make_loyalty, make_order
from tests.pages.helpers import app_as, page_text

SEGMENT = "drilltest"
COMMENT_C = "Leaky **lid** <b>again</b> [see](http://x.example)"


@pytest.fixture
def store(demo_app: str) -> dict:
    """Six customers in segment "drilltest", as of today with the default 90-day horizon:
    A (north-x): 2 orders in the period, 1 in the period before  -> active, retained
    B (south-x): 1 order in the period                             -> active
    C (north-x): 1 order in the period before only                 -> churned
    D (south-x): 2 orders in the period before only                -> churned
    E (north-x): one order 300 days ago                            -> neither
    F (south-x): no orders                                         -> neither
    Answers (all others removed): A 10, B 9 (promoters), D 7 (passive), C 3 two days ago and an
    answer from no known customer 0 forty days ago (detractors), and an old 1 from 400 days
    ago (outside the 12-month window). Loyalty (all other entries removed): A earns 500
    expiring in 10 days; B earns 300 expiring in 200 days; C earns 100 expiring in 20 days
    and redeems 40 -> expiring in 30 days: A 500 and C 60."""
    now = utcnow().replace(microsecond=0)
    out: dict = {}
    with Session(get_engine(demo_app)) as s:
        s.execute(update(Outreach).values(feedback_id=None))
        s.execute(update(Task).values(feedback_id=None))
        s.execute(delete(Feedback))
        s.execute(delete(LoyaltyEntry))
        people = {}
        for i, key in enumerate("ABCDEF"):
            people[key] = make_customer(s, external_id=f"DRL-{key}", name=f"Drillperson {key}anders",
                                        email=f"drill{key.lower()}@hidden-mail.example", segment=SEGMENT,
                                        region=("north-x", "south-x")[i % 2], owner="manager",
                                        signup_date=(now - timedelta(days=500)).date())
        for key, days in (("A", 5), ("A", 10), ("A", 100), ("B", 30), ("C", 120), ("D", 150), ("D", 170),
                          ("E", 300)):
            make_order(s, people[key], now - timedelta(days=days), 40.0)
        answers = {}
        for key, score, days, channel, comment in (
            ("A", 10, 3, "email", "Great"), ("B", 9, 50, "web", None), ("D", 7, 60, "email", None),
            ("C", 3, 2, "email", COMMENT_C), (None, 0, 40, "web", "Who am I"),
            ("A", 1, 400, "email", "Long ago"),
        ):
            f = make_feedback(s, people.get(key), now - timedelta(days=days), nps_score=score, channel=channel,
                              comment=comment)
            answers[(key, score)] = f.id
        make_loyalty(s, people["A"], now - timedelta(days=30), "earn", 500, expires_at=now + timedelta(days=10))
        make_loyalty(s, people["B"], now - timedelta(days=30), "earn", 300, expires_at=now + timedelta(days=200))
        make_loyalty(s, people["C"], now - timedelta(days=30), "earn", 100, expires_at=now + timedelta(days=20))
        make_loyalty(s, people["C"], now - timedelta(days=5), "redeem", -40)
        s.commit()
        out = {"now": now, "url": demo_app, "ids": {k: c.id for k, c in people.items()}, "answers": answers,
               "month_of_c": (now - timedelta(days=2)).date(), "month_of_e": f"{now - timedelta(days=300):%Y-%m}"}
    return out


def _overview(username: str, drill: str):  # noqa: ANN202
    at = app_as(username, "views/overview.py", timeout=120)
    assert not at.exception, at.exception
    at.selectbox(key="ov_segment").set_value(SEGMENT).run()
    at.selectbox(key="ov_drill").set_value(drill).run()
    assert not at.exception, at.exception
    return at


def _table(at, column: str):  # noqa: ANN001, ANN202
    tables = [df.value for df in at.dataframe if column in df.value.columns]
    assert len(tables) == 1, [list(df.value.columns) for df in at.dataframe]
    return tables[0]


def test_a_manager_opens_the_customers_behind_the_overview_counts(store):
    at = _overview("manager", "churned")
    shown = _table(at, "external_id")
    assert dict(zip(shown["external_id"], shown["name"], strict=True)) == {
        "DRL-C": "Drillperson Canders", "DRL-D": "Drillperson Danders"}
    assert dict(zip(shown["external_id"], shown["orders_previous_period"], strict=True)) == {"DRL-C": 1, "DRL-D": 2}
    assert set(shown["orders_in_period"]) == {0}

    at.selectbox(key="ov_drill").set_value("active_customers").run()
    shown = _table(at, "external_id")
    assert list(shown["external_id"]) == ["DRL-A", "DRL-B"]  # most orders in the period first
    # The count the drill-down opens is the tile's count.
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Active customers"] == "2"

    at.selectbox(key="ov_drill").set_value("customers").run()
    assert set(_table(at, "external_id")["external_id"]) == {f"DRL-{k}" for k in "ABCDEF"}  # all signed up
    assert tiles["Customers"] == "6"

    at.selectbox(key="ov_drill").set_value("orders").run()
    shown = _table(at, "external_id")
    assert dict(zip(shown["external_id"], shown["orders_in_period"], strict=True)) == {"DRL-A": 2, "DRL-B": 1}
    assert tiles["Orders"] == "3"
    assert "Orders in the period (the customers who placed them) (3)" in at.selectbox(key="ov_drill").options

    # A bar of "Revenue by calendar month": E's month holds E's one order only (the nearest other
    # order is 130 days later).
    at.selectbox(key="ov_drill_month").set_value(store["month_of_e"]).run()
    assert not at.exception, at.exception
    shown = _table(at, "gross_sales")
    assert list(zip(shown["external_id"], shown["orders"], shown["gross_sales"], strict=True)) == [
        ("DRL-E", 1, 40.0)]


def test_exec_sees_the_overview_counts_by_segment_and_region_and_no_names(store):
    from core.drilldown import kpi_customers, month_customers
    from core.roles import NotAllowed, Role

    at = _overview("exec", "churned")
    assert not [df for df in at.dataframe if {"external_id", "name", "customer_id"} & set(df.value.columns)]
    counts = _table(at, "segment")
    assert sorted(zip(counts["segment"], counts["region"], counts["customers"], strict=True)) == [
        (SEGMENT, "north-x", 1), (SEGMENT, "south-x", 1)]
    at.selectbox(key="ov_drill_month").set_value(store["month_of_e"]).run()
    month = _table(at, "orders")
    assert list(zip(month["segment"], month["region"], month["customers"], month["orders"], strict=True)) == [
        (SEGMENT, "north-x", 1, 1)]
    assert not [df for df in at.dataframe if {"external_id", "name", "customer_id"} & set(df.value.columns)]
    text = page_text(at)
    assert "Drillperson" not in text and "DRL-" not in text and "hidden-mail" not in text
    with Session(get_engine(store["url"])) as s, pytest.raises(NotAllowed):
        kpi_customers(session=s, roles=frozenset({Role.EXEC}), kpi="churned", as_of=utcnow().date())
    with Session(get_engine(store["url"])) as s, pytest.raises(NotAllowed):
        month_customers(session=s, roles=frozenset({Role.EXEC}), month=store["month_of_e"], as_of=utcnow().date())


def _nps(username: str, group: str):  # noqa: ANN202
    at = app_as(username, "views/nps.py", timeout=120)
    assert not at.exception, at.exception
    at.selectbox(key="nps_drill_group").set_value(group).run()
    assert not at.exception, at.exception
    return at


def test_a_manager_opens_the_answers_behind_the_detractors(store):
    at = _nps("manager", "detractors")
    assert "Detractors (2 in the period)" in at.selectbox(key="nps_drill_group").options
    shown = _table(at, "answer_id")
    a = store["answers"]
    assert set(shown["answer_id"]) == {a[("C", 3)], a[(None, 0)]}
    by_id = shown.set_index("answer_id")
    assert by_id.loc[a[("C", 3)], "customer"] == "DRL-C"
    assert by_id.loc[a[("C", 3)], "score"] == 3
    # The customer's words as plain text, exactly as written (a dataframe cell renders no Markdown).
    assert by_id.loc[a[("C", 3)], "comment"] == COMMENT_C
    assert pd.isna(by_id.loc[a[(None, 0)], "customer"])  # an answer no customer matched
    assert not any("Leaky" in m.value for m in at.markdown)

    # One bar: the month of C's answer (two days ago) holds C's answer only; the other is 40 days old.
    month = store["month_of_c"].replace(day=1)
    box = at.selectbox(key="nps_drill_period")
    label = f"the month of {month:%B %Y}"
    assert label in box.options, box.options
    box.set_value(box.options.index(label) - 1).run()
    assert not at.exception, at.exception
    assert list(_table(at, "answer_id")["answer_id"]) == [a[("C", 3)]]

    at.selectbox(key="nps_drill_group").set_value("promoters").run()
    at.selectbox(key="nps_drill_period").set_value(None).run()
    assert set(_table(at, "answer_id")["answer_id"]) == {a[("A", 10)], a[("B", 9)]}


def test_exec_sees_the_detractors_by_segment_region_and_channel_only(store):
    from core.drilldown import nps_answers
    from core.feedback import nps_window
    from core.roles import NotAllowed, Role

    at = _nps("exec", "detractors")
    assert not [df for df in at.dataframe if {"answer_id", "comment", "customer", "customer_id"}
                & set(df.value.columns)]
    counts = _table(at, "channel")
    assert sorted(zip(counts["segment"], counts["region"], counts["channel"], counts["answers"], strict=True)) == [
        ("(none)", "(none)", "web", 1), (SEGMENT, "north-x", "email", 1)]
    text = page_text(at)
    assert "Leaky" not in text and "Who am I" not in text and "DRL-" not in text
    since, until = nps_window(months=12, today=utcnow().date())
    with Session(get_engine(store["url"])) as s, pytest.raises(NotAllowed):
        nps_answers(session=s, roles=frozenset({Role.EXEC}), group="detractors", since=since, until=until)


def test_exec_opens_the_loyalty_members_as_aggregates(store):
    at = app_as("exec", "views/loyalty.py", timeout=120)
    assert not at.exception, at.exception
    at.selectbox(key="loy_drill").set_value("expiring").run()
    assert not at.exception, at.exception
    table = _table(at, "members")
    assert not {"customer", "name", "customer_id", "id"} & set(table.columns)
    # A (north-x) 500 expiring, C (north-x) 100 earned - 40 redeemed = 60 expiring.
    assert int(table["members"].sum()) == 2
    assert set(table["region"]) == {"north-x"} and set(table["segment"]) == {SEGMENT}
    assert int(table["expiring_points"].sum()) == 560 and int(table["balance"].sum()) == 560
    at.selectbox(key="loy_drill").set_value("top").run()
    table = _table(at, "members")
    assert int(table["members"].sum()) == 3 and int(table["balance"].sum()) == 860
    # The Silver bar (400 points earned in 12 months): A only.
    at.selectbox(key="loy_drill").set_value("members").run()
    at.selectbox(key="loy_drill_tier").set_value("Silver").run()
    table = _table(at, "members")
    assert list(zip(table["region"], table["tier"], table["members"], table["balance"], strict=True)) == [
        ("north-x", "Silver", 1, 500)]
    text = page_text(at)
    assert "Drillperson" not in text and "DRL-" not in text


def test_the_nps_tile_opens_its_answers(store):
    """Under the segment filter and the 90-day period: A's 10 (3 days ago), B's 9 (50), D's 7 (60)
    and C's 3 (2); the answer no customer matched (40 days) drops out under a filter and the one
    400 days ago is outside the period. Exec gets them by segment, region and channel."""
    a = store["answers"]
    expected = {a[("A", 10)], a[("B", 9)], a[("D", 7)], a[("C", 3)]}
    at = _overview("manager", "nps")
    shown = _table(at, "answer_id")
    assert set(shown["answer_id"]) == expected
    tiles = {m.label: m for m in at.metric}
    assert f"from {len(expected)} answers" in page_text(at) and "NPS" in tiles
    assert "4 answers with a score in the period, newest first." in page_text(at)

    at = _overview("exec", "nps")
    shown = _table(at, "answers")
    assert sorted(zip(shown["region"], shown["channel"], shown["answers"], strict=True)) == [
        ("north-x", "email", 2), ("south-x", "email", 1), ("south-x", "web", 1)]
    assert "Drillperson" not in page_text(at) and "DRL-" not in page_text(at)


def test_the_retention_and_repeat_rates_open_their_customers(store):
    """Retained (an order in the period and in the one before): A only. Repeat buyers (two or more
    orders by today): A (3) and D (2). The box shows each rate beside it."""
    at = _overview("manager", "retained")
    assert list(_table(at, "external_id")["external_id"]) == ["DRL-A"]
    labels = at.selectbox(key="ov_drill").options
    # Retention: of A, C and D (active in the period before), A is active now: 1 of 3.
    assert any(o.startswith("Customers retained") and o.endswith("(retention rate 33.3 %)") for o in labels), labels
    # Repeat purchase rate: of A-E (an order by today; F none), A and D ordered twice or more: 2 of 5.
    assert any(o.startswith("Repeat buyers") and o.endswith("(repeat purchase rate 40.0 %)") for o in labels)
    at.selectbox(key="ov_drill").set_value("repeat").run()
    assert set(_table(at, "external_id")["external_id"]) == {"DRL-A", "DRL-D"}

    at = _overview("exec", "repeat")
    shown = _table(at, "customers")
    assert sorted(zip(shown["region"], shown["customers"], strict=True)) == [("north-x", 1), ("south-x", 1)]
    assert "Drillperson" not in page_text(at)
