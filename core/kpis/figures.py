"""The KPI figures at a date D: the flat KPI dict (compute_kpis), the KPI table against the
previous period (compare_kpis) and the onboarding, reactivation, subscription and support
numbers (retention_extras), by design.md's definitions."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from core import loyalty, money, nps
from core.analytics import orders as analytics_orders
from core.analytics import source
from core.analytics.orders import Filter
from core.kpis.activity import engine_with_activity, onboarding_cohort, order_history, order_periods
from core.kpis.definitions import (
    KPI_INFO,
    KPI_KEYS,
    _customer_ids,
    _engine,
    _money,
    _rate,
    customer_conditions,
    day_start,
    default_horizon,
    window_bounds,
)
from core.readcache import cached
from db.models import Customer, LoyaltyEntry


@cached(tables=("customer", "orders", "refund"))
def customer_facts(*, session: Session, as_of: date, horizon_days: int) -> pd.DataFrame:
    """Every customer's order counts around D, from the order activity at D (core.kpis.activity).

    Indexed by customer id, one row per customer in the store: known (signed up or ordered
    on or before D), n_all (orders up to D), n_cur (in (D-H, D]), n_prev (in (D-2H, D-H]),
    n_before (before D-2H), revenue_cur_cents (order totals in (D-H, D], gross) and
    refunds_cur_cents (money refunded in (D-H, D], by refund date; cancellations are not
    refunds), whole cents. Computed in DuckDB over the columnar reads (core.analytics).
    """
    start, end = window_bounds(as_of, horizon_days)
    facts = order_periods(session=session, as_of=as_of, horizon_days=horizon_days)
    with engine_with_activity(session, facts, "customer", "refund") as db:
        return analytics_orders.customer_facts(db, as_of_day=day_start(as_of), start=start, end=end)


def filtered_customer_facts(*, session: Session, as_of: date, horizon_days: int,
                            segment: str | None = None, region: str | None = None,
                            owner: str | None = None) -> pd.DataFrame:
    """:func:`customer_facts` for the customers a segment/region/owner filter selects (all
    when no filter is set); the rows the Overview's counts are made of, for the drill-downs."""
    facts = customer_facts(session=session, as_of=as_of, horizon_days=horizon_days)
    conds = customer_conditions(segment, region, owner)
    return facts[facts.index.isin(_customer_ids(session, conds))] if conds else facts


@cached(tables=("customer", "orders", "refund"))
def _order_aggregates(
    *, session: Session, as_of: date, horizon_days: int, back: int, flt: Filter
) -> dict[str, int]:
    """Counts of customers in the KPI period ``back`` periods before D's (0: (D-H, D], 1:
    (D-2H, D-H]), from the order activity at D (core.analytics.orders.period_aggregates):
    buyers, repeaters, active, prev_active, retained, customers, orders, gross_sales_cents and
    refunds_cents (whole cents). Kept (core.readcache): both periods of the KPI table and
    retention_extras share one pass over the orders.
    """
    start, end = window_bounds(as_of - timedelta(days=back * horizon_days), horizon_days)
    facts = order_periods(session=session, as_of=as_of, horizon_days=horizon_days)
    with engine_with_activity(session, facts, "customer", "refund") as db:
        return analytics_orders.period_aggregates(db, back=back, as_of_day=day_start(end - timedelta(days=1)),
                                                  refund_window=(start, end), flt=flt)


def _score_counts(*, session: Session, start: datetime, end: datetime, flt: Filter) -> pd.DataFrame:
    """Answers with a score submitted in [start, end), counted per score (at most 11 rows),
    in DuckDB over the columnar read of the answers (core.analytics.orders.score_counts).
    With a customer filter, answers from unknown customers are left out (no segment)."""
    with _engine(session, "customer", "feedback") as db:
        return analytics_orders.score_counts(db, start=start, end=end, flt=flt)


def _nps_block(*, session: Session, as_of: date, horizon_days: int, flt: Filter) -> dict[str, Any]:
    """NPS over (D - H, D] by core.nps.nps_summary, the one NPS definition."""
    start, end = window_bounds(as_of, horizon_days)
    counts = _score_counts(session=session, start=start, end=end, flt=flt)
    # The counts per score expand back to the answers' scores: the same input nps_summary
    # gets anywhere else, without reading every answer.
    scores = pd.Series(np.repeat(counts["score"].to_numpy(int), counts["n"].to_numpy(int)))
    summary = nps.nps_summary(scores)
    return {
        "nps": summary["nps"],
        "nps_ci_low": summary["ci_low"],
        "nps_ci_high": summary["ci_high"],
        "nps_responses": int(summary["responses"] or 0),
    }


