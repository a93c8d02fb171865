"""Outreach rules on hand-made data, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from core import outreach as out
from core.config import get_settings
from core.roles import NotAllowed, Role
from db.models import AuditLog, Campaign, Outreach
from tests.factories import make_customer, make_feedback, make_loyalty, make_order, make_product, make_refund

NOW = datetime(2026, 6, 1, 12, 0)


@pytest.fixture(autouse=True)
def _settings(monkeypatch, tmp_path):
    for var in ("HEARTH_SMTP_HOST", "HEARTH_WEBHOOK_URL", "HEARTH_FREQUENCY_CAP_DAYS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HEARTH_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("HEARTH_POSTAL_ADDRESS", "Hearth Home Ltd, 5 Test Lane, Testville")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _lapsed(session, **kw):
    c = make_customer(session, **kw)
    make_order(session, c, NOW - timedelta(days=120), total=40.0)
    session.commit()
    return c


def test_win_back_queues_with_name_offer_code_unsubscribe_and_address(session):
    c = _lapsed(session, name="<b>Ada</b> Lovelace")
    res = out.trigger_outreach(session=session, customer_id=c.id, template="win_back", triggered_by="manager",
                               now=NOW)
    o = res.outreach
    assert res.created and o.status == "queued" and o.channel == "outbox"
    assert o.offer_code and o.offer_code in o.body
    assert "<b>Ada</b>" in o.subject and "Hello <b>Ada</b>" in o.body  # plain text keeps it as typed
    assert "UNSUBSCRIBE" in o.body and "5 Test Lane" in o.body
    assert o.message_id.startswith("<outreach.") and o.message_id.endswith(">")
    html = out.html_alternative(o.body)
    assert "<b>" not in html and "Hello &lt;b&gt;Ada&lt;/b&gt;" in html  # never markup in the HTML part
    actions = session.exec(select(AuditLog.action).where(AuditLog.customer_id == c.id)).all()
    assert "outreach.trigger" in actions


def test_preview_shows_the_exact_message_then_trigger_sends_it(session):
    c = _lapsed(session, name="Grace Hopper")
    p = out.preview_outreach(session=session, customer_id=c.id, template="win_back", now=NOW)
    assert p.would_send and p.offer_code
    o = out.trigger_outreach(session=session, customer_id=c.id, template="win_back", triggered_by="manager",
                             now=NOW).outreach
    assert (o.subject, o.body, o.offer_code) == (p.subject, p.body, p.offer_code)
    # Nothing was written by the preview.
    assert len(session.exec(select(Outreach)).all()) == 1


def test_no_consent_is_suppressed_with_reason_and_audited(session):
    c = _lapsed(session, email_opt_in=False)
    p = out.preview_outreach(session=session, customer_id=c.id, template="win_back", now=NOW)
    assert p.outcome == "suppressed" and p.reason == "no email consent"
    res = out.trigger_outreach(session=session, customer_id=c.id, template="win_back", triggered_by="manager",
                               now=NOW)
    assert res.outreach.status == "suppressed" and res.outreach.reason == "no email consent"
    assert res.outreach.body is None and res.outreach.offer_code is None
    entry = session.exec(select(AuditLog).where(AuditLog.action == "outreach.suppress")).one()
    assert entry.actor == "manager" and json.loads(entry.detail)["reason"] == "no email consent"


def test_frequency_cap_names_the_last_contact_whoever_triggers(session):
    c = _lapsed(session)
    out.trigger_outreach(session=session, customer_id=c.id, template="win_back", triggered_by="alice",
                         now=NOW)
    later = NOW + timedelta(days=13)
    res = out.trigger_outreach(session=session, customer_id=c.id, template="vip_thanks", triggered_by="bob",
                               now=later)
    assert res.outreach.status == "suppressed"
    assert res.outreach.reason.startswith("frequency cap: last contacted on 2026-06-01")
    # After the cap it goes out again.
    res = out.trigger_outreach(session=session, customer_id=c.id, template="win_back", triggered_by="bob",
                               now=NOW + timedelta(days=15))
    assert res.outreach.status == "queued"


def test_same_key_returns_the_existing_outreach(session):
    c = _lapsed(session)
    first = out.trigger_outreach(session=session, customer_id=c.id, template="win_back",
                                 triggered_by="manager", idempotency_key="click-1", now=NOW)
    again = out.trigger_outreach(session=session, customer_id=c.id, template="win_back",
                                 triggered_by="manager", idempotency_key="click-1", now=NOW)
    assert first.created and not again.created
    assert again.outreach.id == first.outreach.id and again.outcome == "already_queued"
    # Without a key, the same customer and template on the same day is one outreach too.
    a = out.trigger_outreach(session=session, customer_id=c.id, template="refill_reminder",
                             triggered_by="x", now=NOW + timedelta(days=30))
    b = out.trigger_outreach(session=session, customer_id=c.id, template="refill_reminder",
                             triggered_by="y", now=NOW + timedelta(days=30, hours=1))
    assert a.outreach.id == b.outreach.id and not b.created


def test_unknown_template_and_customer_are_errors(session):
    c = _lapsed(session)
    with pytest.raises(out.UnknownTemplate, match="use one of"):
        out.trigger_outreach(session=session, customer_id=c.id, template="spam", triggered_by="m")
    with pytest.raises(out.CustomerNotFound):
        out.trigger_outreach(session=session, customer_id=99999, template="win_back", triggered_by="m")


def test_refill_reminder_names_the_product_due(session):
    soap = make_product(session, name="Lavender laundry soap", replenishment_days=30)
    vase = make_product(session, name="Glass vase", replenishment_days=None)
    c = make_customer(session, name="Joan Clarke")
    make_order(session, c, NOW - timedelta(days=28), lines=[(soap.sku, 1, 9.0), (vase.sku, 1, 30.0)])
    session.commit()
    p = out.preview_outreach(session=session, customer_id=c.id, template="refill_reminder", now=NOW)
    assert p.would_send
    assert "Lavender laundry soap" in p.subject and "about 30 days" in p.body and "4 May 2026" in p.body
    fits = out.fitting_templates(session=session, customer_id=c.id, now=NOW)
    assert fits["refill_reminder"] is None
    assert fits["win_back"] == "ordered in the last 30 days"
    assert fits["apology"].startswith("no negative feedback")


def test_the_fitting_templates_are_each_template_s_own_answer_from_one_read_of_the_orders(session, monkeypatch):
    soap = make_product(session, name="Lavender laundry soap", replenishment_days=30)
    c = make_customer(session, name="Joan Clarke", segment="VIP")
    make_order(session, c, NOW - timedelta(days=28), lines=[(soap.sku, 1, 9.0)])
    session.commit()
    # Each template on its own (customer_contexts, as a send checks it), worked out first.
    each = {}
    for t in out.TEMPLATES:
        row = out.customer_contexts(session=session, customer_ids=[c.id], template=t, now=NOW).iloc[0]
        each[t] = None if bool(row["fits"]) else str(row["not_fit_reason"])
    assert each["refill_reminder"] is None and each["vip_thanks"] is None
    assert each["win_back"] == "ordered in the last 30 days"
    from core.outreach import contexts

    reads = []
    real = contexts._order_context
    monkeypatch.setattr(contexts, "_order_context", lambda *a: reads.append(1) or real(*a))
    assert out.fitting_templates(session=session, customer_id=c.id, now=NOW) == each
    assert len(reads) == 1  # the customer and their orders once, not once per template
    assert out.fitting_templates(session=session, customer_id=c.id, now=NOW,
                                 templates=["win_back", "vip_thanks"]) == {"win_back": each["win_back"],
                                                                           "vip_thanks": None}
    with pytest.raises(out.UnknownTemplate):
        out.fitting_templates(session=session, customer_id=c.id, now=NOW, templates=["spam"])
    with pytest.raises(out.CustomerNotFound):
        out.fitting_templates(session=session, customer_id=99999, now=NOW)


def test_apology_references_the_feedback(session):
    c = make_customer(session, name="Alan Turing")
    fb = make_feedback(session, c, NOW - timedelta(days=3), nps_score=2, comment="late <script>",
                       flagged=True)
    session.commit()
    res = out.trigger_outreach(session=session, customer_id=c.id, template="apology", triggered_by="support",
                               feedback_id=fb.id, now=NOW)
    o = res.outreach
    assert o.status == "queued" and o.feedback_id == fb.id
    assert "29 May 2026" in o.body and "2 out of 10" in o.body and o.offer_code in o.body


def test_points_expiring_from_the_ledger(session):
    c = make_customer(session, name="Mary Somerville")
    make_loyalty(session, c, NOW - timedelta(days=330), "earn", 500, expires_at=NOW + timedelta(days=25))
    make_loyalty(session, c, NOW - timedelta(days=100), "earn", 300, expires_at=NOW + timedelta(days=265))
    make_loyalty(session, c, NOW - timedelta(days=50), "redeem", -200)
    session.commit()
    pts = out.expiring_points(session=session, customer_ids=[c.id], now=NOW)
    assert pts.loc[c.id, "balance"] == 600 and pts.loc[c.id, "expiring_points"] == 300
    p = out.preview_outreach(session=session, customer_id=c.id, template="points_expiring", now=NOW)
    assert p.would_send and "You have 600 loyalty points. 300 of them" in p.body
    assert "26 June 2026" in p.body and p.offer_code is None


def test_a_whole_audience_reads_the_same_figures_from_the_days_ledger_summary(session, monkeypatch):
    c = make_customer(session, name="Mary Somerville")
    d = make_customer(session, name="Ada Lovelace")
    make_loyalty(session, c, NOW - timedelta(days=330), "earn", 500, expires_at=NOW + timedelta(days=25))
    make_loyalty(session, c, NOW - timedelta(days=50), "redeem", -200)
    make_loyalty(session, d, NOW - timedelta(days=20), "earn", 80)
    session.commit()
    one_by_one = out.expiring_points(session=session, customer_ids=[c.id, d.id], now=NOW)
    monkeypatch.setattr(out.contexts, "_CHUNK", 1)  # two customers now count as a whole audience
    audience = out.expiring_points(session=session, customer_ids=[c.id, d.id], now=NOW)
    assert audience.loc[c.id, "expiring_points"] == 300 and audience.loc[d.id, "balance"] == 80
    assert audience.sort_index().equals(one_by_one.sort_index())


def test_vip_thanks_needs_a_vip(session):
    c = make_customer(session, segment="VIP")
    d = make_customer(session, segment="regular")
    session.commit()
    assert out.fitting_templates(session=session, customer_id=c.id, now=NOW)["vip_thanks"] is None
    res = out.trigger_outreach(session=session, customer_id=d.id, template="vip_thanks", triggered_by="m",
                               now=NOW)
    assert res.outreach.status == "suppressed" and res.outreach.reason.startswith("not applicable: not a VIP")


def test_unsubscribe_withdraws_consent(session):
    c = _lapsed(session)
    out.record_unsubscribe(session=session, customer_id=c.id, actor="manager")
    res = out.trigger_outreach(session=session, customer_id=c.id, template="win_back", triggered_by="m",
                               now=NOW)
    assert res.outreach.reason == "no email consent"


def _campaign_data(session):
    lapsed = [_lapsed(session) for _ in range(40)]
    optout = [_lapsed(session, email_opt_in=False) for _ in range(3)]
    recent = make_customer(session)
    make_order(session, recent, NOW - timedelta(days=2))
    session.commit()
    return lapsed, optout, recent


def test_plan_then_create_campaign_with_deterministic_holdout(session):
    lapsed, optout, recent = _campaign_data(session)
    ids = [c.id for c in lapsed + optout] + [recent.id]
    plan = out.plan_campaign(session=session, customer_ids=ids, template="win_back", holdout_share=0.25,
                             now=NOW)
    assert plan.audience == 44 and plan.contact + plan.holdout == 40 and plan.holdout == 10
    assert plan.suppressed == {"no email consent": 3, "not applicable": 1}
    camp = out.create_campaign(session=session, name="Spring win-back", template="win_back",
                               customer_ids=ids, audience_rule={"band": "at_risk"}, holdout_share=0.25,
                               created_by="manager", now=NOW)
    rows = session.exec(select(Outreach).where(Outreach.campaign_id == camp.id)).all()
    statuses = [r.status for r in rows]
    expected_hold = sum(out.in_holdout(camp.id, c.id, 0.25) for c in lapsed)
    assert statuses.count("holdout") == expected_hold
    assert statuses.count("queued") == 40 - expected_hold and statuses.count("suppressed") == 4
    assert all(r.offer_code for r in rows if r.status == "queued")
    assert all(r.offer_code is None for r in rows if r.status != "queued")
    again = out.plan_campaign(session=session, customer_ids=ids, template="win_back", now=NOW,
                              campaign_id=camp.id, holdout_share=0.25)
    assert again.contact == 0  # everyone just contacted is now within the frequency cap


def test_uplift_arithmetic_on_a_hand_made_campaign(session):
    contacted, held = [], []
    camp = Campaign(name="hand", template="win_back", holdout_share=0.5, created_by="m", created_at=NOW)
    session.add(camp)
    session.flush()
    # 10 contacted (sent), all inactive; 6 reactivate. 10 held out, all inactive; 2 reactivate.
    for i in range(20):
        c = make_customer(session)
        make_order(session, c, NOW - timedelta(days=200), total=10.0)
        is_contacted = i < 10
        code = f"CODE{i}" if is_contacted else None
        session.add(Outreach(customer_id=c.id, template="win_back", channel="outbox", campaign_id=camp.id,
                             triggered_by="m", triggered_at=NOW, idempotency_key=f"k{i}",
                             status="sent" if is_contacted else "holdout", offer_code=code))
        (contacted if is_contacted else held).append(c)
    # One contacted customer was active before (ordered 10 days earlier): not in the denominator.
    make_order(session, contacted[9], NOW - timedelta(days=10), total=5.0)
    for c in contacted[:6]:
        make_order(session, c, NOW + timedelta(days=5), total=50.0)
    make_order(session, contacted[0], NOW + timedelta(days=31), total=999.0)  # after the window
    for c in held[:2]:
        make_order(session, c, NOW + timedelta(days=20), total=30.0)
    coded = make_order(session, contacted[1], NOW + timedelta(days=6), total=70.0, offer_code="CODE1")
    make_order(session, contacted[1], NOW + timedelta(days=7), total=70.0, offer_code="CODE1")  # reuse
    # 30.00 of the offer's order went back: the campaign earned what the customer kept.
    make_refund(session, contacted[1], NOW + timedelta(days=9), 30.0, order=coded)
    session.commit()
    df = out.campaign_results(session=session, campaign_id=camp.id, now=NOW + timedelta(days=40))
    r = df.iloc[0]
    assert (r["audience"], r["contacted"], r["holdout"], r["sent"]) == (20, 10, 10, 10)
    assert (r["contacted_inactive"], r["contacted_reactivated"]) == (9, 6)
    assert (r["holdout_inactive"], r["holdout_reactivated"]) == (10, 2)
    assert r["uplift"] == pytest.approx(6 / 9 - 2 / 10)  # 0.466667
    # Agresti-Caffo: 7 / 11 = 0.636364 against 3 / 12 = 0.25, difference 0.386364; variance
    # 0.636364 * 0.363636 / 11 + 0.25 * 0.75 / 12 = 0.021037 + 0.015625 = 0.036662;
    # se 0.191474; 1.96 * se = 0.375289.
    assert r["uplift_ci_low"] == pytest.approx(0.386364 - 0.375289, abs=1e-5)
    assert r["uplift_ci_high"] == pytest.approx(0.386364 + 0.375289, abs=1e-5)
    assert r["revenue_contacted"] == 410.00  # 6 x 50 + (70 - 30) + 70, summed in whole cents
    assert r["revenue_holdout"] == 60.00
    assert r["revenue_offer_codes"] == 40.00 and r["offers_redeemed"] == 1
    assert bool(r["window_complete"])


def test_no_reactivation_on_either_side_is_no_certainty():
    # 0 / 10 against 0 / 10: the plain Wald interval was 0 to 0. Adjusted: 1 / 12 a side,
    # variance 2 * (1 / 12) * (11 / 12) / 12 = 0.012731; se 0.112834; +-0.221155.
    d, lo, hi = out.uplift_interval(0, 10, 0, 10)
    assert d == 0.0
    assert lo == pytest.approx(-0.221155, abs=1e-5) and hi == pytest.approx(0.221155, abs=1e-5)
    assert all(math.isnan(v) for v in out.uplift_interval(3, 0, 1, 10))


def test_campaign_results_empty(session):
    assert out.campaign_results(session=session).empty


def test_outreach_log_filters_and_refuses_exec(session):
    c = _lapsed(session, name="Log Person")
    d = _lapsed(session, email_opt_in=False)
    out.trigger_outreach(session=session, customer_id=c.id, template="win_back", triggered_by="m", now=NOW)
    out.trigger_outreach(session=session, customer_id=d.id, template="win_back", triggered_by="m", now=NOW)
    log = out.outreach_log(session=session, roles={Role.ACCOUNT_MANAGER})
    assert len(log) == 2
    sup = out.outreach_log(session=session, roles={Role.ACCOUNT_MANAGER}, status="suppressed")
    assert list(sup["customer"]) == [d.external_id]
    mine = out.outreach_log(session=session, roles={Role.ADMIN}, customer_id=c.id)
    assert list(mine["name"]) == ["Log Person"]
    with pytest.raises(NotAllowed):
        out.outreach_log(session=session, roles={Role.EXEC})


def test_no_email_consent_makes_every_template_unavailable_and_the_preview_empty(session):
    c = make_customer(session, name="Grace Hopper", email_opt_in=False)
    make_order(session, c, NOW - timedelta(days=100), total=30.0)
    session.commit()
    fits = out.fitting_templates(session=session, customer_id=c.id, now=NOW)
    assert fits["win_back"] == "no email consent" and fits["vip_thanks"] == "no email consent"
    assert out.contact_problem(session=session, customer_id=c.id) == "no email consent"
    p = out.preview_outreach(session=session, customer_id=c.id, template="win_back", now=NOW)
    assert not p.would_send and p.reason == "no email consent"
    assert p.offer_code is None and p.body is None and p.subject is None
