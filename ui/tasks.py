"""Readers and writers for My work. The task list and the staff list are kept per data
generation of the tables they read (core.readcache): a person's action on a task writes the
task, which moves its generation, so the next run reads the list afresh and shows the change at
once; a revisit with nothing written costs no read (seconds for an admin at 1,000,000 customers)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import streamlit as st

from core import formatting as fmt
from core import tasks as core_tasks
from core.readcache import cached
from core.roles import Role
from db.models import Task
from ui.db import get_session


@cached(tables=("task", "customer", "score_snapshot", "feedback", "loyalty_entry", "staff_user", "setting"))
def open_tasks(username: str | None, roles: frozenset[Role], contact: str | None,
               include_snoozed: bool, limit: int | None = None) -> tuple[pd.DataFrame, int]:
    """(the first `limit` open tasks in the screen's order, how many there are in all)."""
    with get_session() as session:
        return core_tasks.first_open_tasks(session=session, roles=roles, username=username, contact=contact,
                                           include_snoozed=include_snoozed, limit=limit)


def task_counts(username: str) -> dict[str, int]:
    with get_session() as session:
        return core_tasks.task_counts(session=session, username=username)


@cached(tables=("staff_user",))  # not every table: the worker's heartbeat writes `setting` every few seconds
def staff() -> list[str]:
    with get_session() as session:
        return core_tasks.staff_for_tasks(session=session)


def send_outreach(task_id: int, actor: str, roles: frozenset[Role]) -> tuple[Task, str]:
    with get_session() as session:
        return core_tasks.send_task_outreach(session=session, task_id=task_id, actor=actor, roles=roles)


def log_call(task_id: int, outcome: str, note: str, actor: str, roles: frozenset[Role], close: bool) -> Task:
    with get_session() as session:
        return core_tasks.log_call(session=session, task_id=task_id, outcome=outcome, note=note, actor=actor,
                                   roles=roles, close=close)


def close(task_id: int, outcome: str, note: str, actor: str, roles: frozenset[Role]) -> Task:
    with get_session() as session:
        return core_tasks.close_task(session=session, task_id=task_id, outcome=outcome, note=note, actor=actor,
                                     roles=roles)


def snooze(task_id: int, until: date, reason: str, actor: str, roles: frozenset[Role]) -> Task:
    with get_session() as session:
        return core_tasks.snooze_task(session=session, task_id=task_id, until=until, reason=reason, actor=actor,
                                      roles=roles, today=datetime.now(UTC).date())


def reassign(task_id: int, to: str, actor: str, roles: frozenset[Role]) -> Task:
    with get_session() as session:
        return core_tasks.reassign_task(session=session, task_id=task_id, to=to, actor=actor, roles=roles)


def customer_tasks(customer_id: int) -> pd.DataFrame:
    with get_session() as session:
        return core_tasks.customer_tasks(session=session, customer_id=customer_id)


def render_account_tasks(user, customer_id: int, info: dict) -> None:  # noqa: ANN001 - ui.auth.CurrentUser
    """The account page's contactability line, its tasks, and (when the customer cannot be
    emailed) the offer of a call task instead."""
    contact = core_tasks.contactability(email_opt_in=bool(info["email_opt_in"]), email=info["email"],
                                        phone=info["phone"])
    st.subheader("Contact and tasks")
    st.text(f"Email: {'allowed' if contact == 'email' else 'not allowed'} · "
            f"SMS consent: {'yes' if info['sms_opt_in'] else 'no'} · Phone: {'on file' if info['phone'] else 'none'}")
    if contact != "email":
        st.warning("This customer cannot be emailed"
                   + (": call them instead." if contact == "phone" else ", and there is no phone number."),
                   icon=":material/unsubscribe:")
        if contact == "phone" and st.button("Make a call task for me", key="acct_call_task",
                                            icon=":material/call:"):
            with get_session() as session:
                task = core_tasks.create_call_task(session=session, customer_id=customer_id, actor=user.username,
                                                   roles=user.roles)
            st.success(f"Call task due {fmt.date_text(task.due_date)} is on My work.")
    frame = customer_tasks(customer_id)
    if frame.empty:
        st.caption("No tasks for this account yet.")
    else:
        st.dataframe(frame.drop(columns=["task_id"]), hide_index=True, width="stretch", key="acct_tasks",
                     column_config={
                         "reason_label": st.column_config.TextColumn("Task"),
                         "why": st.column_config.TextColumn("Why", width="large"),
                         "assignee": st.column_config.TextColumn("Assigned to"),
                         "created_at": st.column_config.DatetimeColumn("Made", format="D MMM YYYY"),
                         "due_date": st.column_config.DateColumn("Due", format="D MMM YYYY"),
                         "snoozed_until": st.column_config.DateColumn("Snoozed until", format="D MMM YYYY"),
                         "closed_at": st.column_config.DatetimeColumn("Closed", format="D MMM YYYY HH:mm"),
                         "outcome": st.column_config.TextColumn("Outcome"),
                         "note": st.column_config.TextColumn("Note", width="medium")}, placeholder=fmt.DASH)
