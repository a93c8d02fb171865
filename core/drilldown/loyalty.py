"""The loyalty members behind the Loyalty screen's counts and bars (members per tier, points expiring,
the largest balances, earned/redeemed/expired by month), by core.loyalty's ledger. The member tables
with names come from core.loyalty.member_balances; this module adds their aggregate-only view."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from core.drilldown.people import _month_start
from core.loyalty import ledger_state, ledger_summary, member_flows
from db.models import Customer

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
