"""KPI definitions and filters: the KPI keys and their one-line definitions (design.md,
"Definitions"), the time windows, the segment/region/owner filter and the small helpers every
KPI read shares.

Windows are half-open on the left and closed on the right in days: (D - H, D] covers the
calendar days D - H + 1 ... D, each to its end, i.e. the timestamps [D - H + 1 00:00, D + 1 00:00).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import duckdb
import pandas as pd
from sqlalchemy import Integer, cast, extract, func, literal_column, select
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import Session

from core import money
from core.analytics import source
from core.config import resolve_horizon
from db.models import Customer, Order

# The keys of `python -m core kpis --json`, in design.md's order.
KPI_KEYS: tuple[str, ...] = (
    "as_of",
    "horizon_days",
    "customers",
    "active_customers",
    "orders",
    "revenue",
    "average_order_value",
    "repeat_purchase_rate",
    "retention_rate",
    "churn_rate",
    "nps",
    "nps_ci_low",
    "nps_ci_high",
    "nps_responses",
    "loyalty_outstanding_points",
    "loyalty_liability",
    "redemption_rate",
    # Beside revenue (design.md, amended): revenue = gross_sales - refunds.
    "gross_sales",
    "refunds",
)

# How refunds count, in words, for the Overview and the weekly summary.
REFUNDS_RULE = (
    "Refunds and cancellations are not orders. Revenue is net of refunds: gross sales (order totals) "
    "minus refunds (money given back, counted on the day it was refunded). Average order value is "
    "gross sales / orders, as the shop platforms compute it. A cancelled order counts in none of them."
)


@dataclass(frozen=True)
class KpiInfo:
    """One KPI as the screens describe it: label, kind (count, money, rate, nps, points), the
    one-line definition (design.md, "Definitions", with H for the horizon) and whether a
    higher value is better (which way a change is coloured)."""

    label: str
    kind: str  # count, money, rate, nps, points
    definition: str
    higher_is_better: bool = True


# One-line definitions, shown on hover on the Overview and in the weekly summary.
KPI_INFO: dict[str, KpiInfo] = {
    "customers": KpiInfo("Customers", "count", "Customers who ordered or signed up on or before the date."),
    "active_customers": KpiInfo(
        "Active customers", "count", "Customers with at least one order in the last H days (D - H, D]."
    ),
    "orders": KpiInfo(
        "Orders", "count", "Orders placed in the last H days (refunds and cancellations are not orders)."
    ),
    "revenue": KpiInfo("Revenue", "money", "Gross sales minus refunds in the last H days (net of refunds)."),
    "gross_sales": KpiInfo("Gross sales", "money", "Sum of order totals in the last H days, before refunds."),
    "refunds": KpiInfo("Refunds", "money", "Money refunded in the last H days (by refund date).",
                       higher_is_better=False),
    "average_order_value": KpiInfo(
        "Average order value", "money", "Gross sales / orders over the last H days."
    ),
    "repeat_purchase_rate": KpiInfo(
        "Repeat purchase rate",
        "rate",
        "Customers with two or more orders / customers with one or more, over all orders up to the date.",
    ),
    "retention_rate": KpiInfo(
        "Retention rate",
        "rate",
        "Of the customers active in the H days before the period, the share active in the period.",
    ),
    "churn_rate": KpiInfo("Churn rate", "rate", "1 - retention rate.", higher_is_better=False),
    "nps": KpiInfo(
        "NPS",
        "nps",
        "% promoters (9-10) minus % detractors (0-6) among survey answers with a score in the last H days.",
    ),
    "nps_ci_low": KpiInfo("NPS 95 % low", "nps", "Lower end of the 95 % interval of the NPS."),
    "nps_ci_high": KpiInfo("NPS 95 % high", "nps", "Upper end of the 95 % interval of the NPS."),
    "nps_responses": KpiInfo("NPS answers", "count", "Survey answers with a score in the last H days."),
    "loyalty_outstanding_points": KpiInfo(
        "Outstanding points",
        "points",
        "Earned minus redeemed minus expired loyalty points up to the date (oldest points redeemed first).",
        higher_is_better=False,
    ),
    "loyalty_liability": KpiInfo(
        "Loyalty liability", "money", "Outstanding points x the configured point value.",
        higher_is_better=False,
    ),
    "redemption_rate": KpiInfo(
        "Redemption rate", "rate", "Points redeemed / points earned, over all time up to the date."
    ),
}

BANDS: tuple[str, ...] = ("healthy", "watch", "at_risk")


class KpiError(ValueError):
    """A request the KPI code cannot answer, with a reason the user can act on."""


def day_start(d: date) -> datetime:
    """Midnight at the start of day ``d``, a naive datetime (timestamps are stored as naive UTC):
    the instant a KPI window's day begins."""
    return datetime.combine(d, time())


