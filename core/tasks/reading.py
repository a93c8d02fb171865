"""Tasks as the screens list them: a user's open tasks, counts, a customer's tasks, the staff."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session

from core import money
from core.config import get_settings
from core.roles import Role, parse_roles, require_personal_data
from core.tasks.generation import _snapshot_at
from core.tasks.priority import (
    contact_clause,
    contactability,
    expiring_points_of,
    expiring_points_upper_bounds,
    priority_scores,
    priority_value,
    suggested_step,
)
from core.tasks.rules import _PRIORITY_CHUNK, OUTCOME_LABELS, PRIORITY_POINTS_FACTOR, REASON_LABELS
from db.models import (
    Customer,
    ScoreSnapshot,
    StaffUser,
    Task,
)

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
    return first_open_tasks(session=session, roles=roles, username=username, today=today,
                            include_snoozed=include_snoozed, contact=contact, task_ids=task_ids)[0]


def first_open_tasks(*, session: Session, roles: frozenset[Role], username: str | None, limit: int | None = None,
                     today: date | None = None, include_snoozed: bool = False, contact: str | None = None,
                     task_ids: Sequence[int] | None = None) -> tuple[pd.DataFrame, int]:
    """(the first `limit` rows of open_tasks with the same arguments (None: all), how many open
    tasks there are in all). The same rows, figures and order as open_tasks(...).head(limit):
    priority orders only tasks of the same overdue flag and due date, so it is worked out only
    for the tasks in the groups that reach the first `limit` rows (a screen shows a day's work
    of a book of thousands)."""
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
    total = None
    if limit is not None:
        # Only the tasks that can be among the first `limit` are read: overdue first then by due
        # date is due date ascending (overdue = due before today), so they are the tasks due no
        # later than the limit-th task's due date (every task of that date's group: priority
        # orders within a group). Reading every open task took tens of seconds for an admin
        # at 1,000,000 customers (150,000 open tasks); the count is one aggregate.
        total = int(session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())
        if total > limit:
            cutoff = session.execute(stmt.with_only_columns(Task.due_date).order_by(Task.due_date)
                                     .offset(limit - 1).limit(1)).scalar_one()
            stmt = stmt.where(Task.due_date <= cutoff)
    frame = pd.read_sql(stmt, session.connection())
    if frame.empty:
        return pd.DataFrame(columns=TASK_COLUMNS), 0
    frame["due_date"] = pd.to_datetime(frame["due_date"]).dt.date
    frame["snoozed_until"] = pd.to_datetime(frame["snoozed_until"]).dt.date
    frame["days_overdue"] = [(today - d).days for d in frame["due_date"]]
    frame["reason_label"] = frame["reason"].map(REASON_LABELS)
    frame["has_phone"] = frame["phone"].fillna("").str.strip() != ""
    frame["contact"] = [contactability(email_opt_in=bool(o), email=e, phone=p)
                        for o, e, p in zip(frame["email_opt_in"], frame["email"], frame["phone"], strict=True)]
    frame["email_opt_in"] = frame["email_opt_in"].astype(bool)
    frame["sms_opt_in"] = frame["sms_opt_in"].astype(bool)
    frame["overdue"] = frame["days_overdue"] > 0
    if total is None:
        total = len(frame)
    elif total > limit:
        frame = _groups_reaching(frame, limit)  # a task written between the reads: same rule
    snap_day = _snapshot_at(session, today)
    scores = pd.DataFrame(columns=["customer_id", "health_score", "band", "churn_probability"])
    values_at_risk = None
    if snap_day is not None:
        ids = [int(i) for i in frame["customer_id"].unique()]
        score_stmt = select(ScoreSnapshot.customer_id, ScoreSnapshot.health_score, ScoreSnapshot.band,
                            ScoreSnapshot.churn_probability, ScoreSnapshot.value_at_risk_cents
                            ).where(ScoreSnapshot.as_of == snap_day)
        # Up to _PRIORITY_CHUNK customers: by id. More: by the tasks' own query as a subquery (an
        # IN list of 150,000 ids is over PostgreSQL's 65,535 and SQLite's 32,766 parameters per
        # statement; the day's scores whole were a million rows at 1,000,000 customers).
        if len(ids) <= _PRIORITY_CHUNK:
            score_stmt = score_stmt.where(ScoreSnapshot.customer_id.in_(ids))
        else:
            score_stmt = score_stmt.where(ScoreSnapshot.customer_id.in_(stmt.with_only_columns(Task.customer_id)))
        scores = pd.read_sql(score_stmt, session.connection())
        # The same snapshot's values at risk, for the priority (priority_scores would read them again).
        cents = scores.set_index("customer_id")["value_at_risk_cents"].fillna(0).astype("int64")
        values_at_risk = pd.Series(money.units_array(cents), index=cents.index)
        scores = scores.drop(columns=["value_at_risk_cents"])
    frame = frame.merge(scores, on="customer_id", how="left")
    if limit is None or len(frame) <= limit:
        prio = priority_scores(session=session, customer_ids=frame["customer_id"].tolist(), as_of=today,
                               values_at_risk=values_at_risk)
    else:
        prio = _priorities_reaching(session, frame, limit, today, values_at_risk)
    frame = frame.join(prio, on="customer_id")
    steps = [suggested_step(reason=r, contact=c, has_phone=bool(p), roles=roles)
             for r, c, p in zip(frame["reason"], frame["contact"], frame["has_phone"], strict=True)]
    frame["next_step"] = [s["text"] for s in steps]
    frame["next_action"] = [s["action"] for s in steps]
    frame["next_template"] = [s["template"] for s in steps]
    frame = frame.sort_values(["overdue", "due_date", "priority", "task_id"],
                              ascending=[False, True, False, True], kind="stable")
    if limit is not None:
        frame = frame.head(limit)
    return frame[TASK_COLUMNS].reset_index(drop=True), total


def _priorities_reaching(session: Session, frame: pd.DataFrame, limit: int, today: date,
                         values_at_risk: pd.Series | None) -> pd.DataFrame:
    """priority_scores of the customers of ``frame`` (the tasks of _groups_reaching, more than
    ``limit``), exact for every task that can be among the first ``limit`` and a lower bound for
    the others, which stay after them.

    The last due date's group fills the k places left after the earlier groups. Its order is by
    priority = value at risk + detractor bonus + points part, and the points part alone needs
    the ledger's rules. Without it every priority is a lower bound L; with the credits that may
    expire in the window (expiring_points_upper_bounds) an upper bound U. A task whose U is below
    the k-th largest L has k tasks surely above it, so it is not among the first k: the ledger's
    rules run only for the earlier groups' customers and the last group's tasks with U at least
    that. At 1,000,000 customers the first due date held 35,841 tasks, whose exact points took
    the whole ledger (20 s); the bound left 501 customers to compute."""
    prio = priority_scores(session=session, customer_ids=frame["customer_id"].tolist(), as_of=today,
                           values_at_risk=values_at_risk, with_points=False)
    last_day = frame["due_date"].max()
    in_last = (frame["due_date"] == last_day).to_numpy()
    places = limit - int((~in_last).sum())
    last = frame.loc[in_last, ["customer_id"]].join(prio[["priority"]], on="customer_id")
    bounds = expiring_points_upper_bounds(session=session, as_of=today)
    factor = PRIORITY_POINTS_FACTOR * get_settings().point_value
    upper = last["priority"] + factor * bounds.reindex(last["customer_id"]).fillna(0).to_numpy()
    threshold = last["priority"].nlargest(places).iloc[-1] if places > 0 else float("inf")
    needed = set(frame.loc[~in_last, "customer_id"]) | set(last.loc[upper >= threshold, "customer_id"])
    if needed:
        points = expiring_points_of(session=session, as_of=today, customer_ids=sorted(needed))
        prio.loc[points.index, "expiring_points"] = points.to_numpy()
        prio["priority"] = priority_value(prio["value_at_risk"], prio["recent_detractor"], prio["expiring_points"])
    return prio


def _groups_reaching(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The rows whose (overdue, due date) group comes no later than the group of the `limit`-th
    row in the final order (overdue first, then by due date): every row that can be among the
    first `limit` whatever the priorities."""
    order = frame.sort_values(["overdue", "due_date"], ascending=[False, True], kind="stable")
    last = order.iloc[limit - 1]
    keep = (frame["overdue"] > last["overdue"]) | (
        (frame["overdue"] == last["overdue"]) & (frame["due_date"] <= last["due_date"]))
    return frame[keep]


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
