"""Order, refund and ticket aggregates behind the Overview, in DuckDB over the columnar reads.

Every function takes a DuckDB connection from :func:`core.analytics.source.engine_for` with
the views it names, and a :class:`Filter` (segment, region, owner; None for all). Times are
naive timestamps as stored (UTC); a window [start, end) is half-open, as core.kpis's
``window_bounds`` gives it for (D - H, D]. Money is whole cents (core.money), summed as
integers (CAST to BIGINT: DuckDB sums BIGINT as HUGEINT, which pandas would make a float);
every money column or key here ends in ``_cents``. The definitions are design.md's, written out in
core/kpis.py's docstrings; this module only computes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd
import pyarrow as pa

from core.analytics.definitions import INACTIVE_GAP_SQL


@dataclass(frozen=True)
class Filter:
    """The Overview's customer filter; None means "any"."""

    segment: str | None = None
    region: str | None = None
    owner: str | None = None

    def sql(self, column: str = "customer_id") -> tuple[str, list[object]]:
        """(" AND <column> IN (SELECT id FROM customer WHERE ...)", parameters), or ("", [])."""
        conds, params = [], []
        for name in ("segment", "region", "owner"):
            value = getattr(self, name)
            if value:
                conds.append(f"{name} = ?")
                params.append(value)
        if not conds:
            return "", []
        return f" AND {column} IN (SELECT id FROM customer WHERE {' AND '.join(conds)})", params


def month_key_sql(column: str) -> str:
    """year * 12 + month - 1 of a timestamp column, as core.kpis's month keys."""
    return f"(year({column}) * 12 + month({column}) - 1)"


# Trend windows and months of order_activity: one bit each, 62 to a BIGINT mask.
_MASK_BITS = 62


@dataclass(frozen=True)
class ActivityWindows:
    """The moments one pass over the orders (:func:`order_activity`) counts against, all set by a
    date D and a horizon H (core.kpis builds them: ``ActivityWindows`` is only arithmetic).

    ``end`` is midnight after D; ``period_starts`` are the starts of (D - H, D], (D - 2H, D - H]
    and (D - 3H, D - 2H] (the KPI table's current and previous period and the period before
    that); ``reactivation`` the [lo, hi) of the H days up to the reactivation moment t (hi = t);
    ``trend`` the KPI trend's windows [lo, hi); ``month_start`` midnight on the 1st of the first
    of ``months`` calendar months ending with D's month, whose month
    key (year * 12 + month - 1) is ``month_start_key``.
    """

    end: datetime
    period_starts: tuple[datetime, datetime, datetime]
    reactivation: tuple[datetime, datetime]
    trend: tuple[tuple[datetime, datetime], ...]
    month_start: datetime
    month_start_key: int
    months: int

    def __post_init__(self) -> None:
        if not self.trend or self.months < 1:
            raise ValueError("the order activity needs at least one trend window and one month")


