"""The account team's daily work: rules that turn signals into owned tasks with due dates,
and what a person does with a task (snooze, reassign, log a call, send outreach, close).

Rules (each can be switched off and tuned by an admin; stored in the `setting` table as
JSON under TASK_RULES_KEY, so every app replica and the command line read the same):

- at_risk: the account's newest score is in the at-risk band and the score before it was
  not (or there was none): the account *entered* the band on that scoring date;
- detractor: a survey answer with NPS 0 to 6 in the last `lookback_days` (assigned to a
  support lead: the answer's assignee in the feedback inbox, else the configured or first
  support lead);
- refill_overdue: refills ran out at least `min_days_overdue` days ago and the customer
  spent at least `min_spend_365` over the last 365 days;
- points_expiring: a VIP (segment in `vip_segments`) has at least `min_points` points
  expiring within the loyalty module's window (30 days), by core.loyalty's rules;
- ticket_open: a support ticket still open `max_open_days` days after it was opened.

One task per signal, ever: a task remembers its signal (`signal_key`: the scoring date the
account entered the band, the answer's id, the date refills ran out, the date the points
expire, the ticket's id) and (customer, reason, signal) is unique, so running the rules
again, or twice at once, makes nothing new. One *open* task per customer and reason:
`open_key` is unique while the task is open. A task is assigned to the account's owner
(support leads for detractor answers) and due `sla_days` after the day it was made.

Every change is in the audit log with the customer's id, so it is on the account's timeline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core import audit
from core.config import get_settings
from core.roles import Role, parse_roles, require_personal_data
from core.scores import latest_as_of
from db.models import (
    Customer,
    Feedback,
    Order,
    ScoreSnapshot,
    Setting,
    StaffUser,
    SupportTicket,
    Task,
    utcnow,
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
    as `task.rules` with the values before and after. Returns the rules now in force."""
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


# ---------------------------------------------------------------- signals


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time())


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _snapshot_at(session: Session, as_of: date) -> date | None:
    return latest_as_of(session=session, on_or_before=as_of)


def _at_risk_signals(session: Session, as_of: date, params: dict) -> list[dict]:
    snap_day = _snapshot_at(session, as_of)
    if snap_day is None:
        return []
    previous = session.execute(select(func.max(ScoreSnapshot.as_of))
                               .where(ScoreSnapshot.as_of < snap_day)).scalar()
    if isinstance(previous, str):
        previous = date.fromisoformat(previous)
    stmt = (select(ScoreSnapshot.customer_id, ScoreSnapshot.health_score, ScoreSnapshot.churn_probability,
                   ScoreSnapshot.value_at_risk, ScoreSnapshot.drivers, Customer.owner)
            .join(Customer, Customer.id == ScoreSnapshot.customer_id)
            .where(ScoreSnapshot.as_of == snap_day, ScoreSnapshot.band == "at_risk",
                   ScoreSnapshot.value_at_risk >= float(params["min_value_at_risk"])))
    if previous is not None:
        was_at_risk = select(ScoreSnapshot.customer_id).where(ScoreSnapshot.as_of == previous,
                                                              ScoreSnapshot.band == "at_risk")
        stmt = stmt.where(ScoreSnapshot.customer_id.not_in(was_at_risk))
    out = []
    for cid, health, churn, var, drivers, owner in session.execute(stmt):
        top = json.loads(drivers)[0] if drivers and json.loads(drivers) else ""
        why = (f"Entered the at-risk band when scored on {snap_day:%d %b %Y}: health {health:.0f}/100, "
               f"churn probability {churn:.0%}, value at risk {_money(var)}."
               + (f" Top reason: {top}" if top else ""))
        out.append({"customer_id": int(cid), "signal_key": f"entered:{snap_day.isoformat()}", "why": why,
                    "assignee": owner})
    return out


def default_support_lead(*, session: Session, configured: str = "") -> str | None:
    """The support lead who gets detractor tasks: the configured one when that user exists,
    is enabled and has the role, else the first such user by username, else None."""
    rows = session.execute(select(StaffUser.username, StaffUser.roles).where(StaffUser.disabled.is_(False))
                           .order_by(StaffUser.username)).all()
    leads = [u for u, r in rows if Role.SUPPORT_LEAD in parse_roles(r)]
    if configured and configured in leads:
        return configured
    return leads[0] if leads else None


