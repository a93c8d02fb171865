"""Triage of one flagged answer: state changes by the transition table, assignment, notes,
labels for the flag model, flag by hand, and the apology outreach; every change audited."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from core import audit
from core.feedback.access import (
    HAND_FLAG_SEVERITY,
    LABEL_NEGATIVE,
    LABEL_NOT_NEGATIVE,
    MAX_NOTE_CHARS,
    OPEN_STATES,
    RESOLUTION_CATEGORIES,
    STATE_LABELS,
    TRANSITIONS,
    FeedbackError,
    FeedbackNotFound,
    _hand_reason,
    _roles,
    may_triage,
)
from core.feedback.inbox import get_item
from core.formatting import datetime_text
from core.roles import NotAllowed, Role, can_view, parse_roles
from db.models import Feedback, StaffUser, utcnow

if TYPE_CHECKING:  # the outreach area imports this one's tables only, never this module
    from core.outreach.rules import TriggerResult

# ---------------------------------------------------------------- triage


def _lock(session: Session, feedback_id: int) -> Feedback:
    fb = session.exec(select(Feedback).where(Feedback.id == feedback_id).with_for_update()).first()
    if fb is None:
        raise FeedbackNotFound(f"no feedback with id {feedback_id}")
    return fb


def _require_triage(roles: frozenset[Role]) -> None:
    if not may_triage(roles):
        raise NotAllowed("only support leads and admins change the state of feedback")


def _audit(session: Session, fb: Feedback, *, actor: str, action: str, detail: dict) -> None:
    audit.record(session=session, actor=actor, action=f"feedback.{action}", record_type="feedback",
                 record_id=fb.id, customer_id=fb.customer_id, detail=detail)


def may_move(action: str, state: str) -> bool:
    """Whether the triage ``action`` (a key of TRANSITIONS) may start from ``state``.

    Raises KeyError for an action that is not in TRANSITIONS."""
    return state in TRANSITIONS[action][0]


def apology_key(feedback_id: int) -> str:
    """The idempotency key of the apology for one feedback item: one apology per item, however
    often it is previewed or sent, from the inbox or the account."""
    return f"apology:feedback:{feedback_id}"


def _first_response(fb: Feedback, now: datetime) -> None:
    if fb.first_response_at is None:
        fb.first_response_at = now


def _set_state(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str],
               now: datetime | None, action: str, extra: dict | None = None) -> Feedback:
    allowed_from, to = TRANSITIONS[action]
    role_set = _roles(roles)
    _require_triage(role_set)
    now = now or utcnow()
    fb = _lock(session, feedback_id)
    if fb.state not in allowed_from:
        if fb.state == to:
            raise FeedbackError(f"feedback {feedback_id} is already {STATE_LABELS[to].lower()}")
        raise FeedbackError(f"feedback {feedback_id} is {STATE_LABELS.get(fb.state, fb.state).lower()}; "
                            f"it cannot be set to {STATE_LABELS[to].lower()}")
    before = fb.state
    fb.state = to
    if to != "new":
        _first_response(fb, now)
    detail = {"from": before, "to": to} | (extra or {})
    session.add(fb)
    _audit(session, fb, actor=actor, action=action, detail=detail)
    session.flush()
    return fb


def acknowledge(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str],
                now: datetime | None = None) -> Feedback:
    """New (or waiting) -> acknowledged; the first response time is set if not yet."""
    return _set_state(session=session, feedback_id=feedback_id, actor=actor, roles=roles, now=now,
                      action="acknowledge")


def mark_waiting(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str],
                 now: datetime | None = None) -> Feedback:
    """New or acknowledged -> waiting on customer."""
    return _set_state(session=session, feedback_id=feedback_id, actor=actor, roles=roles, now=now,
                      action="waiting")


def resolve(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str], resolution: str,
            note: str | None = None, now: datetime | None = None) -> Feedback:
    """Any open state -> resolved with a resolution category (RESOLUTION_CATEGORIES).

    Raises FeedbackError for an unknown resolution or a state it cannot leave this way.
    """
    if resolution not in RESOLUTION_CATEGORIES:
        raise FeedbackError(f"unknown resolution {resolution!r}; "
                            f"use one of: {', '.join(RESOLUTION_CATEGORIES)}")
    now = now or utcnow()
    fb = _set_state(session=session, feedback_id=feedback_id, actor=actor, roles=roles, now=now,
                    action="resolve", extra={"resolution": resolution})
    fb.resolution = resolution
    fb.resolved_at = now
    if note and note.strip():
        _append_note(fb, actor=actor, text=note, now=now)
    session.add(fb)
    session.flush()
    return fb


def reopen(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str],
           now: datetime | None = None) -> Feedback:
    """Resolved -> acknowledged; the resolution is cleared (the audit log keeps it)."""
    fb = _set_state(session=session, feedback_id=feedback_id, actor=actor, roles=roles, now=now,
                    action="reopen")
    fb.resolution = None
    fb.resolved_at = None
    session.add(fb)
    session.flush()
    return fb


def assign(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str],
           assignee: str | None) -> Feedback:
    """Give the item to a staff user (None to unassign). Not a response to the customer.

    Raises FeedbackError for a resolved item, an unknown or disabled staff user, or one without access to the inbox.
    """
    role_set = _roles(roles)
    _require_triage(role_set)
    if assignee:
        user = session.exec(select(StaffUser).where(StaffUser.username == assignee)).first()
        if user is None or user.disabled:
            raise FeedbackError(f"no active staff user named {assignee!r}")
        if not can_view(parse_roles(user.roles), "feedback"):
            raise FeedbackError(f"{assignee} has no access to the feedback inbox")
    fb = _lock(session, feedback_id)
    if fb.state == "resolved":
        raise FeedbackError(f"feedback {feedback_id} is resolved; reopen it before assigning")
    before = fb.assignee
    fb.assignee = assignee or None
    session.add(fb)
    _audit(session, fb, actor=actor, action="assign", detail={"from": before, "to": fb.assignee})
    session.flush()
    return fb


def _append_note(fb: Feedback, *, actor: str, text: str, now: datetime) -> None:
    line = f"{datetime_text(now)} {actor}: {text.strip()}"
    fb.notes = f"{fb.notes}\n{line}" if fb.notes else line


def add_note(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str], text: str,
             now: datetime | None = None) -> Feedback:
    """Append a dated note. Support leads and admins on any item, managers on their own accounts'.

    Raises FeedbackError for an empty note or one over MAX_NOTE_CHARS characters.
    """
    text = (text or "").strip()
    if not text:
        raise FeedbackError("the note is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise FeedbackError(f"notes are at most {MAX_NOTE_CHARS} characters")
    get_item(session=session, feedback_id=feedback_id, username=actor, roles=roles)
    now = now or utcnow()
    fb = _lock(session, feedback_id)
    _append_note(fb, actor=actor, text=text, now=now)
    session.add(fb)
    _audit(session, fb, actor=actor, action="note", detail={"note": text})
    session.flush()
    return fb


def _label(fb: Feedback, *, label: str, actor: str, now: datetime) -> None:
    fb.label = label
    fb.labelled_by = actor
    fb.labelled_at = now


def confirm_flag(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str],
                 now: datetime | None = None) -> Feedback:
    """The team agrees a flagged answer needs a human: labelled "negative" (the model learns it).

    Raises FeedbackError when the answer is not flagged.
    """
    _require_triage(_roles(roles))
    now = now or utcnow()
    fb = _lock(session, feedback_id)
    if not fb.flagged:
        raise FeedbackError(f"feedback {feedback_id} is not flagged; use 'flag as a complaint' instead")
    before = fb.label
    _label(fb, label=LABEL_NEGATIVE, actor=actor, now=now)
    session.add(fb)
    _audit(session, fb, actor=actor, action="label", detail={"from": before, "to": LABEL_NEGATIVE})
    session.flush()
    return fb


def not_a_problem(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str],
                  now: datetime | None = None) -> Feedback:
    """The team says an answer needs no human: labelled "not negative" (the model learns it);
    an open flagged item is resolved as "no action needed", an item waiting for a read leaves
    that queue."""
    _require_triage(_roles(roles))
    now = now or utcnow()
    fb = _lock(session, feedback_id)
    before = fb.label
    _label(fb, label=LABEL_NOT_NEGATIVE, actor=actor, now=now)
    detail: dict = {"from": before, "to": LABEL_NOT_NEGATIVE}
    if fb.flagged and fb.state in OPEN_STATES:
        detail |= {"state_from": fb.state, "state_to": "resolved"}
        fb.state = "resolved"
        fb.resolution = "no action needed"
        fb.resolved_at = now
        _first_response(fb, now)
    session.add(fb)
    _audit(session, fb, actor=actor, action="label", detail=detail)
    session.flush()
    return fb


def flag_by_hand(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str],
                 now: datetime | None = None) -> Feedback:
    """A complaint the flag missed (or one it could not read): flagged, labelled "negative" (the
    model learns it), put in the inbox as new with severity at least HAND_FLAG_SEVERITY.

    Raises FeedbackError when the answer is already flagged.
    """
    _require_triage(_roles(roles))
    now = now or utcnow()
    fb = _lock(session, feedback_id)
    if fb.flagged:
        raise FeedbackError(f"feedback {feedback_id} is already flagged")
    before = fb.label
    _label(fb, label=LABEL_NEGATIVE, actor=actor, now=now)
    fb.flagged = True
    fb.needs_read = False
    fb.flag_reasons = _hand_reason(fb.flag_reasons, actor)
    fb.severity = max(fb.severity or 0.0, HAND_FLAG_SEVERITY)
    fb.state = "new"
    fb.resolution = None
    fb.resolved_at = None
    session.add(fb)
    _audit(session, fb, actor=actor, action="flag_by_hand", detail={"from": before, "to": LABEL_NEGATIVE})
    session.flush()
    return fb


def send_apology(*, session: Session, feedback_id: int, actor: str, roles: Iterable[Role | str],
                 now: datetime | None = None) -> TriggerResult:
    """Send the `apology` outreach for one item, through the outreach rules (consent,
    frequency cap, idempotent: one apology per item however often it is clicked).

    A queued apology counts as the first response and moves a new item to acknowledged.
    Returns core.outreach.TriggerResult. Commits (the outreach decision commits itself).

    Raises FeedbackError when the answer has no known customer, NotAllowed for a role that may not send outreach.
    """
    from core.outreach import trigger_outreach  # outreach imports this area's tables only

    role_set = _roles(roles)
    fb = get_item(session=session, feedback_id=feedback_id, username=actor, roles=role_set)
    if fb.customer_id is None:
        raise FeedbackError("this answer has no known customer to write to")
    if not can_view(role_set, "outreach"):
        raise NotAllowed("this role may not send outreach")
    now = now or utcnow()
    customer_id = fb.customer_id
    result = trigger_outreach(session=session, customer_id=customer_id, template="apology",
                              triggered_by=actor, feedback_id=feedback_id,
                              idempotency_key=apology_key(feedback_id), now=now)
    if result.created and result.outreach.status == "queued":
        fb = _lock(session, feedback_id)
        _first_response(fb, now)
        before = fb.state
        if fb.state == "new":
            fb.state = "acknowledged"
        session.add(fb)
        _audit(session, fb, actor=actor, action="apology",
               detail={"outreach_id": result.outreach.id, "from": before, "to": fb.state})
        session.commit()
    return result
