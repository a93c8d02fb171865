"""The Overview through the real app, as the exec: aggregates only, the same numbers as core."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text as sql
from sqlmodel import Session, select

from db.engine import get_engine
from db.models import Campaign, Customer, Outreach, ScoreSnapshot, utcnow
from tests.factories import make_customer, make_feedback, make_loyalty, make_order, make_ticket
from tests.pages.helpers import app_as, page_text

PAGE = "views/overview.py"


@pytest.fixture
def store(demo_app: str) -> str:
    """Sixty customers with recognisable names and emails, a year of orders, answers, points,
    tickets, two weekly score runs and a campaign with a holdout, ending today."""
    rng = np.random.default_rng(4)
    ids = iter(range(1_000_000))

    def xid(kind: str) -> str:  # the demo store already uses the factories' default ids
        return f"ovt-{kind}-{next(ids)}"

    now = utcnow().replace(microsecond=0)
    today = now.date()
    with Session(get_engine(demo_app)) as s:
        camp = Campaign(name="Spring win-back", template="win_back", created_by="manager",
                        created_at=now - timedelta(days=40))
        s.add(camp)
        s.flush()
        for i in range(60):
            c = make_customer(s, external_id=xid("c"), name=f"Zebulon Quartermain{i}",
                              email=f"zq{i}@secret-mail.example",
                              phone=f"+44 7700 900{i:03d}", segment=("family", "office", "vip")[i % 3],
                              region=("north", "south")[i % 2], signup_date=today - timedelta(days=400),
                              subscription_status=("active", "paused", "cancelled")[i % 3])
            for _ in range(1 + int(rng.integers(0, 8))):
                make_order(s, c, now - timedelta(days=int(rng.integers(0, 380)), hours=int(rng.integers(0, 20))),
                           float(rng.integers(1500, 6000)) / 100, external_id=xid("o"))
            make_feedback(s, c, now - timedelta(days=int(rng.integers(0, 200))), external_id=xid("f"),
                          nps_score=int(rng.integers(0, 11)), comment=f"Private remark by Quartermain{i}")
            make_loyalty(s, c, now - timedelta(days=100), "earn", 200, expires_at=now + timedelta(days=200),
                         external_id=xid("l"))
            make_loyalty(s, c, now - timedelta(days=20), "redeem", -50, external_id=xid("l"))
            make_ticket(s, c, now - timedelta(days=int(rng.integers(0, 120))), external_id=xid("t"))
            for week, band in ((14, "watch"), (0, ("healthy", "watch", "at_risk")[int(rng.integers(0, 3))])):
                s.add(ScoreSnapshot(customer_id=c.id, as_of=today - timedelta(days=week) - timedelta(days=1),
                                    health_score=50,
                                    band=band, churn_probability=0.4))
            s.add(Outreach(customer_id=c.id, template="win_back", channel="outbox", campaign_id=camp.id,
                           triggered_by="manager", triggered_at=now - timedelta(days=40),
                           idempotency_key=xid("k"), status="holdout" if i % 5 == 0 else "sent",
                           offer_code=None if i % 5 == 0 else xid("code")))
        s.commit()
    return demo_app


def _personal_data(url: str) -> list[str]:
    with Session(get_engine(url)) as s:
        rows = s.exec(select(Customer.name, Customer.email, Customer.phone)).all()
    return [v for row in rows for v in row if v and len(v) > 4]


def _kpis_by_sql(url: str, d: date, h: int) -> dict:
    """design.md's KPIs at D, each one SQL statement over the tables (no Hearth code)."""
    end = datetime.combine(d + timedelta(days=1), datetime.min.time())
    start = end - timedelta(days=h)
    bounds = {"d": d, "start": start, "end": end}
    with get_engine(url).connect() as conn:
        def one(query: str) -> Any:  # noqa: ANN401
            return conn.execute(sql(query), bounds).scalar()

        customers = one("SELECT COUNT(*) FROM customer c WHERE c.signup_date <= :d "
                        "OR EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.ordered_at < :end)")
        active = one("SELECT COUNT(DISTINCT customer_id) FROM orders WHERE ordered_at >= :start AND ordered_at < :end")
        orders = one("SELECT COUNT(*) FROM orders WHERE ordered_at >= :start AND ordered_at < :end")
        gross = one("SELECT COALESCE(SUM(total_cents), 0) FROM orders WHERE ordered_at >= :start "
                    "AND ordered_at < :end")  # whole cents
        refunds = one("SELECT COALESCE(SUM(amount_cents), 0) FROM refund WHERE kind = 'refund' "
                      "AND refunded_at >= :start AND refunded_at < :end")
        promoters, detractors, answers = conn.execute(sql(
            "SELECT SUM(CASE WHEN nps_score >= 9 THEN 1 ELSE 0 END), SUM(CASE WHEN nps_score <= 6 THEN 1 ELSE 0 END), "
            "COUNT(*) FROM feedback WHERE nps_score IS NOT NULL AND submitted_at >= :start AND submitted_at < :end"),
            bounds).one()
    cents = Decimal("0.01")
    gross, refunds = Decimal(int(gross)) / 100, Decimal(int(refunds)) / 100  # exact decimals
    return {
        "customers": customers, "active_customers": active, "orders": orders,
        "revenue": gross - refunds, "gross_sales": gross, "refunds": refunds,
        # design.md: gross sales / orders, to the cent, an exact half cent up (core.money's rule).
        "average_order_value": (gross / orders).quantize(cents, ROUND_HALF_UP),
        "nps": 100 * (promoters - detractors) / answers,
    }


