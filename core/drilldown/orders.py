"""The customers behind the Overview's counts and customer charts: the KPI tiles (customers, active,
orders, churned), revenue by month, revenue by kind of customer, cohort cells, health-band bars and
campaign outcomes, by the definitions of core.kpis and core.outreach."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from core import kpis, money
from core.config import resolve_horizon
from core.drilldown.people import _add_months, _month_start, _people, _roles
from core.health import HEALTH_DECIMALS, churn_percent
from core.roles import require_personal_data
from db.models import Customer, Order, ScoreSnapshot

KPI_DRILLS: dict[str, str] = {
    "customers": "Customers (signed up or ordered by the as-of date)",
    "active_customers": "Active customers (ordered in the period)",
    "orders": "Orders in the period (the customers who placed them)",
    "churned": "Customers who churned (active in the period before, not in this one)",
    "retained": "Customers retained (active in the period before and in this one)",
    "repeat": "Repeat buyers (two or more orders by the as-of date)",
}

KPI_CUSTOMER_COLUMNS = ["customer_id", "external_id", "name", "owner", "segment", "region",
                        "orders_in_period", "orders_previous_period"]


def _kpi_mask(facts: pd.DataFrame, kpi: str) -> pd.Series:
    """Which customers a KPI count counts, by core.kpis' definitions: active = an order in
    (D-H, D]; orders = the customers with an order in (D-H, D] (their order counts add up to the
    orders KPI); churned = an order in (D-2H, D-H] but none in (D-H, D] (prev_active - retained,
    the numerator of the churn rate); retained = an order in both (the retention rate's numerator);
    repeat = two or more orders up to D (the repeat purchase rate's numerator; its denominator is
    every customer with an order up to D); customers = signed up or ordered on or before D."""
    cur, prev = facts["n_cur"] > 0, facts["n_prev"] > 0
    if kpi == "customers":
        return facts["known"]
    if kpi == "retained":
        return prev & cur
    if kpi == "repeat":
        return facts["n_all"] >= 2
    if kpi in ("active_customers", "orders"):
        return cur
    if kpi == "churned":
        return prev & ~cur
    raise kpis.KpiError(f"no drill-down for {kpi!r}: choose one of {', '.join(KPI_DRILLS)}")


def _kpi_facts(*, session: Session, kpi: str, as_of: date, horizon_days: int, segment: str | None,
               region: str | None, owner: str | None) -> pd.DataFrame:
    facts = kpis.filtered_customer_facts(session=session, as_of=as_of, horizon_days=horizon_days,
                                         segment=segment, region=region, owner=owner)
    return facts[_kpi_mask(facts, kpi)]


def kpi_customers(
    *,
    session: Session,
    roles: Iterable[Any],
    kpi: str,
    as_of: date,
    horizon_days: int | None = None,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """The customers behind one Overview count (a key of KPI_DRILLS) for D = `as_of` and the
    horizon H in days, under the Overview's segment/region/owner filter.

    Columns (KPI_CUSTOMER_COLUMNS): customer_id (Customer.id), external_id, name, owner,
    segment, region, orders_in_period (orders in (D-H, D]), orders_previous_period (orders in
    (D-2H, D-H]); most orders in the period first, then external id. The row count is the
    customers, active-customers or churned count, or the numerator of the retention rate
    ("retained") or of the repeat purchase rate ("repeat"); for "orders" the orders_in_period
    column adds up to the orders KPI.

    Raises core.roles.NotAllowed for a role that may not see personal data (exec: use
    kpi_breakdown) and core.kpis.KpiError for an unknown `kpi` or a horizon under a day.
    """
    horizon_days = resolve_horizon(horizon_days)
    require_personal_data(_roles(roles))
    f = _kpi_facts(session=session, kpi=kpi, as_of=as_of, horizon_days=horizon_days, segment=segment,
                   region=region, owner=owner)
    people = _people(session, [int(i) for i in f.index])
    counts = f[["n_cur", "n_prev"]].rename(columns={"n_cur": "orders_in_period",
                                                    "n_prev": "orders_previous_period"})
    out = people.join(counts, on="customer_id")
    out = out.sort_values(["orders_in_period", "orders_previous_period", "external_id"],
                          ascending=[False, False, True], kind="stable")
    return out.reindex(columns=KPI_CUSTOMER_COLUMNS).reset_index(drop=True)


def kpi_breakdown(
    *,
    session: Session,
    kpi: str,
    as_of: date,
    horizon_days: int | None = None,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """The customers behind one Overview count as aggregates only (any role): columns segment,
    region ("(none)" where missing), customers, orders_in_period; most customers first.
    The customers column adds up to the count. Raises core.kpis.KpiError for an unknown `kpi`."""
    horizon_days = resolve_horizon(horizon_days)
    f = _kpi_facts(session=session, kpi=kpi, as_of=as_of, horizon_days=horizon_days, segment=segment,
                   region=region, owner=owner)
    c = Customer.__table__.c
    where = kpis.customer_conditions(segment, region, owner)
    seg = pd.read_sql(select(c.id, c.segment, c.region).where(*where), session.connection()).set_index("id")
    rows = seg.reindex(f.index).fillna({"segment": "(none)", "region": "(none)"})
    rows = rows.assign(customers=1, orders_in_period=f["n_cur"].to_numpy())
    out = rows.groupby(["segment", "region"], as_index=False)[["customers", "orders_in_period"]].sum()
    out[["customers", "orders_in_period"]] = out[["customers", "orders_in_period"]].astype("int64")
    return out.sort_values(["customers", "segment", "region"], ascending=[False, True, True]).reset_index(
        drop=True)


def _month_bounds(month: str, as_of: date) -> tuple[datetime, datetime]:
    """[start, end) of calendar month "YYYY-MM" (core.kpis.monthly_sales' month labels), cut at
    the end of D. Raises KpiError for a label that is not a month."""
    try:
        start = datetime.strptime(month, "%Y-%m")
    except (TypeError, ValueError):
        raise kpis.KpiError(f"{month!r} is not a month: write it as YYYY-MM, e.g. 2026-03") from None
    nxt = datetime(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, min(nxt, kpis.day_start(as_of + timedelta(days=1)))


def _month_orders(session: Session, month: str, as_of: date, segment: str | None, region: str | None,
                  owner: str | None) -> pd.DataFrame:
    """Per customer: orders and order totals (gross_sales) in the month, by the rules of
    core.kpis.monthly_sales (every order row, up to the end of D)."""
    start, end = _month_bounds(month, as_of)
    o = Order.__table__.c
    stmt = (select(o.customer_id, func.count().label("orders"), func.sum(o.total_cents).label("gross_sales"))
            .where(o.ordered_at >= start, o.ordered_at < end).group_by(o.customer_id))
    return pd.read_sql(kpis.filtered(stmt, o.customer_id, kpis.customer_conditions(segment, region, owner)),
                       session.connection())


def month_customers(*, session: Session, roles: Iterable[Any], month: str, as_of: date,
                    segment: str | None = None, region: str | None = None,
                    owner: str | None = None) -> pd.DataFrame:
    """The customers behind one bar of the Overview's "Revenue by calendar month" (month
    "YYYY-MM", up to the end of D), under the segment/region/owner filter.

    Columns: customer_id, external_id, name, owner, segment, region, orders (in the month),
    gross_sales (their order totals in the month, to the cent); most orders first. The rows
    are the bar's "customers", the orders add up to its "orders". Raises core.roles.NotAllowed
    for a role that may not see personal data (exec: month_breakdown) and core.kpis.KpiError
    for a month label that is not YYYY-MM."""
    require_personal_data(_roles(roles))
    per = _month_orders(session, month, as_of, segment, region, owner)
    people = _people(session, [int(i) for i in per["customer_id"]])
    out = people.merge(per, on="customer_id")
    out["orders"] = out["orders"].astype("int64")
    out["gross_sales"] = money.units_array(out["gross_sales"].astype("int64"))  # from whole cents
    out = out.sort_values(["orders", "gross_sales", "external_id"], ascending=[False, False, True], kind="stable")
    return out.reindex(columns=["customer_id", "external_id", "name", "owner", "segment", "region", "orders",
                                "gross_sales"]).reset_index(drop=True)


def month_breakdown(*, session: Session, month: str, as_of: date, segment: str | None = None,
                    region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The customers behind one month's bar as aggregates only (any role): columns segment,
    region ("(none)" where missing), customers, orders; most customers first. Raises
    core.kpis.KpiError for a month label that is not YYYY-MM."""
    per = _month_orders(session, month, as_of, segment, region, owner)
    c = Customer.__table__.c
    seg = pd.read_sql(select(c.id, c.segment, c.region), session.connection()).set_index("id")
    rows = per.join(seg, on="customer_id").fillna({"segment": "(none)", "region": "(none)"})
    out = rows.assign(customers=1).groupby(["segment", "region"], as_index=False)[["customers", "orders"]].sum()
    out[["customers", "orders"]] = out[["customers", "orders"]].astype("int64")
    return out.sort_values(["customers", "segment", "region"], ascending=[False, True, True]).reset_index(
        drop=True).reindex(columns=["segment", "region", "customers", "orders"])


CAMPAIGN_GROUPS = ("contacted", "holdout")


def campaign_customers(*, session: Session, campaign_id: int) -> pd.DataFrame:
    """The customers behind one campaign of the Overview's "Uplift per campaign": its contacted and
    held-out customers with their outcome, by core.outreach.outreach_outcomes (the rows
    core.outreach.campaign_results counts, so they add up to its figures).

    Columns: customer_id (Customer.id), group ("contacted" or "holdout"), triggered_at,
    inactive (no order in the activity horizon before the outreach), reactivated (inactive and an
    order within 30 days after), revenue_after (order totals in those days, money); contacted first,
    reactivated first, then by customer id. Show with :func:`with_people` (personal data) or count
    with :func:`breakdown` (exec; add `contacted`, `held_out` etc. as 0/1 columns first)."""
    from core.outreach import outreach_outcomes

    out = outreach_outcomes(session=session, campaign_id=campaign_id)
    out = out[out["group"].isin(CAMPAIGN_GROUPS)]
    out = out.sort_values(["group", "reactivated", "customer_id"], ascending=[True, False, True], kind="stable")
    return out[["customer_id", "group", "triggered_at", "inactive", "reactivated", "revenue_after"]].reset_index(
        drop=True)


MIX_KINDS = ("new", "returning", "reactivated")


def mix_orders(*, session: Session, month: str, kind: str, as_of: date, horizon_days: int | None = None,
               segment: str | None = None, region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The orders behind one bar of the Overview's "Revenue by kind of customer"
    (core.kpis.revenue_split): orders in calendar month `month` ("YYYY-MM", up to the end of D)
    of kind `kind`: "new" (in the month of the customer's first order), "reactivated" (else, the
    customer's previous order H = `horizon_days` days or more before), "returning" (every other).

    Columns: customer_id (Customer.id), orders, revenue (their order totals of that kind in the
    month, to the cent); one row per customer. orders and revenue add up to the bar's. Raises
    core.kpis.KpiError for a month that is not YYYY-MM and ValueError for another kind."""
    horizon_days = resolve_horizon(horizon_days)
    if kind not in MIX_KINDS:
        raise ValueError(f"no kind of customer {kind!r}: choose one of {', '.join(MIX_KINDS)}")
    start = _month_start(month)
    end = min(_add_months(start, 1), kpis.day_start(as_of + timedelta(days=1)))
    o = Order.__table__.c
    conds = kpis.customer_conditions(segment, region, owner)
    buyers = kpis.filtered(select(o.customer_id).where(o.ordered_at >= start, o.ordered_at < end),
                            o.customer_id, conds)
    hist = pd.read_sql(select(o.id, o.customer_id, o.ordered_at, o.total_cents)
                       .where(o.customer_id.in_(buyers), o.ordered_at < end), session.connection())
    cols = ["customer_id", "orders", "revenue"]
    if hist.empty:
        return pd.DataFrame(columns=cols)
    hist["ordered_at"] = pd.to_datetime(hist["ordered_at"], format="ISO8601")
    hist = hist.sort_values(["customer_id", "ordered_at", "id"], kind="stable")
    first = hist.groupby("customer_id")["ordered_at"].transform("min")
    prev = hist.groupby("customer_id")["ordered_at"].shift(1)
    gap_days = (hist["ordered_at"] - prev).dt.total_seconds() / 86400.0
    is_new = (first.dt.year == start.year) & (first.dt.month == start.month)
    kinds = np.where(is_new, "new", np.where(prev.notna() & (gap_days >= horizon_days), "reactivated",
                                             "returning"))
    picked = hist[(hist["ordered_at"] >= start) & (kinds == kind)]
    out = picked.groupby("customer_id", as_index=False).agg(orders=("id", "size"),
                                                            revenue=("total_cents", "sum"))
    out["orders"] = out["orders"].astype("int64")
    out["revenue"] = money.units_array(out["revenue"].astype("int64"))  # from whole cents
    return out[cols]


def cohort_customers(*, session: Session, cohort: str, offset: int, as_of: date, segment: str | None = None,
                     region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The customers behind one cell of the Overview's cohort heatmap (core.kpis.cohort_matrix):
    customers whose first order (up to the end of D) fell in month `cohort` ("YYYY-MM") and who
    ordered in the month `offset` months later (0: the cohort itself).

    Columns: customer_id (Customer.id), first_order (timestamp), orders (in that month); most
    orders first. The row count is the cell's share times the cohort size. Raises
    core.kpis.KpiError for a month that is not YYYY-MM or a negative offset."""
    if int(offset) < 0:
        raise kpis.KpiError("months after the first order start at 0")
    start = _month_start(cohort)
    end = kpis.day_start(as_of + timedelta(days=1))
    lo, hi = _add_months(start, int(offset)), min(_add_months(start, int(offset) + 1), end)
    o = Order.__table__.c
    conds = kpis.customer_conditions(segment, region, owner)
    firsts = (kpis.filtered(select(o.customer_id, func.min(o.ordered_at).label("first_order"))
                             .where(o.ordered_at < end), o.customer_id, conds)
              .group_by(o.customer_id)
              .having(func.min(o.ordered_at) >= start, func.min(o.ordered_at) < _add_months(start, 1))).subquery()
    stmt = (select(firsts.c.customer_id, firsts.c.first_order, func.count(o.id).label("orders"))
            .join(Order.__table__, o.customer_id == firsts.c.customer_id)
            .where(o.ordered_at >= lo, o.ordered_at < hi)
            .group_by(firsts.c.customer_id, firsts.c.first_order))
    out = pd.read_sql(stmt, session.connection())
    out["orders"] = out["orders"].astype("int64")
    out["first_order"] = pd.to_datetime(out["first_order"], format="ISO8601")
    return out.sort_values(["orders", "customer_id"], ascending=[False, True]).reset_index(drop=True)


def band_customers(*, session: Session, run: date, band: str, segment: str | None = None,
                   region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The accounts behind one bar of the Overview's "Accounts per health band at each scoring
    run" (core.kpis.band_mix): customers whose score snapshot of date `run` is in `band`
    ("healthy", "watch" or "at_risk", core.kpis.BANDS), under the segment/region/owner filter.

    Columns: customer_id (Customer.id), health_score (0-100, whole numbers), churn_percent
    (churn probability in %, one decimal); largest churn risk first. The row count is the bar's
    accounts. Raises ValueError for a band not in core.kpis.BANDS."""
    if band not in kpis.BANDS:
        raise ValueError(f"no health band {band!r}: choose one of {', '.join(kpis.BANDS)}")
    s = ScoreSnapshot.__table__.c
    stmt = kpis.filtered(select(s.customer_id, s.health_score, s.churn_probability)
                          .where(s.as_of == run, s.band == band),
                          s.customer_id, kpis.customer_conditions(segment, region, owner))
    out = pd.read_sql(stmt, session.connection())
    out["health_score"] = out["health_score"].astype(float).round(HEALTH_DECIMALS)
    out["churn_percent"] = churn_percent(out["churn_probability"])
    out = out.sort_values(["churn_percent", "customer_id"], ascending=[False, True], kind="stable")
    return out[["customer_id", "health_score", "churn_percent"]].reset_index(drop=True)