def order_activity(db: duckdb.DuckDBPyConnection, windows: ActivityWindows, part: str) -> pa.Table:
    """Every buyer's order activity around D, in one grouped pass over the orders before
    ``windows.end``: the per-customer facts the Overview's order figures at D are made of.

    One row per customer with an order before the end of D (customers without one have no row),
    in no order, with customer_id and the columns of ``part``:

    - "periods" (the KPI table): n_all, orders up to D; n_p0, n_p1, n_p2, orders in the periods
      starting at ``period_starts`` (n_p0 in (D - H, D], n_p1 in (D - 2H, D - H], n_p2 in
      (D - 3H, D - 2H]); gross_p0_cents, gross_p1_cents, their order totals (gross, whole cents;
      0 without orders);
    - "history" (the Overview's other order figures): n_before_t, n_recent_t, n_after_t, orders
      before the reactivation moment t, in the H days up to it ([lo, hi)) and from t to the end
      of D (core.analytics.definitions); first_at, the first order (:func:`onboarding_pairs`
      finds the second for a cohort: keeping the first two orders of every customer took as long
      as the rest of the pass); trend_mask_j, bit k set when an order fell in trend window
      62 j + k; month_mask_j, bit k set when an order fell in calendar month
      ``month_start_key + 62 j + k`` (62 bits a BIGINT).

    Raises KeyError for another ``part``. At 1,000,000 customers the Overview's first screen
    asked the 15 million orders eight grouped passes (each KPI period, reactivation, onboarding,
    the trend's active customers, the monthly buyers), 1.2 to 1.7 s each; its figures now read
    these two results, for any filter. Two parts, not one: the command line's KPIs need only the
    periods, and the Overview computes the two on two threads.
    """
    w = windows
    s0, s1, s2 = w.period_starts
    lo, hi = w.reactivation
    # Whole cents summed as DOUBLE, exact: every partial sum of integers below 2 ** 53 cents (90
    # trillion in currency units) is an integer a double holds exactly. DuckDB sums BIGINT into a
    # 128-bit HUGEINT, which took as long as the rest of the counts together.
    cents = "CAST(total_cents AS DOUBLE)"
    columns: list[str]
    params: list[object]
    if part == "periods":
        columns = [
            "CAST(count(*) AS INTEGER) AS n_all",
            "CAST(count(*) FILTER (WHERE ordered_at >= ?) AS INTEGER) AS n_p0",
            "CAST(count(*) FILTER (WHERE ordered_at >= ? AND ordered_at < ?) AS INTEGER) AS n_p1",
            "CAST(count(*) FILTER (WHERE ordered_at >= ? AND ordered_at < ?) AS INTEGER) AS n_p2",
            f"CAST(coalesce(sum({cents}) FILTER (WHERE ordered_at >= ?), 0) AS BIGINT) AS gross_p0_cents",
            f"CAST(coalesce(sum({cents}) FILTER (WHERE ordered_at >= ? AND ordered_at < ?), 0) AS BIGINT) "
            "AS gross_p1_cents",
        ]
        params = [s0, s1, s0, s2, s1, s0, s1, s0]
    elif part == "history":
        columns = [
            "CAST(count(*) FILTER (WHERE ordered_at < ?) AS INTEGER) AS n_before_t",
            "CAST(count(*) FILTER (WHERE ordered_at >= ? AND ordered_at < ?) AS INTEGER) AS n_recent_t",
            "CAST(count(*) FILTER (WHERE ordered_at >= ?) AS INTEGER) AS n_after_t",
            "min(ordered_at) AS first_at",
        ]
        params = [hi, lo, hi, hi]
        for j, first in enumerate(range(0, len(w.trend), _MASK_BITS)):
            chunk = w.trend[first:first + _MASK_BITS]
            bits = " | ".join(f"(CAST(ordered_at >= ? AND ordered_at < ? AS BIGINT) << {k})"
                              for k in range(len(chunk)))
            columns.append(f"coalesce(bit_or({bits}) FILTER (WHERE ordered_at >= ?), 0) AS trend_mask_{j}")
            params += [*(v for b in chunk for v in b), min(b[0] for b in chunk)]
        offset = f"CAST({month_key_sql('ordered_at')} - ? AS INTEGER)"
        for j, first in enumerate(range(0, w.months, _MASK_BITS)):
            columns.append(f"coalesce(bit_or(CAST(1 AS BIGINT) << greatest(least({offset} - {first}, "
                           f"{_MASK_BITS - 1}), 0)) FILTER (WHERE {offset} >= {first} AND {offset} < "
                           f"{first + _MASK_BITS}), 0) AS month_mask_{j}")
            params += [w.month_start_key] * 3
    else:
        raise KeyError(part)
    return db.sql(f"""
        SELECT customer_id, {", ".join(columns)}
        FROM orders WHERE ordered_at < ? GROUP BY customer_id
    """, params=[*params, w.end]).to_arrow_table()


# The columns of a KPI period `back` periods before D's, from order_activity's periods: orders up to the
# period's end, in the period, in the period before it, and the period's gross sales.
_PERIOD_COLUMNS = {
    0: ("n_all", "n_p0", "n_p1", "gross_p0_cents"),
    1: ("n_all - n_p0", "n_p1", "n_p2", "gross_p1_cents"),
}


