"""The support leads' inbox: the flagged answers a user may see, page by page, and one item."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import func
from sqlmodel import Session, col, select

from core.feedback.access import (
    INBOX_COMMENT_CHARS,
    OPEN_STATES,
    QUEUES,
    STATES,
    FeedbackError,
    FeedbackNotFound,
    _own_only,
    _require_inbox,
    _roles,
    _visible,
    sees_all_feedback,
)
from core.feedback.flagging import customer_values
from core.roles import NotAllowed, Role, can_view, parse_roles
from db.models import Customer, Feedback, StaffUser

# ---------------------------------------------------------------- inbox


@dataclass(frozen=True)
class InboxPage:
    rows: pd.DataFrame
    total: int


INBOX_COLUMNS = ["id", "response_id", "submitted_at", "customer_id", "customer_ref", "customer_name",
                 "owner", "value_12m", "nps_score", "comment", "comment_chars", "sentiment", "severity",
                 "flag_reasons", "state", "assignee", "resolution", "notes", "first_response_at", "resolved_at",
                 "channel", "language", "label", "labelled_by"]


def inbox(*, session: Session, username: str, roles: Iterable[Role | str],
          states: Iterable[str] | None = OPEN_STATES, assignee: str | None = None, owner: str | None = None,
          since: datetime | None = None, sort: str = "severity", limit: int = 200, offset: int = 0,
          now: datetime | None = None, queue: str = "flagged", language: str | None = None) -> InboxPage:
    """Flagged answers, most severe and newest first (`sort="severity"`) or newest first
    (`sort="newest"`), with the customer's 12-month revenue as `value_12m`.

    `queue="needs_read"` lists instead the answers a person must read: comments in a language
    the flag cannot read, without a score, naming no problem it knows, not labelled yet (their
    state filter is ignored). Filters: `states` (None for all), `assignee` ("" for
    unassigned), `owner` (account manager), `since` (submitted on or after), `language` (ISO
    639-1 code). Managers only ever get their own accounts. `comment` holds the first
    INBOX_COMMENT_CHARS characters (get_item has the whole text), `comment_chars` its length.

    Raises FeedbackError for an unknown sort, queue or state.
    """
    role_set = _roles(roles)
    _require_inbox(role_set)
    if sort not in ("severity", "newest"):
        raise FeedbackError("sort must be 'severity' or 'newest'")
    if queue not in QUEUES:
        raise FeedbackError(f"unknown queue {queue!r}; use one of: {', '.join(QUEUES)}")
    if queue == "needs_read":
        conds = [col(Feedback.needs_read).is_(True), col(Feedback.flagged).is_(False),
                 col(Feedback.label).is_(None)]
        states = None
    else:
        conds = [col(Feedback.flagged).is_(True)]
    if language:
        conds.append(Feedback.language == language)
    if states is not None:
        wanted = list(states)
        unknown = set(wanted) - set(STATES)
        if unknown:
            raise FeedbackError(f"unknown state {sorted(unknown)[0]!r}; use one of: {', '.join(STATES)}")
        conds.append(col(Feedback.state).in_(wanted))
    if assignee is not None:
        conds.append(col(Feedback.assignee).is_(None) if assignee == "" else Feedback.assignee == assignee)
    if owner:
        conds.append(Customer.owner == owner)
    if since is not None:
        conds.append(Feedback.submitted_at >= since)

    count = select(func.count()).select_from(Feedback)
    if owner or not sees_all_feedback(role_set):  # the customer table is needed only to filter
        count = count.join(Customer, Customer.id == Feedback.customer_id)
    total = int(session.exec(_visible(count.where(*conds), username=username, roles=role_set)).one())

    stmt = (select(Feedback.id, Feedback.external_id.label("response_id"), Feedback.submitted_at,
                   Feedback.customer_id, Customer.external_id.label("customer_ref"),
                   Customer.name.label("customer_name"), Customer.owner, Feedback.nps_score, Feedback.comment,
                   func.length(Feedback.comment).label("comment_chars"),
                   Feedback.sentiment, Feedback.severity, Feedback.flag_reasons, Feedback.state,
                   Feedback.assignee, Feedback.resolution, Feedback.notes, Feedback.first_response_at,
                   Feedback.resolved_at, Feedback.channel, Feedback.language, Feedback.label,
                   Feedback.labelled_by)
            .select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id).where(*conds))
    stmt = _visible(stmt, username=username, roles=role_set)
    if sort == "severity":
        stmt = stmt.order_by(col(Feedback.severity).desc().nulls_last(), col(Feedback.submitted_at).desc(),
                             col(Feedback.id).desc())
    else:
        stmt = stmt.order_by(col(Feedback.submitted_at).desc(), col(Feedback.severity).desc().nulls_last(),
                             col(Feedback.id).desc())
    stmt = stmt.limit(max(1, min(int(limit), 5000))).offset(max(0, int(offset)))
    rows = pd.read_sql(stmt, session.connection())
    rows["comment"] = rows["comment"].map(_shortened)
    values = customer_values(session=session, customer_ids=rows["customer_id"].dropna().tolist(), now=now)
    rows["value_12m"] = rows["customer_id"].map(values).fillna(0.0).round(2)
    rows.loc[rows["customer_id"].isna(), "value_12m"] = None
    return InboxPage(rows[INBOX_COLUMNS], total)


def _shortened(comment: object) -> object:
    if isinstance(comment, str) and len(comment) > INBOX_COMMENT_CHARS:
        return comment[:INBOX_COMMENT_CHARS] + f" … ({len(comment):,} characters in all)"
    return comment


def inbox_languages(*, session: Session, username: str, roles: Iterable[Role | str]) -> list[str]:
    """The languages (ISO 639-1 codes) of the flagged or needs-a-read answers the caller may
    see, most frequent first: the choices of the inbox's language filter."""
    role_set = _roles(roles)
    _require_inbox(role_set)
    stmt = (select(Feedback.language, func.count().label("n")).select_from(Feedback)
            .where(col(Feedback.language).is_not(None),
                   col(Feedback.flagged).is_(True) | col(Feedback.needs_read).is_(True))
            .group_by(Feedback.language).order_by(func.count().desc()))
    return [lang for lang, _ in session.exec(_own_only(stmt, username=username, roles=role_set)).all()]


def get_item(*, session: Session, feedback_id: int, username: str, roles: Iterable[Role | str]) -> Feedback:
    """One feedback answer, if the caller may see it.

    Raises FeedbackNotFound for an unknown id, NotAllowed for another manager's account.
    """
    role_set = _roles(roles)
    _require_inbox(role_set)
    fb = session.get(Feedback, feedback_id)
    if fb is None:
        raise FeedbackNotFound(f"no feedback with id {feedback_id}")
    if not sees_all_feedback(role_set):
        owner = session.get(Customer, fb.customer_id).owner if fb.customer_id else None
        if owner != username:
            raise NotAllowed("this feedback belongs to another manager's account")
    return fb


def assignable_staff(*, session: Session) -> list[str]:
    """Usernames of active staff who may work the inbox (support leads, admins, managers)."""
    users = session.exec(select(StaffUser).where(col(StaffUser.disabled).is_(False))
                         .order_by(StaffUser.username)).all()
    return [u.username for u in users if can_view(parse_roles(u.roles), "feedback")]
