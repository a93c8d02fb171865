"""Drill-down: the records behind a count on the Overview, NPS and Loyalty screens.

(The Loyalty screen's member tables for managers come from core.loyalty.member_balances;
this module adds their aggregate-only view for execs.)

Each count has two readers: one with the records themselves (names, ids, comments: personal
data, so it raises core.roles.NotAllowed for a role that may not see it, e.g. exec) and one
with the same records as aggregates only (how many per segment and region, any role). Both
use the definitions of the count they open (core.kpis, core.nps, core.loyalty), so the rows
behind a count always add up to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session, col

from core import kpis, money
from core.health import CHURN_PERCENT_DECIMALS, HEALTH_DECIMALS
from core.loyalty import ledger_state, ledger_summary, member_flows
from core.nps import DETRACTOR_MAX, PROMOTER_MIN
from core.roles import parse_roles, require_personal_data
from db.models import Customer, Feedback, Order, ScoreSnapshot

# ---------------------------------------------------------------- Overview KPI counts

# The Overview counts that open the customers behind them, with the words the screen uses.
KPI_DRILLS: dict[str, str] = {
    "customers": "Customers (signed up or ordered by the as-of date)",
    "active_customers": "Active customers (ordered in the period)",
    "orders": "Orders in the period (the customers who placed them)",
    "churned": "Customers who churned (active in the period before, not in this one)",
}

KPI_CUSTOMER_COLUMNS = ["customer_id", "external_id", "name", "owner", "segment", "region",
                        "orders_in_period", "orders_previous_period"]


def _roles(roles: Iterable[Any]) -> frozenset:
    return parse_roles([getattr(r, "value", r) for r in roles])


def _kpi_mask(facts: pd.DataFrame, kpi: str) -> pd.Series:
    """Which customers a KPI count counts, by core.kpis' definitions: active = an order in
    (D-H, D]; orders = the customers with an order in (D-H, D] (their order counts add up to the
    orders KPI); churned = an order in (D-2H, D-H] but none in (D-H, D] (prev_active - retained,
    the numerator of the churn rate); customers = signed up or ordered on or before D."""
    cur, prev = facts["n_cur"] > 0, facts["n_prev"] > 0
    if kpi == "customers":
        return facts["known"]
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


def _people(session: Session, ids: list[int]) -> pd.DataFrame:
    c = Customer.__table__.c
    if not ids:
        return pd.DataFrame(columns=["customer_id", "external_id", "name", "owner", "segment", "region"])
    frames = [pd.read_sql(select(c.id.label("customer_id"), c.external_id, c.name, c.owner, c.segment, c.region)
                          .where(c.id.in_(ids[i:i + 5000])), session.connection())
              for i in range(0, len(ids), 5000)]
    return pd.concat(frames, ignore_index=True)


def kpi_customers(
    *,
    session: Session,
    roles: Iterable[Any],
    kpi: str,
    as_of: date,
    horizon_days: int = 90,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """The customers behind one Overview count (a key of KPI_DRILLS) for D = `as_of` and the
    horizon H in days, under the Overview's segment/region/owner filter.

    Columns (KPI_CUSTOMER_COLUMNS): customer_id (Customer.id), external_id, name, owner,
    segment, region, orders_in_period (orders in (D-H, D]), orders_previous_period (orders in
    (D-2H, D-H]); most orders in the period first, then external id. The row count is the
    customers, active-customers or churned count; for "orders" the orders_in_period column adds up to
    the orders KPI.

    Raises core.roles.NotAllowed for a role that may not see personal data (exec: use
    kpi_breakdown) and core.kpis.KpiError for an unknown `kpi` or a horizon under a day.
    """
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
    horizon_days: int = 90,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """The customers behind one Overview count as aggregates only (any role): columns segment,
    region ("(none)" where missing), customers, orders_in_period; most customers first.
    The customers column adds up to the count. Raises core.kpis.KpiError for an unknown `kpi`."""
    f = _kpi_facts(session=session, kpi=kpi, as_of=as_of, horizon_days=horizon_days, segment=segment,
                   region=region, owner=owner)
    c = Customer.__table__.c
    where = kpis._customer_conditions(segment, region, owner)
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
    return pd.read_sql(kpis._filtered(stmt, o.customer_id, kpis._customer_conditions(segment, region, owner)),
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


# ---------------------------------------------------------------- NPS groups

# The NPS groups of core.nps, by the scores they hold (inclusive).
NPS_GROUPS: dict[str, tuple[int, int]] = {
    "promoters": (PROMOTER_MIN, 10),
    "passives": (DETRACTOR_MAX + 1, PROMOTER_MIN - 1),
    "detractors": (0, DETRACTOR_MAX),
}

NPS_ANSWER_COLUMNS = ["answer_id", "customer_id", "customer", "score", "submitted_at", "channel", "comment"]


def _group_stmt(group: str | None, since: datetime, until: datetime, columns: list[Any]):  # noqa: ANN202
    """Answers with a score in [since, until], in one NPS group (None: every scored answer, 0-10)."""
    if group is not None and group not in NPS_GROUPS:
        raise ValueError(f"no NPS group {group!r}: choose one of {', '.join(NPS_GROUPS)}")
    low, high = (0, 10) if group is None else NPS_GROUPS[group]
    score = col(Feedback.nps_score)
    return (select(*columns).select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .where(score.is_not(None), score >= low, score <= high,
                   Feedback.submitted_at >= since, Feedback.submitted_at <= until))


def period_window(period_start: date | datetime, freq: str, since: datetime, until: datetime) -> tuple[datetime,
                                                                                                        datetime]:
    """[start, end] (both inclusive) of one bar of the NPS screen: the week from Monday ("W") or
    the calendar month ("M") starting `period_start`, as core.nps.nps_by_period groups them,
    clipped to the screen's window [since, until]. Raises ValueError for another `freq`."""
    if freq not in ("W", "M"):
        raise ValueError(f"freq must be 'W' or 'M', not {freq!r}")
    start = pd.Timestamp(period_start).normalize()
    nxt = start + (pd.DateOffset(weeks=1) if freq == "W" else pd.DateOffset(months=1))
    end = (nxt - pd.Timedelta(microseconds=1)).to_pydatetime()
    return max(start.to_pydatetime(), since), min(end, until)


