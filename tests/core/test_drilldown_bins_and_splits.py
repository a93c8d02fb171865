"""core.drilldown: the lifetime-value histogram's fixed bins (pure, worked out by hand), the
customers behind a bin, and the answers behind a point of the NPS trend split by segment, region,
channel or product category (SQLite and PostgreSQL), worked out by hand from the fixture's list."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from core import drilldown
from core.clv import customer_lifetime_value
from core.feedback import nps_counts
from core.nps import nps_by_period
from core.roles import NotAllowed, Role
from tests.factories import make_customer, make_feedback, make_order, make_product

MANAGER = frozenset({Role.ACCOUNT_MANAGER})
EXEC = frozenset({Role.EXEC})


# ---------------------------------------------------------------- bins (pure)

def test_bins_are_round_steps_from_zero_past_the_99th_percentile_with_an_open_top():
    # 0, 10, ..., 100: the 99th percentile is 99 (linear between 90 and 100); 99 / 5 = 19.8 bars
    # fit under 20, 99 / 2 = 49.5 do not: step 5, edges 0..100 (100 > 99), and 100 itself lies on
    # the last closed edge, so an open bar "€100 or more" holds it.
    bins = drilldown.clv_bin_edges([10 * i for i in range(11)], currency="eur")
    assert bins.currency == "EUR"
    assert bins.edges == (*[5.0 * i for i in range(21)], math.inf)
    assert bins.label(0) == "€0 to €5"
    assert bins.label(20) == "€100 or more"
    hist = drilldown.clv_histogram([10 * i for i in range(11)], bins)
    assert len(hist) == 21 and int(hist["customers"].sum()) == 11
    # One value in each even bar (0, 10, ... fall on the low edge of bar 0, 2, ...), none in the odd ones.
    assert list(hist["customers"]) == [1, 0] * 10 + [1]


def test_bins_close_when_nothing_lies_past_the_percentile():
    # 3.50, 80, 1234 (GBP): p99 = 80 + 0.98 * 1154 = 1210.92; /100 = 12.1 bars (< 20), /50 = 24.2
    # (too many): step 100, 13 bars 0..1300; 1234 < 1300, so no open bar.
    bins = drilldown.clv_bin_edges([3.5, 1234.0, 80.0], currency="GBP")
    assert bins.edges == tuple(100.0 * i for i in range(14))
    hist = drilldown.clv_histogram([3.5, 1234.0, 80.0], bins).set_index("bin")
    assert hist.loc[0, "customers"] == 2 and hist.loc[12, "customers"] == 1
    assert hist.loc[12, "label"] == "£1,200 to £1,300"
    # A caller's own money format (e.g. the configured locale) writes the labels.
    assert bins.label(1, money=lambda x: f"{x:.0f} GBP") == "100 GBP to 200 GBP"


def test_bins_of_nothing_or_zeros_and_bad_input():
    assert drilldown.clv_bin_edges([], currency="EUR").edges == (0.0, 1.0)
    assert drilldown.clv_bin_edges([0.0, 0.0], currency="EUR").edges == (0.0, 1.0)
    assert list(drilldown.clv_histogram([0.0, 0.0, float("nan")], drilldown.clv_bin_edges(
        [0.0, 0.0], currency="EUR"))["customers"]) == [2]  # NaN is in no bar
    with pytest.raises(ValueError, match="never below 0"):
        drilldown.clv_bin_edges([-1.0, 5.0], currency="EUR")
    with pytest.raises(IndexError):
        drilldown.clv_bin_edges([5.0], currency="EUR").label(9)


def test_a_bar_opens_the_customers_whose_value_it_counts(session):
    # 40 customers, 1-6 orders each (the CLV model needs 20 and 10 repeat buyers).
    rng = np.random.default_rng(7)
    for i in range(40):
        c = make_customer(session, segment="home" if i % 2 else "office", region="north")
        for j in range(1 + int(rng.integers(0, 6))):
            make_order(session, c, datetime(2025, 1, 1) + timedelta(days=int(rng.integers(0, 400))),
                       float(10 + (i % 7) * 3 + j))
    session.commit()
    as_of = date(2026, 2, 15)
    values = customer_lifetime_value(session=session, as_of=as_of).customers.set_index("customer_id")["clv"]
    bins = drilldown.clv_bin_edges(values, currency="EUR")
    hist = drilldown.clv_histogram(values, bins)
    for row in hist.itertuples():
        rows = drilldown.clv_bin_customers(session=session, as_of=as_of, low=row.low, high=row.high)
        # The bar's height, and exactly the customers whose value lies in [low, high).
        assert len(rows) == row.customers
        expected = {int(i) for i, v in values.items() if row.low <= v < row.high}
        assert set(rows["customer_id"]) == expected
        assert list(rows["clv"]) == sorted(rows["clv"], reverse=True)
    assert int(hist["customers"].sum()) == 40
    # The same bar for exec: counts by segment and region, no customer id.
    top = hist[hist["customers"] > 0].iloc[0]
    rec = drilldown.clv_bin_customers(session=session, as_of=as_of, low=top["low"], high=top["high"])
    agg = drilldown.breakdown(session=session, records=rec, counts={"customers": "customer_id"})
    assert int(agg["customers"].sum()) == top["customers"] and set(agg["region"]) == {"north"}
    named = drilldown.with_people(session=session, roles=MANAGER, records=rec)
    assert len(named) == top["customers"] and named["name"].notna().all()
    with pytest.raises(NotAllowed):
        drilldown.with_people(session=session, roles=EXEC, records=rec)
    home = drilldown.clv_bin_customers(session=session, as_of=as_of, low=0, high=math.inf, segment="home")
    assert len(home) == 20


# ---------------------------------------------------------------- NPS trend split by a group

SINCE, UNTIL = datetime(2026, 4, 1), datetime(2026, 6, 30, 23, 59, 59, 999999)
JUNE = (datetime(2026, 6, 1), UNTIL)
MAY = (datetime(2026, 5, 1), datetime(2026, 5, 31, 23, 59, 59, 999999))


@pytest.fixture
def answers(session):  # noqa: ANN001, ANN201
    make_product(session, sku="DET", name="Detergent", category="detergent")
    make_product(session, sku="KIT", name="Whisk", category="kitchen")
    a = make_customer(session, external_id="A", segment="vip", region="north")
    b = make_customer(session, external_id="B", segment="vip", region="south")
    c = make_customer(session, external_id="C", segment="family", region="north")
    n = make_customer(session, external_id="N", segment=None, region=None)
    make_order(session, a, datetime(2026, 4, 10), 8.0, lines=[("DET", 1, 8.0)])   # detergent, in the window
    make_order(session, b, datetime(2026, 6, 5), 9.0, lines=[("KIT", 1, 9.0)])    # kitchen, in the window
    make_order(session, c, datetime(2026, 3, 1), 8.0, lines=[("DET", 1, 8.0)])    # detergent, before it
    make_order(session, c, datetime(2026, 5, 20), 9.0, lines=[("KIT", 1, 9.0)])   # kitchen, in the window
    f = {
        "a_jun": make_feedback(session, a, datetime(2026, 6, 1, 0, 0), nps_score=9, channel="email"),
        "a_may": make_feedback(session, a, datetime(2026, 5, 15), nps_score=3, channel="web"),
        "b_jun": make_feedback(session, b, datetime(2026, 6, 10), nps_score=7, channel="email"),
        "c_jun": make_feedback(session, c, datetime(2026, 6, 20), nps_score=10, channel=None),
        "n_jun": make_feedback(session, n, datetime(2026, 6, 2), nps_score=5, channel="email"),
        "x_jun": make_feedback(session, None, datetime(2026, 6, 3), nps_score=8, channel="web"),
    }
    make_feedback(session, b, datetime(2026, 6, 11), nps_score=None, channel="email", comment="no score")
    make_feedback(session, a, datetime(2026, 7, 1), nps_score=9, channel="email")  # after the window
    session.commit()
    return {k: v.id for k, v in f.items()}


# (split, value, period) -> the answers of that point, by the definitions in words: segment/region/
# channel equal to the value, "unknown" for a missing one (or no customer at all); category: the
# customer bought that category at any time in the screen's window (April to June), not only that month.
EXPECTED = {
    ("segment", "vip", JUNE): {"a_jun", "b_jun"},
    ("segment", "family", JUNE): {"c_jun"},
    ("segment", "unknown", JUNE): {"n_jun", "x_jun"},
    ("segment", "vip", MAY): {"a_may"},
    ("region", "north", JUNE): {"a_jun", "c_jun"},
    ("region", "south", JUNE): {"b_jun"},
    ("region", "unknown", JUNE): {"n_jun", "x_jun"},
    ("channel", "email", JUNE): {"a_jun", "b_jun", "n_jun"},
    ("channel", "web", JUNE): {"x_jun"},
    ("channel", "unknown", JUNE): {"c_jun"},
    ("category", "detergent", JUNE): {"a_jun"},      # C's detergent was bought in March
    ("category", "kitchen", JUNE): {"b_jun", "c_jun"},
    ("category", "detergent", MAY): {"a_may"},       # bought in April: still in the window
    ("category", "kitchen", MAY): set(),
}


@pytest.mark.parametrize(("split", "value", "period"), list(EXPECTED), ids=lambda v: str(v)[:10])
def test_a_point_of_the_split_trend_opens_that_groups_answers_of_that_period(session, answers, split, value,
                                                                            period):
    want = {answers[k] for k in EXPECTED[(split, value, period)]}
    got = drilldown.nps_answers(session=session, roles=MANAGER, group=None, since=period[0], until=period[1],
                                split=(split, value), bought=(SINCE, UNTIL))
    assert set(got["answer_id"]) == want and len(got) == len(want)  # each answer once
    agg = drilldown.nps_breakdown(session=session, group=None, since=period[0], until=period[1],
                                  split=(split, value), bought=(SINCE, UNTIL))
    assert int(agg["answers"].sum()) == len(want)
    assert not {"answer_id", "customer", "comment"} & set(agg.columns)


def test_every_point_of_the_split_trend_adds_up_to_what_the_chart_draws(session, answers):
    """The chart's own path (core.feedback.nps_counts -> core.nps.nps_by_period) against the drill."""
    for by in drilldown.NPS_SPLITS:
        periods = nps_by_period(nps_counts(session=session, since=SINCE, until=UNTIL, by=by), freq="M", by=by,
                                date_col="day")
        assert len(periods) > 0, by
        for row in periods.itertuples():
            lo, hi = drilldown.period_window(row.period, "M", SINCE, UNTIL)
            got = drilldown.nps_answers(session=session, roles=MANAGER, group=None, since=lo, until=hi,
                                        split=(by, getattr(row, by)), bought=(SINCE, UNTIL))
            assert len(got) == row.responses, (by, row)