def _detractor_signals(session: Session, as_of: date, params: dict) -> list[dict]:
    since = _end_of(as_of) - timedelta(days=int(params["lookback_days"]))
    stmt = (select(Feedback.id, Feedback.customer_id, Feedback.nps_score, Feedback.submitted_at,
                   Feedback.channel, Feedback.assignee)
            .where(Feedback.customer_id.is_not(None), Feedback.nps_score.is_not(None),
                   Feedback.nps_score <= DETRACTOR_MAX, Feedback.submitted_at >= since,
                   Feedback.submitted_at < _end_of(as_of)).order_by(Feedback.submitted_at, Feedback.id))
    lead = default_support_lead(session=session, configured=str(params.get("assignee") or ""))
    out = []
    for fid, cid, score, at, channel, assignee in session.execute(stmt):
        at = pd.Timestamp(at)
        why = (f"Detractor answer: NPS {int(score)} on {at:%d %b %Y}"
               + (f" ({channel})" if channel else "") + ". Follow up and close the loop.")
        out.append({"customer_id": int(cid), "signal_key": f"feedback:{fid}", "why": why,
                    "assignee": assignee or lead, "feedback_id": int(fid)})
    return out


def _refill_signals(session: Session, as_of: date, params: dict) -> list[dict]:
    snap_day = _snapshot_at(session, as_of)
    if snap_day is None:
        return []
    year_ago = _end_of(as_of) - timedelta(days=365)
    spend = (select(Order.customer_id, func.sum(Order.total).label("spend"))
             .where(Order.ordered_at >= year_ago, Order.ordered_at < _end_of(as_of))
             .group_by(Order.customer_id).subquery())
    stmt = (select(ScoreSnapshot.customer_id, ScoreSnapshot.days_overdue, spend.c.spend, Customer.owner)
            .join(Customer, Customer.id == ScoreSnapshot.customer_id)
            .join(spend, spend.c.customer_id == ScoreSnapshot.customer_id)
            .where(ScoreSnapshot.as_of == snap_day,
                   ScoreSnapshot.days_overdue >= float(params["min_days_overdue"]),
                   spend.c.spend >= float(params["min_spend_365"])))
    out = []
    for cid, overdue, spent, owner in session.execute(stmt):
        ran_out = snap_day - timedelta(days=round(float(overdue)))
        why = (f"Refills ran out about {ran_out:%d %b %Y} ({float(overdue):.0f} days overdue on "
               f"{snap_day:%d %b %Y}); spent {_money(float(spent))} over the last 365 days.")
        out.append({"customer_id": int(cid), "signal_key": f"ran_out:{ran_out.isoformat()}", "why": why,
                    "assignee": owner})
    return out


def _points_signals(session: Session, as_of: date, params: dict) -> list[dict]:
    from core.outreach import expiring_points  # loyalty's rules, as the message and Loyalty screen say

    segments = [s.strip() for s in str(params["vip_segments"]).split(",") if s.strip()]
    if not segments:
        return []
    vips = session.execute(select(Customer.id, Customer.owner).where(Customer.segment.in_(segments))).all()
    if not vips:
        return []
    owners = {int(cid): owner for cid, owner in vips}
    now = _end_of(as_of) - timedelta(microseconds=1)
    exp = expiring_points(session=session, customer_ids=list(owners), now=now)
    exp = exp[exp["expiring_points"] >= int(params["min_points"])]
    out = []
    for cid, row in exp.iterrows():
        when = row["expires_at"]
        day = when.date() if pd.notna(when) else as_of
        why = (f"VIP with {int(row['expiring_points']):,} points expiring within 30 days (next on "
               f"{day:%d %b %Y}); balance {int(row['balance']):,}.")
        out.append({"customer_id": int(cid), "signal_key": f"expires:{day.isoformat()}", "why": why,
                    "assignee": owners.get(int(cid))})
    return out