def _loyalty_block(*, session: Session, as_of: date, conds: list[ColumnElement]) -> dict[str, Any]:
    """Outstanding points, liability and redemption rate from core.loyalty's own definitions.

    The members' totals of core.loyalty (the same sums as its balances), restricted to the
    filtered customers when there is a filter, through the same `kpis_from_state` that
    `loyalty_kpis` uses.
    """
    none = {"loyalty_outstanding_points": None, "loyalty_liability": None, "redemption_rate": None}
    le = LoyaltyEntry.__table__.c
    end = day_start(as_of + timedelta(days=1))
    if not session.execute(select(le.id).where(le.occurred_at < end).limit(1)).first():
        return none  # no ledger yet: no data, not zero
    # The members' totals only (core.loyalty.ledger_totals): no tiers, expiry dates or monthly flows.
    balances = loyalty.ledger_totals(session=session, as_of=as_of)
    if conds:
        ids = _customer_ids(session, conds)
        balances = balances[balances["customer_id"].isin(ids)]
    state = loyalty.LedgerSummary(as_of=as_of, balances=balances, monthly=pd.DataFrame(), customers=0)
    lk = loyalty.kpis_from_state(state, customers=0)
    if lk["members"] == 0:
        return none
    return {
        "loyalty_outstanding_points": int(lk["outstanding_points"]),
        "loyalty_liability": _money(lk["liability_cents"]),
        "redemption_rate": lk["redemption_rate"],
    }


