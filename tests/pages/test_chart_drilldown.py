"""Chart drill-down: a bar or cell of the Overview's revenue mix, cohort heatmap and health bands, a
point of its trend, and a point of the NPS trend and a cell of its themes heatmap open the records
behind them (the box under each chart
is what a click on the chart sets, see ui.drilldown.opens); exec gets them by segment and region.

The store is test_drilldown's: six hand-built customers in segment "drilltest" with orders 5, 10
and 100 days ago (A), 30 (B), 120 (C), 150 and 170 (D), 300 (E), 40.00 each. The expected rows
are worked out below from that list by the definitions in words, not by the code under test."""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st
from sqlalchemy import update
from sqlmodel import Session

from db.engine import get_engine
from db.models import Campaign, Feedback, Outreach, ScoreSnapshot
from tests.pages.helpers import app_as, open_tab, page_text
from tests.pages.test_drilldown import SEGMENT, store  # noqa: F401 - the shared fixture

ORDERS = {"A": [5, 10, 100], "B": [30], "C": [120], "D": [150, 170], "E": [300]}


def _month(ts: datetime) -> str:
    return f"{ts:%Y-%m}"


def _kinds(now: datetime, horizon: int = 90) -> list[tuple[str, str, str]]:
    """(customer, month, kind) of every order: new in the month of the first order; otherwise
    reactivated after a gap of `horizon` days or more; otherwise returning."""
    out = []
    for who, days in ORDERS.items():
        dates = sorted(now - timedelta(days=d) for d in days)
        for i, d in enumerate(dates):
            if _month(d) == _month(dates[0]):
                kind = "new"
            elif (d - dates[i - 1]).days >= horizon:
                kind = "reactivated"
            else:
                kind = "returning"
            out.append((f"DRL-{who}", _month(d), kind))
    return out


def _overview(username: str):  # noqa: ANN202
    st.cache_data.clear()
    at = app_as(username, "views/overview.py", timeout=120)
    assert not at.exception, at.exception
    at.selectbox(key="ov_segment").set_value(SEGMENT).run()
    assert not at.exception, at.exception
    return at


def _table(at, column: str):  # noqa: ANN001, ANN202
    """The one table on the page with this column."""
    tables = [df.value for df in at.dataframe if column in df.value.columns]
    assert len(tables) == 1, [list(df.value.columns) for df in at.dataframe]
    return tables[0]


def test_a_bar_of_the_revenue_mix_opens_its_customers(store):  # noqa: F811
    now = store["now"]
    at = _overview("manager")
    at.segmented_control(key="ov_section").set_value("Revenue mix").run()
    assert not at.exception, at.exception
    for month, kind in ((_month(now - timedelta(days=30)), "new"), (_month(now - timedelta(days=150)), "returning")):
        expected = {}
        for who, m, k in _kinds(now):
            if (m, k) == (month, kind):
                expected[who] = expected.get(who, 0) + 1
        box = at.selectbox(key="ov_drill_mix")
        value = f"{month}|{kind}"
        label = f"{kind.capitalize()} customers in {month}"  # the box's words for the bar
        if not expected:
            assert label not in box.options
            continue
        assert label in box.options
        box.set_value(value).run()
        assert not at.exception, at.exception
        shown = _table(at, "revenue")
        assert dict(zip(shown["external_id"], shown["orders"], strict=True)) == expected
        assert list(shown["revenue"]) == [40.0 * n for n in shown["orders"]]


def test_a_cohort_cell_opens_the_customers_who_came_back_that_month(store):  # noqa: F811
    now = store["now"]
    cohort = _month(now - timedelta(days=100))  # A's first order
    later = now - timedelta(days=10)
    offset = (later.year * 12 + later.month) - ((now - timedelta(days=100)).year * 12
                                                + (now - timedelta(days=100)).month)
    # Customers whose first order fell in the cohort month and who ordered in the month `offset` later.
    expected = {}
    for who, days in ORDERS.items():
        dates = sorted(now - timedelta(days=d) for d in days)
        if _month(dates[0]) != cohort:
            continue
        n = sum(1 for d in dates if _month(d) == _month(later))
        if n:
            expected[f"DRL-{who}"] = n
    assert expected  # A at least
    at = _overview("manager")
    at.segmented_control(key="ov_section").set_value("Cohorts").run()
    at.selectbox(key="ov_drill_cohort").set_value(f"{cohort}|{offset}").run()
    assert not at.exception, at.exception
    shown = _table(at, "first_order")
    assert dict(zip(shown["external_id"], shown["orders"], strict=True)) == expected
    assert set(shown["name"]) == {f"Drillperson {k[-1]}anders" for k in expected}

    # Exec: the same cell by segment and region, without a name or an id.
    at = _overview("exec")
    at.segmented_control(key="ov_section").set_value("Cohorts").run()
    at.selectbox(key="ov_drill_cohort").set_value(f"{cohort}|{offset}").run()
    assert not at.exception, at.exception
    shown = _table(at, "customers")
    assert not {"external_id", "name", "customer_id"} & set(shown.columns)
    assert int(shown["customers"].sum()) == len(expected)
    assert "Drillperson" not in page_text(at) and "DRL-" not in page_text(at)