def _ticket_signals(session: Session, as_of: date, params: dict) -> list[dict]:
    cutoff = _end_of(as_of) - timedelta(days=int(params["max_open_days"]))
    stmt = (select(SupportTicket.id, SupportTicket.customer_id, SupportTicket.external_id,
                   SupportTicket.opened_at, SupportTicket.topic, Customer.owner)
            .join(Customer, Customer.id == SupportTicket.customer_id)
            .where(SupportTicket.opened_at < cutoff, SupportTicket.status != "closed",
                   or_(SupportTicket.closed_at.is_(None), SupportTicket.closed_at >= _end_of(as_of))))
    out = []
    for tid, cid, ext, opened, topic, owner in session.execute(stmt):
        opened = pd.Timestamp(opened)
        days = (as_of - opened.date()).days
        why = (f"Support ticket {ext} ({topic or 'no topic'}) open since {opened:%d %b %Y}, {days} days.")
        out.append({"customer_id": int(cid), "signal_key": f"ticket:{tid}", "why": why, "assignee": owner})
    return out


SIGNALS = {
    "at_risk": _at_risk_signals,
    "detractor": _detractor_signals,
    "refill_overdue": _refill_signals,
    "points_expiring": _points_signals,
    "ticket_open": _ticket_signals,
}


# ---------------------------------------------------------------- generation


@dataclass
class GenerateReport:
    as_of: date
    created: dict[str, int]
    already: dict[str, int]

    @property
    def total_created(self) -> int:
        return sum(self.created.values())

    def summary(self) -> str:
        parts = [f"{REASON_LABELS[r]}: {self.created.get(r, 0):,} new, {self.already.get(r, 0):,} already had a task"
                 for r in REASONS if r in self.created]
        return f"tasks as of {self.as_of}: {self.total_created:,} new\n  " + "\n  ".join(parts)


def due_date_for(made_on: date, sla_days: int) -> date:
    """A task made on `made_on` under a rule with `sla_days` is due that many days later."""
    return made_on + timedelta(days=int(sla_days))


def generate_tasks(*, session: Session, as_of: date | None = None, actor: str = "rules",
                   now: datetime | None = None) -> GenerateReport:
    """Run every enabled rule on the data up to `as_of` (default: today, UTC) and make the
    tasks that do not exist yet, each audited as `task.create`. Idempotent: a signal that
    already has a task (open or closed), or a customer with an open task for the same
    reason, gets nothing new. Safe to run twice at once (the unique keys decide; the loser
    retries and finds everything made)."""
    as_of = as_of or datetime.now(UTC).date()
    now = now or utcnow()
    for attempt in range(3):
        try:
            return _generate(session, as_of, actor, now)
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _generate(session: Session, as_of: date, actor: str, now: datetime) -> GenerateReport:
    rules = task_rules(session=session)
    report = GenerateReport(as_of=as_of, created={}, already={})
    for reason in REASONS:
        params = rules[reason]
        if not params["enabled"]:
            continue
        signals = SIGNALS[reason](session, as_of, params)
        # Several signals of one kind for one customer (two detractor answers): the newest key wins
        # the single open task; the others are remembered only through that task.
        by_customer: dict[int, dict] = {}
        for s in signals:
            by_customer[s["customer_id"]] = s
        ids = list(by_customer)
        seen_signals: set[tuple[int, str]] = set()
        open_customers: set[int] = set()
        for chunk_start in range(0, len(ids), 5000):
            chunk = ids[chunk_start:chunk_start + 5000]
            for cid, key, closed in session.execute(
                    select(Task.customer_id, Task.signal_key, Task.closed_at)
                    .where(Task.reason == reason, Task.customer_id.in_(chunk))):
                seen_signals.add((int(cid), key))
                if closed is None:
                    open_customers.add(int(cid))
        already = 0
        due = due_date_for(as_of, params["sla_days"])
        made: list[tuple[Task, str]] = []
        for cid, s in by_customer.items():
            if cid in open_customers or (cid, s["signal_key"]) in seen_signals:
                already += 1
                continue
            made.append((Task(customer_id=cid, reason=reason, signal_key=s["signal_key"],
                              open_key=f"{cid}:{reason}", why=s["why"], assignee=s.get("assignee"),
                              created_at=now, created_by=actor, due_date=due, feedback_id=s.get("feedback_id")),
                         s["why"]))
        # One batched INSERT (ids come back with it), then the audit entries that name them.
        session.add_all([task for task, _why in made])
        session.flush()
        for task, why in made:
            audit.record(session=session, actor=actor, action="task.create", record_type="task",
                         record_id=task.id, customer_id=task.customer_id,
                         detail={"reason": reason, "assignee": task.assignee, "due": due.isoformat(), "why": why})
        created = len(made)
        report.created[reason] = created
        report.already[reason] = already
    session.commit()
    return report