def nps_answers(*, session: Session, roles: Iterable[Any], group: str | None, since: datetime,
                until: datetime) -> pd.DataFrame:
    """The answers behind the NPS screen's promoters, passives or detractors count of the window
    [since, until] (core.feedback.nps_window, the same bounds as core.feedback.nps_counts);
    `group` None: every answer with a score (0-10), the answers behind a point of the NPS trend
    (core.nps.nps_by_period's "responses" of that period, with `period_window`'s bounds).

    Columns (NPS_ANSWER_COLUMNS): answer_id (Feedback.id), customer_id (Customer.id or missing
    for an answer no customer matched), customer (external id), score (0-10), submitted_at,
    channel, comment (the customer's own words: plain text, never Markdown); newest first.

    Raises core.roles.NotAllowed for a role that may not read comments (exec: use
    nps_breakdown) and ValueError for a group not in NPS_GROUPS."""
    require_personal_data(_roles(roles))
    stmt = _group_stmt(group, since, until, [
        Feedback.id.label("answer_id"), Feedback.customer_id, Customer.external_id.label("customer"),
        Feedback.nps_score.label("score"), Feedback.submitted_at, Feedback.channel, Feedback.comment,
    ]).order_by(col(Feedback.submitted_at).desc(), col(Feedback.id).desc())
    out = pd.read_sql(stmt, session.connection())
    out["score"] = out["score"].astype("int64")
    out["customer_id"] = out["customer_id"].astype("Int64")
    return out.reindex(columns=NPS_ANSWER_COLUMNS)


def nps_breakdown(*, session: Session, group: str | None, since: datetime, until: datetime) -> pd.DataFrame:
    """The answers behind one NPS group count (`group` None: every scored answer, a point of the
    NPS trend) as aggregates only (any role): columns segment,
    region, channel ("(none)" where missing, e.g. an answer no customer matched), answers; most
    answers first. The answers column adds up to the count. Raises ValueError for an unknown
    group."""
    keys = [Customer.segment.label("segment"), Customer.region.label("region"), Feedback.channel.label("channel")]
    stmt = _group_stmt(group, since, until, [*keys, func.count().label("answers")]).group_by(*keys)
    out = pd.read_sql(stmt, session.connection())
    out[["segment", "region", "channel"]] = out[["segment", "region", "channel"]].fillna("(none)")
    out = out.groupby(["segment", "region", "channel"], as_index=False)["answers"].sum()
    out["answers"] = out["answers"].astype("int64")
    return out.sort_values(["answers", "segment", "region", "channel"],
                           ascending=[False, True, True, True]).reset_index(drop=True)


# ---------------------------------------------------------------- Loyalty members

TOP_BALANCES = 100  # "top balances": the members with the largest balances, this many

LOYALTY_DRILLS: dict[str, str] = {
    "members": "All members (the bars of Members per tier)",
    "expiring": "Members with points expiring in the next 30 days",
    "top": f"The {TOP_BALANCES} largest balances",
}