def test_a_point_of_the_trend_opens_the_active_customers_on_that_date(store):  # noqa: F811
    now = store["now"]
    at = _overview("manager")
    box = at.selectbox(key="ov_drill_point")
    first = box.options[0]  # the newest point: "... in the 90 days to 30 Nov 2026"
    point_day = datetime.strptime(first.rsplit(" to ", 1)[1], "%d %b %Y")
    day = f"{point_day:%Y-%m-%d}"
    box.set_value(f"{day}|active_customers").run()
    assert not at.exception, at.exception
    # Active on that day: an order in the 90 days up to its end.
    end = point_day + timedelta(days=1)
    expected = {f"DRL-{who}" for who, days in ORDERS.items()
                if any(end - timedelta(days=90) <= now - timedelta(days=d) < end for d in days)}
    shown = _table(at, "orders_in_period")
    assert set(shown["external_id"]) == expected


def test_a_cell_of_the_detractor_themes_opens_its_answers(store):  # noqa: F811
    now = store["now"]
    a = store["answers"]
    with Session(get_engine(store["url"])) as s:
        s.execute(update(Feedback).where(Feedback.id == a[("C", 3)]).values(
            flag_reasons="detractor 3; mentions: leaking, refund"))
        s.execute(update(Feedback).where(Feedback.id == a[(None, 0)]).values(flag_reasons="mentions: leaking"))
        s.commit()
    st.cache_data.clear()
    month = _month(now - timedelta(days=2))  # C's answer; the other one is 40 days old, another month
    at = app_as("manager", "views/nps.py", timeout=120)
    assert not at.exception, at.exception
    at.selectbox(key="nps_drill_theme").set_value(f"leaking|{month}").run()
    assert not at.exception, at.exception
    shown = _table(at, "answer_id")
    assert list(shown["answer_id"]) == [a[("C", 3)]]
    assert list(shown["customer"]) == ["DRL-C"]

    at = app_as("exec", "views/nps.py", timeout=120)
    at.selectbox(key="nps_drill_theme").set_value(f"leaking|{month}").run()
    assert not at.exception, at.exception
    shown = _table(at, "channel")
    assert list(zip(shown["segment"], shown["region"], shown["channel"], shown["answers"], strict=True)) == [
        (SEGMENT, "north-x", "email", 1)]
    assert "Leaky" not in page_text(at)