def test_a_split_needs_a_known_column_and_comments_stay_with_roles_that_may_read_them(session, answers):
    with pytest.raises(ValueError, match="no NPS split"):
        drilldown.nps_answers(session=session, roles=MANAGER, group=None, since=SINCE, until=UNTIL,
                              split=("owner", "x"))
    with pytest.raises(NotAllowed):
        drilldown.nps_answers(session=session, roles=EXEC, group=None, since=SINCE, until=UNTIL,
                              split=("segment", "vip"))
    # A group and a split together: the detractors among vip's answers of the window.
    det = drilldown.nps_answers(session=session, roles=MANAGER, group="detractors", since=SINCE, until=UNTIL,
                                split=("segment", "vip"))
    assert set(det["answer_id"]) == {answers["a_may"]}


# ---------------------------------------------------------------- the Overview's NPS tile

def test_the_nps_tile_opens_the_answers_of_the_period(session, answers):
    """D = 30 June, H = 30 days: the period is [1 June 00:00, 1 July 00:00). A's answer at the very
    first moment counts; A's answer at 1 July 00:00 and the May one do not; unscored ones never."""
    from core.kpis import compute_kpis

    d = date(2026, 6, 30)
    got = drilldown.period_answers(session=session, roles=MANAGER, as_of=d, horizon_days=30)
    assert set(got["answer_id"]) == {answers[k] for k in ("a_jun", "b_jun", "c_jun", "n_jun", "x_jun")}
    assert list(got["submitted_at"]) == sorted(got["submitted_at"], reverse=True)
    assert len(got) == compute_kpis(session=session, as_of=d, horizon_days=30)["nps_responses"]
    # Under a filter, the answer no customer matched drops out (as in the tile).
    vip = drilldown.period_answers(session=session, roles=MANAGER, as_of=d, horizon_days=30, segment="vip")
    assert set(vip["answer_id"]) == {answers["a_jun"], answers["b_jun"]}
    assert len(vip) == compute_kpis(session=session, as_of=d, horizon_days=30, segment="vip")["nps_responses"]
    agg = drilldown.period_answer_breakdown(session=session, as_of=d, horizon_days=30, segment="vip")
    assert sorted(zip(agg["region"], agg["channel"], agg["answers"], strict=True)) == [
        ("north", "email", 1), ("south", "email", 1)]
    with pytest.raises(NotAllowed):
        drilldown.period_answers(session=session, roles=EXEC, as_of=d, horizon_days=30)


