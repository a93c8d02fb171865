"""Feedback: flagging in bulk, the support leads' inbox and triage, close-the-loop figures,
themes, comment search, the export frame and the NPS counts behind the NPS screen.

Who sees what: support leads and admins see every flagged item; account managers only the
items of their own accounts (customer.owner == their username); exec sees none (aggregates
only, through the NPS functions). Triage changes are audited with the customer id, so they
appear on the account's timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import perf_counter

import pandas as pd
from sqlalchemy import Integer, bindparam, case, cast, distinct, func, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from core import audit
from core.flag_model import FlagModel
from core.readcache import cached
from core.roles import NotAllowed, Role, can_view, may_see_personal_data, parse_roles, require_personal_data
from core.sentiment import DETRACTOR_MAX, PROMOTER_MIN, THEMES, assess_frame, parse_mentions
from db.models import Customer, Feedback, FeedbackModel, Order, OrderLine, Product, StaffUser, utcnow

log = logging.getLogger(__name__)

STATES: tuple[str, ...] = ("new", "acknowledged", "waiting", "resolved")
OPEN_STATES: tuple[str, ...] = ("new", "acknowledged", "waiting")
# Triage by hand: action -> (the states it may start from, the state it leads to). The one
# table both the state changes below and the inbox's buttons read.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "acknowledge": (("new", "waiting"), "acknowledged"),
    "waiting": (("new", "acknowledged"), "waiting"),
    "resolve": (OPEN_STATES, "resolved"),
    "reopen": (("resolved",), "acknowledged"),
}
STATE_LABELS = {"new": "New", "acknowledged": "Acknowledged", "waiting": "Waiting on customer",
                "resolved": "Resolved"}
RESOLUTION_CATEGORIES: tuple[str, ...] = (
    "apologised",
    "replacement sent",
    "refund issued",
    "fixed or explained",
    "billing corrected",
    "subscription changed",
    "no action needed",
    "could not reach customer",
)
RESPONSE_TARGET_HOURS = 48
VALUE_WINDOW_DAYS = 365
AGE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("under 2 days", 0, 2), ("2 to 7 days", 2, 7), ("7 to 30 days", 7, 30),
    ("over 30 days", 30, float("inf")),
)
MAX_NOTE_CHARS = 2000
_UPDATE_CHUNK = 20_000
# The team's word on an answer (Feedback.label), which the flag's model learns from.
LABEL_NEGATIVE = "negative"
LABEL_NOT_NEGATIVE = "not negative"
LABELS: tuple[str, ...] = (LABEL_NEGATIVE, LABEL_NOT_NEGATIVE)
QUEUES: tuple[str, ...] = ("flagged", "needs_read")
QUEUE_LABELS = {"flagged": "Flagged", "needs_read": "Needs a read (language the flag cannot read)"}
# The inbox shows this much of a comment; the whole text is on the item and in the export.
INBOX_COMMENT_CHARS = 1000
HAND_FLAG_SEVERITY = 50.0


class FeedbackError(ValueError):
    """A triage request that cannot be done, with a message for the person who asked."""


class FeedbackNotFound(FeedbackError):
    pass


# ---------------------------------------------------------------- access


def _roles(roles: Iterable[Role | str]) -> frozenset[Role]:
    return parse_roles([str(r) for r in roles])


def sees_all_feedback(roles: Iterable[Role | str]) -> bool:
    """Support leads and admins see every flagged item; managers only their own accounts'."""
    return bool(_roles(roles) & {Role.SUPPORT_LEAD, Role.ADMIN})


def may_triage(roles: Iterable[Role | str]) -> bool:
    """Support leads and admins change an item's state; managers add notes and send the apology."""
    return bool(_roles(roles) & {Role.SUPPORT_LEAD, Role.ADMIN})


def _require_inbox(roles: frozenset[Role]) -> None:
    if not can_view(roles, "feedback"):
        raise NotAllowed("this role may not open the feedback inbox")
    require_personal_data(roles)


