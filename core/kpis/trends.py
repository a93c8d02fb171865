"""KPIs over time, for the Overview's charts: the KPI trend, monthly sales, cohort retention,
the revenue mix by kind of customer, monthly NPS and offer-code revenue."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from core import money, nps
from core.analytics import orders as analytics_orders
from core.analytics.orders import Filter
from core.kpis.activity import engine_with_activity, month_window, order_history, trend_points
from core.kpis.definitions import (
    _engine,
    _month_key,
    _month_label,
    _read,
    customer_conditions,
    day_start,
    default_horizon,
    filtered,
    window_bounds,
)
from core.readcache import cached
from db.models import Feedback, Order, Outreach


@cached(tables=("customer", "orders", "refund"))
def kpi_trend(
    *,
    session: Session,
    as_of: date,
    horizon_days: int | None = None,
    points: int = 13,
    step_days: int = 28,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """Points every `step_days` ending at D (default: 13 points, four weeks apart, a year):
    active customers, orders, gross_sales, refunds, revenue (net) and AOV (gross / orders)
    over the trailing H days at each point, by the same definitions as `compute_kpis`.

    Customers active in each point's window from the order activity at D (core.kpis.activity),
    and orders, gross sales and refunds per day (summed over each window here).
    """
    horizon_days = default_horizon(horizon_days)
    flt = Filter(segment, region, owner)
    at_points = trend_points(as_of, points, step_days)
    bounds = [window_bounds(p, horizon_days) for p in at_points]
    read_from, end = bounds[0][0], bounds[-1][1]
    facts = order_history(session=session, as_of=as_of, horizon_days=horizon_days, points=points,
                              step_days=step_days)
    with engine_with_activity(session, facts, "customer", "orders", "refund") as db:
        active = analytics_orders.active_at_points(db, points=points, flt=flt)
        daily, daily_refunds = analytics_orders.daily_sales(db, start=read_from, end=end, flt=flt)
    out = pd.DataFrame({"as_of": pd.to_datetime(at_points)})
    out["active_customers"] = [int(v or 0) for v in active]
    origin = pd.Timestamp(read_from)
    n_days = int((pd.Timestamp(as_of) - origin).days) + 1
    idx = (out["as_of"] - origin).dt.days.to_numpy()
    lo = idx + 1 - horizon_days
    def window_sums(days: pd.Series, values: pd.Series) -> np.ndarray:
        """Per point, the sum of ``values`` (integers: counts or whole cents) over its window."""
        if days.empty:
            return np.zeros(len(out), dtype="int64")
        at = (pd.to_datetime(days) - origin).dt.days.to_numpy()
        per_day = np.zeros(n_days, dtype="int64")
        np.add.at(per_day, at, values.to_numpy(dtype="int64"))
        cum = np.concatenate([[0], np.cumsum(per_day)])
        return cum[idx + 1] - cum[lo]

    refunds = window_sums(daily_refunds["day"], daily_refunds["refunds_cents"])
    gross = window_sums(daily["day"], daily["revenue_cents"])
    out["orders"] = window_sums(daily["day"], daily["n"]).astype(int)
    out["gross_sales"] = money.units_array(gross)
    out["refunds"] = money.units_array(refunds)
    out["revenue"] = money.units_array(gross - refunds)
    out["average_order_value"] = money.units_array(money.divide_array(gross, out["orders"]))
    return out


@cached(tables=("customer", "orders", "refund"))
def monthly_sales(
    *,
    session: Session,
    as_of: date,
    months: int = 12,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
    horizon_days: int | None = None,
) -> pd.DataFrame:
    """Calendar months up to D's month: orders, revenue (net of refunds), buying customers (from
    the order activity at D, core.kpis.activity), gross_sales and refunds (by refund date). D's
    month is partial. No figure depends on ``horizon_days``: it names the activity read (a
    screen passes its own, so that its figures share one pass over the orders)."""
    start_key, start = month_window(as_of, months)
    end_key = start_key + months - 1
    end = day_start(as_of + timedelta(days=1))
    flt = Filter(segment, region, owner)
    facts = order_history(session=session, as_of=as_of, horizon_days=default_horizon(horizon_days), months=months)
    with engine_with_activity(session, facts, "customer", "orders", "refund") as db:
        df, refunds = analytics_orders.monthly_sales(db, start=start, end=end, flt=flt)
        buyers = analytics_orders.buyers_per_month(db, months=months, flt=flt)
    full = pd.DataFrame({"month_key": range(start_key, end_key + 1), "customers": buyers})
    df = full.merge(df, on="month_key", how="left").fillna({"orders": 0, "revenue_cents": 0})
    df = df.merge(refunds, on="month_key", how="left").fillna({"refunds_cents": 0})
    df["month"] = df["month_key"].map(_month_label)
    df["orders"] = df["orders"].astype(int)
    df["customers"] = df["customers"].astype(int)
    gross, refunded = df["revenue_cents"].astype("int64"), df["refunds_cents"].astype("int64")
    df["gross_sales"] = money.units_array(gross)
    df["refunds"] = money.units_array(refunded)
    df["revenue"] = money.units_array(gross - refunded)
    return df[["month", "orders", "revenue", "customers", "gross_sales", "refunds"]]


@cached(tables=("customer", "orders"))
def cohort_matrix(
    *,
    session: Session,
    as_of: date,
    months: int = 12,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """Cohort retention by month of first order.

    One row per cohort (the last `months` months up to D, labelled "YYYY-MM"), a column
    `customers` (cohort size) and columns 0, 1, 2, ...: the share of the cohort with at
    least one order in that month after the first (month 0 is 1.0 by construction).
    Months not yet over at D are NaN: a month after the cohort's first is shown only once it
    has ended, unless D is its last day (on 1 December, every cohort's December cell would read
    0 % after one day); month 0 is always shown. Orders after D are ignored.
    """
    end = day_start(as_of + timedelta(days=1))
    end_key = as_of.year * 12 + as_of.month - 1
    start_key = end_key - months + 1
    with _engine(session, "customer", "orders") as db:
        df = analytics_orders.cohort_counts(db, end=end, start_key=start_key, flt=Filter(segment, region, owner))
    cols = list(range(months))
    if df.empty:
        return pd.DataFrame(columns=["cohort", "customers", *cols])
    counts = df.pivot_table(index="cohort", columns="offset", values="n", aggfunc="sum", fill_value=0)
    counts = counts.reindex(columns=cols, fill_value=0)
    size = counts[0]
    share = counts.div(size.replace(0, np.nan), axis=0).astype(float)
    month_over = (as_of + timedelta(days=1)).day == 1
    for cohort in share.index:
        reachable = max(end_key - int(cohort) - (0 if month_over else 1), 0)
        share.loc[cohort, [c for c in cols if c > reachable]] = np.nan
    share.insert(0, "customers", size.astype(int))
    share.insert(0, "cohort", [_month_label(int(k)) for k in share.index])
    return share.reset_index(drop=True)


@cached(tables=("customer", "orders"))
def revenue_split(
    *,
    session: Session,
    as_of: date,
    months: int = 12,
    horizon_days: int | None = None,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """Monthly gross sales (order totals, before refunds: a refund is dated when the money went
    back, not by the kind of order it undoes) split by the kind of customer who placed each order.

    - new: the order falls in the calendar month of the customer's first order;
    - reactivated: otherwise, when the customer's previous order was H days or more
      before this one: the order that reactivates an inactive customer
      (core.analytics.definitions);
    - returning: every other order.
    Returns long form: month, kind, orders, gross_sales (currency units).
    """
    horizon_days = default_horizon(horizon_days)
    end = day_start(as_of + timedelta(days=1))
    end_key = as_of.year * 12 + as_of.month - 1
    start_key = end_key - months + 1
    window_start = datetime(start_key // 12, start_key % 12 + 1, 1)
    with _engine(session, "customer", "orders") as db:
        df = analytics_orders.revenue_kinds(db, end=end, window_start=window_start, horizon_days=horizon_days,
                                            flt=Filter(segment, region, owner))
    kinds = ["new", "returning", "reactivated"]
    full = pd.MultiIndex.from_product([range(start_key, end_key + 1), kinds], names=["mk", "kind"])
    res = (
        df.set_index(["mk", "kind"])[["orders", "revenue_cents"]]
        .reindex(full, fill_value=0)
        .reset_index()
    )
    res["month"] = res["mk"].map(_month_label)
    res["orders"] = res["orders"].astype(int)
    res["gross_sales"] = money.units_array(res["revenue_cents"].astype("int64"))
    return res[["month", "kind", "orders", "gross_sales"]]


def nps_trend(
    *,
    session: Session,
    as_of: date,
    months: int = 12,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """Monthly NPS (answers with a score, up to the end of D), by core.nps.nps_by_period.

    Columns: month ("YYYY-MM"), nps, nps_ci_low, nps_ci_high, nps_responses; months
    without answers are left out.
    """
    conds = customer_conditions(segment, region, owner)
    end_key = as_of.year * 12 + as_of.month - 1
    start_key = end_key - months + 1
    start = datetime(start_key // 12, start_key % 12 + 1, 1)
    end = day_start(as_of + timedelta(days=1))
    f = Feedback.__table__.c
    mk = _month_key(f.submitted_at)
    stmt = (
        select(mk.label("mk"), f.nps_score.label("score"), func.count().label("n"))
        .where(f.submitted_at >= start, f.submitted_at < end, f.nps_score.is_not(None))
        .group_by(mk, f.nps_score)
    )
    df = _read(session, filtered(stmt, f.customer_id, conds) if conds else stmt)
    cols = ["month", "nps", "nps_ci_low", "nps_ci_high", "nps_responses"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    s = df["score"]
    frame = pd.DataFrame({
        "submitted_at": pd.to_datetime({"year": df["mk"] // 12, "month": df["mk"] % 12 + 1, "day": 1}),
        "promoters": np.where(s >= nps.PROMOTER_MIN, df["n"], 0),
        "passives": np.where((s > nps.DETRACTOR_MAX) & (s < nps.PROMOTER_MIN), df["n"], 0),
        "detractors": np.where(s <= nps.DETRACTOR_MAX, df["n"], 0),
    })
    out = nps.nps_by_period(frame, "M")
    return pd.DataFrame({
        "month": out["period"].dt.strftime("%Y-%m"),
        "nps": out["nps"].astype(float),
        "nps_ci_low": out["ci_low"].astype(float),
        "nps_ci_high": out["ci_high"].astype(float),
        "nps_responses": out["responses"].astype(int),
    })


def offer_code_revenue(
    *,
    session: Session,
    as_of: date,
    horizon_days: int | None = None,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """Orders in (D - H, D] that redeemed an outreach offer code, by template and campaign.

    Columns: template, campaign_id, orders, revenue. An order counts when its offer code is
    the code an outreach carried (codes are unique and single-use).
    """
    horizon_days = default_horizon(horizon_days)
    conds = customer_conditions(segment, region, owner)
    start, end = window_bounds(as_of, horizon_days)
    o = Order.__table__.c
    r = Outreach.__table__.c
    stmt = filtered(
        select(r.template, r.campaign_id, func.count().label("orders"), func.sum(o.total_cents).label("revenue_cents"))
        .select_from(Order.__table__.join(Outreach.__table__, o.offer_code == r.offer_code))
        .where(o.ordered_at >= start, o.ordered_at < end, o.offer_code.is_not(None))
        .group_by(r.template, r.campaign_id),
        o.customer_id,
        conds,
    )
    df = _read(session, stmt)
    if df.empty:
        return pd.DataFrame(columns=["template", "campaign_id", "orders", "revenue"])
    df["revenue"] = money.units_array(df.pop("revenue_cents").astype("int64"))
    return df.sort_values("revenue", ascending=False).reset_index(drop=True)
