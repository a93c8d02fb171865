"""Balances and liability for the screens, the KPIs and exports: the cached ledger summary,
the loyalty KPIs, one customer's balance and ledger, the monthly summary, the Loyalty screen's
overview and the member list (personal data, for managers and admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, or_
from sqlmodel import Session, select

from core import money
from core.analytics import source
from core.loyalty.ledger import (
    _end_of,
    ledger_balances,
    ledger_state,
    monthly_as_of,
    read_entries,
    summary_by_month,
    tier_mix,
)
from core.loyalty.lots import compute_lots, customer_balances, expiry_events
from core.loyalty.rules import NEVER, cutoff_for, normalise_entries, parse_tiers, points_value_cents
from core.readcache import cached
from core.roles import Role, require_personal_data
from db.models import Customer, LoyaltyEntry, Order

SUMMARY_MONTHS = 24


@dataclass
class LedgerSummary:
    """What the screens, the KPIs and exports read of the ledger for one as-of date: every
    member's balances, the last 24 months' flows and the customer count for enrolment."""

    as_of: date
    balances: pd.DataFrame
    monthly: pd.DataFrame
    customers: int


@cached(tables=("customer", "orders", "loyalty_entry"))
def ledger_summary(*, session: Session, as_of: date) -> LedgerSummary:
    """What readers need of :func:`ledger_state` for one as-of date: every member's balances
    (:func:`ledger_balances`), the last 24 months' flows (:func:`monthly_as_of`) and the customer
    count for enrolment. The balances and flows are kept per member, in memory and on this
    machine's disk, by the ledger's data generation and the settings: an app restarted on
    unchanged data does not compute them again (6 s of the Loyalty screen's first load at
    1,000,000 customers), and after a small write to the ledger only the members written are
    (the screen waited for the whole ledger's history before: 5.2 to 6.6 s)."""
    return LedgerSummary(as_of=as_of, balances=ledger_balances(session=session, as_of=as_of),
                         monthly=monthly_as_of(session=session, as_of=as_of, months=SUMMARY_MONTHS),
                         customers=_customer_count(session=session, as_of=as_of))


def _ratio(num: float, den: float) -> float | None:
    return None if not den else float(num) / float(den)


def _customer_count(*, session: Session, as_of: date) -> int:
    """Customers who signed up, ordered or had loyalty activity on or before ``as_of``."""
    end = _end_of(as_of)
    signed_up = select(func.count()).select_from(Customer).where(Customer.signup_date <= as_of)
    # Only the few without a signup date by then need the (indexed) look at their history.
    ordered = select(Order.id).where(Order.customer_id == Customer.id, Order.ordered_at < end).exists()
    loyal = select(LoyaltyEntry.id).where(LoyaltyEntry.customer_id == Customer.id,
                                          LoyaltyEntry.occurred_at < end).exists()
    others = select(func.count()).select_from(Customer).where(
        or_(Customer.signup_date.is_(None), Customer.signup_date > as_of), or_(ordered, loyal))
    return int(session.exec(signed_up).one()) + int(session.exec(others).one())


def kpis_from_state(state: LedgerSummary, *, customers: int) -> dict:
    """The loyalty figures of :func:`loyalty_kpis` from a ledger summary's balances, by design.md's
    definitions, as a flat dict: as_of (ISO date); outstanding_points (sum of balances, points);
    liability (outstanding points x HEARTH_POINT_VALUE, money rounded to the cent);
    redemption_rate (redeemed / earned) and breakage (expired / earned), over all time up to
    ``state.as_of``; enrolment_rate (members / ``customers``); earned, redeemed, expired,
    adjusted (net), reversed (points); members (customers with a balance row), customers (as
    given). Rates are fractions 0-1, None when their denominator is zero. core.kpis calls it
    with a filtered summary for the Overview's loyalty KPIs."""
    b = state.balances
    earned = int(b["earned"].sum())
    redeemed = int(b["redeemed"].sum())
    expired = int(b["expired"].sum())
    outstanding = int(b["balance"].sum())
    members = int(len(b))
    liability_cents = points_value_cents(outstanding)
    return {
        "as_of": state.as_of.isoformat(),
        "outstanding_points": outstanding,
        "liability": money.to_units(liability_cents),
        "liability_cents": liability_cents,
        "redemption_rate": _ratio(redeemed, earned),
        "breakage": _ratio(expired, earned),
        "enrolment_rate": _ratio(members, customers),
        "earned": earned,
        "redeemed": redeemed,
        "expired": expired,
        "adjusted": int(b["adjusted"].sum()),
        "reversed": int(b["reversed"].sum()) if "reversed" in b else 0,
        "members": members,
        "customers": customers,
    }


def loyalty_kpis(*, session: Session, as_of: date) -> dict:
    """Loyalty figures as of the end of ``as_of`` (all time up to it).

    outstanding_points (sum of balances), liability (x HEARTH_POINT_VALUE, rounded to the cent
    half up by core.money; in currency units, and in whole cents as liability_cents),
    redemption_rate (redeemed / earned), breakage (expired / earned), enrolment_rate
    (customers with any loyalty activity / customers who signed up, ordered or had loyalty
    activity by then), earned, redeemed, expired, adjusted (net), members, customers.
    Rates are None when their denominator is zero.
    """
    summary = ledger_summary(session=session, as_of=as_of)
    return kpis_from_state(summary, customers=summary.customers)


def _today() -> date:
    return datetime.now(UTC).date()


def loyalty_export_frame(*, session: Session, as_of: date | None = None) -> pd.DataFrame:
    """Per customer with loyalty activity: customer_id (external id), balance, expiring_points,
    next_expiry_date, tier, lifetime_earned, lifetime_redeemed, as of the end of ``as_of``
    (default: today, UTC)."""
    as_of = as_of or _today()
    b = ledger_summary(session=session, as_of=as_of).balances
    ids = pd.read_sql(select(Customer.id, Customer.external_id), session.connection())
    ext = ids.set_index("id")["external_id"]
    out = pd.DataFrame({
        "customer_id": b["customer_id"].map(ext).to_numpy(),
        "balance": b["balance"].to_numpy(),
        "expiring_points": b["expiring_points"].to_numpy(),
        "next_expiry_date": b["next_expiry_date"].to_numpy(),
        "tier": b["tier"].to_numpy(),
        "lifetime_earned": b["earned"].to_numpy(),
        "lifetime_redeemed": b["redeemed"].to_numpy(),
    })
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def customer_balance(*, session: Session, customer_id: int, as_of: date | None = None) -> dict:
    """One customer's figures (a row of :func:`customer_balances`) as a dict; zeros if none."""
    as_of = as_of or _today()
    entries = read_entries(session=session, before=_end_of(as_of), customer_id=customer_id, details=False)
    b = customer_balances(entries, as_of=as_of)
    if b.empty:
        tiers = parse_tiers()
        return {"customer_id": customer_id, "earned": 0, "redeemed": 0, "adjusted": 0, "reversed": 0, "expired": 0,
                "balance": 0, "expiring_points": 0, "next_expiry_date": None, "earned_12m": 0,
                "tier": tiers[0].name if tiers[0].threshold <= 0 else None, "tier_drop_date": None}
    row = b.iloc[0].to_dict()
    for key in ("earned", "redeemed", "adjusted", "reversed", "expired", "balance", "expiring_points", "earned_12m"):
        row[key] = int(row[key])
    for key in ("next_expiry_date", "tier_drop_date"):
        if pd.isna(row[key]):
            row[key] = None
    return row


def customer_ledger(*, session: Session, customer_id: int, as_of: date | None = None) -> pd.DataFrame:
    """One customer's ledger up to the end of ``as_of`` with a running balance.

    Earn, redeem, adjust and reverse entries and the programme's own expiries as stored;
    expiries by Hearth's rule as computed from the lots (one row per
    expiry instant; ``recorded`` says whether the expiry job has written it). Columns:
    occurred_at, kind, points, expires_at, order_ref, entry_id, recorded, balance.
    """
    as_of = as_of or _today()
    cut = cutoff_for(as_of)
    entries = read_entries(session=session, before=_end_of(as_of), customer_id=customer_id)
    cols = ["occurred_at", "kind", "points", "expires_at", "order_ref", "entry_id", "recorded", "balance"]
    if entries.empty:
        return pd.DataFrame(columns=cols)
    norm = normalise_entries(entries)
    lots = compute_lots(norm, cutoff=cut)
    ev = expiry_events(lots, cutoff=cut)
    own = entries["computed"] if "computed" in entries else pd.Series(True, index=entries.index)
    stored = entries[(entries["kind"] == "expire") & own]
    recorded_total = int(-stored["points"].sum())
    ev = ev.sort_values("at")
    matched = np.minimum(ev["points"].to_numpy(), np.maximum(0, recorded_total - (
        ev["points"].cumsum().to_numpy() - ev["points"].to_numpy())))
    rows = entries[(entries["kind"] != "expire") | ~own]
    ledger = pd.DataFrame({
        "occurred_at": rows["occurred_at"].to_numpy(),
        "kind": rows["kind"].to_numpy(),
        "points": rows["points"].to_numpy(),
        "expires_at": norm.loc[rows.index, "exp"].where((norm.loc[rows.index, "credit"] > 0)
                                                        & (norm.loc[rows.index, "exp"] < NEVER)).to_numpy(),
        "order_ref": rows["order_ref"].to_numpy(),
        "entry_id": rows["external_id"].to_numpy(),
        "recorded": True,
        "_order": np.where(norm.loc[rows.index, "credit"] > 0, 0, 2),
        "_pos": norm.loc[rows.index, "_pos"].to_numpy(),
    })
    expiries = pd.DataFrame({
        "occurred_at": ev["at"].to_numpy(), "kind": "expire", "points": -ev["points"].to_numpy(),
        "expires_at": pd.NaT, "order_ref": None, "entry_id": None,
        "recorded": matched == ev["points"].to_numpy(), "_order": 1, "_pos": 0,
    })
    frames = [f for f in (ledger, expiries) if not f.empty]
    both = pd.concat(frames, ignore_index=True).sort_values(["occurred_at", "_order", "_pos"], kind="stable")
    both["balance"] = both["points"].cumsum()
    return both[cols].reset_index(drop=True)


def monthly_summary(*, session: Session, as_of: date, months: int = 24) -> pd.DataFrame:
    """Per calendar month up to ``as_of`` (the last one partial): earned, redeemed, expired,
    adjusted in the month, and outstanding_points and liability at its end. Aggregates only."""
    if months <= SUMMARY_MONTHS:
        # The carried-in balance makes the last n months of the 24 the same as n months alone.
        return ledger_summary(session=session, as_of=as_of).monthly.tail(months).reset_index(drop=True)
    return summary_by_month(ledger_state(session=session, as_of=as_of), months=months)


def loyalty_overview(*, session: Session, as_of: date, months: int = 24) -> dict:
    """Aggregates only, for every role that may open the screen: ``kpis`` (as
    :func:`loyalty_kpis`), ``monthly`` (:func:`monthly_summary`) and ``tiers`` (members per tier)."""
    summary = ledger_summary(session=session, as_of=as_of)
    return {
        "kpis": kpis_from_state(summary, customers=summary.customers),
        "monthly": monthly_summary(session=session, as_of=as_of, months=months),
        "tiers": tier_mix(summary.balances),
    }


def member_balances(*, session: Session, as_of: date, roles: frozenset[Role] | set[Role]) -> pd.DataFrame:
    """Every member's figures with who they are, for managers and admins.

    Columns: id (Customer.id), customer (external id), name, email, owner, tier, balance,
    expiring_points, next_expiry_date, earned_12m, tier_drop_date, earned, redeemed, expired.
    Raises NotAllowed for a role that may not see personal data.
    """
    require_personal_data(roles)
    # Who the members are is read on a reader thread while the balances are computed here (1 s
    # each at 1,000,000 customers).
    source.prefetch(session, ["customer_people"])
    b = ledger_summary(session=session, as_of=as_of).balances
    # Read as columns (core.analytics.source, kept by the customer table's data generation).
    people = source.read_table(session, "customer_people").to_pandas().set_index("id")
    out = b.rename(columns={"customer_id": "id"}).join(people, on="id")
    out = out.rename(columns={"external_id": "customer"})
    cols = ["id", "customer", "name", "email", "owner", "tier", "balance", "expiring_points", "next_expiry_date",
            "earned_12m", "tier_drop_date", "earned", "redeemed", "expired"]
    return out[cols].sort_values(["balance", "customer"], ascending=[False, True], kind="stable").reset_index(
        drop=True)


def customer_by_external_id(*, session: Session, external_id: str) -> Customer | None:
    """The customer whose external id is ``external_id`` (surrounding spaces ignored), or None."""
    return session.exec(select(Customer).where(Customer.external_id == external_id.strip())).first()