# ---------------------------------------------------------------- retention and repeat purchase rates

def test_the_rates_open_the_customers_of_their_numerators(session):
    """D = 30 June, H = 30 days: the period is June, the one before 1-31 May.
    A: 10 May and 10 June (active in both: retained; two orders: repeat).
    B: 15 May only (churned). C: 1 January and 20 June (repeat, not retained).
    E: 1 June, and 5 July after D (one order by D: not a repeat buyer)."""
    from core.kpis import compute_kpis

    d = date(2026, 6, 30)
    people = {k: make_customer(session, external_id=f"R{k}", segment="s", region="r") for k in "ABCE"}
    for k, when in (("A", datetime(2026, 5, 10)), ("A", datetime(2026, 6, 10)), ("B", datetime(2026, 5, 15)),
                    ("C", datetime(2026, 1, 1)), ("C", datetime(2026, 6, 20)), ("E", datetime(2026, 6, 1)),
                    ("E", datetime(2026, 7, 5))):
        make_order(session, people[k], when, 10.0)
    session.commit()
    retained = drilldown.kpi_customers(session=session, roles=MANAGER, kpi="retained", as_of=d, horizon_days=30)
    repeat = drilldown.kpi_customers(session=session, roles=MANAGER, kpi="repeat", as_of=d, horizon_days=30)
    assert list(retained["external_id"]) == ["RA"]
    assert set(repeat["external_id"]) == {"RA", "RC"}
    k = compute_kpis(session=session, as_of=d, horizon_days=30)
    assert k["retention_rate"] == pytest.approx(len(retained) / 2)  # of A and B, active in May
    assert k["repeat_purchase_rate"] == pytest.approx(len(repeat) / 4)  # of the four who ordered by D
    agg = drilldown.kpi_breakdown(session=session, kpi="repeat", as_of=d, horizon_days=30)
    assert list(zip(agg["segment"], agg["customers"], strict=True)) == [("s", 2)]
