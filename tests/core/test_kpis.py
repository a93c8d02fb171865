"""KPIs against hand computations on a small hand-made store, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from core.kpis import (
    KPI_KEYS,
    band_mix,
    band_moves,
    cohort_matrix,
    compare_kpis,
    compute_kpis,
    kpi_table_csv,
    kpi_trend,
    monthly_sales,
    nps_trend,
    offer_code_revenue,
    retention_extras,
    revenue_split,
    weekly_summary,
)
from core.loyalty import loyalty_kpis
from db.models import Outreach, ScoreSnapshot
from tests.factories import make_customer, make_feedback, make_loyalty, make_order, make_ticket

D = date(2026, 6, 30)  # window (D - 90, D] = [2026-04-02 00:00, 2026-07-01 00:00)


@pytest.fixture
def store(session):
    """Customers A..H; see each comment for the role it plays in the hand computation."""
    c = {}
    # A: ordered in the previous period and twice in this one, the last at 23:30 on D itself.
    c["A"] = make_customer(session, segment="home", region="north", subscription_status="active")
    make_order(session, c["A"], datetime(2026, 2, 10, 9), 20.00)
    make_order(session, c["A"], datetime(2026, 5, 5, 12), 30.00, offer_code="WB-1")
    make_order(session, c["A"], datetime(2026, 6, 30, 23, 30), 10.50)
    # B: only in the previous period: not retained.
    c["B"] = make_customer(session, segment="home", region="south", subscription_status="paused")
    make_order(session, c["B"], datetime(2026, 3, 1, 10), 40.00)
    # C: only orders long before the window: a customer, lapsed, never active here.
    c["C"] = make_customer(session, segment="office", region="north", subscription_status="active")
    make_order(session, c["C"], datetime(2025, 6, 1, 10), 15.00)
    # D: lapsed, then back in this period: reactivated.
    c["D"] = make_customer(session, segment="office", region="south", subscription_status="cancelled")
    make_order(session, c["D"], datetime(2025, 7, 1, 10), 12.00)
    make_order(session, c["D"], datetime(2026, 6, 1, 10), 18.25)
    # E: signed up in the window, never ordered: a customer, not a buyer.
    c["E"] = make_customer(session, segment="home", region="north", signup_date=date(2026, 6, 15))
    # F: signs up after D: not a customer yet.
    c["F"] = make_customer(session, segment="home", region="north", signup_date=date(2026, 8, 1))
    # G: no signup date, first order one instant after D: not counted anywhere.
    c["G"] = make_customer(session, segment="home", region="north", signup_date=None)
    make_order(session, c["G"], datetime(2026, 7, 1, 0, 0), 99.00)
    # H: signup date recorded late, but ordered on the last instant of the previous period
    # and on the first instant of this one.
    c["H"] = make_customer(session, segment="office", region="north", signup_date=date(2027, 1, 1))
    make_order(session, c["H"], datetime(2026, 4, 1, 23, 59, 59), 7.00)
    make_order(session, c["H"], datetime(2026, 4, 2, 0, 0), 5.00)
    make_ticket(session, c["A"], datetime(2026, 6, 10))
    make_ticket(session, c["B"], datetime(2026, 3, 10))
    # Survey answers: in the window A 10, D 9, H 7, an unknown customer 0, one comment only;
    # before it B 10.
    make_feedback(session, c["A"], datetime(2026, 5, 10), nps_score=10)
    make_feedback(session, c["D"], datetime(2026, 6, 5), nps_score=9)
    make_feedback(session, c["H"], datetime(2026, 6, 20), nps_score=7)
    make_feedback(session, None, datetime(2026, 6, 30, 23, 59), nps_score=0)
    make_feedback(session, c["C"], datetime(2026, 6, 10), nps_score=None, comment="fine")
    make_feedback(session, c["B"], datetime(2026, 3, 15), nps_score=10)
    # Loyalty: A earned 100 and redeemed 30; B's 50 expired on 2026-03-01; C earns after D.
    make_loyalty(session, c["A"], datetime(2026, 1, 10), "earn", 100, expires_at=datetime(2027, 1, 10))
    make_loyalty(session, c["A"], datetime(2026, 5, 1), "redeem", -30)
    make_loyalty(session, c["B"], datetime(2025, 3, 1), "earn", 50, expires_at=datetime(2026, 3, 1))
    make_loyalty(session, c["C"], datetime(2026, 7, 5), "earn", 20, expires_at=datetime(2027, 7, 5))
    session.add(Outreach(customer_id=c["A"].id, template="win_back", channel="outbox", triggered_by="manager",
                         idempotency_key="k1", status="sent", offer_code="WB-1",
                         triggered_at=datetime(2026, 4, 20)))
    session.flush()
    return c


def test_kpis_match_hand_computation(session, store):
    k = compute_kpis(session=session, as_of=D)
    assert list(k) == list(KPI_KEYS)
    assert k["as_of"] == "2026-06-30" and k["horizon_days"] == 90
    assert k["customers"] == 6  # A B C D E H
    assert k["active_customers"] == 3  # A D H
    assert k["orders"] == 4
    assert k["revenue"] == 63.75  # 30 + 10.50 + 18.25 + 5
    assert k["average_order_value"] == 15.94  # 63.75 / 4 = 15.9375
    assert k["repeat_purchase_rate"] == pytest.approx(3 / 5)  # A D H of A B C D H
    assert k["retention_rate"] == pytest.approx(2 / 3)  # A H of A B H
    assert k["churn_rate"] == pytest.approx(1 / 3)
    # 2 promoters, 1 passive, 1 detractor: 100 * (2 - 1) / 4. Adjusted Wald: n = 7,
    # p = 2.75 / 7, d = 1.75 / 7, centre 1 / 7; variance 4.5 / 7 - 1 / 49 = 0.622449;
    # se = sqrt(0.622449 / 7) = 0.298194; 1.959964 * se = 0.584450.
    assert k["nps"] == pytest.approx(25.0) and k["nps_responses"] == 4
    assert k["nps_ci_low"] == pytest.approx(100 * (1 / 7 - 0.584450), abs=1e-3)  # -44.16
    assert k["nps_ci_high"] == pytest.approx(100 * (1 / 7 + 0.584450), abs=1e-3)  # 72.73
    assert k["loyalty_outstanding_points"] == 70  # A's 100 - 30; B's lot expired
    assert k["loyalty_liability"] == 0.70  # 70 x the default point value 0.01
    assert k["redemption_rate"] == pytest.approx(30 / 150)
    lk = loyalty_kpis(session=session, as_of=D)  # the loyalty area's own figures agree
    assert (lk["outstanding_points"], lk["liability"], lk["redemption_rate"]) == (
        k["loyalty_outstanding_points"], k["loyalty_liability"], k["redemption_rate"])


def test_kpis_for_one_segment(session, store):
    k = compute_kpis(session=session, as_of=D, segment="home")
    assert k["customers"] == 3  # A B E
    assert k["active_customers"] == 1
    assert k["orders"] == 2 and k["revenue"] == 40.50 and k["average_order_value"] == 20.25
    assert k["repeat_purchase_rate"] == 0.5
    assert k["retention_rate"] == 0.5 and k["churn_rate"] == 0.5
    assert k["loyalty_outstanding_points"] == 70 and k["redemption_rate"] == pytest.approx(0.2)
    assert k["nps"] == 100.0 and k["nps_responses"] == 1  # A only; the unknown answer has no segment
    office = compute_kpis(session=session, as_of=D, segment="office")
    assert office["loyalty_outstanding_points"] is None  # C's only points come after D
    k = compute_kpis(session=session, as_of=D, region="south", owner="manager")
    assert (k["customers"], k["active_customers"], k["revenue"]) == (2, 1, 18.25)
    assert compute_kpis(session=session, as_of=D, owner="nobody")["customers"] == 0


def test_period_without_orders(session, store):
    k = compute_kpis(session=session, as_of=date(2025, 12, 31))
    assert k["orders"] == 0 and k["revenue"] == 0.0 and k["active_customers"] == 0
    assert k["average_order_value"] is None
    assert k["retention_rate"] is None and k["churn_rate"] is None  # nobody active before either
    assert k["repeat_purchase_rate"] == 0.0  # C and D had one order each by then
    assert k["customers"] == 4  # A..D signed up 2025-01-01 (factory default); E and H later


def test_empty_store(session):
    k = compute_kpis(session=session, as_of=D)
    assert k["customers"] == 0 and k["orders"] == 0 and k["revenue"] == 0.0
    assert k["average_order_value"] is None and k["repeat_purchase_rate"] is None
    assert k["retention_rate"] is None and k["churn_rate"] is None
    assert k["loyalty_liability"] is None and k["redemption_rate"] is None
    assert k["nps"] is None and k["nps_ci_low"] is None and k["nps_responses"] == 0
    # Every chart's reader answers an empty store with an empty (or all-zero) frame.
    assert revenue_split(session=session, as_of=D, months=3)["gross_sales"].sum() == 0
    assert cohort_matrix(session=session, as_of=D).empty and nps_trend(session=session, as_of=D).empty
    assert kpi_trend(session=session, as_of=D, points=4)["active_customers"].tolist() == [0, 0, 0, 0]
    assert band_mix(session=session).empty and band_moves(session=session)["previous"] is None
    assert monthly_sales(session=session, as_of=D, months=2)["orders"].tolist() == [0, 0]
    x = retention_extras(session=session, as_of=D)
    assert x["reactivation_rate"] is None and x["onboarding_second_order_rate"] is None
    assert x["tickets_per_100_active"] is None


def test_one_customer(session):
    c = make_customer(session)
    make_order(session, c, datetime(2026, 6, 1), "12.345")
    k = compute_kpis(session=session, as_of=D, horizon_days=30)
    assert (k["customers"], k["active_customers"], k["orders"]) == (1, 1, 1)
    assert k["revenue"] == 12.35  # 12.345 is stored as 1235 cents (core.money: half up)
    assert k["repeat_purchase_rate"] == 0.0
    assert k["retention_rate"] is None


def test_previous_period_comparison(session, store):
    table = compare_kpis(session=session, as_of=D).set_index("key")
    prev = compute_kpis(session=session, as_of=date(2026, 4, 1))
    assert table.loc["revenue", "current"] == 63.75
    # Previous period (D-180, D-90] = [2026-01-02, 2026-04-02): A 20, B 40, H 7.
    assert prev["revenue"] == 67.00 and table.loc["revenue", "previous"] == 67.00
    assert table.loc["revenue", "change"] == -3.25
    assert table.loc["active_customers", "change"] == 0
    assert table.loc["revenue", "definition"].startswith("Gross sales minus refunds in the last 90 days")


def _same(a: object, b: object) -> bool:
    return (b is None and (a is None or pd.isna(a))) or a == b


def test_previous_period_from_one_pass_equals_kpis_at_d_minus_h(session, store):
    # compare_kpis reads both of its periods from one pass over the orders at D; its previous
    # column is what compute_kpis computes at D - H on its own (a pass anchored there), for
    # every KPI and two horizons.
    for h in (30, 90):
        table = compare_kpis(session=session, as_of=D, horizon_days=h).set_index("key")
        alone = compute_kpis(session=session, as_of=D - timedelta(days=h), horizon_days=h)
        for key in KPI_KEYS:
            if key not in ("as_of", "horizon_days"):
                assert _same(table.loc[key, "previous"], alone[key]), (h, key)
    # By hand, the previous 90 days [2026-01-02, 2026-04-02): A, B and H ordered once each (20 +
    # 40 + 7); of the five buyers by then (A, B, C, D, H) none had two orders; nobody ordered in
    # the 90 days before that, so there is no retention to compute.
    prev = compare_kpis(session=session, as_of=D).set_index("key")["previous"]
    assert (prev["active_customers"], prev["orders"], prev["revenue"]) == (3, 3, 67.00)
    assert prev["repeat_purchase_rate"] == 0.0
    assert _same(prev["retention_rate"], None)


def test_retention_extras(session, store):
    x = retention_extras(session=session, as_of=D)
    # Reactivation (design.md, core.analytics.definitions) at t = D - 30 days = 2026-06-01 00:00:
    # inactive = no order in the 90 days [2026-03-03, 2026-06-01). Lapsed (ordered before t,
    # inactive at t): B (last order 03-01), C (2025-06-01), D (2025-07-01); A (05-05) and H
    # (04-01, 04-02) were active. Reactivated: D, who ordered on 06-01 10:00, within the 30 days.
    assert (x["lapsed_customers"], x["reactivated_customers"]) == (3, 1)
    assert x["reactivation_rate"] == pytest.approx(1 / 3)
    # First orders in (D-150, D-60] = [2026-02-01, 2026-05-02): A (2nd after 84 days), B (none),
    # H (2nd one second later).
    assert x["new_customers"] == 3
    assert x["onboarding_second_order_rate"] == pytest.approx(1 / 3)
    # Median of A's 84 days 3 hours and H's one second.
    assert x["onboarding_median_days"] == pytest.approx((84 + 3 / 24 + 1 / 86400) / 2)
    assert (x["subscriptions_active"], x["subscriptions_paused"], x["subscriptions_cancelled"]) == (2, 1, 1)
    assert x["subscription_pause_rate"] == 0.25
    assert x["tickets"] == 1 and x["tickets_per_100_active"] == pytest.approx(100 / 3)


def test_trend_agrees_with_kpis_at_every_point(session, store):
    trend = kpi_trend(session=session, as_of=D, points=22, step_days=20)
    assert trend["as_of"].iloc[-1] == pd.Timestamp(D) and len(trend) == 22
    for row in trend.itertuples():
        k = compute_kpis(session=session, as_of=row.as_of.date())
        assert row.active_customers == k["active_customers"], row.as_of
        assert row.orders == k["orders"], row.as_of
        assert row.revenue == k["revenue"], row.as_of  # both from whole cents: equal, not close
    last = trend.iloc[-1]
    assert (last.active_customers, last.orders, last.revenue) == (3, 4, 63.75)


def test_monthly_sales(session, store):
    m = monthly_sales(session=session, as_of=D, months=3).set_index("month")
    assert list(m.index) == ["2026-04", "2026-05", "2026-06"]
    assert m.loc["2026-04", "revenue"] == 12.00  # both of H's orders
    assert m.loc["2026-05", "revenue"] == 30.00
    assert m.loc["2026-06", "revenue"] == 28.75 and m.loc["2026-06", "customers"] == 2


def test_monthly_buyers_past_one_mask_and_any_horizon(session, store):
    # 70 months (the buyers per month are 62 months to a mask): the same buyers under any
    # horizon, which only names the pass read. By hand: June 2026 A and D, April H (twice),
    # July 2025 D, June 2025 C; G's order is after D.
    months = [monthly_sales(session=session, as_of=D, months=70, horizon_days=h).set_index("month") for h in (30, 90)]
    pd.testing.assert_frame_equal(months[0], months[1])
    m = months[0]
    assert len(m) == 70 and m.index[0] == "2020-09" and m.index[-1] == "2026-06"
    buyers = {k: v for k, v in m["customers"].items() if v}
    assert buyers == {"2025-06": 1, "2025-07": 1, "2026-02": 1, "2026-03": 1, "2026-04": 1, "2026-05": 1,
                      "2026-06": 2}


def test_nps_trend(session, store):
    t = nps_trend(session=session, as_of=D, months=4).set_index("month")
    assert list(t.index) == ["2026-03", "2026-05", "2026-06"]  # April has no answers
    assert t.loc["2026-03", "nps"] == 100.0 and t.loc["2026-05", "nps"] == 100.0
    assert t.loc["2026-06", "nps"] == pytest.approx(0.0) and t.loc["2026-06", "nps_responses"] == 3
    home = nps_trend(session=session, as_of=D, months=4, segment="home")
    assert list(home["nps_responses"]) == [1, 1]


def test_offer_code_revenue(session, store):
    df = offer_code_revenue(session=session, as_of=D)
    assert df.to_dict("records") == [
        {"template": "win_back", "campaign_id": None, "orders": 1, "revenue": 30.0}
    ]
    assert offer_code_revenue(session=session, as_of=D, segment="office").empty


def test_cohort_matrix_by_hand(session):
    x, y, z = make_customer(session), make_customer(session), make_customer(session)
    for who, when in [(x, "2026-01-15"), (x, "2026-02-03"), (x, "2026-04-20"),
                      (y, "2026-01-31"), (y, "2026-03-01"), (z, "2026-02-10"), (z, "2026-05-02")]:
        make_order(session, who, datetime.fromisoformat(when), 10.0)
    m = cohort_matrix(session=session, as_of=date(2026, 4, 30), months=4).set_index("cohort")
    assert list(m.index) == ["2026-01", "2026-02"]
    assert m.loc["2026-01", "customers"] == 2
    assert list(m.loc["2026-01", [0, 1, 2, 3]]) == [1.0, 0.5, 0.5, 0.5]
    assert m.loc["2026-02", "customers"] == 1
    assert list(m.loc["2026-02", [0, 1, 2]]) == [1.0, 0.0, 0.0]  # Z's May order is after D
    assert math.isnan(m.loc["2026-02", 3])  # month 3 of February is not reached at D
    # On 2 May, May has run two days: its cells are blank, not 0 % (Z's order on 2 May is in it).
    # A cohort of May itself shows its month 0.
    w = make_customer(session)
    make_order(session, w, datetime(2026, 5, 1, 10), 10.0)
    m = cohort_matrix(session=session, as_of=date(2026, 5, 2), months=5).set_index("cohort")
    assert list(m.loc["2026-01", [0, 1, 2, 3]]) == [1.0, 0.5, 0.5, 0.5]
    assert math.isnan(m.loc["2026-01", 4]) and math.isnan(m.loc["2026-02", 3])
    assert m.loc["2026-05", 0] == 1.0 and math.isnan(m.loc["2026-05", 1])


def test_revenue_split_by_hand(session):
    x, y, z = make_customer(session), make_customer(session), make_customer(session)
    make_order(session, x, datetime(2026, 1, 15), 10.0)  # new
    make_order(session, y, datetime(2026, 1, 31), 20.0)  # new
    make_order(session, x, datetime(2026, 2, 3), 5.0)  # returning (19 days)
    make_order(session, z, datetime(2026, 2, 10), 7.0)  # new
    make_order(session, y, datetime(2026, 3, 1), 3.0)  # returning (29 days)
    make_order(session, x, datetime(2026, 4, 20), 8.0)  # 76 days since the last: reactivated at H = 60
    make_order(session, x, datetime(2026, 4, 21), 1.0)  # returning
    df = revenue_split(session=session, as_of=date(2026, 4, 30), months=4, horizon_days=60)
    got = {(r.month, r.kind): r.gross_sales for r in df.itertuples() if r.gross_sales}
    assert got == {("2026-01", "new"): 30.0, ("2026-02", "returning"): 5.0, ("2026-02", "new"): 7.0,
                   ("2026-03", "returning"): 3.0, ("2026-04", "reactivated"): 8.0,
                   ("2026-04", "returning"): 1.0}
    assert len(df) == 12  # every month x kind, zeros included
    assert df["gross_sales"].sum() == 54.0


def test_band_mix_and_moves(session, store):
    def snap(cust, day, band):
        session.add(ScoreSnapshot(customer_id=cust.id, as_of=day, health_score=50, band=band,
                                  churn_probability=0.5))

    moves = [("A", "healthy", "watch"), ("B", "at_risk", "at_risk"), ("C", "watch", "healthy")]
    for cust, before, after in moves:
        snap(store[cust], date(2026, 6, 22), before)
        snap(store[cust], date(2026, 6, 29), after)
    snap(store["D"], date(2026, 6, 25), "watch")
    session.flush()
    mix = band_mix(session=session)
    latest = mix[mix["as_of"] == pd.Timestamp(2026, 6, 29)].set_index("band")
    assert latest["customers"].to_dict() == {"at_risk": 1, "healthy": 1, "watch": 1}
    assert latest["share"].sum() == pytest.approx(1.0)
    moves = band_moves(session=session)
    assert moves["previous"] == date(2026, 6, 22) and moves["latest"] == date(2026, 6, 29)
    assert (moves["improved"], moves["worsened"], moves["unchanged"]) == (1, 1, 1)
    assert set(map(tuple, moves["moves"][["from_band", "to_band", "customers"]].values.tolist())) == {
        ("healthy", "watch", 1), ("watch", "healthy", 1)}
    assert band_moves(session=session, segment="home")["worsened"] == 1
    assert band_moves(session=session, segment="home")["improved"] == 0


def test_weekly_summary_text(session, store):
    text = weekly_summary(session=session, as_of=D, horizon_days=90)
    assert "Hearth weekly summary for 2026-06-30" in text
    assert "€63.75" in text and "-€3.25" in text  # revenue and its change, in euros (the default currency)
    assert "reactivated: 1 of 3" in text  # D of B, C, D (see test_retention_extras)
    for c in store.values():
        assert c.name not in text and c.email not in text


def test_kpi_table_csv_is_formula_safe(session, store):
    import io

    table = compare_kpis(session=session, as_of=D)
    table.loc[0, "kpi"] = "=HYPERLINK(1)"
    raw = kpi_table_csv(table)
    back = pd.read_csv(io.BytesIO(raw))
    assert back.loc[0, "kpi"] == "'=HYPERLINK(1)"
    revenue = back.set_index("key").loc["revenue"]
    assert float(revenue["current"]) == 63.75 and float(revenue["change"]) == -3.25  # numbers stay numbers
    assert revenue["unit"] == "EUR"  # money says its currency (HEARTH_CURRENCY, EUR by default)
    assert back.set_index("key").loc["orders", "unit"] == "count"


def test_trend_past_one_pass_of_windows_agrees_with_kpis(session, store):
    # 70 points: the active customers are counted 62 windows per pass (one bit each); the
    # points on both sides of the seam agree with compute_kpis' own count at that date.
    trend = kpi_trend(session=session, as_of=D, points=70, step_days=5)
    assert len(trend) == 70
    for i in (0, 1, 60, 61, 62, 63, 69):
        row = trend.iloc[i]
        assert row.active_customers == compute_kpis(session=session, as_of=row.as_of.date())["active_customers"], i
    assert trend["active_customers"].iloc[-1] == 3


def test_onboarding_two_orders_at_one_moment_are_a_second_order(session):
    # First order 2026-03-10 09:00 in (D-150, D-60]; a second order at the very same moment
    # (a split basket): she came back after 0 days. Another's first order at 10:00 with no
    # second: the rate is 1 of 2, the median 0 days.
    a = make_customer(session, segment="home", region="north")
    make_order(session, a, datetime(2026, 3, 10, 9), 10.00)
    make_order(session, a, datetime(2026, 3, 10, 9), 5.00)
    b = make_customer(session, segment="home", region="north")
    make_order(session, b, datetime(2026, 3, 10, 10), 8.00)
    session.commit()
    x = retention_extras(session=session, as_of=D)
    assert x["new_customers"] == 2
    assert x["onboarding_second_order_rate"] == 0.5
    assert x["onboarding_median_days"] == 0.0
