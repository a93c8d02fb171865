"""Kept readers (core.readcache) for the drill-downs of the Overview, NPS and Loyalty screens (core.drilldown).

Readers of records (names, ids, comments) take the roles in their cache key and let core
check them: a role that may not see personal data gets core.roles.NotAllowed, never rows.
The breakdowns are aggregates, the same for every role."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from core import drilldown
from core.readcache import cached
from core.roles import Role
from ui.db import get_session


def roles_key(roles: frozenset[Role]) -> tuple[str, ...]:
    return tuple(sorted(getattr(r, "value", str(r)) for r in roles))


@cached()
def kpi_customers(roles: tuple[str, ...], db: str, kpi: str, as_of: date, horizon_days: int,
                  segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.kpi_customers(session=session, roles=roles, kpi=kpi, as_of=as_of,
                                       horizon_days=horizon_days, segment=segment, region=region, owner=owner)


@cached()
def kpi_breakdown(db: str, kpi: str, as_of: date, horizon_days: int, segment: str | None, region: str | None,
                  owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.kpi_breakdown(session=session, kpi=kpi, as_of=as_of, horizon_days=horizon_days,
                                       segment=segment, region=region, owner=owner)


@cached()
def month_customers(roles: tuple[str, ...], db: str, month: str, as_of: date, segment: str | None,
                    region: str | None, owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.month_customers(session=session, roles=roles, month=month, as_of=as_of, segment=segment,
                                         region=region, owner=owner)


@cached()
def month_breakdown(db: str, month: str, as_of: date, segment: str | None, region: str | None,
                    owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.month_breakdown(session=session, month=month, as_of=as_of, segment=segment,
                                         region=region, owner=owner)


@cached()
def nps_answers(roles: tuple[str, ...], db: str, group: str, since: datetime, until: datetime) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.nps_answers(session=session, roles=roles, group=group, since=since, until=until)


@cached()
def nps_breakdown(db: str, group: str, since: datetime, until: datetime) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.nps_breakdown(session=session, group=group, since=since, until=until)


@cached()
def loyalty_breakdown(db: str, as_of: date, which: str, tier: str | None = None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.loyalty_breakdown(session=session, as_of=as_of, which=which, tier=tier)
