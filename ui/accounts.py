"""Cached readers for the Accounts queue and the Account (360) screen.

Readers that return personal data take the caller's roles (and username where it filters)
as arguments, so one user's cached answer is never served to another. `clear_account_readers`
after a write (re-scoring, outreach)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from core import accounts as core_accounts
from core import timeline as core_timeline
from core.roles import Role, parse_roles
from ui.db import get_session

QUEUE_TTL = 60
ACCOUNT_TTL = 60


def roles_key(roles: frozenset[Role]) -> tuple[str, ...]:
    return tuple(sorted(str(r) for r in roles))


@st.cache_data(ttl=QUEUE_TTL, show_spinner=False)
def queue_page(username: str, roles: tuple[str, ...], filters: core_accounts.QueueFilters, page: int,
               page_size: int, order: str = "value") -> core_accounts.QueuePage:
    with get_session() as session:
        return core_accounts.queue_page(session=session, roles=parse_roles(roles), username=username,
                                        filters=filters, page=page, page_size=page_size, order=order)


@st.cache_data(ttl=QUEUE_TTL, show_spinner=False)
def queue_ids(username: str, roles: tuple[str, ...], filters: core_accounts.QueueFilters) -> list[int]:
    with get_session() as session:
        return core_accounts.queue_customer_ids(session=session, roles=parse_roles(roles), username=username,
                                                filters=filters)


@st.cache_data(ttl=600, show_spinner=False)
def queue_options() -> dict[str, list[str]]:
    with get_session() as session:
        return core_accounts.queue_options(session=session)


def export_selection(roles: tuple[str, ...], customer_ids: list[int]) -> pd.DataFrame:
    with get_session() as session:
        return core_accounts.accounts_export_frame(session=session, roles=parse_roles(roles),
                                                   customer_ids=customer_ids)


@st.cache_data(ttl=ACCOUNT_TTL, show_spinner=False)
def account_overview(roles: tuple[str, ...], customer_id: int) -> dict:
    with get_session() as session:
        return core_timeline.account_overview(session=session, roles=parse_roles(roles), customer_id=customer_id)


@st.cache_data(ttl=ACCOUNT_TTL, show_spinner=False)
def account_timeline(roles: tuple[str, ...], customer_id: int) -> pd.DataFrame:
    with get_session() as session:
        return core_timeline.account_timeline(session=session, customer_id=customer_id)


@st.cache_data(ttl=ACCOUNT_TTL, show_spinner=False)
def next_due(customer_id: int, as_of: date | None) -> pd.DataFrame:
    with get_session() as session:
        return core_timeline.next_due_items(session=session, customer_id=customer_id, as_of=as_of)


@st.cache_data(ttl=ACCOUNT_TTL, show_spinner=False)
def score_history(customer_id: int) -> pd.DataFrame:
    with get_session() as session:
        return core_timeline.score_history(session=session, customer_id=customer_id)


def clear_account_readers() -> None:
    for reader in (queue_page, queue_ids, queue_options, account_overview, account_timeline, next_due,
                   score_history):
        reader.clear()
