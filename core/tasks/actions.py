"""What a person does with a task: snooze, reassign, close, log a call, send its outreach, or
create a call task by hand; every change audited with the customer's id."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core import audit
from core import formatting as fmt
from core.roles import Role, require_personal_data
from core.tasks.generation import due_date_for
from core.tasks.priority import contactability
from core.tasks.reading import staff_for_tasks
from core.tasks.rules import (
    CALL_OUTCOMES,
    OUTCOME_LABELS,
    OUTCOMES,
    REASON_LABELS,
    REASON_TEMPLATES,
    TaskError,
    TaskNotFound,
)
from db.models import (
    Customer,
    Task,
    utcnow,
)

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
    """Hide the task from My work until `until` (a later day), with a reason; audited.

    Raises TaskNotFound for an unknown task; TaskError when it is closed, someone else's (for a
    non-admin), `until` is not after today, or the reason is empty.
    """
    today = today or datetime.now(UTC).date()
    task = _task_for(session, task_id, actor=actor, roles=roles)
    if until <= today:
        raise TaskError(f"snooze until a day after today ({fmt.date_text(today)}), not {fmt.date_text(until)}")
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
    """Give the task to another staff user (who must exist, be enabled and able to own tasks); audited.

    Raises TaskNotFound for an unknown task; TaskError when it is closed, someone else's (for a
    non-admin), or `to` is not an enabled account manager, support lead or admin.
    """
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
    its signal never makes another task; a new signal of the same kind can.

    Raises TaskNotFound for an unknown task; TaskError for an unknown outcome, or when it is
    closed already or someone else's (for a non-admin).
    """
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
    with the call's outcome.

    Raises TaskNotFound for an unknown task; TaskError for an outcome outside CALL_OUTCOMES, or
    when the task is closed or someone else's (for a non-admin).
    """
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
    task open (the words say why).

    Raises TaskNotFound for an unknown task; TaskError when the task's reason has no email, the
    role may not send its template, or the task is closed or someone else's (for a non-admin).
    """
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
    call task for the customer is returned as it is (one open task per customer and reason).

    Raises TaskNotFound for an unknown customer; TaskError when the customer has no phone
    number.
    """
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