def _own_only(stmt, *, username: str, roles: frozenset[Role]):  # noqa: ANN001, ANN202 - a Select
    """Like `_visible` for a statement over Feedback alone: joins Customer only when needed."""
    if sees_all_feedback(roles):
        return stmt
    return stmt.join(Customer, Customer.id == Feedback.customer_id).where(Customer.owner == username)


def _visible(stmt, *, username: str, roles: frozenset[Role]):  # noqa: ANN001, ANN202 - a Select
    """Restrict a statement over Feedback (joined to Customer) to what the caller may see."""
    if sees_all_feedback(roles):
        return stmt
    return stmt.where(Customer.owner == username)


# ---------------------------------------------------------------- flagging


def customer_values(*, session: Session, customer_ids: Iterable[int] | None = None,
                    now: datetime | None = None) -> pd.Series:
    """Each customer's revenue over the 12 months up to `now` (customer id -> amount)."""
    now = now or utcnow()
    stmt = (select(Order.customer_id, func.sum(Order.total).label("value"))
            .where(Order.ordered_at > now - timedelta(days=VALUE_WINDOW_DAYS), Order.ordered_at <= now)
            .group_by(Order.customer_id))
    if customer_ids is not None:
        ids = sorted({int(i) for i in customer_ids if i is not None and not pd.isna(i)})
        if not ids:
            return pd.Series(dtype=float, name="value")
        stmt = stmt.where(col(Order.customer_id).in_(ids))
    frame = pd.read_sql(stmt, session.connection())
    return frame.set_index("customer_id")["value"].astype(float)


_model_cache: dict[int, FlagModel] = {}


def active_flag_model(*, session: Session) -> FlagModel | None:
    """The retrained model in use (the active FeedbackModel row), None for the shipped one.
    Read from `.npz` bytes with allow_pickle=False; cached by row id."""
    row = session.exec(select(FeedbackModel.id).where(col(FeedbackModel.active).is_(True))
                       .order_by(col(FeedbackModel.id).desc())).first()
    if row is None:
        return None
    if row not in _model_cache:
        params = session.exec(select(FeedbackModel.params).where(FeedbackModel.id == row)).one()
        _model_cache.clear()
        _model_cache[row] = FlagModel.from_bytes(params)
    return _model_cache[row]


