"""Health bands over time: accounts per band at each score run, the moves between bands since
last week, and the accounts (or their aggregates) behind one move."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import Session

from core.kpis.definitions import BANDS, _read, _to_dates, customer_conditions, filtered
from db.models import Customer, ScoreSnapshot


def band_mix(
    *,
    session: Session,
    as_of: date | None = None,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """Accounts per health band at every score snapshot date (up to `as_of`).

    Columns: as_of, band, customers, share.
    """
    conds = customer_conditions(segment, region, owner)
    s = ScoreSnapshot.__table__.c
    stmt = select(s.as_of, s.band, func.count().label("customers")).group_by(s.as_of, s.band)
    if as_of is not None:
        stmt = stmt.where(s.as_of <= as_of)
    df = _read(session, filtered(stmt, s.customer_id, conds))
    if df.empty:
        return pd.DataFrame(columns=["as_of", "band", "customers", "share"])
    df["as_of"] = _to_dates(df["as_of"])
    df["share"] = df["customers"] / df.groupby("as_of")["customers"].transform("sum")
    return df.sort_values(["as_of", "band"]).reset_index(drop=True)


def band_moves(
    *,
    session: Session,
    as_of: date | None = None,
    days: int = 7,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """How accounts moved between health bands since last week.

    Compares the newest snapshot date L (up to `as_of`) with the newest snapshot date on
    or before L - 7 days, for customers scored on both. Returns latest, previous (dates or
    None), moves (DataFrame: from_band, to_band, customers; moved accounts only), improved,
    worsened and unchanged counts.
    """
    conds = customer_conditions(segment, region, owner)
    s = ScoreSnapshot.__table__.c
    latest_stmt = select(func.max(s.as_of))
    if as_of is not None:
        latest_stmt = latest_stmt.where(s.as_of <= as_of)
    latest = session.execute(latest_stmt).scalar_one_or_none()
    empty = {"latest": latest, "previous": None, "improved": 0, "worsened": 0, "unchanged": 0,
             "moves": pd.DataFrame(columns=["from_band", "to_band", "customers"])}
    if latest is None:
        return empty
    latest = pd.Timestamp(latest).date()
    previous = session.execute(select(func.max(s.as_of)).where(s.as_of <= latest - timedelta(days=days))
                               ).scalar_one_or_none()
    if previous is None:
        return empty
    previous = pd.Timestamp(previous).date()
    a = ScoreSnapshot.__table__.alias("a")
    b = ScoreSnapshot.__table__.alias("b")
    stmt = filtered(
        select(a.c.band.label("from_band"), b.c.band.label("to_band"), func.count().label("customers"))
        .select_from(a.join(b, a.c.customer_id == b.c.customer_id))
        .where(a.c.as_of == previous, b.c.as_of == latest)
        .group_by(a.c.band, b.c.band),
        a.c.customer_id,
        conds,
    )
    df = _read(session, stmt)
    rank = {band: i for i, band in enumerate(BANDS)}
    fr = df["from_band"].map(rank)
    to = df["to_band"].map(rank)
    moved = df[df["from_band"] != df["to_band"]].reset_index(drop=True)
    return {
        "latest": latest,
        "previous": previous,
        "improved": int(df.loc[to < fr, "customers"].sum()),
        "worsened": int(df.loc[to > fr, "customers"].sum()),
        "unchanged": int(df.loc[fr == to, "customers"].sum()),
        "moves": moved,
    }


def _move_dates(session: Session, as_of: date | None, days: int) -> tuple[date | None, date | None]:
    """(newest snapshot date up to `as_of`, newest on or before it minus `days`), as band_moves."""
    s = ScoreSnapshot.__table__.c
    stmt = select(func.max(s.as_of))
    if as_of is not None:
        stmt = stmt.where(s.as_of <= as_of)
    latest = session.execute(stmt).scalar_one_or_none()
    if latest is None:
        return None, None
    latest = pd.Timestamp(latest).date()
    previous = session.execute(select(func.max(s.as_of)).where(s.as_of <= latest - timedelta(days=days))
                               ).scalar_one_or_none()
    return latest, None if previous is None else pd.Timestamp(previous).date()


def _move_stmt(columns: list[Any], *, previous: date, latest: date, from_band: str, to_band: str,
               conds: list[ColumnElement]) -> Select:
    a = ScoreSnapshot.__table__.alias("a")
    b = ScoreSnapshot.__table__.alias("b")
    cols = [c(a, b) if callable(c) else c for c in columns]
    return filtered(
        select(*cols).select_from(a.join(b, a.c.customer_id == b.c.customer_id)
                                  .join(Customer, Customer.id == a.c.customer_id))
        .where(a.c.as_of == previous, b.c.as_of == latest, a.c.band == from_band, b.c.band == to_band),
        a.c.customer_id, conds)


def band_move_accounts(
    *,
    session: Session,
    roles: frozenset[Any],
    from_band: str,
    to_band: str,
    as_of: date | None = None,
    days: int = 7,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """The accounts behind one of band_moves' rows: in `from_band` at the previous snapshot date
    and in `to_band` at the latest (the same two dates as band_moves), largest churn
    probability first. Columns: customer_id, external_id, name, owner, band_before,
    band_after, health_before, health_after (0-100, whole numbers), churn_percent (latest, one
    decimal: the screens' rounding rule).

    Personal data: raises core.roles.NotAllowed for a role that may not see it (exec)."""
    from core.roles import require_personal_data

    require_personal_data(roles)
    from core.health import HEALTH_DECIMALS, churn_percent

    cols = ["customer_id", "external_id", "name", "owner", "band_before", "band_after",
            "health_before", "health_after", "churn_percent"]
    latest, previous = _move_dates(session, as_of, days)
    if latest is None or previous is None:
        return pd.DataFrame(columns=cols)
    stmt = _move_stmt(
        [Customer.id.label("customer_id"), Customer.external_id, Customer.name, Customer.owner,
         lambda a, b: a.c.band.label("band_before"), lambda a, b: b.c.band.label("band_after"),
         lambda a, b: a.c.health_score.label("health_before"), lambda a, b: b.c.health_score.label("health_after"),
         lambda a, b: b.c.churn_probability.label("churn_probability")],
        previous=previous, latest=latest, from_band=from_band, to_band=to_band,
        conds=customer_conditions(segment, region, owner))
    df = _read(session, stmt).sort_values(["churn_probability", "external_id"], ascending=[False, True])
    df["churn_percent"] = churn_percent(df["churn_probability"])
    for col in ("health_before", "health_after"):
        df[col] = df[col].round(HEALTH_DECIMALS)
    return df.reindex(columns=cols).reset_index(drop=True)


def band_move_breakdown(
    *,
    session: Session,
    from_band: str,
    to_band: str,
    as_of: date | None = None,
    days: int = 7,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """The accounts behind one band move as aggregates only (any role): how many per segment
    and region. Columns: segment, region, customers (most first)."""
    latest, previous = _move_dates(session, as_of, days)
    if latest is None or previous is None:
        return pd.DataFrame(columns=["segment", "region", "customers"])
    stmt = _move_stmt([Customer.segment, Customer.region, func.count().label("customers")],
                      previous=previous, latest=latest, from_band=from_band, to_band=to_band,
                      conds=customer_conditions(segment, region, owner)).group_by(Customer.segment,
                                                                                    Customer.region)
    df = _read(session, stmt)
    df[["segment", "region"]] = df[["segment", "region"]].fillna("(none)")
    return df.sort_values(["customers", "segment", "region"], ascending=[False, True, True]).reset_index(drop=True)
