"""AppTest: outreach buttons with a preview, bulk campaigns, and the Outreach screen by role."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from core import outreach as core_outreach
from db.engine import get_engine
from db.models import Campaign, Outreach, utcnow
from tests.factories import make_customer, make_order
from tests.pages.helpers import app_as, page_text


def _account_script(customer_id: int, role: str, username: str) -> None:
    from core.roles import Role
    from ui.auth import CurrentUser
    from ui.outreach import render_account_outreach

    render_account_outreach(CurrentUser(username, username, frozenset({Role(role)})), customer_id)


def _bulk_script(customer_ids: list[int], role: str, username: str) -> None:
    from core.roles import Role
    from ui.auth import CurrentUser
    from ui.outreach import render_bulk_outreach

    render_bulk_outreach(CurrentUser(username, username, frozenset({Role(role)})), customer_ids,
                         {"band": "at_risk", "owner": username})


def _lapsed(url: str, n: int = 1, **kw) -> list[int]:
    with Session(get_engine(url)) as s:
        ids = []
        for _ in range(n):
            # Own ids: the demo store's customers use the factories' C000001 pattern too.
            c = make_customer(s, external_id=f"OUT-{uuid.uuid4().hex[:12]}", **kw)
            make_order(s, c, utcnow() - timedelta(days=100), total=30.0)
            ids.append(c.id)
        s.commit()
    return ids


def _account_app(cid: int, role: str = "account_manager", username: str = "manager") -> AppTest:
    kwargs = {"customer_id": cid, "role": role, "username": username}
    at = AppTest.from_function(_account_script, kwargs=kwargs, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_preview_then_send_from_an_account(demo_app):
    [cid] = _lapsed(demo_app, name="Ada Lovelace")
    at = _account_app(cid)
    assert at.button(key=f"outreach_btn_refill_reminder_{cid}_0").disabled  # buys nothing with an interval
    win_back = at.button(key=f"outreach_btn_win_back_{cid}_0")
    assert not win_back.disabled
    win_back.click().run()
    text = page_text(at)
    assert "Subject: Ada, we miss you at Hearth Home" in text
    body = at.code[0].value
    assert "Hello Ada" in body and "UNSUBSCRIBE" in body
    code_line = next(t.value for t in at.text if t.value.startswith("Offer code: "))
    code = code_line.removeprefix("Offer code: ")
    assert code in body
    with Session(get_engine(demo_app)) as s:
        assert s.exec(select(Outreach)).all() == []  # a preview writes nothing
    at.button(key=f"outreach_send_{cid}_0").click().run()
    assert not at.exception, at.exception
    assert any("queued" in m.value for m in at.success)
    with Session(get_engine(demo_app)) as s:
        [o] = s.exec(select(Outreach)).all()
    assert o.status == "queued" and o.offer_code == code and o.triggered_by == "manager"
    # The history shows the state; a second win-back is now held back by the frequency cap.
    history = at.dataframe[0].value
    assert list(history["state"]) == ["⏳ Queued"] and list(history["template"]) == ["Win-back offer"]
    assert list(history["last_error"]) == [""]  # a blank, not a "None" cell
    at.button(key=f"outreach_btn_win_back_{cid}_0").click().run()
    assert any("frequency cap" in w.value for w in at.warning)
    assert at.button(key=f"outreach_send_{cid}_0").disabled


def test_without_email_consent_every_button_is_disabled_with_the_reason_beside_it(demo_app):
    [cid] = _lapsed(demo_app, name="Grace Hopper", email_opt_in=False)
    at = _account_app(cid)
    # Lapsed 100 days: win-back would fit, but she has not agreed to hear from us by email.
    win_back = at.button(key=f"outreach_btn_win_back_{cid}_0")
    assert win_back.disabled
    assert "no email consent" in win_back.help
    captions = [c.value for c in at.caption]
    assert "Not available: no email consent" in captions
    # The preview behind it makes no message: no offer code, no "you agreed to hear from us".
    with Session(get_engine(demo_app)) as s:
        preview = core_outreach.preview_outreach(session=s, customer_id=cid, template="win_back")
        assert s.exec(select(Outreach)).all() == []
    assert not preview.would_send and preview.reason == "no email consent"
    assert preview.offer_code is None and preview.body is None
    assert "agreed to hear from us" not in (preview.subject or "") + (preview.body or "")


def test_with_consent_the_win_back_button_is_enabled_without_a_reason(demo_app):
    [cid] = _lapsed(demo_app, name="Grace Hopper")
    at = _account_app(cid)
    assert not at.button(key=f"outreach_btn_win_back_{cid}_0").disabled
    assert "Not available: no email consent" not in [c.value for c in at.caption]


def test_buttons_absent_for_exec_and_only_apology_for_support(demo_app):
    [cid] = _lapsed(demo_app)
    at = _account_app(cid, role="exec", username="exec")
    assert len(at.button) == 0 and len(at.dataframe) == 0 and "Outreach" not in page_text(at)
    at = _account_app(cid, role="support_lead", username="support")
    assert [b.key for b in at.button] == [f"outreach_btn_apology_{cid}_0"]


def test_bulk_send_as_manager_creates_a_campaign(demo_app):
    ids = _lapsed(demo_app, n=20) + _lapsed(demo_app, n=3, email_opt_in=False)
    at = AppTest.from_function(_bulk_script, kwargs={"customer_ids": ids, "role": "account_manager",
                                                     "username": "manager"}, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Selected"] == "23" and metrics["Suppressed"] == "3"
    assert metrics["Will be contacted"] == "18" and metrics["Held out"] == "2"
    assert "no email consent" in at.dataframe[0].value.to_csv()
    at.text_input(key="bulk_name_win_back").input("Autumn win-back").run()
    at.button(key="bulk_confirm").click().run()
    assert not at.exception, at.exception
    assert any("Autumn win-back" in s.value and "created" in s.value for s in at.success)
    with Session(get_engine(demo_app)) as s:
        [camp] = s.exec(select(Campaign)).all()
        rows = s.exec(select(Outreach).where(Outreach.campaign_id == camp.id)).all()
    assert camp.created_by == "manager" and '"band": "at_risk"' in camp.audience_rule
    statuses = [r.status for r in rows]
    assert len(rows) == 23 and statuses.count("suppressed") == 3
    assert statuses.count("queued") + statuses.count("holdout") == 20


def test_bulk_absent_for_exec(demo_app):
    ids = _lapsed(demo_app, n=2)
    at = AppTest.from_function(_bulk_script, kwargs={"customer_ids": ids, "role": "exec", "username": "exec"},
                               default_timeout=60)
    at.run()
    assert len(at.button) == 0 and len(at.selectbox) == 0


@pytest.fixture
def campaign(demo_app):
    ids = _lapsed(demo_app, n=12, name="Zelda Secretname")
    with Session(get_engine(demo_app)) as s:
        core_outreach.create_campaign(session=s, name="Test campaign", template="win_back", customer_ids=ids,
                                      audience_rule={}, holdout_share=0.3, created_by="manager")
    return ids


def test_outreach_screen_for_manager_shows_campaigns_and_log(campaign):
    at = app_as("manager", "views/outreach.py")
    assert not at.exception, at.exception
    text = page_text(at)
    assert "Campaigns" in text and "Test campaign" in text and "Message log" in text
    assert "Zelda Secretname" in text  # the log names the customers


def test_outreach_screen_for_exec_shows_results_only(campaign):
    at = app_as("exec", "views/outreach.py")
    assert not at.exception, at.exception
    text = page_text(at)
    assert "Test campaign" in text
    assert "Message log" not in text and "Zelda" not in text and "@example.com" not in text


def test_a_new_campaign_is_too_early_and_a_missing_worker_is_named(campaign):
    at = app_as("manager", "views/outreach.py")
    assert not at.exception, at.exception
    text = page_text(at)
    assert "No delivery worker has ever run" in text and "wait in the queue" in text
    table = at.dataframe[0].value
    row = table[table["name"] == "Test campaign"].iloc[0]
    assert row["uplift_interval"] == "too early: 0 days of 30"
    assert row["uplift"] != row["uplift"]  # no uplift figure (NaN) before the window has passed