def period_aggregates(db: duckdb.DuckDBPyConnection, *, back: int, as_of_day: datetime,
                      refund_window: tuple[datetime, datetime], flt: Filter) -> dict[str, int]:
    """Customer counts and window sums of one KPI period, from :func:`order_activity`'s periods
    (registered as ``activity``) and the customers and refunds.

    ``back`` 0 is the period (D - H, D], 1 the period before it (D - 2H, D - H]; ``as_of_day`` is
    that period's last day at 00:00 and ``refund_window`` its [start, end). Returns buyers (>= 1
    order up to the period's end), repeaters (>= 2), active (order in the period), prev_active
    (in the period before it), retained (both), customers (signed up on or before the period's
    last day, or ordered by its end), orders and gross_sales_cents in the period, refunds_cents
    (kind 'refund', refunded in the period), whole cents. Raises KeyError for another ``back``.
    """
    n_upto, n_cur, n_prev, gross = _PERIOD_COLUMNS[back]
    where, params = flt.sql("id")
    row = db.execute(f"""
        WITH a AS (SELECT customer_id, {n_upto} AS n_upto, {n_cur} AS n_cur, {n_prev} AS n_prev,
                          {gross} AS gross FROM activity),
        c AS (SELECT id, signup_date FROM customer WHERE true {where})
        SELECT
            count(*) FILTER (WHERE n_upto > 0), count(*) FILTER (WHERE n_upto >= 2),
            count(*) FILTER (WHERE n_cur > 0), count(*) FILTER (WHERE n_prev > 0),
            count(*) FILTER (WHERE n_cur > 0 AND n_prev > 0),
            count(*) FILTER (WHERE c.signup_date <= CAST(? AS DATE) OR coalesce(n_upto, 0) > 0),
            coalesce(sum(n_cur), 0), CAST(coalesce(sum(gross), 0) AS BIGINT)
        FROM c LEFT JOIN a ON a.customer_id = c.id
    """, [*params, as_of_day]).fetchone()
    rwhere, rparams = flt.sql("customer_id")
    refunds = db.execute(
        f"SELECT CAST(coalesce(sum(amount_cents), 0) AS BIGINT) FROM refund WHERE kind = 'refund' AND refunded_at >= ? "
        f"AND refunded_at < ? {rwhere}", [*refund_window, *rparams]).fetchone()[0]
    keys = ("buyers", "repeaters", "active", "prev_active", "retained", "customers")
    out: dict[str, int] = {k: int(v) for k, v in zip(keys, row[:6], strict=True)}
    out["orders"] = int(row[6])
    out["gross_sales_cents"] = int(row[7])
    out["refunds_cents"] = int(refunds)
    return out


def customer_facts(db: duckdb.DuckDBPyConnection, *, as_of_day: datetime, start: datetime,
                   end: datetime) -> pd.DataFrame:
    """One row per customer in the store, indexed by customer id, from :func:`order_activity`'s
    periods (registered as ``activity``), the customers and the refunds: known (bool), n_all, n_cur,
    n_prev, n_before (order counts up to D, in (D-H, D], (D-2H, D-H], before D-2H),
    revenue_cur_cents (gross, (D-H, D]) and refunds_cur_cents (refunded in [start, end) =
    (D-H, D], by refund date), whole cents."""
    df = db.execute("""
        WITH ref AS (SELECT customer_id, CAST(sum(amount_cents) AS BIGINT) AS refunds_cur_cents FROM refund
                     WHERE kind = 'refund' AND refunded_at >= ? AND refunded_at < ? GROUP BY customer_id)
        SELECT c.id AS customer_id, coalesce(n_all, 0) AS n_all, coalesce(n_p0, 0) AS n_cur,
               coalesce(n_p1, 0) AS n_prev, coalesce(n_all - n_p0 - n_p1, 0) AS n_before,
               coalesce(gross_p0_cents, 0) AS revenue_cur_cents, coalesce(refunds_cur_cents, 0) AS refunds_cur_cents,
               coalesce(c.signup_date <= CAST(? AS DATE), false) OR coalesce(n_all, 0) > 0 AS known
        FROM customer c LEFT JOIN activity a ON a.customer_id = c.id LEFT JOIN ref ON ref.customer_id = c.id
        ORDER BY c.id
    """, [start, end, as_of_day]).df()
    counts = ["n_all", "n_cur", "n_prev", "n_before", "revenue_cur_cents", "refunds_cur_cents"]
    df[counts] = df[counts].astype("int64")
    df["known"] = df["known"].astype(bool)
    return df.set_index("customer_id")


