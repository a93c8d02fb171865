"""The loyalty members behind the programme's figures: the Loyalty screen's five programme tiles
(outstanding points, liability, redemption rate, breakage, enrolment) and its "Outstanding points
and liability" line, and the Overview's three loyalty tiles (under the Overview's customer
filter), by core.loyalty's ledger (core.loyalty.ledger_summary, core.loyalty.point_flows).

Each row is one member with their own figures, so the rows add up to the tile: the balances to
the outstanding points (and liability = their sum x the point value, core.loyalty.points_value_cents),
redeemed / earned to the redemption rate, expired / earned to the breakage, the row count to the
members of the enrolment rate."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from core import kpis, money
from core.drilldown.people import _month_start, _roles, breakdown, with_people
from core.loyalty import ledger_state, ledger_summary, point_flows, points_value_cents
from core.roles import require_personal_data
from db.models import Customer

PROGRAMME_DRILLS: dict[str, str] = {
    "outstanding": "Outstanding points (the members holding them)",
    "liability": "Liability (the members holding the points)",
    "redemption": "Redemption rate (points earned and redeemed, per member)",
    "breakage": "Breakage (points earned and expired, per member)",
    "enrolment": "Enrolment (the members: any loyalty activity)",
}

MEMBER_COLUMNS = ["customer_id", "tier", "balance", "earned", "redeemed", "expired", "expiring_points"]


def _filter_ids(session: Session, segment: str | None, region: str | None, owner: str | None) -> set[int] | None:
    conds = kpis.customer_conditions(segment, region, owner)
    if not conds:
        return None
    c = Customer.__table__.c
    return {int(i) for i in session.execute(select(c.id).where(*conds)).scalars()}


def programme_members(*, session: Session, as_of: date, which: str, segment: str | None = None,
                      region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The members behind one programme figure (a key of PROGRAMME_DRILLS) at the end of `as_of`,
    under an optional segment/region/owner filter (the Overview's; the Loyalty screen has none).

    Columns (MEMBER_COLUMNS): customer_id (Customer.id), tier, balance, earned, redeemed, expired,
    expiring_points (points, all time up to `as_of`; expiring: in the next 30 days); largest
    balance first. Rows: "outstanding" and "liability": members with a balance other than 0 (the
    balances add up to the outstanding points; liability = that sum x the point value);
    "redemption": members who earned or redeemed (sum redeemed / sum earned = the rate);
    "breakage": members who earned or expired (sum expired / sum earned); "enrolment": every
    member (the row count is the enrolment's numerator). Aggregates, but per customer: show them
    with :func:`core.drilldown.with_people` or count them with :func:`programme_breakdown`.
    Raises ValueError for an unknown `which`."""
    b = ledger_summary(session=session, as_of=as_of).balances
    ids = _filter_ids(session, segment, region, owner)
    if ids is not None:
        b = b[b["customer_id"].isin(ids)]
    if which in ("outstanding", "liability"):
        b = b[b["balance"] != 0]
    elif which == "redemption":
        b = b[(b["earned"] > 0) | (b["redeemed"] > 0)]
    elif which == "breakage":
        b = b[(b["earned"] > 0) | (b["expired"] > 0)]
    elif which != "enrolment":
        raise ValueError(f"no programme drill-down {which!r}: choose one of {', '.join(PROGRAMME_DRILLS)}")
    out = b.reindex(columns=MEMBER_COLUMNS).copy()
    for col in MEMBER_COLUMNS[2:]:
        out[col] = out[col].fillna(0).astype("int64")
    out["tier"] = out["tier"].astype(object).where(out["tier"].notna(), None)
    return out.sort_values(["balance", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def programme_records(*, session: Session, roles: Iterable[Any] | None, as_of: date, which: str,
                      segment: str | None = None, region: str | None = None,
                      owner: str | None = None) -> pd.DataFrame:
    """:func:`programme_members` for a screen: with `roles` that may see personal data, the members
    with external_id, name, owner, segment and region in front (core.drilldown.with_people; raises
    core.roles.NotAllowed otherwise); with `roles` None, the aggregate-safe breakdown by segment and
    region: members, balance, earned, redeemed, expired (points; each column adds up to the
    figure's) and liability (currency units: each row's points x the point value, to the cent)."""
    rec = programme_members(session=session, as_of=as_of, which=which, segment=segment, region=region, owner=owner)
    if roles is not None:
        require_personal_data(_roles(roles))
        return with_people(session=session, roles=roles, records=rec)
    out = breakdown(session=session, records=rec, counts={
        "members": "customer_id", "balance": "sum:balance", "earned": "sum:earned", "redeemed": "sum:redeemed",
        "expired": "sum:expired"})
    out["liability"] = money.units_array([points_value_cents(int(p)) for p in out["balance"]])
    return out


def month_end_members(*, session: Session, as_of: date, month: str) -> pd.DataFrame:
    """The members behind one point of the Loyalty screen's "Outstanding points and liability (end
    of month)" (core.loyalty.summary_by_month at `as_of`): each member's points at the end of
    `month` ("YYYY-MM"), the running sum of their core.loyalty.point_flows up to that month (the
    chart's own rule: earned + adjusted - reversed - redeemed - expired).

    Columns: customer_id (Customer.id), balance (points); members with a balance other than 0,
    largest first. The balances add up to the point's outstanding points. Computes the ledger for
    `as_of` afresh (seconds at the reference size): for a click. Raises core.kpis.KpiError for a
    label that is not a month."""
    last = pd.Period(_month_start(month), "M")
    flows = point_flows(ledger_state(session=session, as_of=as_of))
    upto = flows[flows["month"] <= last]
    net = (upto["earned"] + upto["adjusted"] - upto["reversed"] - upto["redeemed"] - upto["expired"])
    per = net.groupby(upto["customer_id"]).sum().astype("int64")
    per = per[per != 0]
    out = pd.DataFrame({"customer_id": per.index.astype("int64"), "balance": per.to_numpy()})
    return out.sort_values(["balance", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