def test_exec_sees_kpis_and_no_personal_data(store):
    demo_app = store
    at = app_as("exec", PAGE, timeout=120)
    assert not at.exception, at.exception
    labels = {m.label for m in at.metric}
    assert {"Customers", "Active customers", "Revenue", "Orders", "Avg order value", "NPS"} <= labels
    text = page_text(at)
    leaks = [v for v in _personal_data(demo_app) if v in text]
    assert not leaks, leaks[:5]
    # The screen's numbers against design.md's definitions, counted here in plain SQL (not by
    # compute_kpis, the code under test): D today, H 90 days, the window (D - H, D].
    k = _kpis_by_sql(demo_app, utcnow().date(), 90)
    shown = {m.label: m.value for m in at.metric}
    helps = {m.label: m.proto.help for m in at.metric}
    assert shown["Customers"] == f"{k['customers']:,}"
    assert shown["Active customers"] == f"{k['active_customers']:,}"
    assert shown["Orders"] == f"{k['orders']:,}"
    assert shown["NPS"] == f"{k['nps']:+.1f}"
    # Money carries its currency; the tile may be compact, its help has the amount to the cent.
    assert shown["Revenue"].startswith("€") and shown["Avg order value"].startswith("€")
    assert f"€{k['revenue']:,.2f}" in helps["Revenue"], (helps["Revenue"], k["revenue"])
    # Gross sales / orders to the cent, one rule (half up): exactly one amount is right.
    assert f"€{k['average_order_value']:,.2f}" in helps["Avg order value"], (
        helps["Avg order value"], k["average_order_value"])
    if k["revenue"] >= 10_000:
        assert shown["Revenue"] == f"€{float(k['revenue']) / 1000:.2f}K"
    else:
        assert shown["Revenue"] == f"€{k['revenue']:,.2f}"
    assert not [m.label for m in at.metric if m.value in ("None", "nan") or "None" in m.value]
    assert "design.md" not in page_text(at)
    assert at.get("download_button")
    assert "Quartermain" not in text and "secret-mail" not in text
    # Every section renders without an error or a leak.
    for section in at.segmented_control(key="ov_section").options:
        at.segmented_control(key="ov_section").set_value(section).run()
        assert not at.exception, (section, at.exception)
        text = page_text(at)
        assert "Quartermain" not in text and "secret-mail" not in text, section
        if section == "Outreach results":
            assert "Spring win-back" in text  # the campaign and its uplift
        if section == "Health bands":
            assert "Improved" in text
            # One bar per scoring run on a category axis (an area over two dates a fortnight
            # apart drew nothing on a sub-millisecond axis); bands as words.
            bands = next(c for c in at.get("plotly_chart") if "health band" in c.proto.spec)
            spec = json.loads(bands.proto.spec)
            assert spec["layout"]["xaxis"]["type"] == "category"
            assert {t["type"] for t in spec["data"]} == {"bar"}
            assert {t["name"] for t in spec["data"]} <= {"Healthy", "Watch", "At risk"}
            assert spec["layout"]["xaxis"]["title"]["text"] == "Scoring run"
        if section == "NPS and loyalty":
            assert at.get("plotly_chart"), "the NPS and loyalty charts"


