"""Writes to the ledger: a redemption entered by staff (refused when larger than the balance)
and the expiry run that records the expiries Hearth's rule says are due (and what it would
write)."""

from __future__ import annotations

import logging
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, update
from sqlmodel import Session, select

from core import audit
from core.config import get_settings
from core.formatting import date_text
from core.loyalty.history import expiry_events_as_of
from core.loyalty.ledger import _end_of, ledger_history, read_entries
from core.loyalty.lots import compute_lots, expiry_events, ledger_problems
from core.loyalty.rules import InsufficientPoints, LoyaltyError, cutoff_for, normalise_entries
from core.readcache import cached
from db import generation
from db.models import Customer, LoyaltyEntry

log = logging.getLogger(__name__)


def record_redemption(*, session: Session, customer_id: int, points: int, at: datetime, actor: str,
                      order_ref: str | None = None) -> LoyaltyEntry:
    """Add a redemption of ``points`` (a positive number) at ``at``; refuses one larger than
    the balance at that moment, and a redemption dated before the customer's later entries that
    would leave any later debit uncovered. Flushes; the caller commits.

    Raises LoyaltyError for fewer than 1 point or an unknown customer, and InsufficientPoints
    (a LoyaltyError) when the balance at ``at`` does not cover it or a later debit would be
    left uncovered."""
    points = int(points)
    if points <= 0:
        raise LoyaltyError("a redemption must be of at least 1 point")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise LoyaltyError(f"no customer with id {customer_id}")
    # Lock the customer's row so two redemptions at once cannot both pass the check.
    if session.get_bind().dialect.name != "sqlite":
        session.exec(select(Customer.id).where(Customer.id == customer_id).with_for_update()).one()
    entries = read_entries(session=session, customer_id=customer_id)
    proposal = pd.DataFrame([{"external_id": None, "customer_id": customer_id,
                              "occurred_at": pd.Timestamp(at), "kind": "redeem", "points": -points,
                              "expires_at": pd.NaT, "order_ref": order_ref}], index=["new"])
    both = pd.concat([entries, proposal]) if not entries.empty else proposal
    before = {label for label, _ in ledger_problems(entries)} if not entries.empty else set()
    new_problems = [(label, msg) for label, msg in ledger_problems(both) if label not in before]
    if new_problems:
        label, msg = new_problems[0]
        if label == "new":
            raise InsufficientPoints(f"customer {customer.external_id}: {msg}")
        raise InsufficientPoints(
            f"customer {customer.external_id}: a redemption of {points} points on {date_text(at)} would leave "
            f"a later entry uncovered ({msg})")
    entry = LoyaltyEntry(
        external_id=f"RDM-{customer_id}-{pd.Timestamp(at):%Y%m%d%H%M%S%f}-{len(entries)}",
        customer_id=customer_id, occurred_at=at, kind="redeem", points=-points, order_ref=order_ref,
        expiry_months=get_settings().points_expiry_months,
    )
    session.add(entry)
    session.flush()
    audit.record(session=session, actor=actor, action="loyalty.redeem", record_type="loyalty_entry",
                 record_id=entry.id, customer_id=customer_id,
                 detail={"points": points, "order_ref": order_ref})
    return entry


def missing_expiries(entries: pd.DataFrame, *, as_of: date) -> pd.DataFrame:
    """Expiries up to the end of ``as_of`` that no stored ``expire`` entry records yet.

    Per customer, stored expire points (before the cutoff) are matched against the computed
    expiry events oldest first; what is left unmatched is returned (customer_id, at, points).
    """
    cut = cutoff_for(as_of)
    norm = normalise_entries(entries)
    ev = expiry_events(compute_lots(norm, cutoff=cut), cutoff=cut)
    # What each stored expire entry records of the computed expiries: all of it, but for the
    # programme's rows that expire points beyond them (their debit, rules._beyond_dated_expiries).
    stored = norm[(norm["kind"] == "expire") & (norm["occurred_at"] < cut)]
    recorded = (-stored["points"] - stored["debit"]).groupby(stored["customer_id"]).sum()
    return _unmatched(ev, recorded)


def _unmatched(ev: pd.DataFrame, recorded: pd.Series) -> pd.DataFrame:
    """The computed expiry events ``ev`` (customer_id, at, points) that the points already
    recorded per customer (``recorded``, indexed by customer_id) do not cover, oldest first."""
    if ev.empty:
        return ev.assign(recorded_before=pd.Series(dtype="int64"))
    recorded = recorded.reindex(ev["customer_id"]).fillna(0).to_numpy().astype("int64")
    ev = ev.sort_values(["customer_id", "at"], kind="stable")
    cum = ev.groupby("customer_id", sort=False)["points"].cumsum().to_numpy()
    pts = ev["points"].to_numpy()
    unmatched = np.minimum(pts, np.maximum(0, cum - recorded))
    out = ev.assign(points=unmatched, recorded_before=recorded)
    return out[out["points"] > 0].reset_index(drop=True)


