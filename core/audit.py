"""The audit log: who did what, when, to which record."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from db.models import AuditLog


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    record_type: str | None = None,
    record_id: str | int | None = None,
    customer_id: int | None = None,
    detail: dict[str, Any] | str | None = None,
) -> AuditLog:
    """Add an audit entry to the session; it commits with the change it describes."""
    if isinstance(detail, dict):
        detail = json.dumps(detail, default=str, sort_keys=True)
    entry = AuditLog(
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=None if record_id is None else str(record_id),
        customer_id=customer_id,
        detail=detail,
    )
    session.add(entry)
    return entry


# An action's verb as the timeline says it ("task.create" -> "Task created"); a whole action
# where the noun alone would mislead ("loyalty.redeem" -> "Points redeemed").
_ACTION_WORDS: dict[str, str] = {
    "loyalty.redeem": "Points redeemed", "loyalty.expire": "Points expired",
    "outreach.send": "Outreach sent", "outreach.retry": "Outreach to be sent again",
    "outreach.fail": "Outreach not sent", "outreach.suppress": "Outreach held back (no consent)",
    "outreach.requeue": "Outreach queued again", "outreach.unsubscribe": "Unsubscribed",
    "call.log": "Call logged", "task.rules": "Task rules changed", "login.ok": "Logged in",
    "login.locked": "Login locked", "logout": "Logged out", "permission.denied": "Refused: no permission",
    "feedback.flag_by_hand": "Feedback flagged by hand", "feedback.waiting": "Feedback set to waiting",
    "feedback.note": "Feedback note added", "feedback.apology": "Apology sent",
    "feedback.model_trained": "Feedback model trained", "digest.sent": "Digest sent",
    "digest.opt_in": "Digest subscribed", "digest.opt_out": "Digest unsubscribed",
    "settings.mfa_required_roles": "Roles that must use MFA changed",
}
_VERBS: dict[str, str] = {
    "create": "created", "close": "closed", "snooze": "snoozed", "reassign": "reassigned",
    "acknowledge": "acknowledged", "resolve": "resolved", "reopen": "reopened", "assign": "assigned",
    "label": "labelled", "add": "added", "disable": "disabled", "enable": "enabled",
    "set_password": "password set", "enrolled": "enrolled", "reset": "reset", "ok": "passed",
    "rejected": "refused",
}


def action_text(action: str) -> str:
    """An audit action code in words: "task.create" -> "Task created", "import.orders" ->
    "Import orders", "import.orders.rejected" -> "Import orders refused", "mfa.reset" -> "MFA
    reset"; a code it does not know reads as its words ("campaign.create" -> "Campaign created")."""
    from core.formatting import label

    if action in _ACTION_WORDS:
        return _ACTION_WORDS[action]
    noun, *rest = action.split(".")
    words = [label(noun)] + [_VERBS.get(w, w.replace("_", " ")) for w in rest]
    return " ".join(words)