def test_filters_and_lifetime_value(store):
    demo_app = store
    at = app_as("exec", PAGE, timeout=120)
    seg = at.selectbox(key="ov_segment")
    # The choices in words, not the stored codes ('small_business', 'vip').
    assert {"All", "Consumer", "Small business", "VIP"} <= set(seg.options)
    assert not {"small_business", "vip"} & set(seg.options)
    choice = "small_business"
    seg.set_value(choice).run()
    assert not at.exception, at.exception
    with get_engine(demo_app).connect() as conn:  # known by D (signed up or ordered), in the segment
        customers = conn.execute(sql(
            "SELECT COUNT(*) FROM customer c WHERE c.segment = :seg AND (c.signup_date <= :d OR EXISTS "
            "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.ordered_at < :end))"),
            {"seg": choice, "d": utcnow().date(),
             "end": datetime.combine(utcnow().date() + timedelta(days=1), datetime.min.time())}).scalar()
    shown = {m.label: m.value for m in at.metric}
    assert shown["Customers"] == f"{customers:,}"
    assert shown["Revenue"].startswith("€")
    # Shown straight away, no switch to find first.
    at.segmented_control(key="ov_section").set_value("Lifetime value").run()
    assert not at.exception, at.exception
    assert not at.toggle
    text = page_text(at)
    assert "BG/NBD estimates how often each customer buys" in text
    assert {m.label for m in at.metric} >= {"Expected revenue, next 12 months", "Mean lifetime value"}
    assert next(m for m in at.metric if m.label == "Mean lifetime value").value.startswith("€")
    leaks = [v for v in _personal_data(demo_app) if v in text]
    assert not leaks, leaks[:5]


def test_an_empty_period_says_what_to_do(store):
    at = app_as("exec", PAGE, timeout=120)
    at.date_input(key="ov_as_of").set_value(date(2000, 1, 1)).run()
    assert not at.exception, at.exception
    assert "No customers in this selection yet" in page_text(at)


def test_every_role_may_open_it(store):
    for user in ("manager", "support", "admin"):
        at = app_as(user, PAGE, timeout=120)
        assert not at.exception, (user, at.exception)
        assert any(m.label == "Revenue" for m in at.metric), user


def test_the_overview_shows_refunds_beside_revenue_and_says_how_they_count(store):
    at = app_as("exec", PAGE, timeout=120)
    assert not at.exception, at.exception
    k = _kpis_by_sql(store, utcnow().date(), 90)
    assert k["refunds"] > 0  # the demo store refunds a few percent of its orders
    shown = {m.label: m.value for m in at.metric}
    for label in ("Gross sales", "Refunds", "Revenue", "Avg order value"):
        assert shown[label].startswith("€"), label  # money with its currency, compact in a tile
    text = page_text(at)
    # The full amounts are spelled out under the tiles, and they add up to the cent.
    found = re.search(r"Revenue €([\d,]+\.\d\d) = gross sales €([\d,]+\.\d\d) - refunds €([\d,]+\.\d\d)", text)
    assert found, text
    revenue, gross, refunds = (Decimal(g.replace(",", "")) for g in found.groups())
    assert revenue == gross - refunds
    assert (revenue, gross, refunds) == tuple(Decimal(f"{k[x]:.2f}") for x in ("revenue", "gross_sales", "refunds"))
    assert "Refunds and cancellations are not orders. Revenue is net of refunds" in text
    assert "gross sales / orders" in text


def _two_runs_only(url: str) -> dict[str, tuple[str, str, str]]:
    """Keep the fixture's two runs (15 and 1 days ago: everyone Watch, then a band drawn at
    random) and drop the demo's own scoring run; returns external_id -> (name, before, after)."""
    today = utcnow().date()
    with Session(get_engine(url)) as s:
        for snap in s.exec(select(ScoreSnapshot)).all():
            if snap.as_of not in (today - timedelta(days=15), today - timedelta(days=1)):
                s.delete(snap)
        s.commit()
        bands: dict[int, dict] = {}
        for snap in s.exec(select(ScoreSnapshot)).all():
            bands.setdefault(snap.customer_id, {})[snap.as_of] = snap.band
        out = {}
        for cid, by_day in bands.items():
            if len(by_day) == 2:
                c = s.get(Customer, cid)
                out[c.external_id] = (c.name, by_day[today - timedelta(days=15)], by_day[today - timedelta(days=1)])
    return out


def _open_move(at, before: str, after: str):  # noqa: ANN001, ANN202
    at.segmented_control(key="ov_section").set_value("Health bands").run()
    box = at.selectbox(key="ov_move")
    label = {"watch": "Watch", "at_risk": "At risk", "healthy": "Healthy"}
    wanted = [i for i, text in enumerate(box.options) if text.startswith(f"{label[before]} → {label[after]} (")]
    assert len(wanted) == 1, box.options
    box.set_value(int(wanted[0])).run()
    assert not at.exception, at.exception
    return at


