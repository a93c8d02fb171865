"""The feedback area's fixed terms (triage states and transitions, resolutions, labels, queues),
its errors, and who may see and triage which answers."""

from __future__ import annotations

from collections.abc import Iterable

from core.roles import NotAllowed, Role, can_view, parse_roles, require_personal_data
from db.models import Customer, Feedback

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


def _hand_reason(reasons: str | None, by: str | None) -> str:
    hand = f"flagged by hand by {by}" if by else "flagged by hand"
    return f"{reasons}; {hand}" if reasons else hand