def test_a_bar_of_the_health_bands_opens_its_accounts(store):  # noqa: F811
    """Two scoring runs by hand: 8 days ago A watch, B at risk; yesterday A healthy, B and C at
    risk, D watch. The at-risk bar of yesterday holds B and C, largest churn risk first."""
    today = store["now"].date()
    runs = {
        today - timedelta(days=8): [("A", "watch", 55.0, 0.35), ("B", "at_risk", 25.0, 0.7)],
        today - timedelta(days=1): [("A", "healthy", 80.0, 0.1), ("B", "at_risk", 20.0, 0.8),
                                    ("C", "at_risk", 30.4, 0.6), ("D", "watch", 50.0, 0.3)],
    }
    with Session(get_engine(store["url"])) as s:
        for day, rows in runs.items():
            for who, band, health, churn in rows:
                s.add(ScoreSnapshot(customer_id=store["ids"][who], as_of=day, health_score=health, band=band,
                                    churn_probability=churn))
        s.commit()
    yesterday = f"{today - timedelta(days=1):%Y-%m-%d}"
    at = _overview("manager")
    at.segmented_control(key="ov_section").set_value("Health bands").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="ov_drill_band")
    assert len(box.options) == 5  # one per bar with accounts: 2 + 3
    assert any(o.startswith("At risk on ") and o.endswith("(2 accounts)") for o in box.options)
    box.set_value(f"{yesterday}|at_risk").run()
    assert not at.exception, at.exception
    shown = _table(at, "churn_percent")
    assert list(zip(shown["external_id"], shown["health_score"], shown["churn_percent"], strict=True)) == [
        ("DRL-B", 20.0, 80.0), ("DRL-C", 30.0, 60.0)]
    assert list(shown["name"]) == ["Drillperson Banders", "Drillperson Canders"]

    # Exec: the same bar by segment and region (B south-x, C north-x), no name or id.
    at = _overview("exec")
    at.segmented_control(key="ov_section").set_value("Health bands").run()
    at.selectbox(key="ov_drill_band").set_value(f"{yesterday}|at_risk").run()
    assert not at.exception, at.exception
    shown = _table(at, "region")
    assert not {"external_id", "name", "customer_id"} & set(shown.columns)
    assert sorted(zip(shown["segment"], shown["region"], shown["customers"], strict=True)) == [
        (SEGMENT, "north-x", 1), (SEGMENT, "south-x", 1)]
    assert "Drillperson" not in page_text(at) and "DRL-" not in page_text(at)


def test_a_point_of_the_nps_trend_opens_its_answers(store):  # noqa: F811
    """The monthly trend's point of C's month holds every scored answer submitted in that month
    (the fixture's answers, by their age in days; the 400-day-old one is outside the window)."""
    now = store["now"]
    a = store["answers"]
    ages = {("A", 10): 3, ("B", 9): 50, ("D", 7): 60, ("C", 3): 2, (None, 0): 40}
    month = now - timedelta(days=2)
    expected = {a[k] for k, days in ages.items() if _month(now - timedelta(days=days)) == _month(month)}
    st.cache_data.clear()
    at = app_as("manager", "views/nps.py", timeout=120)
    assert not at.exception, at.exception
    box = at.selectbox(key="nps_drill_point")
    words = f"The month of {month:%B %Y} ("
    labels = [o for o in box.options if o.startswith(words)]
    assert labels == [f"{words}{len(expected)} answers, " + labels[0].split(", ", 1)[1]]
    # Values run newest period first, as the labels: the value is the period's index.
    value = len(box.options) - 1 - box.options.index(labels[0])
    box.set_value(value).run()
    assert not at.exception, at.exception
    shown = _table(at, "answer_id")
    assert set(shown["answer_id"]) == expected
    assert list(shown["submitted_at"]) == sorted(shown["submitted_at"], reverse=True)  # newest first

    at = app_as("exec", "views/nps.py", timeout=120)
    at.selectbox(key="nps_drill_point").set_value(value).run()
    assert not at.exception, at.exception
    shown = _table(at, "channel")
    assert not {"answer_id", "customer", "comment"} & set(shown.columns)
    assert int(shown["answers"].sum()) == len(expected)
    assert "Leaky" not in page_text(at) and "DRL-" not in page_text(at)


def test_a_point_of_the_nps_trend_split_by_channel_opens_that_channels_answers(store):  # noqa: F811
    """Split by channel, the "email" line's point of C's month holds the email answers of that
    month only (A's 10 three days ago if in the same month, C's 3): not B's or the unknown
    customer's web answers, nor D's email answer sixty days ago."""
    now = store["now"]
    a = store["answers"]
    answers = {("A", 10): (3, "email"), ("B", 9): (50, "web"), ("D", 7): (60, "email"), ("C", 3): (2, "email"),
               (None, 0): (40, "web")}
    month = now - timedelta(days=2)
    expected = {a[k] for k, (days, channel) in answers.items()
                if channel == "email" and _month(now - timedelta(days=days)) == _month(month)}
    st.cache_data.clear()
    at = app_as("manager", "views/nps.py", timeout=120)
    at.selectbox(key="nps_split").set_value("channel").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="nps_drill_point")
    words = f"Channel email, the month of {month:%B %Y} ("
    labels = [o for o in box.options if o.startswith(words)]
    assert labels == [f"{words}{len(expected)} answers, " + labels[0].split(", ", 2)[2]]
    # The value is the point's row in the split figures: the one whose label this is.
    value = next(i for i in range(len(box.options)) if box.format_func(i) == labels[0])
    box.set_value(value).run()
    assert not at.exception, at.exception
    shown = _table(at, "answer_id")
    assert set(shown["answer_id"]) == expected
    assert f"{len(expected)} answers with a score (channel email), newest first." in page_text(at)
    # Another split numbers the points afresh: the open one closes rather than name another point.
    at.selectbox(key="nps_split").set_value("segment").run()
    assert at.selectbox(key="nps_drill_point").value is None
    assert not [df for df in at.dataframe if "answer_id" in df.value.columns]

    at = app_as("exec", "views/nps.py", timeout=120)
    at.selectbox(key="nps_split").set_value("channel").run()
    at.selectbox(key="nps_drill_point").set_value(value).run()
    assert not at.exception, at.exception
    shown = _table(at, "answers")
    assert set(shown["channel"]) == {"email"} and int(shown["answers"].sum()) == len(expected)
    assert "Leaky" not in page_text(at) and "DRL-" not in page_text(at)