def test_a_band_move_opens_the_accounts_behind_it_for_a_manager(store):
    accounts = _two_runs_only(store)
    dropped = {x: name for x, (name, b, a) in accounts.items() if b == "watch" and a == "at_risk"}
    assert 5 < len(dropped) < 60  # the fixture's draw: some, not all
    at = _open_move(app_as("manager", PAGE, timeout=120), "watch", "at_risk")
    assert f"Watch → At risk ({len(dropped):,} accounts)" in at.selectbox(key="ov_move").options
    tables = [df.value for df in at.dataframe if "external_id" in df.value.columns]
    assert len(tables) == 1
    shown = tables[0]
    assert dict(zip(shown["external_id"], shown["name"], strict=True)) == dropped
    assert set(shown["band_before"]) == {"Watch"} and set(shown["band_after"]) == {"At risk"}
    assert set(shown["churn_percent"]) == {40.0}  # 0.4 stored, one decimal as a percentage


def test_exec_opening_a_band_move_sees_counts_by_segment_and_region_and_no_names(store):
    from core.kpis import band_move_accounts
    from core.roles import NotAllowed, Role

    accounts = _two_runs_only(store)
    dropped = [x for x, (_n, b, a) in accounts.items() if b == "watch" and a == "at_risk"]
    at = _open_move(app_as("exec", PAGE, timeout=120), "watch", "at_risk")
    assert not [df for df in at.dataframe if "external_id" in df.value.columns or "name" in df.value.columns]
    counts = [df.value for df in at.dataframe if "segment" in df.value.columns]
    assert len(counts) == 1 and int(counts[0]["customers"].sum()) == len(dropped)
    text = page_text(at)
    assert "Quartermain" not in text and "ovt-c-" not in text
    # The server refuses too, not only the screen.
    with Session(get_engine(store)) as s, pytest.raises(NotAllowed):
        band_move_accounts(session=s, roles=frozenset({Role.EXEC}), from_band="watch", to_band="at_risk")


def _clv_bar_heights(at) -> dict[int, int]:  # noqa: ANN001
    """Bin -> customers, as the lifetime-value histogram draws them (the chart's own spec; Plotly
    writes a numeric array as base64 with its dtype)."""
    import base64

    def values(v):  # noqa: ANN001, ANN202
        if isinstance(v, dict) and "bdata" in v:
            return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).reshape(v.get("shape", -1))
        return np.asarray(v, dtype=object)

    chart = next(c for c in at.get("plotly_chart") if "12-month lifetime value" in c.proto.spec)
    bar = json.loads(chart.proto.spec)["data"][0]
    return {int(cd[0]): int(y) for cd, y in zip(values(bar["customdata"]), values(bar["y"]), strict=True)}


def test_a_bar_of_the_lifetime_value_histogram_opens_its_customers(store):
    """The box under the histogram (what a click on a bar sets) lists every non-empty bar; the
    customers it opens are as many as the bar is high, with names for a manager and by segment
    and region only for exec."""
    at = app_as("manager", PAGE, timeout=120)
    at.segmented_control(key="ov_section").set_value("Lifetime value").run()
    assert not at.exception, at.exception
    heights = _clv_bar_heights(at)
    end = datetime.combine(utcnow().date() + timedelta(days=1), datetime.min.time())
    with get_engine(store).connect() as conn:  # every customer with an order by D has a value
        buyers = conn.execute(sql("SELECT COUNT(DISTINCT customer_id) FROM orders WHERE ordered_at < :end"),
                              {"end": end}).scalar()
    assert sum(heights.values()) == buyers
    box = at.selectbox(key="ov_drill_clv")
    assert len(box.options) == len([b for b, n in heights.items() if n > 0])
    tallest = max(heights, key=heights.get)
    box.set_value(tallest).run()
    assert not at.exception, at.exception
    shown = next(df.value for df in at.dataframe if "clv" in df.value.columns)
    assert len(shown) == heights[tallest]
    assert "name" in shown.columns and shown["name"].notna().all()
    assert list(shown["clv"]) == sorted(shown["clv"], reverse=True)
    assert f"{heights[tallest]:,} customers with a 12-month value of €" in page_text(at)

    at = app_as("exec", PAGE, timeout=120)
    at.segmented_control(key="ov_section").set_value("Lifetime value").run()
    at.selectbox(key="ov_drill_clv").set_value(tallest).run()
    assert not at.exception, at.exception
    shown = next(df.value for df in at.dataframe if "customers" in df.value.columns
                 and "region" in df.value.columns)
    assert int(shown["customers"].sum()) == heights[tallest]
    assert not {"name", "external_id", "customer_id"} & set(shown.columns)
    leaks = [v for v in _personal_data(store) if v in page_text(at)]
    assert not leaks, leaks[:5]