def expire_points(*, session: Session, as_of: date, actor: str = "system") -> int:
    """Write the ``expire`` entries that the computation says are due by the end of ``as_of``
    and that are not written yet; returns how many were written. A second run writes none."""
    entries = read_entries(session=session, before=_end_of(as_of), details=False)
    if entries.empty:
        return 0
    todo = missing_expiries(entries, as_of=as_of)
    if todo.empty:
        return 0
    months = get_settings().points_expiry_months
    rows = [
        {
            "external_id": f"EXP-{int(c)}-{pd.Timestamp(t):%Y%m%d%H%M%S}-{int(r)}",
            "customer_id": int(c), "occurred_at": pd.Timestamp(t).to_pydatetime(), "kind": "expire",
            "points": -int(p), "expires_at": None, "order_ref": None, "computed": True,
            "expiry_months": months,
        }
        for c, t, p, r in zip(todo["customer_id"], todo["at"], todo["points"], todo["recorded_before"],
                              strict=True)
    ]
    from db.bulk import bulk_insert

    bulk_insert(session.connection(), LoyaltyEntry.__table__, rows)
    audit.record(session=session, actor=actor, action="loyalty.expire", record_type="loyalty_entry",
                 detail={"as_of": as_of.isoformat(), "entries": len(rows),
                         "points": int(todo["points"].sum()),
                         "customers": int(todo["customer_id"].nunique())})
    log.info("wrote %d expire entries as of %s", len(rows), as_of)
    return len(rows)


def stamp_expiry_rule(*, session: Session) -> int:
    """Give every ledger entry stored without the expiry rule it was stored under (written before
    migration 0021, or outside Hearth) the rule in force now: HEARTH_POINTS_EXPIRY_MONTHS, months
    after earning, 0 never (db.models.LoyaltyEntry.expiry_months). From then on a change of the
    setting applies only to entries stored after it, so it cannot expire, after the fact, points
    a member has already redeemed. Returns how many entries were stamped (0 when none lacked
    it: nothing is written then). The caller commits."""
    table = LoyaltyEntry.__table__
    unset = table.c.expiry_months.is_(None)
    conn = session.connection()
    # Counted first (its index answers at once): an UPDATE of no rows would still move the
    # ledger's data generation on PostgreSQL (its trigger runs per statement) at every start.
    rows = int(conn.execute(select(func.count()).select_from(table).where(unset)).scalar_one())
    if not rows:
        return 0
    # One move of the ledger's generation for the whole update, not a row trigger per entry on
    # SQLite (a million entries of a store made before migration 0021).
    with generation.bulk_write(conn, table.name, rows=rows):
        result = conn.execute(update(table).where(unset).values(expiry_months=get_settings().points_expiry_months))
    return int(result.rowcount or 0)


@cached(tables=("loyalty_entry",))
def pending_expiries(*, session: Session, as_of: date) -> dict:
    """What :func:`expire_points` would write for ``as_of``: entries, points, customers
    (kept per data generation of the ledger, see core.readcache). The same figures as
    :func:`missing_expiries` on the stored entries, from the whole ledger's history the screens
    share (:func:`ledger_history`: its lots' expiries before the cutoff, computed once per
    generation) and one SQL sum of the expiries already written, not from a second read of the
    whole ledger with them."""
    cut = cutoff_for(as_of)
    ev = expiry_events_as_of(ledger_history(session=session), int(cut.value))
    # Hearth's own expire entries (computed): the only ones the shared ledger leaves out, and
    # those missing_expiries counts as recorded. The kind as normalise_entries reads it.
    # No GROUP BY: SQLite would walk the customer index and look up each row (seconds); one
    # pass over the table and a sum here take a fraction of that.
    kind = func.lower(func.trim(LoyaltyEntry.kind))
    result = session.connection().execute(
        select(LoyaltyEntry.customer_id, LoyaltyEntry.points)
        .where(kind == "expire", LoyaltyEntry.computed.is_(True), LoyaltyEntry.occurred_at < _end_of(as_of)))
    try:
        written = pd.DataFrame.from_records(result.cursor.fetchall(), columns=["customer_id", "points"])
    finally:
        result.close()
    recorded = -written.groupby("customer_id")["points"].sum().astype("int64")
    todo = _unmatched(ev, recorded)
    return {"entries": int(len(todo)), "points": int(todo["points"].sum()),
            "customers": int(todo["customer_id"].nunique())}