def test_a_point_of_the_overview_nps_by_month_opens_its_answers(store):  # noqa: F811
    """Under the segment filter only the six customers' answers count (the answer no customer
    matched drops out); C's month holds the scored answers of that month by their age in days."""
    now = store["now"]
    a = store["answers"]
    ages = {("A", 10): 3, ("B", 9): 50, ("D", 7): 60, ("C", 3): 2}
    month = _month(now - timedelta(days=2))
    expected = {a[k] for k, days in ages.items() if _month(now - timedelta(days=days)) == month}
    at = _overview("manager")
    at.segmented_control(key="ov_section").set_value("NPS and loyalty").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="ov_drill_nps")
    assert [o for o in box.options if o.startswith(f"{month} (")][0].startswith(f"{month} ({len(expected)} answers")
    box.set_value(month).run()
    assert not at.exception, at.exception
    shown = _table(at, "answer_id")
    assert set(shown["answer_id"]) == expected
    assert a[(None, 0)] not in set(shown["answer_id"])

    at = _overview("exec")
    at.segmented_control(key="ov_section").set_value("NPS and loyalty").run()
    at.selectbox(key="ov_drill_nps").set_value(month).run()
    assert not at.exception, at.exception
    shown = _table(at, "channel")
    assert not {"answer_id", "customer", "comment"} & set(shown.columns)
    assert set(shown["segment"]) == {SEGMENT}
    assert int(shown["answers"].sum()) == len(expected)
    assert "Leaky" not in page_text(at) and "DRL-" not in page_text(at)


def _loyalty(username: str):  # noqa: ANN202
    st.cache_data.clear()
    at = app_as(username, "views/loyalty.py", timeout=120)
    if username != "exec":  # the programme is a tab of its own for roles that see members
        open_tab(at, "loy_tab", "Programme")
    assert not at.exception, at.exception
    return at


def test_a_bar_of_loyalty_flows_opens_its_members(store):  # noqa: F811
    """The store's ledger (every other entry removed): A earns 500, B 300 and C 100 thirty days
    ago; C redeems 40 five days ago; nothing has expired yet (A's lot expires in 10 days)."""
    now = store["now"]
    earned, redeemed = _month(now - timedelta(days=30)), _month(now - timedelta(days=5))
    at = _loyalty("manager")
    box = at.selectbox(key="loy_flow_bar")
    # A bar for each kind with points in a month, and none for expired points.
    assert set(box.options) == {f"Earned points in {earned}", f"Redeemed points in {redeemed}"}
    box.set_value(f"{earned}|earned").run()
    assert not at.exception, at.exception
    shown = _table(at, "points")
    assert list(zip(shown["external_id"], shown["points"], strict=True)) == [
        ("DRL-A", 500), ("DRL-B", 300), ("DRL-C", 100)]
    assert list(shown["name"]) == ["Drillperson Aanders", "Drillperson Banders", "Drillperson Canders"]
    at.selectbox(key="loy_flow_bar").set_value(f"{redeemed}|redeemed").run()
    assert not at.exception, at.exception
    shown = _table(at, "points")
    assert list(zip(shown["external_id"], shown["points"], strict=True)) == [("DRL-C", 40)]

    at = _loyalty("exec")
    at.selectbox(key="loy_flow_bar").set_value(f"{earned}|earned").run()
    assert not at.exception, at.exception
    shown = _table(at, "members")
    # A and C are in north-x, B in south-x.
    assert [tuple(r) for r in shown[["segment", "region", "members", "points"]].itertuples(index=False)] == [
        (SEGMENT, "north-x", 2, 600), (SEGMENT, "south-x", 1, 300)]
    assert "Drillperson" not in page_text(at) and "DRL-" not in page_text(at)


