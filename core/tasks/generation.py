"""Signals to tasks: each rule's signals on a day (at-risk entry, detractor answers, overdue
refills, expiring VIP points, old open tickets) and `generate_tasks`, one task per signal ever."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core import audit, money
from core import formatting as fmt
from core.roles import Role, parse_roles
from core.scores import latest_as_of
from core.tasks.rules import DETRACTOR_MAX, REASON_LABELS, REASONS, task_rules
from db.models import (
    Customer,
    Feedback,
    Order,
    ScoreSnapshot,
    StaffUser,
    SupportTicket,
    Task,
    utcnow,
)

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
                   ScoreSnapshot.value_at_risk_cents, ScoreSnapshot.drivers, Customer.owner)
            .join(Customer, Customer.id == ScoreSnapshot.customer_id)
            .where(ScoreSnapshot.as_of == snap_day, ScoreSnapshot.band == "at_risk",
                   ScoreSnapshot.value_at_risk_cents >= money.to_cents(params["min_value_at_risk"])))
    if previous is not None:
        was_at_risk = select(ScoreSnapshot.customer_id).where(ScoreSnapshot.as_of == previous,
                                                              ScoreSnapshot.band == "at_risk")
        stmt = stmt.where(ScoreSnapshot.customer_id.not_in(was_at_risk))
    out = []
    for cid, health, churn, var, drivers, owner in session.execute(stmt):
        top = json.loads(drivers)[0] if drivers and json.loads(drivers) else ""
        why = (f"Entered the at-risk band when scored on {fmt.date_text(snap_day)}: health {health:.0f}/100, "
               f"churn probability {churn:.0%}, value at risk {_money(money.to_units(var))}."
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
        why = (f"Detractor answer: NPS {int(score)} on {fmt.date_text(at)}"
               + (f" ({channel})" if channel else "") + ". Follow up and close the loop.")
        out.append({"customer_id": int(cid), "signal_key": f"feedback:{fid}", "why": why,
                    "assignee": assignee or lead, "feedback_id": int(fid)})
    return out


def _refill_signals(session: Session, as_of: date, params: dict) -> list[dict]:
    snap_day = _snapshot_at(session, as_of)
    if snap_day is None:
        return []
    year_ago = _end_of(as_of) - timedelta(days=365)
    spend = (select(Order.customer_id, func.sum(Order.total_cents).label("spend"))
             .where(Order.ordered_at >= year_ago, Order.ordered_at < _end_of(as_of))
             .group_by(Order.customer_id).subquery())
    stmt = (select(ScoreSnapshot.customer_id, ScoreSnapshot.days_overdue, spend.c.spend, Customer.owner)
            .join(Customer, Customer.id == ScoreSnapshot.customer_id)
            .join(spend, spend.c.customer_id == ScoreSnapshot.customer_id)
            .where(ScoreSnapshot.as_of == snap_day,
                   ScoreSnapshot.days_overdue >= float(params["min_days_overdue"]),
                   spend.c.spend >= money.to_cents(params["min_spend_365"])))
    out = []
    for cid, overdue, spent, owner in session.execute(stmt):
        ran_out = snap_day - timedelta(days=round(float(overdue)))
        # days_overdue is when the last of their refills ran out; the Account screen's "Why" names
        # the most overdue item, which ran out earlier: both are said so that they agree.
        days = round(float(overdue))
        why = (f"Every refill they bought had run out by about {fmt.date_text(ran_out)} "
               f"({fmt.count_of(days, 'day')} before {fmt.date_text(snap_day)}; the first ran out earlier, "
               f"see Why on the account); spent {_money(money.to_units(spent))} over the last 365 days.")
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
               f"{fmt.date_text(day)}); balance {int(row['balance']):,}.")
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
        why = (f"Support ticket {ext} ({topic or 'no topic'}) open since {fmt.date_text(opened)}, {days} days.")
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
        """Tasks made by this run, over every rule."""
        return sum(self.created.values())

    def summary(self) -> str:
        """The report in words for the command line: the total, then per rule that ran how many
        tasks are new and how many signals already had one."""
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
    retries and finds everything made).

    Raises the database's IntegrityError when a concurrent run still collides on the third
    attempt (each attempt rolls back).
    """
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