def _loyalty_rows(session: Session, as_of: date, which: str, tier: str | None = None) -> pd.DataFrame:
    """Members of core.loyalty's ledger behind a loyalty count, in one tier if `tier` is given:
    "members" = every member (core.loyalty.tier_mix counts these); "expiring" = expiring_points > 0;
    "top" = the TOP_BALANCES largest positive balances (ties by customer id)."""
    b = ledger_summary(session=session, as_of=as_of).balances
    if tier is not None:
        b = b[b["tier"] == tier]
    if which == "members":
        return b
    if which == "expiring":
        return b[b["expiring_points"] > 0]
    if which == "top":
        pos = b[b["balance"] > 0]
        return pos.sort_values(["balance", "customer_id"], ascending=[False, True], kind="stable").head(TOP_BALANCES)
    raise ValueError(f"no loyalty drill-down {which!r}: choose one of {', '.join(LOYALTY_DRILLS)}")


def loyalty_breakdown(*, session: Session, as_of: date, which: str, tier: str | None = None) -> pd.DataFrame:
    """The members behind a loyalty count (a key of LOYALTY_DRILLS; in one tier, a bar of
    Members per tier, if `tier` is given) as aggregates only (any role): columns segment,
    region ("(none)" where missing), tier, members, balance (points held), expiring_points
    (points expiring in the next 30 days); most members first. The members column adds up
    to the count. Raises ValueError for an unknown `which`."""
    rows = _loyalty_rows(session, as_of, which, tier)
    c = Customer.__table__.c
    cols = ["segment", "region", "tier", "members", "balance", "expiring_points"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    seg = pd.read_sql(select(c.id, c.segment, c.region), session.connection()).set_index("id")
    keyed = rows.join(seg, on="customer_id").fillna({"segment": "(none)", "region": "(none)"})
    keyed["tier"] = keyed["tier"].fillna("(none)").astype(str)
    out = keyed.assign(members=1).groupby(["segment", "region", "tier"], as_index=False)[
        ["members", "balance", "expiring_points"]].sum()
    out[["members", "balance", "expiring_points"]] = out[["members", "balance", "expiring_points"]].astype("int64")
    return out.sort_values(["members", "segment", "region", "tier"],
                           ascending=[False, True, True, True]).reset_index(drop=True)[cols]


def loyalty_flow_members(*, session: Session, as_of: date, month: str, kind: str) -> pd.DataFrame:
    """The members behind one bar of the Loyalty screen's "Earned, redeemed and expired by month"
    (core.loyalty.summary_by_month at `as_of`): those with points of `kind` ("earned", "redeemed"
    or "expired") in `month` ("YYYY-MM"), by core.loyalty.member_flows.

    Columns: customer_id (Customer.id), points (of that kind in that month); most points first.
    The points add up to the bar. Aggregates only, but per customer: show them with
    :func:`with_people` (personal data) or count them with :func:`breakdown` (exec). Computes the
    ledger for `as_of` afresh (seconds at the reference size): for a click, not for a page.
    Raises core.kpis.KpiError for a label that is not a month, core.loyalty.LoyaltyError for another kind."""
    start = _month_start(month)
    return member_flows(ledger_state(session=session, as_of=as_of), month=start.date(), kind=kind)


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


# ---------------------------------------------------------------- chart cells (Overview, NPS)

def breakdown(*, session: Session, records: pd.DataFrame, counts: dict[str, str]) -> pd.DataFrame:
    """Records behind a chart bar or cell as aggregates only (any role): one row per segment and
    region ("(none)" where missing) with `counts`' columns, e.g. {"customers": "customer_id"}
    counts the distinct values of a column, {"orders": "sum:orders"} sums one; most first.
    `records` must have a customer_id column (Customer.id; missing for an unmatched answer)."""
    c = Customer.__table__.c
    seg = pd.read_sql(select(c.id, c.segment, c.region), session.connection()).set_index("id")
    keyed = records.join(seg, on="customer_id") if len(records) else records.assign(segment=[], region=[])
    keyed = keyed.fillna({"segment": "(none)", "region": "(none)"})
    agg = {}
    for name, how in counts.items():
        agg[name] = (how[4:], "sum") if how.startswith("sum:") else (how, "size")
    out = keyed.groupby(["segment", "region"], as_index=False).agg(**agg) if len(keyed) else pd.DataFrame(
        columns=["segment", "region", *counts])
    for name in counts:
        out[name] = out[name].astype("int64")
    first = next(iter(counts))
    return out.sort_values([first, "segment", "region"], ascending=[False, True, True]).reset_index(drop=True)[
        ["segment", "region", *counts]]


def _month_start(label: str) -> datetime:
    try:
        return datetime.strptime(label, "%Y-%m")
    except (TypeError, ValueError):
        raise kpis.KpiError(f"{label!r} is not a month: write it as YYYY-MM, e.g. 2026-03") from None


def _add_months(start: datetime, n: int) -> datetime:
    k = start.year * 12 + start.month - 1 + n
    return datetime(k // 12, k % 12 + 1, 1)


MIX_KINDS = ("new", "returning", "reactivated")


def mix_orders(*, session: Session, month: str, kind: str, as_of: date, horizon_days: int = 90,
               segment: str | None = None, region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The orders behind one bar of the Overview's "Revenue by kind of customer"
    (core.kpis.revenue_split): orders in calendar month `month` ("YYYY-MM", up to the end of D)
    of kind `kind`: "new" (in the month of the customer's first order), "reactivated" (else, the
    customer's previous order H = `horizon_days` days or more before), "returning" (every other).

    Columns: customer_id (Customer.id), orders, revenue (their order totals of that kind in the
    month, to the cent); one row per customer. orders and revenue add up to the bar's. Raises
    core.kpis.KpiError for a month that is not YYYY-MM and ValueError for another kind."""
    if kind not in MIX_KINDS:
        raise ValueError(f"no kind of customer {kind!r}: choose one of {', '.join(MIX_KINDS)}")
    start = _month_start(month)
    end = min(_add_months(start, 1), kpis.day_start(as_of + timedelta(days=1)))
    o = Order.__table__.c
    conds = kpis._customer_conditions(segment, region, owner)
    buyers = kpis._filtered(select(o.customer_id).where(o.ordered_at >= start, o.ordered_at < end),
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
    conds = kpis._customer_conditions(segment, region, owner)
    firsts = (kpis._filtered(select(o.customer_id, func.min(o.ordered_at).label("first_order"))
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


def _month_answer_rows(session: Session, month: str, as_of: date, segment: str | None, region: str | None,
                       owner: str | None) -> pd.DataFrame:
    """Answers with a score submitted in calendar month `month` up to the end of D, under the
    filter (core.kpis.nps_trend's rows: with a filter, answers no customer matched drop out)."""
    start = _month_start(month)
    end = min(_add_months(start, 1), kpis.day_start(as_of + timedelta(days=1)))
    stmt = (select(Feedback.id.label("answer_id"), Feedback.customer_id, Customer.external_id.label("customer"),
                   Feedback.nps_score.label("score"), Feedback.submitted_at, Feedback.channel, Feedback.comment)
            .select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .where(col(Feedback.nps_score).is_not(None), Feedback.submitted_at >= start, Feedback.submitted_at < end)
            .order_by(col(Feedback.submitted_at).desc(), col(Feedback.id).desc()))
    conds = kpis._customer_conditions(segment, region, owner)
    rows = pd.read_sql(kpis._filtered(stmt, Feedback.customer_id, conds) if conds else stmt, session.connection())
    rows["score"] = rows["score"].astype("int64")
    rows["customer_id"] = rows["customer_id"].astype("Int64")
    return rows.reindex(columns=NPS_ANSWER_COLUMNS)


def month_answers(*, session: Session, roles: Iterable[Any], month: str, as_of: date, segment: str | None = None,
                  region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The answers behind one point of the Overview's "NPS by month" (core.kpis.nps_trend):
    answers with a score (0-10) submitted in calendar month `month` ("YYYY-MM") up to the end of
    D = `as_of`, under the segment/region/owner filter.

    Columns (NPS_ANSWER_COLUMNS); newest first; the row count is the point's answers. Raises
    core.roles.NotAllowed for a role that may not read comments (exec: month_answer_breakdown)
    and core.kpis.KpiError for a month that is not YYYY-MM."""
    require_personal_data(_roles(roles))
    return _month_answer_rows(session, month, as_of, segment, region, owner)


def _answers_by_segment_region_channel(session: Session, rows: pd.DataFrame) -> pd.DataFrame:
    """Answers (rows with answer_id, customer_id, channel) counted by segment, region and
    channel ("(none)" where missing), most first: the aggregate-safe view of any answer list."""
    if rows.empty:
        return pd.DataFrame(columns=["segment", "region", "channel", "answers"])
    c = Customer.__table__.c
    seg = pd.read_sql(select(c.id, c.segment, c.region), session.connection()).set_index("id")
    keyed = rows.join(seg, on="customer_id").fillna({"segment": "(none)", "region": "(none)"})
    keyed["channel"] = keyed["channel"].fillna("(none)")
    out = keyed.groupby(["segment", "region", "channel"], as_index=False).agg(answers=("answer_id", "size"))
    out["answers"] = out["answers"].astype("int64")
    return out.sort_values(["answers", "segment", "region", "channel"],
                           ascending=[False, True, True, True]).reset_index(drop=True)


def month_answer_breakdown(*, session: Session, month: str, as_of: date, segment: str | None = None,
                           region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The answers of one point of "NPS by month" as aggregates only (any role): segment, region,
    channel ("(none)" where missing), answers; most first; the answers add up to the point's.
    Raises core.kpis.KpiError for a month that is not YYYY-MM."""
    rows = _month_answer_rows(session, month, as_of, segment, region, owner)
    return _answers_by_segment_region_channel(session, rows)


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
    stmt = kpis._filtered(select(s.customer_id, s.health_score, s.churn_probability)
                          .where(s.as_of == run, s.band == band),
                          s.customer_id, kpis._customer_conditions(segment, region, owner))
    out = pd.read_sql(stmt, session.connection())
    out["health_score"] = out["health_score"].astype(float).round(HEALTH_DECIMALS)
    out["churn_percent"] = (out["churn_probability"].astype(float) * 100).round(CHURN_PERCENT_DECIMALS)
    out = out.sort_values(["churn_percent", "customer_id"], ascending=[False, True], kind="stable")
    return out[["customer_id", "health_score", "churn_percent"]].reset_index(drop=True)


def with_people(*, session: Session, roles: Iterable[Any], records: pd.DataFrame) -> pd.DataFrame:
    """`records` (with a customer_id column, Customer.id) with the customer's external_id, name,
    owner, segment and region in front: personal data, so core.roles.NotAllowed for a role that
    may not see it (exec: use :func:`breakdown`)."""
    require_personal_data(_roles(roles))
    people = _people(session, [int(i) for i in records["customer_id"].dropna()])
    rest = [c for c in records.columns if c != "customer_id"]
    return people.merge(records, on="customer_id", how="right")[list(people.columns) + rest]


def theme_answers(*, session: Session, roles: Iterable[Any], theme: str, month: str,
                  now: datetime) -> pd.DataFrame:
    """The detractor answers behind one cell of the NPS screen's "Detractor mentions per month"
    (core.feedback.detractor_themes): answers scored 0-6 submitted in calendar month `month`
    ("YYYY-MM", up to `now`) whose flag reasons name `theme`.

    Columns (NPS_ANSWER_COLUMNS); newest first; the row count is the cell's mentions. Raises
    core.roles.NotAllowed for a role that may not read comments (exec: theme_breakdown) and
    core.kpis.KpiError for a month that is not YYYY-MM."""
    require_personal_data(_roles(roles))
    return _theme_rows(session, theme, month, now).reindex(columns=NPS_ANSWER_COLUMNS)


def theme_breakdown(*, session: Session, theme: str, month: str, now: datetime) -> pd.DataFrame:
    """The answers of one theme cell as aggregates only (any role): segment, region, channel
    ("(none)" where missing), answers; most first; the answers add up to the cell."""
    rows = _theme_rows(session, theme, month, now)
    return _answers_by_segment_region_channel(session, rows)


def _theme_rows(session: Session, theme: str, month: str, now: datetime) -> pd.DataFrame:
    from core.sentiment import parse_mentions

    start = _month_start(month)
    end = _add_months(start, 1)
    score = col(Feedback.nps_score)
    stmt = (select(Feedback.id.label("answer_id"), Feedback.customer_id, Customer.external_id.label("customer"),
                   Feedback.nps_score.label("score"), Feedback.submitted_at, Feedback.channel, Feedback.comment,
                   Feedback.flag_reasons)
            .select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .where(score.is_not(None), score <= DETRACTOR_MAX, Feedback.submitted_at >= start,
                   Feedback.submitted_at < end, Feedback.submitted_at <= now,
                   col(Feedback.flag_reasons).contains("mentions: "))
            .order_by(col(Feedback.submitted_at).desc(), col(Feedback.id).desc()))
    rows = pd.read_sql(stmt, session.connection())
    named = [theme in (parse_mentions(r) or []) for r in rows["flag_reasons"]]
    rows = rows[pd.Series(named, index=rows.index, dtype=bool)].drop(columns=["flag_reasons"])
    rows["score"] = rows["score"].astype("int64")
    rows["customer_id"] = rows["customer_id"].astype("Int64")
    return rows.reset_index(drop=True)