def flag_frame(*, session: Session, frame: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """The same scoring as `flag_unscored`, for answers not stored yet: `frame` has
    customer_id (Customer.id or None), nps_score and comment; returns it with sentiment,
    flagged, flag_reasons and severity filled. Bulk writers (the demo generator) insert
    these columns with the rows, which saves rewriting 300,000 rows afterwards.

    Raises ValueError naming a column the frame lacks.
    """
    for column in ("customer_id", "nps_score", "comment"):
        if column not in frame.columns:
            raise ValueError(f"flag_frame needs a {column!r} column")
    values = customer_values(session=session, now=now)
    value = frame["customer_id"].map(values).fillna(0.0)
    assessed = assess_frame(frame.assign(_value=value), customer_value="_value",
                            model=active_flag_model(session=session))
    out = frame.copy()
    out["sentiment"] = assessed["sentiment"].astype(float)
    out["flagged"] = assessed["flagged"].astype(bool)
    out["flag_reasons"] = pd.Series([r if isinstance(r, str) else None for r in assessed["flag_reasons"]],
                                    index=frame.index, dtype=object)
    out["severity"] = assessed["severity"].astype(float)
    out["language"] = pd.Series(assessed["language"].to_numpy(), index=frame.index, dtype=object)
    out["needs_read"] = assessed["needs_read"].astype(bool)
    return out


def flag_unscored(*, session: Session, now: datetime | None = None, processes: int = 1,
                  timings: dict[str, float] | None = None) -> int:
    """Fill sentiment, flagged, flag_reasons and severity for every answer whose sentiment is
    empty, in bulk; returns how many. Commits with the caller's session.

    Severity uses the customer's revenue over the 12 months up to `now`. An answer without a
    comment gets sentiment 0.0 (neutral), so it is not picked up again. The comment's language
    and whether it needs a person's read are stored with the flag. An answer the team labelled
    negative (confirmed, or flagged by hand) stays flagged, whatever the model says now.
    `processes` > 1 reads many distinct comments in a pool of processes (see
    core.sentiment.judge_distinct; command lines only). `timings`, when given, gets the wall
    seconds of the stages: "read", "language", "judge" (see core.sentiment.assess_frame), "write".
    """
    timings = {} if timings is None else timings
    started = perf_counter()
    conn = session.connection()
    stmt = select(Feedback.id, Feedback.customer_id, Feedback.nps_score, Feedback.comment, Feedback.label,
                  Feedback.labelled_by).where(col(Feedback.sentiment).is_(None))
    frame = pd.read_sql(stmt, conn)
    if frame.empty:
        return 0
    values = customer_values(session=session, now=now)
    frame["value"] = frame["customer_id"].map(values).fillna(0.0)
    timings["read"] = perf_counter() - started
    assessed = assess_frame(frame, customer_value="value", model=active_flag_model(session=session),
                            processes=processes, timings=timings)
    started = perf_counter()
    reasons = [r if isinstance(r, str) else None for r in assessed["flag_reasons"]]
    flagged = assessed["flagged"].astype(bool).tolist()
    severity = assessed["severity"].astype(float).tolist()
    for i, (label, by) in enumerate(zip(frame["label"], frame["labelled_by"], strict=True)):
        if label == LABEL_NEGATIVE and not flagged[i]:
            flagged[i] = True
            reasons[i] = _hand_reason(reasons[i], by)
            severity[i] = max(severity[i], HAND_FLAG_SEVERITY)
    # Plain lists: pandas 3 would turn the missing reasons into NaN.
    out: dict[str, list] = {
        "id": frame["id"].astype(int).tolist(),
        "sentiment": assessed["sentiment"].astype(float).tolist(),
        "flagged": flagged,
        "flag_reasons": reasons,
        "severity": severity,
        "language": [v if isinstance(v, str) else None for v in assessed["language"]],
        "needs_read": assessed["needs_read"].astype(bool).tolist(),
    }
    if conn.dialect.name == "postgresql":
        _update_pg(conn, out)
    else:
        _update_executemany(conn, out)
    timings["write"] = perf_counter() - started
    log.info("flagged %s of %s new feedback answers", int(assessed["flagged"].sum()), len(out["id"]))
    return len(out["id"])


def _update_executemany(conn, out: dict[str, list]) -> None:  # noqa: ANN001 - a Connection
    table = Feedback.__table__
    stmt = (update(table).where(table.c.id == bindparam("b_id"))
            .values(sentiment=bindparam("b_sentiment"), flagged=bindparam("b_flagged"),
                    flag_reasons=bindparam("b_reasons"), severity=bindparam("b_severity"),
                    language=bindparam("b_language"), needs_read=bindparam("b_needs_read")))
    records = [{"b_id": i, "b_sentiment": s, "b_flagged": f, "b_reasons": r, "b_severity": v, "b_language": lang,
                "b_needs_read": nr}
               for i, s, f, r, v, lang, nr in zip(out["id"], out["sentiment"], out["flagged"],
                                                  out["flag_reasons"], out["severity"], out["language"],
                                                  out["needs_read"], strict=True)]
    for start in range(0, len(records), _UPDATE_CHUNK):
        conn.execute(stmt, records[start : start + _UPDATE_CHUNK])


# PostgreSQL: the new values are copied (COPY, the fast bulk path) into a temporary table, then
# one UPDATE joins it (a third faster than binding them as arrays; executemany of an UPDATE is a
# round trip per row there).
_PG_TEMP = """
    CREATE TEMPORARY TABLE IF NOT EXISTS flag_out (
        id integer, sentiment double precision, flagged boolean, flag_reasons text,
        severity double precision, language varchar(8), needs_read boolean) ON COMMIT DELETE ROWS
"""
_PG_UPDATE = """
    UPDATE feedback AS f
    SET sentiment = v.sentiment, flagged = v.flagged, flag_reasons = v.flag_reasons, severity = v.severity,
        language = v.language, needs_read = v.needs_read
    FROM flag_out AS v
    WHERE f.id = v.id
"""
_PG_COLUMNS = ("id", "sentiment", "flagged", "flag_reasons", "severity", "language", "needs_read")


def _update_pg(conn, out: dict[str, list]) -> None:  # noqa: ANN001 - a Connection
    dbapi = conn.dialect.dbapi
    with conn.connection.driver_connection.cursor() as cursor:
        try:
            cursor.execute(_PG_TEMP)
            cursor.execute("TRUNCATE flag_out")
            with cursor.copy(f"COPY flag_out ({', '.join(_PG_COLUMNS)}) FROM STDIN") as copy:
                for row in zip(*(out[c] for c in _PG_COLUMNS), strict=True):
                    copy.write_row(row)
            cursor.execute("ANALYZE flag_out")
            cursor.execute(_PG_UPDATE)
        except dbapi.Error as exc:  # the same exception classes as any SQLAlchemy statement
            raise DBAPIError.instance(_PG_UPDATE, None, exc, dbapi.Error, dialect=conn.dialect) from exc


def reflag(*, session: Session, now: datetime | None = None, processes: int = 1) -> int:
    """Recompute sentiment, flag, reasons and severity of every answer (after the rules or the
    customers' values changed). Triage state, notes and assignees stay as they are."""
    session.execute(update(Feedback.__table__).values(sentiment=None))
    return flag_unscored(session=session, now=now, processes=processes)


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
    line = f"{now:%Y-%m-%d %H:%M} {actor}: {text.strip()}"
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


def _hand_reason(reasons: str | None, by: str | None) -> str:
    hand = f"flagged by hand by {by}" if by else "flagged by hand"
    return f"{reasons}; {hand}" if reasons else hand


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
                 now: datetime | None = None):  # noqa: ANN201 - core.outreach.TriggerResult
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