def test_a_bar_of_the_overviews_loyalty_by_month_opens_its_members(store):  # noqa: F811
    """The same ledger as above, on the Overview's "Loyalty points and liability by month"."""
    now = store["now"]
    earned, redeemed = _month(now - timedelta(days=30)), _month(now - timedelta(days=5))
    at = _overview("manager")
    at.segmented_control(key="ov_section").set_value("NPS and loyalty").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="ov_drill_loyalty")
    bars = {o for o in box.options if not o.startswith("Liability at the end of")}
    assert bars == {f"Earned points in {earned}", f"Redeemed points in {redeemed}"}
    # The liability line's month ends are in the box too (test_loyalty_drilldown opens them).
    assert f"Liability at the end of {redeemed} (€8.60, 860 points)" in box.options  # 900 earned - 40 redeemed
    box.set_value(f"{redeemed}|redeemed").run()
    assert not at.exception, at.exception
    shown = _table(at, "points")
    assert list(zip(shown["external_id"], shown["points"], strict=True)) == [("DRL-C", 40)]

    at = _overview("exec")
    at.segmented_control(key="ov_section").set_value("NPS and loyalty").run()
    at.selectbox(key="ov_drill_loyalty").set_value(f"{earned}|earned").run()
    assert not at.exception, at.exception
    shown = _table(at, "members")
    assert [tuple(r) for r in shown[["segment", "region", "members", "points"]].itertuples(index=False)] == [
        (SEGMENT, "north-x", 2, 600), (SEGMENT, "south-x", 1, 300)]
    assert "Drillperson" not in page_text(at) and "DRL-" not in page_text(at)


def test_a_campaign_of_the_uplift_chart_opens_its_customers(store):  # noqa: F811
    """A campaign 35 days ago (horizon 90 days, reactivation window 30): sent to A, B and D, C and
    E held out, F suppressed. By the store's orders: A (100 days ago) and C (120) ordered in the
    90 days before, so were active; B, D and E were inactive; B ordered 30 days ago, within 30 days
    after, so B is reactivated; nobody else ordered in the window. F is in neither group."""
    now, ids = store["now"], store["ids"]
    at_time = now - timedelta(days=35)
    with Session(get_engine(store["url"])) as s:
        camp = Campaign(name="Drill campaign", template="winback", created_by="manager", created_at=at_time)
        s.add(camp)
        s.flush()
        for key, status in (("A", "sent"), ("B", "sent"), ("D", "sent"), ("C", "holdout"), ("E", "holdout"),
                            ("F", "suppressed")):
            s.add(Outreach(customer_id=ids[key], template="winback", channel="email", campaign_id=camp.id,
                           triggered_by="manager", triggered_at=at_time, idempotency_key=f"drill-{key}",
                           status=status))
        s.commit()
        cid = camp.id
    at = _overview("manager")
    at.segmented_control(key="ov_section").set_value("Outreach results").run()
    assert not at.exception, at.exception
    at.selectbox(key="ov_drill_campaign").set_value(cid).run()
    assert not at.exception, at.exception
    shown = _table(at, "reactivated")
    assert [tuple(r) for r in shown[["external_id", "group", "inactive", "reactivated"]].itertuples(index=False)] == [
        ("DRL-B", "contacted", True, True), ("DRL-A", "contacted", False, False),
        ("DRL-D", "contacted", True, False), ("DRL-C", "holdout", False, False),
        ("DRL-E", "holdout", True, False)]

    at = _overview("exec")
    at.segmented_control(key="ov_section").set_value("Outreach results").run()
    at.selectbox(key="ov_drill_campaign").set_value(cid).run()
    assert not at.exception, at.exception
    shown = _table(at, "contacted_reactivated")
    # north-x: A (contacted), C and E (held out); south-x: B (contacted, reactivated) and D (contacted).
    assert [tuple(r) for r in shown[["region", "customers", "contacted", "contacted_reactivated", "held_out",
                                     "held_out_reactivated"]].itertuples(index=False)] == [
        ("north-x", 3, 1, 0, 2, 0), ("south-x", 2, 2, 1, 0, 0)]
    assert "Drillperson" not in page_text(at) and "DRL-" not in page_text(at)
