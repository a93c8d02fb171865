"""The task rules' fixed terms (reasons, outcomes, defaults, priority weights), their errors, and
the rules' settings as an admin saves them (JSON under TASK_RULES_KEY in the `setting` table)."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from core import audit
from db.models import (
    Setting,
)

TASK_RULES_KEY = "task_rules"
REASONS: tuple[str, ...] = ("at_risk", "detractor", "refill_overdue", "points_expiring", "ticket_open")
REASON_LABELS: dict[str, str] = {
    "at_risk": "Entered the at-risk band",
    "detractor": "New detractor answer",
    "refill_overdue": "Refill overdue (valuable customer)",
    "points_expiring": "VIP points about to expire",
    "ticket_open": "Support ticket open too long",
    "call": "Call the customer",  # made by a person (the account page), not by a rule
}
OUTCOMES: tuple[str, ...] = ("reached", "offer_sent", "no_answer", "not_a_problem")
OUTCOME_LABELS: dict[str, str] = {
    "reached": "Reached",
    "offer_sent": "Offer sent",
    "no_answer": "No answer",
    "not_a_problem": "Not a problem",
}
CALL_OUTCOMES: tuple[str, ...] = ("reached", "no_answer")
# The outreach template that fits each reason (None: a call, not an email).
REASON_TEMPLATES: dict[str, str | None] = {
    "at_risk": "win_back",
    "detractor": "apology",
    "refill_overdue": "refill_reminder",
    "points_expiring": "points_expiring",
    "ticket_open": None,
    "call": None,
}

# Each rule: enabled, sla_days (due this many days after the task is made) and its thresholds.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "at_risk": {"enabled": True, "sla_days": 3, "min_value_at_risk": 25.0},
    "detractor": {"enabled": True, "sla_days": 2, "lookback_days": 14, "assignee": ""},
    "refill_overdue": {"enabled": True, "sla_days": 5, "min_days_overdue": 7, "min_spend_365": 200.0},
    "points_expiring": {"enabled": True, "sla_days": 7, "min_points": 10, "vip_segments": "vip"},
    "ticket_open": {"enabled": True, "sla_days": 2, "max_open_days": 7},
}
RULE_PARAM_HELP: dict[str, str] = {
    "enabled": "make tasks for this signal",
    "sla_days": "the task is due this many days after it is made",
    "min_value_at_risk": "only accounts with at least this value at risk",
    "lookback_days": "answers submitted within this many days",
    "assignee": "support lead who gets detractor tasks (empty: the answer's inbox assignee, else the first "
                "support lead)",
    "min_days_overdue": "refills ran out at least this many days ago",
    "min_spend_365": "spent at least this much over the last 365 days",
    "min_points": "at least this many points expire within 30 days",
    "vip_segments": "customer segments that count as VIP (comma-separated)",
    "max_open_days": "tickets open at least this many days",
}

# One priority (design: used by My work and the at-risk queue).
PRIORITY_DETRACTOR_BONUS = 100.0
PRIORITY_DETRACTOR_DAYS = 30
PRIORITY_POINTS_FACTOR = 10.0
PRIORITY_EXPLANATION = (
    f"Priority = value at risk + {PRIORITY_DETRACTOR_BONUS:.0f} when the customer gave a detractor answer "
    f"(NPS 0–6) in the last {PRIORITY_DETRACTOR_DAYS} days + {PRIORITY_POINTS_FACTOR:.0f} × the money value "
    "of their points expiring in the next 30 days. Higher first."
)
DETRACTOR_MAX = 6
_PRIORITY_CHUNK = 5000  # up to this many customers: look them up by id; more: read the day's figures whole
CONTACT_LABELS = {"email": "Email", "phone": "Phone only", "none": "Cannot be contacted"}


class TaskError(ValueError):
    """A task request that cannot be done; the message says what to change."""


class TaskNotFound(TaskError):
    """No task with that id."""


# ---------------------------------------------------------------- settings


def task_rules(*, session: Session) -> dict[str, dict[str, Any]]:
    """The rules in force: the admin's saved values over DEFAULT_RULES (a rule or parameter
    never saved keeps its default)."""
    row = session.get(Setting, TASK_RULES_KEY)
    saved = json.loads(row.value) if row is not None and row.value else {}
    out = {}
    for reason, defaults in DEFAULT_RULES.items():
        merged = dict(defaults)
        merged.update({k: v for k, v in (saved.get(reason) or {}).items() if k in defaults})
        out[reason] = merged
    return out


def _coerce(reason: str, name: str, value: Any) -> Any:
    default = DEFAULT_RULES[reason][name]
    label = f"{REASON_LABELS[reason]}: {name}"
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, str):
        return "" if value is None else str(value).strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TaskError(f"{label} must be a number, not {value!r}") from None
    if number != number or number < 0:
        raise TaskError(f"{label} must be 0 or more, not {value!r}")
    if isinstance(default, int):
        if number != int(number):
            raise TaskError(f"{label} must be a whole number of days or points, not {value!r}")
        return int(number)
    return number


def save_task_rules(*, session: Session, rules: dict[str, dict[str, Any]], actor: str) -> dict[str, dict[str, Any]]:
    """Validate and store the rules (unknown rule or parameter names are refused); audited
    as `task.rules` with the values before and after. Returns the rules now in force.

    Raises TaskError for an unknown rule or parameter name, and (core.tasks.rules._coerce) for a
    value of the wrong type or out of range; nothing is stored then.
    """
    before = task_rules(session=session)
    clean: dict[str, dict[str, Any]] = {}
    for reason, params in rules.items():
        if reason not in DEFAULT_RULES:
            raise TaskError(f"unknown task rule {reason!r}; rules are: {', '.join(REASONS)}")
        unknown = set(params) - set(DEFAULT_RULES[reason])
        if unknown:
            raise TaskError(f"unknown setting {sorted(unknown)[0]!r} for rule {reason!r}")
        clean[reason] = {**before[reason], **{k: _coerce(reason, k, v) for k, v in params.items()}}
    after = {**before, **clean}
    row = session.get(Setting, TASK_RULES_KEY) or Setting(key=TASK_RULES_KEY, value="{}")
    row.value = json.dumps(after, sort_keys=True)
    session.add(row)
    changed = {r: {"before": before[r], "after": after[r]} for r in after if before[r] != after[r]}
    audit.record(session=session, actor=actor, action="task.rules", record_type="setting",
                 record_id=TASK_RULES_KEY, detail=changed or {"unchanged": True})
    session.commit()
    return after
