"""The customers behind the Overview's "Onboarding, reactivation, subscriptions and support" tiles,
by the definitions of core.kpis.retention_extras (and core.analytics.definitions for reactivation):
the new customers of the onboarding cohort, the lapsed customers, the support tickets of the
period and the customers per subscription state. One row per customer (per ticket for tickets), so
the rows add up to the tile's count and their flags to its numerator."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from sqlalchemy import ColumnElement, case, func, select
from sqlmodel import Session

from core import kpis
from core.analytics.definitions import inactive_window, reactivation_moment
from core.config import resolve_horizon
from db.models import Customer, Order, SupportTicket

ONBOARDING_DAYS = 60  # core.kpis.retention_extras' default: the days a new customer has to come back

EXTRA_DRILLS: dict[str, str] = {
    "onboarding": "2nd order in 60 days and days to 2nd order (the new customers of the cohort)",
    "lapsed": "Lapsed reactivated (the customers lapsed at the start, and who came back)",
    "tickets": "Tickets per 100 (the tickets opened in the period)",
    "paused": "Subs paused (the customers with a paused subscription)",
    "cancelled": "Subs cancelled (the customers with a cancelled subscription)",
}


def _onboarding(session: Session, as_of: date, horizon_days: int, segment: str | None, region: str | None,
                owner: str | None) -> pd.DataFrame:
    """Customers whose first order (up to the end of D) fell in (D - 60 - H, D - 60]: first_order,
    second_order (missing without one; ties in time by order id, as core.analytics ranks them),
    days_to_second (days, fractional), came_back (a second order within 60 days of the first: the
    numerator of "2nd order in 60 days"). Reads the cohort's orders only."""
    cohort_end = kpis.day_start(as_of + timedelta(days=1 - ONBOARDING_DAYS))
    cohort_start = cohort_end - timedelta(days=horizon_days)
    end = kpis.day_start(as_of + timedelta(days=1))
    o = Order.__table__.c
    first = func.min(o.ordered_at)
    cohort = (kpis.filtered(select(o.customer_id).where(o.ordered_at < end), o.customer_id,
                            kpis.customer_conditions(segment, region, owner))
              .group_by(o.customer_id).having(first >= cohort_start, first < cohort_end))
    rows = pd.read_sql(select(o.id, o.customer_id, o.ordered_at).where(o.ordered_at < end, o.customer_id.in_(cohort)),
                       session.connection())
    if rows.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype="int64"), "first_order": pd.Series(dtype="datetime64[ns]"),
                             "second_order": pd.Series(dtype="datetime64[ns]"),
                             "days_to_second": pd.Series(dtype=float), "came_back": pd.Series(dtype="int64")})
    rows["ordered_at"] = pd.to_datetime(rows["ordered_at"], format="ISO8601")
    rows = rows.sort_values(["customer_id", "ordered_at", "id"], kind="stable")
    rows["k"] = rows.groupby("customer_id").cumcount()
    firsts = rows[rows["k"] == 0].set_index("customer_id")["ordered_at"]
    seconds = rows[rows["k"] == 1].set_index("customer_id")["ordered_at"]
    out = pd.DataFrame({"customer_id": firsts.index.astype("int64"), "first_order": firsts.to_numpy()})
    out["second_order"] = seconds.reindex(out["customer_id"]).to_numpy()  # NaT without a second order
    out["days_to_second"] = (out["second_order"] - out["first_order"]).dt.total_seconds() / 86400.0
    out["came_back"] = (out["days_to_second"] <= ONBOARDING_DAYS).fillna(False).astype("int64")
    return out.sort_values(["came_back", "customer_id"], ascending=[False, True]).reset_index(drop=True)


def _lapsed(session: Session, as_of: date, horizon_days: int, segment: str | None, region: str | None,
            owner: str | None) -> pd.DataFrame:
    """Customers who ordered before t = reactivation_moment(D) but not in the H days up to t:
    last_order_before (their last order before t), reactivated (1: an order in [t, end of D]).
    One SQL aggregate per customer."""
    moment = reactivation_moment(as_of)
    lo, hi = inactive_window(moment, horizon_days)
    end = kpis.day_start(as_of + timedelta(days=1))
    o = Order.__table__.c

    def n(cond: ColumnElement) -> ColumnElement:
        return func.sum(case((cond, 1), else_=0))

    stmt = (kpis.filtered(select(o.customer_id, func.max(case((o.ordered_at < hi, o.ordered_at))).label(
                "last_order_before"), n(o.ordered_at >= hi).label("after")).where(o.ordered_at < end),
                          o.customer_id, kpis.customer_conditions(segment, region, owner))
            .group_by(o.customer_id)
            .having(n(o.ordered_at < hi) > 0, n((o.ordered_at >= lo) & (o.ordered_at < hi)) == 0))
    rows = pd.read_sql(stmt, session.connection())
    rows["last_order_before"] = pd.to_datetime(rows["last_order_before"], format="ISO8601")
    rows["reactivated"] = (rows.pop("after") > 0).astype("int64")
    rows["customer_id"] = rows["customer_id"].astype("int64")
    return rows.sort_values(["reactivated", "customer_id"], ascending=[False, True]).reset_index(drop=True)


def extra_records(*, session: Session, which: str, as_of: date, horizon_days: int | None = None,
                  segment: str | None = None, region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The records behind one tile of the Overview's "Onboarding, reactivation, subscriptions and
    support" (a key of EXTRA_DRILLS) at D = `as_of` with the horizon H = `horizon_days`, under the
    segment/region/owner filter, by core.kpis.retention_extras' definitions.

    Always a customer_id column (Customer.id). "onboarding": the cohort's new customers with
    first_order, second_order, days_to_second and came_back (0/1): rows = new_customers, the mean
    of came_back = "2nd order in 60 days", the median of days_to_second = "Days to 2nd order".
    "lapsed": last_order_before and reactivated (0/1): rows = lapsed customers, the mean of
    reactivated = "Lapsed reactivated". "tickets": one row per ticket opened in (D-H, D]
    (ticket, opened_at, topic, status): rows x 100 / active customers = "Tickets per 100".
    "paused", "cancelled": the customers in that subscription state now (subscription_status).
    No names: show with :func:`core.drilldown.with_people` or count with :func:`breakdown`.
    Raises ValueError for an unknown `which` and core.kpis.KpiError for a horizon under a day."""
    horizon_days = resolve_horizon(horizon_days)
    if which == "onboarding":
        return _onboarding(session, as_of, horizon_days, segment, region, owner)
    if which == "lapsed":
        return _lapsed(session, as_of, horizon_days, segment, region, owner)
    conds = kpis.customer_conditions(segment, region, owner)
    if which == "tickets":
        start, end = kpis.window_bounds(as_of, horizon_days)
        t = SupportTicket.__table__.c
        stmt = kpis.filtered(select(t.customer_id, t.external_id.label("ticket"), t.opened_at, t.topic, t.status)
                             .where(t.opened_at >= start, t.opened_at < end), t.customer_id, conds)
        return pd.read_sql(stmt.order_by(t.opened_at.desc(), t.id), session.connection())
    if which in ("paused", "cancelled"):
        c = Customer.__table__.c
        stmt = select(c.id.label("customer_id"), c.subscription_status).where(c.subscription_status == which, *conds)
        return pd.read_sql(stmt.order_by(c.id), session.connection())
    raise ValueError(f"no drill-down {which!r}: choose one of {', '.join(EXTRA_DRILLS)}")
