"""Every buyer's order activity around D, computed once per data generation, D and horizon, and
read by every order figure of the Overview's first screen for any filter: its periods by both
KPI periods (and the drill-downs' per-customer facts), its history by reactivation, the
onboarding cohort, the trend's active customers and the monthly buyers.

At 1,000,000 customers and 15 million orders each of those figures was a grouped pass of its
own over the orders (eight for the first screen, 1.2 to 1.7 s each on this 2-core machine);
they are now two passes (core.analytics.orders.order_activity) and small joins over their one
row per buyer.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
from sqlmodel import Session

from core.analytics import changelog, source
from core.analytics import orders as analytics_orders
from core.analytics.definitions import inactive_window, reactivation_moment
from core.analytics.orders import ActivityWindows
from core.kpis.definitions import day_start, window_bounds
from core.readcache import cached

# The KPI trend's points (a year: 13 points four weeks apart), the monthly sales' months and the
# onboarding's days to a second order: the defaults of core.kpis.kpi_trend, monthly_sales and
# retention_extras.
TREND_POINTS = 13
TREND_STEP_DAYS = 28
MONTHS = 12
ONBOARDING_DAYS = 60


def trend_points(as_of: date, points: int = TREND_POINTS, step_days: int = TREND_STEP_DAYS) -> list[date]:
    """The KPI trend's dates, oldest first: D - step * (points - 1), ..., D - step, D."""
    return [as_of - timedelta(days=step_days * k) for k in range(points - 1, -1, -1)]


def month_window(as_of: date, months: int = MONTHS) -> tuple[int, datetime]:
    """(month key of the first month, its first midnight) of ``months`` calendar months ending
    with D's month; a month key is year * 12 + month - 1."""
    start_key = as_of.year * 12 + as_of.month - 1 - months + 1
    return start_key, datetime(start_key // 12, start_key % 12 + 1, 1)


def onboarding_cohort(as_of: date, horizon_days: int, days: int = ONBOARDING_DAYS) -> tuple[datetime, datetime]:
    """[start, end) of the onboarding cohort's first orders at D: (D - days - H, D - days], so
    each of its customers has had ``days`` days to come back by D."""
    cohort_end = day_start(as_of + timedelta(days=1 - days))
    return cohort_end - timedelta(days=horizon_days), cohort_end


def activity_windows(as_of: date, horizon_days: int, *, points: int = TREND_POINTS,
                     step_days: int = TREND_STEP_DAYS, months: int = MONTHS) -> ActivityWindows:
    """The windows of :func:`order_periods` and :func:`order_history` at D with horizon H (days).
    Raises KpiError for H < 1 and ValueError without a trend point or a month."""
    start, end = window_bounds(as_of, horizon_days)
    h = timedelta(days=horizon_days)
    month_key, month_start = month_window(as_of, months)
    return ActivityWindows(
        end=end,
        period_starts=(start, start - h, start - 2 * h),
        reactivation=inactive_window(reactivation_moment(as_of), horizon_days),
        trend=tuple(window_bounds(p, horizon_days) for p in trend_points(as_of, points, step_days)),
        month_start=month_start,
        month_start_key=month_key,
        months=months,
    )


@cached(tables=("orders",), shared=True)
def order_periods(*, session: Session, as_of: date, horizon_days: int) -> pa.Table:
    """core.analytics.orders.order_activity's "periods" at D with horizon H (days): one row per
    customer with an order up to D, the KPI table's order counts and gross sales in its two
    periods (an Arrow table, shared read-only by its callers). Kept per data generation of the
    orders, D and H, in memory and on this machine's disk (:func:`_kept`)."""
    return _kept(session, "periods", (as_of.isoformat(), horizon_days), activity_windows(as_of, horizon_days))


@cached(tables=("orders",), shared=True)
def order_history(*, session: Session, as_of: date, horizon_days: int, points: int = TREND_POINTS,
                  step_days: int = TREND_STEP_DAYS, months: int = MONTHS) -> pa.Table:
    """core.analytics.orders.order_activity's "history" at D for :func:`activity_windows`: one
    row per customer with an order up to D, reactivation counts, the first order, the trend's and
    the months' bits (an Arrow table, shared read-only). Kept per data generation of the orders,
    D, H and the windows' settings, in memory and on this machine's disk (:func:`_kept`)."""
    windows = activity_windows(as_of, horizon_days, points=points, step_days=step_days, months=months)
    return _kept(session, "history", (as_of.isoformat(), horizon_days, points, step_days, months), windows)


def _kept(session: Session, part: str, key: tuple, windows: ActivityWindows) -> pa.Table:
    """One part of the order activity, read back from this machine's disk copy when one of the
    orders' data generation is there (core.analytics.diskcopy: a new app process on unchanged
    orders does not group 15 million orders again, 1 to 2 s at 1,000,000 customers); after a
    write, an earlier copy with the customers the change log names computed again
    (core.analytics.source.kept_per_customer); else computed, then copied to disk in the
    background."""

    def compute(customers: np.ndarray | None) -> pa.Table:
        if customers is None:
            with source.engine_for(session, ("orders",)) as db:
                return analytics_orders.order_activity(db, windows, part)
        some = changelog.of_customers(source.read_table(session, "orders"), customers)
        db = source.duckdb_connection()
        try:
            db.register("orders", some)
            return analytics_orders.order_activity(db, windows, part)
        finally:
            db.close()

    return source.kept_per_customer(session, "orders", f"order_{part}", key, compute)


def engine_with_activity(session: Session, table: pa.Table, *tables: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection over the named tables (core.analytics.source) and ``table`` (one part
    of the order activity) as ``activity``."""
    db = source.engine_for(session, tables)
    db.register("activity", table)
    return db