# ---------------------------------------------------------------- contactability and priority


def contactability(*, email_opt_in: bool, email: str | None, phone: str | None) -> str:
    """How the customer can be reached: "email" (email consent and an address), "phone"
    (no email allowed, but a phone number for a call), or "none"."""
    email = email if isinstance(email, str) else None  # a missing value read by pandas is NaN
    phone = phone if isinstance(phone, str) else None
    if email_opt_in and email and email.strip():
        return "email"
    if phone and phone.strip():
        return "phone"
    return "none"


def contact_clause(kind: str):  # noqa: ANN201 - a SQL expression on Customer
    """SQL for the contactability filters: "email" (may be emailed), "phone" (has a phone
    number to call), "none" (neither)."""
    email_ok = and_(Customer.email_opt_in.is_(True), Customer.email.is_not(None), Customer.email != "")
    phone_ok = and_(Customer.phone.is_not(None), Customer.phone != "")
    if kind == "email":
        return email_ok
    if kind == "phone":
        return phone_ok
    if kind == "none":
        return and_(~email_ok, ~phone_ok)
    raise TaskError(f"unknown contactability {kind!r}; use email, phone or none")


def priority_scores(*, session: Session, customer_ids: Sequence[int], as_of: date | None = None,
                    values_at_risk: pd.Series | None = None) -> pd.DataFrame:
    """The one priority (PRIORITY_EXPLANATION) for these customers, indexed by customer_id:
    value_at_risk (newest score on or before `as_of`; 0 without a score), recent_detractor
    (bool), expiring_points (within 30 days, by core.loyalty's rules), priority (higher first).
    `values_at_risk` (indexed by customer id), when the caller has just read them from the same
    snapshot, saves reading them again."""
    from core.outreach import expiring_points

    as_of = as_of or datetime.now(UTC).date()
    ids = sorted({int(i) for i in customer_ids})
    frame = pd.DataFrame(index=pd.Index(ids, name="customer_id"))
    frame["value_at_risk"] = 0.0
    frame["recent_detractor"] = False
    frame["expiring_points"] = 0
    if not ids:
        frame["priority"] = 0.0
        return frame
    snap_day = _snapshot_at(session, as_of)
    since = _end_of(as_of) - timedelta(days=PRIORITY_DETRACTOR_DAYS)
    detractor = (Feedback.nps_score <= DETRACTOR_MAX, Feedback.submitted_at >= since,
                 Feedback.submitted_at < _end_of(as_of))
    if values_at_risk is not None:
        frame["value_at_risk"] = values_at_risk.reindex(frame.index).fillna(0.0).astype(float)
    if len(ids) > _PRIORITY_CHUNK:
        # A whole book or store (the queue's order covers every account): one read of the day's
        # scores and of the month's detractors, matched in memory, instead of many IN lists.
        if snap_day is not None and values_at_risk is None:
            var = pd.read_sql(select(ScoreSnapshot.customer_id, ScoreSnapshot.value_at_risk)
                              .where(ScoreSnapshot.as_of == snap_day), session.connection())
            frame["value_at_risk"] = (var.set_index("customer_id")["value_at_risk"].reindex(frame.index)
                                      .fillna(0.0).astype(float))
        detractors = session.execute(select(Feedback.customer_id).distinct().where(
            Feedback.customer_id.is_not(None), *detractor)).scalars().all()
        frame["recent_detractor"] = frame.index.isin([int(c) for c in detractors])
    else:
        if snap_day is not None and values_at_risk is None:
            for cid, var in session.execute(select(ScoreSnapshot.customer_id, ScoreSnapshot.value_at_risk)
                                            .where(ScoreSnapshot.as_of == snap_day,
                                                   ScoreSnapshot.customer_id.in_(ids))):
                frame.at[int(cid), "value_at_risk"] = float(var or 0.0)
        detractors = session.execute(select(Feedback.customer_id).distinct().where(
            Feedback.customer_id.in_(ids), *detractor)).scalars().all()
        frame.loc[[int(c) for c in detractors], "recent_detractor"] = True
    exp = expiring_points(session=session, customer_ids=ids, now=_end_of(as_of) - timedelta(microseconds=1))
    if not exp.empty:
        points = exp["expiring_points"].reindex(frame.index).fillna(0).astype(int)
        frame["expiring_points"] = points
    frame["priority"] = priority_value(frame["value_at_risk"], frame["recent_detractor"],
                                       frame["expiring_points"])
    return frame


