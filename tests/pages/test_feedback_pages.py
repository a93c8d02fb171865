"""The inbox and the NPS screen through the real app (AppTest), on the small demo store plus
hand-made answers: comments render as text, roles see what they may."""

from __future__ import annotations

from datetime import timedelta

import pytest
import streamlit as st
from sqlmodel import Session, select

from core.feedback import flag_unscored
from db.engine import get_engine
from db.models import AuditLog, Feedback, utcnow
from tests.factories import make_customer, make_feedback
from tests.pages.helpers import app_as, page_text

XSS = "<script>alert('x')</script><img src=x onerror=alert(1)> The kettle caught fire, terrible!"
OTHER = "The lid does not close, not my account"


@pytest.fixture
def inbox_app(demo_app: str) -> dict:
    st.cache_data.clear()  # cached readers are per process; each test has its own database
    now = utcnow()
    with Session(get_engine(demo_app)) as session:
        mine = make_customer(session, owner="manager", segment="family", region="north")
        theirs = make_customer(session, owner="someone_else", segment="single", region="south")
        xss = make_feedback(session, mine, now - timedelta(hours=2), nps_score=0, comment=XSS, channel="email")
        other = make_feedback(session, theirs, now - timedelta(hours=3), nps_score=None, comment=OTHER)
        make_feedback(session, theirs, now - timedelta(days=3), nps_score=10, comment="Lovely towels")
        make_feedback(session, mine, now - timedelta(days=40), nps_score=8)
        session.commit()
        flag_unscored(session=session)
        session.commit()
        return {"url": demo_app, "xss": xss.id, "other": other.id, "customer": mine.id}


def _no_markup_anywhere(at) -> None:  # noqa: ANN001
    for el in list(at.markdown) + list(at.caption) + list(at.title) + list(at.subheader):
        assert "<script>" not in str(el.value) and "onerror" not in str(el.value)


def test_inbox_as_support_lead_shows_the_comment_as_plain_text(inbox_app: dict) -> None:
    at = app_as("support", "views/feedback.py")
    assert not at.exception, at.exception
    assert XSS in [t.value for t in at.text]  # the detail panel: st.text, never markdown
    assert XSS in page_text(at)  # and in the table, as a cell value
    _no_markup_anywhere(at)
    assert OTHER in page_text(at)  # support leads see every account
    assert "Closing the loop" in page_text(at)
    assert f"/account?id={inbox_app['customer']}" in page_text(at)


def test_support_lead_acknowledges_and_resolves_from_the_page(inbox_app: dict) -> None:
    at = app_as("support", "views/feedback.py")
    at.selectbox(key="fb_item").set_value(inbox_app["xss"]).run()
    at.button(key="fb_ack").click().run()
    assert not at.exception, at.exception
    assert "acknowledged" in page_text(at)
    at.selectbox(key="fb_item").set_value(inbox_app["xss"]).run()
    at.selectbox(key="fb_resolution").set_value("refund issued")
    at.text_input(key="fb_resolve_note").input("Refunded in full")
    at.button[[b.label for b in at.button].index("Resolve")].click().run()
    assert not at.exception, at.exception
    with Session(get_engine(inbox_app["url"])) as session:
        item = session.get(Feedback, inbox_app["xss"])
        assert item.state == "resolved" and item.resolution == "refund issued"
        assert item.first_response_at is not None and item.resolved_at is not None
        actions = session.exec(select(AuditLog.action).where(AuditLog.customer_id == inbox_app["customer"],
                                                             AuditLog.actor == "support")).all()
        assert "feedback.acknowledge" in actions and "feedback.resolve" in actions


def test_manager_sees_own_accounts_only_and_cannot_triage(inbox_app: dict) -> None:
    at = app_as("manager", "views/feedback.py")
    assert not at.exception, at.exception
    text = page_text(at)
    assert XSS in text and OTHER not in text
    assert not [b for b in at.button if b.key == "fb_ack"]


def test_inbox_is_not_allowed_for_exec(inbox_app: dict) -> None:
    at = app_as("exec", "views/feedback.py")
    assert not at.exception, at.exception
    text = page_text(at)
    assert "Not allowed" in text
    assert XSS not in text and not at.dataframe


def test_nps_screen_for_exec_has_aggregates_but_no_comments(inbox_app: dict) -> None:
    at = app_as("exec", "views/nps.py")
    assert not at.exception, at.exception
    assert not [t for t in at.text_input if t.key == "nps_search"]
    assert XSS not in page_text(at) and "aggregates" in page_text(at)
    at.selectbox(key="nps_split").set_value("segment").run()
    at.radio(key="nps_freq").set_value("W").run()
    assert not at.exception, at.exception


def test_nps_comment_search_shows_text_for_support(inbox_app: dict) -> None:
    at = app_as("support", "views/nps.py")
    assert not at.exception, at.exception
    at.text_input(key="nps_search").input("kettle").run()
    assert not at.exception, at.exception
    assert XSS in page_text(at)
    _no_markup_anywhere(at)
    for split in ("region", "channel", "category"):
        at.selectbox(key="nps_split").set_value(split).run()
        assert not at.exception, at.exception


def test_send_apology_from_the_inbox(inbox_app: dict) -> None:
    from db.models import Outreach

    at = app_as("support", "views/feedback.py")
    at.selectbox(key="fb_item").set_value(inbox_app["xss"]).run()
    assert "Would not be sent" not in page_text(at)
    at.button(key="fb_apology").click().run()
    assert not at.exception, at.exception
    assert "Apology for item" in page_text(at)
    # The inbox names the customer by the shop's id, never the database id.
    inbox = next(df.value for df in at.dataframe if "customer_ref" in df.value.columns)
    refs = inbox["customer_ref"][inbox["customer_ref"] != ""]
    assert len(refs) and not refs.str.fullmatch(r"\d+").any(), list(refs)
    assert not (inbox.astype(str) == "None").any().any()
    # The green "queued" is not contradicted by a yellow "would not be sent: already recorded".
    assert "Would not be sent" not in page_text(at)
    assert not [w.value for w in at.warning if not w.value.startswith("Demo mode")]
    assert "An apology for this item has been recorded" in page_text(at)
    # The item's state changed (acknowledged); the selector's label holds no stale state.
    assert "State: Acknowledged" in page_text(at)
    assert not any(o.endswith(("New", "Acknowledged")) for o in at.selectbox(key="fb_item").options)
    with Session(get_engine(inbox_app["url"])) as session:
        sent = session.exec(select(Outreach).where(Outreach.feedback_id == inbox_app["xss"])).all()
        assert len(sent) == 1 and sent[0].template == "apology" and sent[0].status == "queued"
        assert session.get(Feedback, inbox_app["xss"]).state == "acknowledged"
