"""Rules that used to be written twice (a screen and core) now live in core alone: core itself
refuses what the screen used to refuse, and the screens read core's table."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core import feedback as fbk
from core import users
from core.outreach import preview_outreach
from core.roles import Role
from db.models import Feedback, StaffUser, utcnow
from tests.factories import make_customer, make_feedback

SUPPORT = {Role.SUPPORT_LEAD}

# design.md, feedback triage, written out by hand: which action may start from which state.
ALLOWED = {
    ("acknowledge", "new"), ("acknowledge", "waiting"),
    ("waiting", "new"), ("waiting", "acknowledged"),
    ("resolve", "new"), ("resolve", "acknowledged"), ("resolve", "waiting"),
    ("reopen", "resolved"),
}
ACTIONS = {"acknowledge": fbk.acknowledge, "waiting": fbk.mark_waiting, "reopen": fbk.reopen,
           "resolve": lambda **kw: fbk.resolve(resolution="apologised", **kw)}


def test_disabling_yourself_is_refused_by_core(session: Session) -> None:
    for name in ("ada", "bo"):
        session.add(StaffUser(username=name, name=name, password_hash="x", roles="admin"))
    session.flush()
    with pytest.raises(users.UserError, match="cannot disable yourself"):
        users.set_disabled(session=session, username="ada", disabled=True, actor="ada")
    assert users.get_user(session=session, username="ada").disabled is False
    # Another admin, or the command line, may; enabling yourself back is not refused.
    assert users.set_disabled(session=session, username="ada", disabled=True, actor="bo").disabled is True
    assert users.set_disabled(session=session, username="ada", disabled=False, actor="ada").disabled is False


@pytest.mark.parametrize("state", fbk.STATES)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_the_triage_table_says_what_core_does(session: Session, action: str, state: str) -> None:
    session.add(StaffUser(username="support", name="S", password_hash="x", roles="support_lead"))
    customer = make_customer(session)
    fb = make_feedback(session, customer, utcnow(), nps_score=1, comment="broken")
    fb.state = state
    session.add(fb)
    session.commit()
    expected = (action, state) in ALLOWED
    assert fbk.may_move(action, state) is expected  # what the inbox's buttons read
    if expected:
        ACTIONS[action](session=session, feedback_id=fb.id, actor="support", roles=SUPPORT)
        assert session.get(Feedback, fb.id).state == fbk.TRANSITIONS[action][1]
    else:
        with pytest.raises(fbk.FeedbackError):
            ACTIONS[action](session=session, feedback_id=fb.id, actor="support", roles=SUPPORT)


def test_the_inbox_preview_and_the_send_share_one_apology_key(session: Session) -> None:
    session.add(StaffUser(username="support", name="S", password_hash="x", roles="support_lead"))
    customer = make_customer(session, email="ann@example.com")
    fb = make_feedback(session, customer, utcnow(), nps_score=0, comment="leaked")
    session.commit()
    sent = fbk.send_apology(session=session, feedback_id=fb.id, actor="support", roles=SUPPORT)
    assert sent.created
    # The preview the inbox shows after the send, with the key the inbox passes: already recorded.
    preview = preview_outreach(session=session, customer_id=customer.id, template="apology",
                               feedback_id=fb.id, idempotency_key=fbk.apology_key(fb.id))
    assert not preview.would_send and (preview.reason or "").startswith("already recorded")


def test_an_rfm_segment_is_never_named_like_a_health_band() -> None:
    # Accounts filters by both side by side: "At risk" was an RFM segment and a health band.
    from core.accounts import BAND_LABELS
    from core.health import RFM_LABELS

    assert not set(BAND_LABELS.values()) & set(RFM_LABELS.values())
    assert RFM_LABELS["at_risk"] == "At risk (RFM)"