def priority_value(value_at_risk: Any, recent_detractor: Any, expiring_points: Any,
                   point_value: float | None = None) -> Any:
    """PRIORITY_EXPLANATION as arithmetic (scalars or pandas Series alike)."""
    pv = get_settings().point_value if point_value is None else point_value
    bonus = recent_detractor * PRIORITY_DETRACTOR_BONUS
    return value_at_risk + bonus + PRIORITY_POINTS_FACTOR * pv * expiring_points


def suggested_step(*, reason: str, contact: str, has_phone: bool | None = None,
                   roles: Iterable[Role] = (Role.ACCOUNT_MANAGER,)) -> dict:
    """The one next step for a task: {"action": "email" | "call" | "close", "template": name or
    None, "text": what to do, in words}. The reason's email when the customer may be emailed
    and the user may send that template; else a call when a phone number is on file (`has_phone`;
    None: known only from `contact`); else what is left to do."""
    from core.outreach import TEMPLATE_LABELS, templates_for_roles

    template = REASON_TEMPLATES.get(reason)
    phone = contact == "phone" if has_phone is None else bool(has_phone)
    if template and contact == "email" and template in templates_for_roles(roles):
        return {"action": "email", "template": template,
                "text": f"Send the “{TEMPLATE_LABELS[template]}” email"}
    if phone:
        return {"action": "call", "template": None,
                "text": "Call the customer" + (" (email is not allowed)" if contact != "email" else "")}
    if reason == "ticket_open":
        return {"action": "close", "template": None,
                "text": "No phone number: chase the ticket with support, then close with the outcome"}
    if contact == "email":
        return {"action": "close", "template": None,
                "text": "No phone number and no email of yours fits: write to them yourself, then close"}
    return {"action": "close", "template": None,
            "text": "No way to reach them (no email consent, no phone): note why and close"}


# ---------------------------------------------------------------- reading


TASK_COLUMNS = ["task_id", "customer_id", "external_id", "name", "reason", "reason_label", "why", "assignee",
                "due_date", "days_overdue", "snoozed_until", "snooze_reason", "health_score", "band",
                "churn_probability", "value_at_risk", "email_opt_in", "sms_opt_in", "has_phone", "contact",
                "recent_detractor", "expiring_points", "priority", "next_step", "next_action",
                "next_template"]