def reactivation_counts(db: duckdb.DuckDBPyConnection, *, flt: Filter) -> tuple[int, int]:
    """(lapsed, reactivated) by core.analytics.definitions, from :func:`order_activity`'s
    history (registered as ``activity``): customers who ordered before its reactivation moment t but not
    in the H days up to it, and those of them who ordered from t to the end of D."""
    where, params = flt.sql("customer_id")
    row = db.execute(f"""
        SELECT count(*) FILTER (WHERE n_before_t > 0 AND n_recent_t = 0),
               count(*) FILTER (WHERE n_before_t > 0 AND n_recent_t = 0 AND n_after_t > 0)
        FROM activity WHERE true {where}
    """, params).fetchone()
    return int(row[0]), int(row[1])


def ticket_count(db: duckdb.DuckDBPyConnection, *, start: datetime, end: datetime, flt: Filter) -> int:
    """Support tickets opened in [start, end) by the filtered customers."""
    where, params = flt.sql("customer_id")
    return int(db.execute(f"SELECT count(*) FROM support_ticket WHERE opened_at >= ? AND opened_at < ? {where}",
                          [start, end, *params]).fetchone()[0])


def onboarding_pairs(db: duckdb.DuckDBPyConnection, *, cohort_start: datetime, cohort_end: datetime,
                     end: datetime, flt: Filter) -> pd.DataFrame:
    """Customers whose first order (up to ``end``, the end of D) fell in [cohort_start,
    cohort_end), found in :func:`order_activity`'s history (registered as ``activity``, with the orders):
    one row each with first_at and second_at (NaT without a second order before ``end``; two
    orders at the same moment count as two), by customer_id. Only the cohort's orders are
    grouped again (all of them are on or after ``cohort_start``)."""
    where, params = flt.sql("customer_id")
    return db.execute(f"""
        WITH cohort AS (SELECT customer_id FROM activity WHERE first_at >= ? AND first_at < ? {where}),
        firsts AS (SELECT o.customer_id, min(o.ordered_at, 2) AS two FROM orders o
                   SEMI JOIN cohort c ON c.customer_id = o.customer_id
                   WHERE o.ordered_at >= ? AND o.ordered_at < ? GROUP BY o.customer_id)
        SELECT customer_id, two[1] AS first_at, two[2] AS second_at FROM firsts ORDER BY customer_id
    """, [cohort_start, cohort_end, *params, cohort_start, end]).df()


def active_at_points(db: duckdb.DuckDBPyConnection, *, points: int, flt: Filter) -> list[int]:
    """For each of the first ``points`` trend windows of :func:`order_activity`'s history (registered as
    ``activity``): customers with at least one order in it."""
    return _bit_counts(db, "trend_mask", points, flt)


def buyers_per_month(db: duckdb.DuckDBPyConnection, *, months: int, flt: Filter) -> list[int]:
    """For each of the first ``months`` months of :func:`order_activity`'s history (registered as
    ``activity``), oldest first: customers with at least one order in it."""
    return _bit_counts(db, "month_mask", months, flt)


def _bit_counts(db: duckdb.DuckDBPyConnection, prefix: str, n: int, flt: Filter) -> list[int]:
    where, params = flt.sql("customer_id")
    counts = ", ".join(f"count(*) FILTER (WHERE ({prefix}_{k // _MASK_BITS} >> {k % _MASK_BITS}) & 1 = 1)"
                       for k in range(n))
    row = db.execute(f"SELECT {counts} FROM activity WHERE true {where}", params).fetchone()
    return [int(v or 0) for v in row]