# ---------------------------------------------------------------- close the loop


def close_the_loop(*, session: Session, username: str, roles: Iterable[Role | str],
                   since: datetime | None = None, now: datetime | None = None) -> dict[str, object]:
    """How quickly flagged answers get a first response and a resolution.

    Over flagged answers submitted since `since` (default 90 days): medians in hours (over the
    answers that have one), the share handled within 48 hours (of those handled or older than
    48 hours), and, over all open flagged answers, how many there are by age.
    """
    role_set = _roles(roles)
    _require_inbox(role_set)
    now = now or utcnow()
    since = since or now - timedelta(days=90)
    base = (select(Feedback.submitted_at, Feedback.first_response_at, Feedback.resolved_at, Feedback.state)
            .select_from(Feedback)
            .where(col(Feedback.flagged).is_(True), Feedback.submitted_at >= since,
                   Feedback.submitted_at <= now))
    frame = pd.read_sql(_own_only(base, username=username, roles=role_set), session.connection())
    for c in ("submitted_at", "first_response_at", "resolved_at"):
        frame[c] = pd.to_datetime(frame[c])
    age_h = (pd.Timestamp(now) - frame["submitted_at"]).dt.total_seconds() / 3600
    target = RESPONSE_TARGET_HOURS

    def timing(column: str) -> tuple[float | None, float | None, int]:
        hours = (frame[column] - frame["submitted_at"]).dt.total_seconds() / 3600
        done = hours.notna()
        eligible = done | (age_h >= target)
        median = float(hours[done].median()) if done.any() else None
        share = float((done & (hours <= target)).sum() / eligible.sum()) if eligible.any() else None
        return median, share, int(done.sum())

    first_median, first_share, responded = timing("first_response_at")
    res_median, res_share, resolved = timing("resolved_at")

    # One pass over the open items, a sum per age bucket.
    sums = []
    for _label, low, high in AGE_BUCKETS:
        cond = Feedback.submitted_at <= now - timedelta(days=low)
        if high != float("inf"):
            cond = cond & (Feedback.submitted_at > now - timedelta(days=high))
        sums.append(func.sum(case((cond, 1), else_=0)))
    open_stmt = (select(*sums).select_from(Feedback)
                 .where(col(Feedback.flagged).is_(True), col(Feedback.state).in_(OPEN_STATES)))
    counts = session.exec(_own_only(open_stmt, username=username, roles=role_set)).one()
    buckets = [{"age": label, "open": int(n or 0)} for (label, _, _), n in zip(AGE_BUCKETS, counts, strict=True)]
    return {
        "since": since,
        "flagged": len(frame),
        "responded": responded,
        "resolved": resolved,
        "median_hours_to_first_response": first_median,
        "share_first_response_within_48h": first_share,
        "median_hours_to_resolution": res_median,
        "share_resolved_within_48h": res_share,
        "open_total": sum(b["open"] for b in buckets),
        "open_by_age": pd.DataFrame(buckets),
    }