def open_tasks(*, session: Session, roles: frozenset[Role], username: str | None, today: date | None = None,
               include_snoozed: bool = False, contact: str | None = None,
               task_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Open tasks assigned to `username` (None: everyone's, for admins), overdue first, then by
    due date, then by priority (PRIORITY_EXPLANATION); snoozed ones (until a later day) only
    with `include_snoozed`. `contact` filters by contactability ("email", "phone", "none").
    Columns: TASK_COLUMNS; days_overdue > 0 means past its due date."""
    require_personal_data(roles)
    today = today or datetime.now(UTC).date()
    stmt = (select(Task.id.label("task_id"), Task.customer_id, Customer.external_id, Customer.name, Task.reason,
                   Task.why, Task.assignee, Task.due_date, Task.snoozed_until, Task.snooze_reason,
                   Customer.email_opt_in, Customer.sms_opt_in, Customer.email, Customer.phone)
            .join(Customer, Customer.id == Task.customer_id)
            .where(Task.closed_at.is_(None)))
    if username is not None:
        stmt = stmt.where(Task.assignee == username)
    if not include_snoozed:
        stmt = stmt.where(or_(Task.snoozed_until.is_(None), Task.snoozed_until <= today))
    if contact:
        stmt = stmt.where(contact_clause(contact))
    if task_ids is not None:
        stmt = stmt.where(Task.id.in_([int(i) for i in task_ids]))
    frame = pd.read_sql(stmt, session.connection())
    if frame.empty:
        return pd.DataFrame(columns=TASK_COLUMNS)
    frame["due_date"] = pd.to_datetime(frame["due_date"]).dt.date
    frame["snoozed_until"] = pd.to_datetime(frame["snoozed_until"]).dt.date
    frame["days_overdue"] = [(today - d).days for d in frame["due_date"]]
    frame["reason_label"] = frame["reason"].map(REASON_LABELS)
    frame["has_phone"] = frame["phone"].fillna("").str.strip() != ""
    frame["contact"] = [contactability(email_opt_in=bool(o), email=e, phone=p)
                        for o, e, p in zip(frame["email_opt_in"], frame["email"], frame["phone"], strict=True)]
    frame["email_opt_in"] = frame["email_opt_in"].astype(bool)
    frame["sms_opt_in"] = frame["sms_opt_in"].astype(bool)
    snap_day = _snapshot_at(session, today)
    scores = pd.DataFrame(columns=["customer_id", "health_score", "band", "churn_probability"])
    if snap_day is not None:
        ids = [int(i) for i in frame["customer_id"].unique()]
        scores = pd.read_sql(select(ScoreSnapshot.customer_id, ScoreSnapshot.health_score, ScoreSnapshot.band,
                                    ScoreSnapshot.churn_probability)
                             .where(ScoreSnapshot.as_of == snap_day, ScoreSnapshot.customer_id.in_(ids)),
                             session.connection())
    frame = frame.merge(scores, on="customer_id", how="left")
    prio = priority_scores(session=session, customer_ids=frame["customer_id"].tolist(), as_of=today)
    frame = frame.join(prio, on="customer_id")
    steps = [suggested_step(reason=r, contact=c, has_phone=bool(p), roles=roles)
             for r, c, p in zip(frame["reason"], frame["contact"], frame["has_phone"], strict=True)]
    frame["next_step"] = [s["text"] for s in steps]
    frame["next_action"] = [s["action"] for s in steps]
    frame["next_template"] = [s["template"] for s in steps]
    frame["overdue"] = frame["days_overdue"] > 0
    frame = frame.sort_values(["overdue", "due_date", "priority", "task_id"],
                              ascending=[False, True, False, True], kind="stable")
    return frame[TASK_COLUMNS].reset_index(drop=True)


def task_counts(*, session: Session, username: str, today: date | None = None) -> dict[str, int]:
    """{"open": ..., "overdue": ..., "due_today": ..., "snoozed": ...} for the user's tasks."""
    today = today or datetime.now(UTC).date()
    snoozed = and_(Task.snoozed_until.is_not(None), Task.snoozed_until > today)
    row = session.execute(select(
        func.count(),
        func.sum(case((and_(~snoozed, Task.due_date < today), 1), else_=0)),
        func.sum(case((and_(~snoozed, Task.due_date == today), 1), else_=0)),
        func.sum(case((snoozed, 1), else_=0)),
    ).where(Task.assignee == username, Task.closed_at.is_(None))).one()
    return {"open": int(row[0] or 0) - int(row[3] or 0), "overdue": int(row[1] or 0),
            "due_today": int(row[2] or 0), "snoozed": int(row[3] or 0)}


def customer_tasks(*, session: Session, customer_id: int) -> pd.DataFrame:
    """Every task of one customer, newest first: task_id, reason_label, why, assignee, due_date,
    snoozed_until, closed_at, outcome, note."""
    frame = pd.read_sql(select(Task.id.label("task_id"), Task.reason, Task.why, Task.assignee, Task.created_at,
                               Task.due_date, Task.snoozed_until, Task.closed_at, Task.outcome, Task.note)
                        .where(Task.customer_id == int(customer_id)).order_by(Task.created_at.desc(),
                                                                             Task.id.desc()),
                        session.connection())
    frame.insert(1, "reason_label", frame.pop("reason").map(REASON_LABELS))
    frame["outcome"] = frame["outcome"].map(OUTCOME_LABELS)
    return frame


def staff_for_tasks(*, session: Session) -> list[str]:
    """Enabled staff who can own tasks (account managers, support leads, admins), by username."""
    rows = session.execute(select(StaffUser.username, StaffUser.roles).where(StaffUser.disabled.is_(False))
                           .order_by(StaffUser.username)).all()
    wanted = {Role.ACCOUNT_MANAGER, Role.SUPPORT_LEAD, Role.ADMIN}
    return [u for u, r in rows if parse_roles(r) & wanted]


# ---------------------------------------------------------------- acting on a task


def _task_for(session: Session, task_id: int, *, actor: str, roles: frozenset[Role]) -> Task:
    require_personal_data(roles)
    task = session.get(Task, int(task_id))
    if task is None:
        raise TaskNotFound(f"no task with id {task_id}")
    if task.closed_at is not None:
        raise TaskError(f"task {task_id} is already closed ({OUTCOME_LABELS.get(task.outcome or '', '')})")
    if Role.ADMIN not in roles and task.assignee not in (None, actor):
        raise TaskError(f"task {task_id} is assigned to {task.assignee}; only they or an admin can change it")
    return task


def snooze_task(*, session: Session, task_id: int, until: date, reason: str, actor: str,
                roles: frozenset[Role], today: date | None = None) -> Task:
    """Hide the task from My work until `until` (a later day), with a reason; audited."""
    today = today or datetime.now(UTC).date()
    task = _task_for(session, task_id, actor=actor, roles=roles)
    if until <= today:
        raise TaskError(f"snooze until a day after today ({today:%d %b %Y}), not {until:%d %b %Y}")
    if not reason or not reason.strip():
        raise TaskError("say why the task is snoozed (for example: customer on holiday until then)")
    task.snoozed_until = until
    task.snooze_reason = reason.strip()[:300]
    session.add(task)
    audit.record(session=session, actor=actor, action="task.snooze", record_type="task", record_id=task.id,
                 customer_id=task.customer_id,
                 detail={"reason": REASON_LABELS[task.reason], "until": until.isoformat(),
                         "why": task.snooze_reason})
    session.commit()
    session.refresh(task)
    return task


def reassign_task(*, session: Session, task_id: int, to: str, actor: str, roles: frozenset[Role]) -> Task:
    """Give the task to another staff user (who must exist, be enabled and able to own tasks); audited."""
    task = _task_for(session, task_id, actor=actor, roles=roles)
    if to not in staff_for_tasks(session=session):
        raise TaskError(f"{to!r} is not an enabled account manager, support lead or admin")
    before = task.assignee
    task.assignee = to
    session.add(task)
    audit.record(session=session, actor=actor, action="task.reassign", record_type="task", record_id=task.id,
                 customer_id=task.customer_id,
                 detail={"reason": REASON_LABELS[task.reason], "from": before, "to": to})
    session.commit()
    session.refresh(task)
    return task


def close_task(*, session: Session, task_id: int, outcome: str, actor: str, roles: frozenset[Role],
               note: str = "", now: datetime | None = None) -> Task:
    """Close the task with an outcome (OUTCOMES) and an optional note; audited. Once closed,
    its signal never makes another task; a new signal of the same kind can."""
    if outcome not in OUTCOMES:
        raise TaskError(f"unknown outcome {outcome!r}; use one of: {', '.join(OUTCOMES)}")
    task = _task_for(session, task_id, actor=actor, roles=roles)
    task.closed_at = now or utcnow()
    task.closed_by = actor
    task.outcome = outcome
    task.note = (note or "").strip() or None
    task.open_key = None
    session.add(task)
    audit.record(session=session, actor=actor, action="task.close", record_type="task", record_id=task.id,
                 customer_id=task.customer_id,
                 detail={"reason": REASON_LABELS[task.reason], "outcome": OUTCOME_LABELS[outcome],
                         "note": task.note or ""})
    session.commit()
    session.refresh(task)
    return task


def log_call(*, session: Session, task_id: int, outcome: str, note: str, actor: str, roles: frozenset[Role],
             close: bool = True, now: datetime | None = None) -> Task:
    """Record a phone call for the task's customer (outcome "reached" or "no_answer", and a
    note) on the timeline and in the audit log as `call.log`; with `close`, the task is closed
    with the call's outcome."""
    if outcome not in CALL_OUTCOMES:
        raise TaskError(f"a call's outcome is one of: {', '.join(CALL_OUTCOMES)}; not {outcome!r}")
    task = _task_for(session, task_id, actor=actor, roles=roles)
    audit.record(session=session, actor=actor, action="call.log", record_type="task", record_id=task.id,
                 customer_id=task.customer_id,
                 detail={"outcome": OUTCOME_LABELS[outcome], "note": (note or "").strip(),
                         "reason": REASON_LABELS[task.reason]})
    session.commit()
    if close:
        return close_task(session=session, task_id=task_id, outcome=outcome, actor=actor, roles=roles,
                          note=note, now=now)
    session.refresh(task)
    return task


def send_task_outreach(*, session: Session, task_id: int, actor: str, roles: frozenset[Role],
                       now: datetime | None = None) -> tuple[Task, str]:
    """Send the task's suggested email (its reason's template, through core.outreach with all
    its rules: consent, frequency cap, idempotency) and, when it was queued, close the task as
    "offer sent". Returns the task and what happened, in words. A suppressed outreach leaves the
    task open (the words say why)."""
    from core.outreach import templates_for_roles, trigger_outreach

    task = _task_for(session, task_id, actor=actor, roles=roles)
    template = REASON_TEMPLATES.get(task.reason)
    if template is None:
        raise TaskError("this task has no email to send; call the customer instead")
    if template not in templates_for_roles(roles):
        raise TaskError(f"your role may not send the {template} email")
    feedback_id = task.feedback_id if template == "apology" else None
    result = trigger_outreach(session=session, customer_id=task.customer_id, template=template,
                              triggered_by=actor, feedback_id=feedback_id,
                              idempotency_key=f"task:{task.id}:{template}", now=now)
    outcome_text = result.describe()
    status = result.outreach.status
    task = session.get(Task, int(task_id))
    if status in ("queued", "sending", "sent"):
        task = close_task(session=session, task_id=task_id, outcome="offer_sent", actor=actor, roles=roles,
                          note=f"outreach {result.outreach.id} ({template})", now=now)
    return task, outcome_text


CALL_TASK_SLA_DAYS = 2


def create_call_task(*, session: Session, customer_id: int, actor: str, roles: frozenset[Role], note: str = "",
                     today: date | None = None, now: datetime | None = None) -> Task:
    """A call task for an account that cannot be emailed (offered on the account page instead of
    an email): assigned to the person asking, due in CALL_TASK_SLA_DAYS days; audited. An open
    call task for the customer is returned as it is (one open task per customer and reason)."""
    require_personal_data(roles)
    today = today or datetime.now(UTC).date()
    now = now or utcnow()
    customer = session.get(Customer, int(customer_id))
    if customer is None:
        raise TaskNotFound(f"no customer with id {customer_id}")
    existing = session.execute(select(Task).where(Task.open_key == f"{customer.id}:call")).scalars().first()
    if existing is not None:
        return existing
    contact = contactability(email_opt_in=customer.email_opt_in, email=customer.email, phone=customer.phone)
    if contact == "none":
        raise TaskError("this customer has no phone number on file, so there is no one to call")
    why = "Call requested by " + actor + (f": {note.strip()}" if note and note.strip() else "")
    task = Task(customer_id=customer.id, reason="call", signal_key=f"manual:{now.isoformat()}",
                open_key=f"{customer.id}:call", why=why[:2000], assignee=actor, created_at=now, created_by=actor,
                due_date=due_date_for(today, CALL_TASK_SLA_DAYS))
    session.add(task)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return session.execute(select(Task).where(Task.open_key == f"{customer.id}:call")).scalars().one()
    audit.record(session=session, actor=actor, action="task.create", record_type="task", record_id=task.id,
                 customer_id=customer.id, detail={"reason": REASON_LABELS["call"], "assignee": actor,
                                                  "due": task.due_date.isoformat(), "why": why})
    session.commit()
    session.refresh(task)
    return task