def compute_kpis(
    *,
    session: Session,
    as_of: date,
    horizon_days: int | None = None,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """The KPIs of design.md at date D, for all customers or one segment/region/owner.

    Returns a flat dict with exactly `KPI_KEYS`: rates as fractions 0-1, NPS -100..100,
    money in currency units exact to the cent (summed in whole cents; core.money), None where
    there is no data to compute from. Orders are real orders only; revenue = gross_sales -
    refunds; average order value = gross_sales / orders rounded to the cent half up (37.04 /
    3 -> 12.35; see :data:`REFUNDS_RULE`). Raises KpiError for a horizon under 1 day.
    """
    return period_kpis(session=session, as_of=as_of, horizon_days=horizon_days, back=0, segment=segment,
                       region=region, owner=owner)


@cached(tables=("customer", "orders", "refund", "feedback", "loyalty_entry"))
def period_kpis(
    *,
    session: Session,
    as_of: date,
    horizon_days: int | None = None,
    back: int = 0,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """:func:`compute_kpis` at D - back * H (``back`` 0 or 1: the KPI table's current and
    previous period), its order figures read from the order activity at D
    (core.kpis.activity), so that both periods of the table cost one pass over the orders.
    The same values as ``compute_kpis(as_of=D - back * H)``. Raises KeyError for another
    ``back`` and KpiError for a horizon under 1 day.
    """
    horizon_days = default_horizon(horizon_days)
    flt = Filter(segment, region, owner)
    anchor, as_of = as_of, as_of - timedelta(days=back * horizon_days)
    # The tables this reads, started two at a time from cold (core.analytics.source), largest
    # first; the loyalty ledger is computed while the orders are still being read.
    # The ledger's entries only when its normalised frame is not kept already (it lets the raw
    # read go: core.loyalty.normalised_ledger).
    ledger = () if loyalty.ledger_kept(session=session) else ("loyalty_entry",)
    source.prefetch(session, ("orders", *ledger, "feedback", "customer", "refund"))
    conds = customer_conditions(segment, region, owner)
    loyalty_part = _loyalty_block(session=session, as_of=as_of, conds=conds)
    nps_part = _nps_block(session=session, as_of=as_of, horizon_days=horizon_days, flt=flt)
    agg = _order_aggregates(session=session, as_of=anchor, horizon_days=horizon_days, back=back, flt=flt)
    n_orders = agg["orders"]
    gross, refunds = agg["gross_sales_cents"], agg["refunds_cents"]
    retention = _rate(agg["retained"], agg["prev_active"])
    out: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "horizon_days": int(horizon_days),
        "customers": agg["customers"],
        "active_customers": agg["active"],
        "orders": n_orders,
        "revenue": _money(gross - refunds),
        "gross_sales": _money(gross),
        "refunds": _money(refunds),
        "average_order_value": _money(money.divide(gross, n_orders)) if n_orders else None,
        "repeat_purchase_rate": _rate(agg["repeaters"], agg["buyers"]),
        "retention_rate": retention,
        "churn_rate": None if retention is None else 1.0 - retention,
    }
    out.update(nps_part)
    out.update(loyalty_part)
    return {k: out[k] for k in KPI_KEYS}


def compare_kpis(
    *,
    session: Session,
    as_of: date,
    horizon_days: int | None = None,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """The KPI table: each KPI now (at D), in the previous period (at D - H) and the change.

    Columns: key, kpi, definition, kind, current, previous, change (current - previous;
    for rates in fraction points, for NPS in NPS points), change_pct (relative, counts
    and money only).
    """
    horizon_days = default_horizon(horizon_days)
    kw = {"segment": segment, "region": region, "owner": owner, "horizon_days": horizon_days}
    cur = period_kpis(session=session, as_of=as_of, back=0, **kw)
    prev = period_kpis(session=session, as_of=as_of, back=1, **kw)
    rows = []
    for key, info in KPI_INFO.items():
        a, b = cur[key], prev[key]
        change = None if a is None or b is None else a - b
        if change is not None and info.kind == "money":
            change = _money(money.to_cents(a) - money.to_cents(b))
        pct = None
        if change is not None and info.kind in ("count", "money", "points") and b:
            pct = change / b
        rows.append(
            {
                "key": key,
                "kpi": info.label,
                "definition": info.definition.replace("H days", f"{horizon_days} days"),
                "kind": info.kind,
                "current": a,
                "previous": b,
                "change": change,
                "change_pct": pct,
            }
        )
    return pd.DataFrame(rows)


@cached(tables=("customer", "orders", "support_ticket"))
def retention_extras(
    *,
    session: Session,
    as_of: date,
    horizon_days: int | None = None,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
    onboarding_days: int = 60,
) -> dict[str, Any]:
    """Onboarding, reactivation, subscriptions and support load at D.

    - onboarding_second_order_rate: of the customers whose first order fell in
      (D - 60 - H, D - 60] (so each has had 60 days to come back), the share who placed
      a second order within 60 days of the first; onboarding_median_days: the median
      days from first to second order among those of them with a second order up to D.
    - reactivation (core.analytics.definitions, design.md's one definition): lapsed_customers
      ordered before t = D - 30 days but not in the H days up to t; reactivated_customers
      are those of them who ordered in the 30 days (t, D]; reactivation_rate = reactivated /
      lapsed (None without lapsed customers).
    - subscriptions_*: current subscription states of the filtered customers (the data
      keeps the present state only, not its history).
    - tickets_per_100_active: support tickets opened in (D - H, D] per 100 active customers.
    """
    horizon_days = default_horizon(horizon_days)
    conds = customer_conditions(segment, region, owner)
    flt = Filter(segment, region, owner)
    start, end = window_bounds(as_of, horizon_days)
    facts = order_history(session=session, as_of=as_of, horizon_days=horizon_days)
    with engine_with_activity(session, facts, "customer", "orders", "support_ticket") as db:
        lapsed, reactivated = analytics_orders.reactivation_counts(db, flt=flt)
        tickets = analytics_orders.ticket_count(db, start=start, end=end, flt=flt)
        out: dict[str, Any] = {
            "lapsed_customers": lapsed,
            "reactivated_customers": reactivated,
            "reactivation_rate": _rate(reactivated, lapsed),
        }
        out.update(_onboarding(db, as_of=as_of, horizon_days=horizon_days, flt=flt, days=onboarding_days))

    c = Customer.__table__.c
    subs = session.execute(
        select(c.subscription_status, func.count()).where(*conds).group_by(c.subscription_status)
    ).all()
    by_state = {str(s): int(n) for s, n in subs if s}
    subscribers = sum(by_state.values())
    out["subscriptions_active"] = by_state.get("active", 0)
    out["subscriptions_paused"] = by_state.get("paused", 0)
    out["subscriptions_cancelled"] = by_state.get("cancelled", 0)
    out["subscription_pause_rate"] = _rate(out["subscriptions_paused"], subscribers)
    out["subscription_cancel_rate"] = _rate(out["subscriptions_cancelled"], subscribers)
    out["tickets"] = tickets
    # The active customers last: the order history above is computed while the KPI table's
    # periods are (the Overview asks for both at once, on two threads).
    agg = _order_aggregates(session=session, as_of=as_of, horizon_days=horizon_days, back=0, flt=flt)
    out["tickets_per_100_active"] = None if not agg["active"] else 100.0 * tickets / agg["active"]
    return out


def _onboarding(
    db: duckdb.DuckDBPyConnection, *, as_of: date, horizon_days: int, flt: Filter, days: int
) -> dict[str, Any]:
    cohort_start, cohort_end = onboarding_cohort(as_of, horizon_days, days)
    df = analytics_orders.onboarding_pairs(db, cohort_start=cohort_start, cohort_end=cohort_end,
                                           end=day_start(as_of + timedelta(days=1)), flt=flt)
    if df.empty:
        return {"new_customers": 0, "onboarding_second_order_rate": None, "onboarding_median_days": None}
    first = pd.to_datetime(df["first_at"])
    second = pd.to_datetime(df["second_at"])
    gap = (second - first).dt.total_seconds() / 86400.0
    within = gap.notna() & (gap <= days)
    median = gap.median()  # NaN gaps (no second order yet) are skipped
    return {
        "new_customers": len(df),
        "onboarding_second_order_rate": float(within.mean()),
        "onboarding_median_days": None if pd.isna(median) else float(median),
    }
