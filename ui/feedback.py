"""Cached readers for the feedback inbox and the NPS screen.

Everything a reader returns depends on its arguments only: the caller's username and roles
are arguments wherever they filter, so one user's cached answer is never shown to another.
Writes call `clear_feedback_readers()`.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from core import feedback as fbk
from core.nps import nps_by_period
from ui.db import get_session

INBOX_TTL = 30
NPS_TTL = 600


def _roles(roles: frozenset) -> tuple[str, ...]:
    return tuple(sorted(str(r) for r in roles))


@st.cache_data(ttl=INBOX_TTL, show_spinner=False)
def inbox_page(username: str, roles: tuple[str, ...], states: tuple[str, ...] | None, assignee: str | None,
               owner: str | None, since: datetime | None, sort: str, limit: int,
               offset: int) -> tuple[pd.DataFrame, int]:
    with get_session() as session:
        page = fbk.inbox(session=session, username=username, roles=roles, states=states, assignee=assignee,
                         owner=owner, since=since, sort=sort, limit=limit, offset=offset)
    return page.rows, page.total


@st.cache_data(ttl=INBOX_TTL, show_spinner=False)
def loop_figures(username: str, roles: tuple[str, ...]) -> dict:
    with get_session() as session:
        return fbk.close_the_loop(session=session, username=username, roles=roles)


@st.cache_data(ttl=NPS_TTL, show_spinner=False)
def staff_for_inbox() -> list[str]:
    with get_session() as session:
        return fbk.assignable_staff(session=session)


@st.cache_data(ttl=NPS_TTL, show_spinner="Counting answers…")
def nps_periods(since: datetime, until: datetime, freq: str, by: str | None) -> pd.DataFrame:
    """Aggregates only: safe for every role."""
    with get_session() as session:
        counts = fbk.nps_counts(session=session, since=since, until=until, by=by)
    return nps_by_period(counts, freq=freq, by=by, date_col="day")


@st.cache_data(ttl=NPS_TTL, show_spinner=False)
def answer_counts(since: datetime, until: datetime) -> dict[str, int]:
    with get_session() as session:
        return fbk.answer_counts(session=session, since=since, until=until)


@st.cache_data(ttl=NPS_TTL, show_spinner=False)
def themes(months: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    with get_session() as session:
        frame = fbk.detractor_themes(session=session, months=months)
    return frame, fbk.theme_spikes(frame)


@st.cache_data(ttl=60, show_spinner=False)
def search(roles: tuple[str, ...], word: str) -> pd.DataFrame:
    with get_session() as session:
        return fbk.search_comments(session=session, roles=roles, word=word)


def clear_feedback_readers() -> None:
    for reader in (inbox_page, loop_figures, nps_periods, answer_counts, themes, search):
        reader.clear()


roles_key = _roles