def window_bounds(as_of: date, horizon_days: int) -> tuple[datetime, datetime]:
    """(D - H, D] as timestamps [start, end): end is midnight after D. Raises KpiError for a
    horizon under 1 day."""
    if horizon_days < 1:
        raise KpiError("the horizon must be at least 1 day")
    end = day_start(as_of + timedelta(days=1))
    return end - timedelta(days=horizon_days), end


def customer_conditions(segment: str | None, region: str | None, owner: str | None) -> list[ColumnElement]:
    """The Overview's customer filter as SQL conditions on the customer table: segment, region and
    owner (a staff username) each equal to the value given; None or "" leaves that one out. An empty
    list means every customer. Pass them to :func:`filtered`."""
    c = Customer.__table__.c
    conds: list[ColumnElement] = []
    if segment:
        conds.append(c.segment == segment)
    if region:
        conds.append(c.region == region)
    if owner:
        conds.append(c.owner == owner)
    return conds


def filtered(stmt: Select, fk: ColumnElement, conds: list[ColumnElement]) -> Select:
    """`stmt` (a select on a table with a customer foreign key `fk`, e.g. Order.customer_id)
    restricted to the customers meeting `conds` (from :func:`customer_conditions`); unchanged when
    `conds` is empty. Rows whose `fk` is NULL drop out under a filter."""
    if not conds:
        return stmt
    c = Customer.__table__.c
    return stmt.where(fk.in_(select(c.id).where(*conds)))


# The names this module's own readers use (kept so the rename touches two definitions only).


def _money(cents: int | None) -> float | None:
    """Whole cents as currency units for a figure (core.money.to_units): 1235 -> 12.35."""
    return money.to_units(cents)


def _rate(num: int, den: int) -> float | None:
    return None if not den else num / den


def _month_key(col: ColumnElement) -> ColumnElement:
    """year * 12 + month - 1 as an integer, on SQLite and PostgreSQL alike."""
    return cast(extract("year", col), Integer) * 12 + cast(extract("month", col), Integer) - 1


def _month_label(key: int) -> str:
    return f"{key // 12:04d}-{key % 12 + 1:02d}"


def _to_dates(values: pd.Series) -> pd.Series:
    """SQL date() gives strings on SQLite and dates on PostgreSQL; make both datetime64."""
    return pd.to_datetime(values.astype(str), format="%Y-%m-%d")


def _scan(session: Session, col: ColumnElement) -> ColumnElement:
    """The column, but with SQLite told not to use its index (unary +).

    A KPI window holds a large share of all orders or answers; walking the timestamp index
    then fetches each row at random and is several times slower than one sequential scan
    (5 s against 0.8 s for 430 k of 1.5 M orders). PostgreSQL's planner chooses by itself.
    """
    if session.get_bind().dialect.name == "sqlite":
        return literal_column(f"+{col.table.name}.{col.name}", type_=col.type)
    return col


def _read(session: Session, stmt: Select) -> pd.DataFrame:
    return pd.read_sql(stmt, session.connection())


def _engine(session: Session, *tables: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection over the named tables as this session sees them (core.analytics.source)."""
    return source.engine_for(session, tables)


def _customer_ids(session: Session, conds: list[ColumnElement]) -> list[int]:
    """The ids of the customers a segment/region/owner filter selects."""
    return list(session.execute(select(Customer.__table__.c.id).where(*conds)).scalars())


def filter_options(*, session: Session) -> dict[str, list[str]]:
    """The segments, regions and owners present, for the Overview's filter."""
    c = Customer.__table__.c
    out: dict[str, list[str]] = {}
    for name, col in (("segment", c.segment), ("region", c.region), ("owner", c.owner)):
        values = session.execute(select(col).where(col.is_not(None)).distinct()).scalars().all()
        out[name] = sorted(str(v) for v in values)
    return out


def latest_activity_date(*, session: Session) -> date | None:
    """The day of the newest order, a sensible default as-of date for a store's data."""
    latest = session.execute(select(func.max(Order.__table__.c.ordered_at))).scalar_one_or_none()
    return None if latest is None else pd.Timestamp(latest).date()


def default_horizon(horizon_days: int | None = None) -> int:
    """The activity horizon H in days: ``horizon_days`` if given, else HEARTH_HORIZON_DAYS
    (core.config), the one place every screen and command takes it from."""
    return resolve_horizon(horizon_days)