# ---------------------------------------------------------------- export


EXPORT_COLUMNS = ["response_id", "customer_id", "submitted_at", "nps_score", "sentiment", "flagged",
                  "flag_reasons", "state"]


def feedback_export_frame(*, session: Session, roles: Iterable[Role | str]) -> pd.DataFrame:
    """One row per answer for `export feedback`: response_id, customer_id (the shop's customer
    id), submitted_at, nps_score, sentiment, flagged, flag_reasons, state, and the comment for
    roles that may see personal data."""
    personal = may_see_personal_data(_roles(roles))
    columns = [Feedback.external_id.label("response_id"), Customer.external_id.label("customer_id"),
               Feedback.submitted_at, Feedback.nps_score, Feedback.sentiment, Feedback.flagged,
               Feedback.flag_reasons, Feedback.state]
    if personal:
        columns.append(Feedback.comment)
    stmt = (select(*columns).select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .order_by(Feedback.submitted_at, Feedback.id))
    frame = pd.read_sql(stmt, session.connection())
    frame["nps_score"] = frame["nps_score"].astype("Int64")
    frame["flagged"] = frame["flagged"].astype(bool)
    return frame[EXPORT_COLUMNS + (["comment"] if personal else [])]


# ---------------------------------------------------------------- themes and search


def _month_start(ts: datetime) -> datetime:
    return datetime(ts.year, ts.month, 1)