def daily_sales(db: duckdb.DuckDBPyConnection, *, start: datetime, end: datetime,
                flt: Filter) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(orders per day: day, n, revenue_cents (gross); refunds per day: day, refunds_cents), for
    [start, end), whole cents.
    ``day`` is a datetime64 at midnight."""
    where, params = flt.sql("customer_id")
    daily = db.execute(f"""
        SELECT CAST(CAST(ordered_at AS DATE) AS TIMESTAMP) AS day, count(*) AS n,
               CAST(sum(total_cents) AS BIGINT) AS revenue_cents
        FROM orders WHERE ordered_at >= ? AND ordered_at < ? {where} GROUP BY 1 ORDER BY 1
    """, [start, end, *params]).df()
    refunds = db.execute(f"""
        SELECT CAST(CAST(refunded_at AS DATE) AS TIMESTAMP) AS day, CAST(sum(amount_cents) AS BIGINT) AS refunds_cents
        FROM refund WHERE kind = 'refund' AND refunded_at >= ? AND refunded_at < ? {where} GROUP BY 1 ORDER BY 1
    """, [start, end, *params]).df()
    return daily, refunds


def monthly_sales(db: duckdb.DuckDBPyConnection, *, start: datetime, end: datetime,
                  flt: Filter) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per month key: orders, revenue_cents (gross); per month key: refunds_cents (kind 'refund',
    by refund month)), for [start, end); whole cents. The buyers per month are
    :func:`buyers_per_month`'s."""
    where, params = flt.sql("customer_id")
    mk = month_key_sql("ordered_at")
    sales = db.execute(f"""
        SELECT {mk} AS month_key, count(*) AS orders, CAST(sum(total_cents) AS BIGINT) AS revenue_cents
        FROM orders WHERE ordered_at >= ? AND ordered_at < ? {where} GROUP BY 1
    """, [start, end, *params]).df()
    rk = month_key_sql("refunded_at")
    refunds = db.execute(f"""
        SELECT {rk} AS month_key, CAST(sum(amount_cents) AS BIGINT) AS refunds_cents FROM refund
        WHERE kind = 'refund' AND refunded_at >= ? AND refunded_at < ? {where} GROUP BY 1
    """, [start, end, *params]).df()
    return sales, refunds


def cohort_counts(db: duckdb.DuckDBPyConnection, *, end: datetime, start_key: int, flt: Filter) -> pd.DataFrame:
    """Per cohort (month key of the first order up to ``end``, from ``start_key`` on) and
    offset (months after it): customers with at least one order in that month. Columns:
    cohort, offset, n."""
    where, params = flt.sql("customer_id")
    mk = month_key_sql("ordered_at")
    return db.execute(f"""
        WITH pairs AS (SELECT DISTINCT customer_id, {mk} AS mk FROM orders WHERE ordered_at < ? {where}),
        firsts AS (SELECT customer_id, min(mk) AS cohort FROM pairs GROUP BY customer_id)
        SELECT f.cohort, p.mk - f.cohort AS "offset", count(*) AS n
        FROM pairs p JOIN firsts f USING (customer_id)
        WHERE f.cohort >= ? GROUP BY 1, 2
    """, [end, *params, start_key]).df()


def revenue_kinds(db: duckdb.DuckDBPyConnection, *, end: datetime, window_start: datetime, horizon_days: int,
                  flt: Filter) -> pd.DataFrame:
    """Orders from ``window_start`` to ``end`` by month key and kind: 'new' (in the month of the
    customer's first order), 'reactivated' (the customer was inactive before it: see
    core.analytics.definitions), 'returning' (every other). Columns: mk, kind, orders,
    revenue_cents."""
    where, params = flt.sql("customer_id")
    mk = month_key_sql("ordered_at")
    return db.execute(f"""
        WITH base AS (
            SELECT ordered_at, total_cents, {mk} AS mk,
                   min({mk}) OVER (PARTITION BY customer_id) AS first_mk,
                   lag(ordered_at) OVER (PARTITION BY customer_id ORDER BY ordered_at, id) AS prev_at
            FROM orders WHERE ordered_at < ? {where})
        SELECT mk, CASE WHEN mk = first_mk THEN 'new'
                        WHEN prev_at IS NOT NULL AND {INACTIVE_GAP_SQL} THEN 'reactivated'
                        ELSE 'returning' END AS kind,
               count(*) AS orders, CAST(sum(total_cents) AS BIGINT) AS revenue_cents
        FROM base WHERE ordered_at >= ? GROUP BY 1, 2
    """, [end, *params, horizon_days, window_start]).df()


def score_counts(db: duckdb.DuckDBPyConnection, *, start: datetime, end: datetime, flt: Filter) -> pd.DataFrame:
    """Answers with a score submitted in [start, end), counted per score: columns score, n (at
    most 11 rows, by score). With a customer filter, answers from unknown customers are left
    out (they have no segment)."""
    where, params = flt.sql("customer_id")
    return db.execute(f"""
        SELECT nps_score AS score, count(*) AS n FROM feedback
        WHERE submitted_at >= ? AND submitted_at < ? AND nps_score IS NOT NULL {where}
        GROUP BY nps_score ORDER BY nps_score
    """, [start, end, *params]).df()
