"""Readers and writers for My work. The task list is read fresh on every run (a person
acts on it and must see the change at once); the staff list is cached briefly."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import streamlit as st

from core import tasks as core_tasks
from core.roles import Role
from db.models import Task
from ui.db import get_session


def open_tasks(username: str | None, roles: frozenset[Role], contact: str | None,
               include_snoozed: bool) -> pd.DataFrame:
    with get_session() as session:
        return core_tasks.open_tasks(session=session, roles=roles, username=username, contact=contact,
                                     include_snoozed=include_snoozed)


def task_counts(username: str) -> dict[str, int]:
    with get_session() as session:
        return core_tasks.task_counts(session=session, username=username)


@st.cache_data(ttl=300, show_spinner=False)
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


def clear_task_readers() -> None:
    staff.clear()