def detractor_themes(*, session: Session, months: int = 12, now: datetime | None = None) -> pd.DataFrame:
    """The problem themes detractors name, by month: month, theme, mentions, detractors
    (answers 0-6 that month), share (mentions / detractors). Aggregates only; any role."""
    now = now or utcnow()
    start = _month_start(now)
    for _ in range(max(1, months) - 1):
        start = _month_start(start - timedelta(days=1))
    stmt = select(Feedback.submitted_at, Feedback.flag_reasons).where(
        col(Feedback.nps_score).is_not(None), col(Feedback.nps_score) <= DETRACTOR_MAX,
        Feedback.submitted_at >= start, Feedback.submitted_at <= now)
    frame = pd.read_sql(stmt, session.connection())
    columns = ["month", "theme", "mentions", "detractors", "share"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["month"] = pd.to_datetime(frame["submitted_at"]).dt.to_period("M").dt.start_time
    detractors = frame.groupby("month").size().rename("detractors")
    reasons = frame.loc[frame["flag_reasons"].str.contains("mentions: ", na=False, regex=False)]
    codes, uniques = pd.factorize(reasons["flag_reasons"])
    parsed = [parse_mentions(u) for u in uniques]
    themes = pd.Series([parsed[c] for c in codes], index=reasons.index, dtype=object)
    exploded = pd.DataFrame({"month": reasons["month"], "theme": themes}).explode("theme").dropna()
    if exploded.empty:
        return pd.DataFrame(columns=columns)
    counts = exploded.groupby(["month", "theme"]).size().rename("mentions").reset_index()
    counts = counts.join(detractors, on="month")
    counts["share"] = counts["mentions"] / counts["detractors"]
    order = {t: i for i, t in enumerate(THEMES)}
    counts["_o"] = counts["theme"].map(order)
    counts = counts.sort_values(["month", "mentions", "_o"], ascending=[True, False, True])
    return counts[columns].reset_index(drop=True)


def theme_spikes(themes: pd.DataFrame, *, min_mentions: int = 5, ratio: float = 2.0) -> pd.DataFrame:
    """Months in which a theme was named at least `ratio` times as often as in its usual month
    (the median over the other months, at least 1): month, theme, mentions, usual, times."""
    columns = ["month", "theme", "mentions", "usual", "times"]
    if themes.empty:
        return pd.DataFrame(columns=columns)
    months = sorted(themes["month"].unique())
    full = (themes.pivot_table(index="month", columns="theme", values="mentions", aggfunc="sum")
            .reindex(months).fillna(0))
    rows = []
    for theme in full.columns:
        series = full[theme]
        for month, count in series.items():
            usual = max(1.0, float(series.drop(month).median())) if len(series) > 1 else 1.0
            if count >= min_mentions and count >= ratio * usual:
                rows.append({"month": month, "theme": theme, "mentions": int(count), "usual": usual,
                             "times": count / usual})
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(rows).sort_values("times", ascending=False).reset_index(drop=True)


def escape_like(text: str, escape: str = "\\") -> str:
    """Escape LIKE wildcards so a search for "50%" or "a_b" matches those characters."""
    return text.replace(escape, escape * 2).replace("%", escape + "%").replace("_", escape + "_")


def search_comments(*, session: Session, roles: Iterable[Role | str], word: str, limit: int = 200,
                    since: datetime | None = None) -> pd.DataFrame:
    """Answers whose comment contains `word` (any case), newest first, with their scores.
    Comments are personal data: exec may not search them.

    Raises FeedbackError for fewer than two or more than 100 characters.
    """
    require_personal_data(_roles(roles))
    word = (word or "").strip()
    if len(word) < 2:
        raise FeedbackError("type at least two characters to search the comments")
    if len(word) > 100:
        raise FeedbackError("search for at most 100 characters")
    stmt = (select(Feedback.id, Feedback.submitted_at, Feedback.nps_score, Feedback.comment,
                   Feedback.flagged, Feedback.state, Feedback.customer_id,
                   Customer.external_id.label("customer_ref"))
            .select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .where(col(Feedback.comment).ilike(f"%{escape_like(word)}%", escape="\\"))
            .order_by(col(Feedback.submitted_at).desc(), col(Feedback.id).desc())
            .limit(max(1, min(int(limit), 2000))))
    if since is not None:
        stmt = stmt.where(Feedback.submitted_at >= since)
    frame = pd.read_sql(stmt, session.connection())
    frame["nps_score"] = frame["nps_score"].astype("Int64")
    return frame


# ---------------------------------------------------------------- NPS counts for the NPS screen

NPS_SPLITS: dict[str, object] = {
    "segment": Customer.segment,
    "region": Customer.region,
    "channel": Feedback.channel,
}


def _count_columns():  # noqa: ANN202
    score = col(Feedback.nps_score)
    return (
        func.sum(case((score >= PROMOTER_MIN, 1), else_=0)).label("promoters"),
        func.sum(case(((score > DETRACTOR_MAX) & (score < PROMOTER_MIN), 1), else_=0)).label("passives"),
        func.sum(case((score <= DETRACTOR_MAX, 1), else_=0)).label("detractors"),
    )


def _counts_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame["day"] = pd.to_datetime(frame["day"])
    for c in ("promoters", "passives", "detractors"):
        frame[c] = frame[c].fillna(0).astype(int)
    return frame


NPS_DEFAULT_MONTHS = 12


def nps_window(*, months: int, today: date) -> tuple[datetime, datetime]:
    """[since, until] of the NPS screen's "last N months": whole days up to the end of today,
    so the counts are the same all day long and can be kept between requests (core.readcache)."""
    until = datetime.combine(today, time.max)
    since = datetime.combine(today + timedelta(days=1) - timedelta(days=round(30.44 * months)), time.min)
    return since, until


@cached(tables=("customer", "feedback", "orders", "order_line", "product"))
def nps_counts(*, session: Session, since: datetime, until: datetime, by: str | None = None) -> pd.DataFrame:
    """Promoters, passives and detractors per day (and per `by`: segment, region, channel or
    category) for answers with a score in [since, until]. Feed it to core.nps.nps_by_period
    with date_col="day". With by="category" an answer counts once in each product category the
    customer bought in the same window.

    Raises FeedbackError for a split that is not one of NPS_SPLITS or "category".
    """
    if by == "category":
        return _nps_counts_by_category(session=session, since=since, until=until)
    if by is not None and by not in NPS_SPLITS:
        raise FeedbackError(f"split by one of: {', '.join([*NPS_SPLITS, 'category'])}")
    day = func.date(Feedback.submitted_at).label("day")
    keys = [day] + ([NPS_SPLITS[by].label(by)] if by else [])  # type: ignore[attr-defined]
    stmt = (select(*keys, *_count_columns()).select_from(Feedback)
            .outerjoin(Customer, Customer.id == Feedback.customer_id)
            .where(col(Feedback.nps_score).is_not(None), Feedback.submitted_at >= since,
                   Feedback.submitted_at <= until)
            .group_by(*keys))
    return _counts_frame(pd.read_sql(stmt, session.connection()))


def _nps_counts_by_category(*, session: Session, since: datetime, until: datetime) -> pd.DataFrame:
    bought = (select(Order.customer_id.label("customer_id"), Product.category.label("category"))
              .select_from(Order).join(OrderLine, OrderLine.order_id == Order.id)
              .join(Product, Product.sku == OrderLine.sku)
              .where(Order.ordered_at >= since, Order.ordered_at <= until, col(Product.category).is_not(None))
              .distinct().subquery())
    day = func.date(Feedback.submitted_at).label("day")
    stmt = (select(day, bought.c.category, *_count_columns()).select_from(Feedback)
            .join(bought, bought.c.customer_id == Feedback.customer_id)
            .where(col(Feedback.nps_score).is_not(None), Feedback.submitted_at >= since,
                   Feedback.submitted_at <= until)
            .group_by(day, bought.c.category))
    return _counts_frame(pd.read_sql(stmt, session.connection()))


def answer_counts(*, session: Session, since: datetime, until: datetime) -> dict[str, int]:
    """Answers in the window: all, with a score, with a comment, flagged."""
    stmt = select(
        func.count(),
        func.count(Feedback.nps_score),
        func.count(Feedback.comment),
        func.sum(cast(Feedback.flagged, Integer)),
        func.count(distinct(Feedback.customer_id)),
    ).where(Feedback.submitted_at >= since, Feedback.submitted_at <= until)
    total, scored, commented, flagged, customers = session.exec(stmt).one()
    return {"answers": int(total or 0), "scored": int(scored or 0), "commented": int(commented or 0),
            "flagged": int(flagged or 0), "customers": int(customers or 0)}
