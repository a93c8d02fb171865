"""Cached readers for the drill-downs of the Overview, NPS and Loyalty screens (core.drilldown).

Readers of records (names, ids, comments) take the roles in their cache key and let core
check them: a role that may not see personal data gets core.roles.NotAllowed, never rows.
The breakdowns are aggregates, the same for every role."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import streamlit as st

from core import drilldown
from ui.auth import roles_key  # noqa: F401 - the screens call it ui.roles_key
from ui.db import get_session

TTL = 300  # seconds, as the Overview's own readers


@st.cache_data(ttl=TTL, show_spinner=False)
def kpi_customers(roles: tuple[str, ...], db: str, kpi: str, as_of: date, horizon_days: int,
                  segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.kpi_customers(session=session, roles=roles, kpi=kpi, as_of=as_of,
                                       horizon_days=horizon_days, segment=segment, region=region, owner=owner)


@st.cache_data(ttl=TTL, show_spinner=False)
def kpi_breakdown(db: str, kpi: str, as_of: date, horizon_days: int, segment: str | None, region: str | None,
                  owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.kpi_breakdown(session=session, kpi=kpi, as_of=as_of, horizon_days=horizon_days,
                                       segment=segment, region=region, owner=owner)


@st.cache_data(ttl=TTL, show_spinner=False)
def month_customers(roles: tuple[str, ...], db: str, month: str, as_of: date, segment: str | None,
                    region: str | None, owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.month_customers(session=session, roles=roles, month=month, as_of=as_of, segment=segment,
                                         region=region, owner=owner)


@st.cache_data(ttl=TTL, show_spinner=False)
def month_breakdown(db: str, month: str, as_of: date, segment: str | None, region: str | None,
                    owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.month_breakdown(session=session, month=month, as_of=as_of, segment=segment,
                                         region=region, owner=owner)


@st.cache_data(ttl=TTL, show_spinner=False)
def nps_answers(roles: tuple[str, ...], db: str, group: str, since: datetime, until: datetime) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.nps_answers(session=session, roles=roles, group=group, since=since, until=until)


@st.cache_data(ttl=TTL, show_spinner=False)
def nps_breakdown(db: str, group: str, since: datetime, until: datetime) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.nps_breakdown(session=session, group=group, since=since, until=until)


@st.cache_data(ttl=TTL, show_spinner=False)
def loyalty_breakdown(db: str, as_of: date, which: str, tier: str | None = None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.loyalty_breakdown(session=session, as_of=as_of, which=which, tier=tier)
