"""Cached readers for the Accounts queue and the Account (360) screen.

Readers that return personal data take the caller's roles (and username where it filters)
as arguments, so one user's cached answer is never served to another. `clear_account_readers`
after a write (re-scoring, outreach)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd
import streamlit as st

from core import accounts as core_accounts
from core import consent as core_consent
from core import timeline as core_timeline
from core.exporting import audited_csv
from core.roles import Role, parse_roles
from ui.auth import roles_key  # noqa: F401 - the screens call it ui.roles_key
from ui.db import get_session

QUEUE_TTL = 60
ACCOUNT_TTL = 60


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


def selection_csv(username: str, roles: frozenset[Role], customer_ids: list[int],
                  filename: str) -> Callable[[], bytes]:
    """A callable for st.download_button: the selected accounts as formula-safe CSV, built
    when clicked and recorded in the audit log (export.accounts_selection)."""
    ids = list(customer_ids)

    def build() -> bytes:
        with get_session() as session:
            frame = core_accounts.accounts_export_frame(session=session, roles=roles, customer_ids=ids)
            return audited_csv(session=session, frame=frame, kind="accounts_selection", actor=username,
                               roles=roles, filename=filename)

    return build


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


@st.cache_data(ttl=QUEUE_TTL, show_spinner=False)
def what_changed(roles: tuple[str, ...], owner: str | None):  # noqa: ANN201 - core.changes.ChangeFeed
    """Changes since the last scoring run for `owner`'s book (None: all accounts)."""
    from core import changes

    with get_session() as session:
        return changes.what_changed(session=session, roles=parse_roles(roles), owner=owner)


@st.cache_data(ttl=ACCOUNT_TTL, show_spinner=False)
def consent_history(customer_id: int) -> pd.DataFrame:
    with get_session() as session:
        return core_consent.history(session=session, customer_id=customer_id)


def clear_account_readers() -> None:
    for reader in (queue_page, queue_ids, queue_options, account_overview, account_timeline, next_due,
                   score_history, what_changed, consent_history):
        reader.clear()


@st.cache_data(ttl=QUEUE_TTL, show_spinner=False)
def band_move_accounts(roles: tuple[str, ...], db: str, as_of: date, from_band: str, to_band: str,
                       segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    """The accounts behind one of the Overview's band moves (personal data: roles checked in core)."""
    from core import kpis as core_kpis

    with get_session() as session:
        return core_kpis.band_move_accounts(session=session, roles=parse_roles(roles), from_band=from_band,
                                            to_band=to_band, as_of=as_of, segment=segment, region=region,
                                            owner=owner)
