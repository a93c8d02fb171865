"""The Overview through the real app, as the exec: aggregates only, the same numbers as core."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest
from sqlmodel import Session, select

from core.kpis import KPI_INFO, compute_kpis, format_value
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


def test_exec_sees_kpis_and_no_personal_data(store):
    demo_app = store
    at = app_as("exec", PAGE, timeout=120)
    assert not at.exception, at.exception
    labels = {m.label for m in at.metric}
    assert {"Customers", "Active customers", "Revenue", "Orders", "Avg order value", "NPS"} <= labels
    text = page_text(at)
    leaks = [v for v in _personal_data(demo_app) if v in text]
    assert not leaks, leaks[:5]
    # The screen's numbers are compute_kpis' numbers, to the cent.
    with Session(get_engine(demo_app)) as s:
        k = compute_kpis(session=s, as_of=utcnow().date(), horizon_days=90)
    shown = {m.label: m.value for m in at.metric}
    helps = {m.label: m.proto.help for m in at.metric}
    for key in ("customers", "active_customers", "orders", "nps"):
        info = KPI_INFO[key]
        assert shown[info.label] == format_value(info.kind, k[key]), key
    # Money carries its currency; the tile may be compact, its help has the amount to the cent.
    for label, key in (("Revenue", "revenue"), ("Avg order value", "average_order_value")):
        assert shown[label].startswith("€"), shown[label]
        assert f"€{k[key]:,.2f}" in helps[label], helps[label]
    if k["revenue"] >= 10_000:
        assert shown["Revenue"] == f"€{k['revenue'] / 1000:.2f}K"
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
    choice = seg.options[1]
    seg.set_value(choice).run()
    assert not at.exception, at.exception
    with Session(get_engine(demo_app)) as s:
        k = compute_kpis(session=s, as_of=utcnow().date(), segment=choice)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Customers"] == format_value("count", k["customers"])
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
