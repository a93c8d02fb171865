"""Refunds and cancellations (design.md: they are kept as refunds, never as orders), from the
status and refund columns of an orders file or from a separate refunds file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import delete, select, update

from core import money
from core.formatting import count_of
from core.importing.formats import MAX_LISTED_PROBLEMS
from core.importing.problems import Problem, Problems
from core.importing.store import (
    _canon,
    _Context,
    _dedupe,
    _isin,
    _plan,
    _read,
    _sha_keys,
    _update_rows,
)
from db.bulk import bulk_insert
from db.models import (
    Customer,
    Order,
    OrderLine,
    Refund,
)

# Order statuses, normalised to lower case with single underscores and without WooCommerce's
# "wc-" prefix ("wc-cancelled" is cancelled). Any other status is an ordinary order; one not
# in ORDINARY_STATUSES is named in the import's summary, so that a status Hearth does not know
# ("closed") is seen, not silently counted as a paid order.
# Never placed counts as cancelled: WooCommerce's "checkout-draft" (a checkout left unfinished)
# and "trash" (an order the shop deleted) are no orders (they were counted as paid ones).
CANCELLED_STATUSES = frozenset({"cancelled", "canceled", "voided", "void", "cancel", "failed", "checkout_draft",
                                "draft", "trash", "unpaid"})


REFUNDED_STATUSES = frozenset({"refunded", "fully_refunded", "refund", "returned"})


PARTLY_REFUNDED_STATUSES = frozenset({"partially_refunded", "partial_refund", "partly_refunded",
                                      "partially_returned"})


ORDINARY_STATUSES = frozenset({
    "", "paid", "completed", "complete", "processing", "pending", "pending_payment", "fulfilled",
    "unfulfilled", "partially_fulfilled", "shipped", "partially_shipped", "delivered", "on_hold",
    "authorized", "authorised", "open", "partially_paid", "confirmed", "success",
    "succeeded", "placed", "new", "in_progress", "ready_for_pickup", "picked_up", "archived"})


def unknown_statuses(values: pd.Series) -> dict[str, int]:
    """Statuses of an orders file that Hearth reads as an ordinary order without knowing them:
    status (normalised) -> number of rows, most frequent first."""
    status = _status_words(values)
    known = ORDINARY_STATUSES | CANCELLED_STATUSES | REFUNDED_STATUSES | PARTLY_REFUNDED_STATUSES
    counts = status[~status.isin(known)].value_counts()
    return {str(k): int(v) for k, v in counts.items()}


# A refund of an order that is cancelled (in the same file, or by a later one; Shopify refunds an
# order and then cancels it): the cancellation keeps the order out of sales, so its refund must
# not be subtracted as well (revenue went below zero). Every read counts kind 'refund' only.
REFUND_OF_CANCELLED = "refund_of_cancelled"


# An order's refunded total (its refunded_amount or "refunded" status: Shopify's Refunded Amount
# is the running total) and the refunds a refunds file lists for it describe the same money:
# the larger of the two counts (the listed refunds on a tie: they carry their days) and the other
# is kept as REFUND_COVERED, counted nowhere (the two were added up, and a fully refunded order
# listed in both was refused as over its total).
REFUND_COVERED = "refund_covered"


REFUND_COLUMNS = ["external_id", "kind", "order_ref", "customer_ext", "refunded_at", "amount", "reason", "row"]


def _status_words(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "").astype(str).str.lower().str.strip() \
        .str.replace(r"[\s\-_]+", "_", regex=True).str.replace(r"^wc_", "", regex=True)


def _cents(values: pd.Series | np.ndarray) -> np.ndarray:
    """Money as whole cents (int64), from amounts already typed in whole cents (core.money)."""
    return np.asarray(values, dtype="float64").round().astype("int64")


def _refund_key(order_ids: pd.Series) -> pd.Series:
    """The key of the refund a status or refunded_amount gives an order: ``refund-of-<order_id>``,
    or a derived key where that would be longer than 64 characters."""
    key = "refund-of-" + order_ids.astype(str)
    long = key.str.len() > 64
    if long.any():
        key = key.copy()
        key[long] = _sha_keys([key[long]]).to_numpy()
    return key


def _refunds_in_orders(heads: pd.DataFrame, rownum: pd.Series, problems: Problems,
                       stored_refunded: frozenset[str] = frozenset()) -> tuple[pd.DataFrame, pd.Series]:
    """The refunds and cancellations an orders file holds, and which of its orders are real.

    One row per order (its first row). A negative total is a refund of ``-total`` (of the
    order named in refund_of, else unlinked but kept with its customer and date). A status of
    cancelled, canceled, voided or failed makes the order a cancellation: not an order, kept
    as a cancellation of its total. Every other order is real; it also gets a refund (linked to
    it) of refunded_amount when that is above 0, else of its whole total when its status is
    refunded. A refund is dated refunded_at when given, else at the row's ordered_at.
    """
    none = pd.Series(None, index=heads.index, dtype=object)
    status = _status_words(heads["status"]) if "status" in heads else pd.Series("", index=heads.index)
    refunded = heads["refunded_amount"] if "refunded_amount" in heads else pd.Series(np.nan, index=heads.index)
    refund_of = heads["refund_of"].astype(object) if "refund_of" in heads else none
    when = heads["refunded_at"] if "refunded_at" in heads else pd.Series(pd.NaT, index=heads.index)
    when = when.where(when.notna(), heads["ordered_at"])
    total = heads["total"].astype("float64")
    rows = rownum.loc[heads.index]
    negative = (total < 0).to_numpy()
    cancelled = status.isin(CANCELLED_STATUSES).to_numpy() & ~negative
    real = ~negative & ~cancelled
    over = real & (refunded > total).to_numpy()  # whole cents: exact
    problems.cells(rows.to_numpy(), refunded, over, "refunded_amount",
                   "is more than the order's total")
    # A refund row that is also "cancelled": the refund voided, or the order cancelled? Only the
    # person with the file knows (it was read as a refund).
    problems.cells(rows.to_numpy(), status, negative & status.isin(CANCELLED_STATUSES).to_numpy(), "status",
                   "is on a refund row (a negative total): say it on the order's own row to cancel the "
                   "order, or leave the refund row out if the refund was voided")
    linked_to_self = refund_of.notna().to_numpy() & ~negative
    problems.cells(rows.to_numpy(), refund_of, linked_to_self, "refund_of",
                   "names an order to refund, but this row's total is not negative "
                   "(a refund row has a negative total)")
    # A "refunded" order whose refund rows are in the file (WooCommerce writes both) is refunded
    # by those rows: its status adds no refund of its whole total on top.
    refunded_by_rows = heads["order_id"].astype(str).isin(set(refund_of[negative].dropna().astype(str)))
    by_status = status.isin(REFUNDED_STATUSES).to_numpy() & ~refunded_by_rows.to_numpy()
    amount = np.where(refunded.fillna(0).to_numpy() > 0, refunded.fillna(0).to_numpy(),
                      np.where(by_status, total.to_numpy(), 0.0))
    gets_refund = real & (amount > 0)
    parts = []
    if negative.any():
        parts.append(pd.DataFrame({
            "external_id": heads["order_id"][negative].astype(str), "kind": "refund",
            "order_ref": refund_of[negative], "customer_ext": heads["customer_id"][negative],
            "refunded_at": when[negative], "amount": -total[negative], "reason": "negative total",
            "row": rows[negative]}))
    if cancelled.any():
        parts.append(pd.DataFrame({
            "external_id": heads["order_id"][cancelled].astype(str), "kind": "cancellation",
            "order_ref": heads["order_id"][cancelled].astype(str),
            "customer_ext": heads["customer_id"][cancelled], "refunded_at": when[cancelled],
            "amount": total[cancelled], "reason": "status " + status[cancelled], "row": rows[cancelled]}))
    if gets_refund.any():
        reason = np.where(status[gets_refund] != "", "status " + status[gets_refund], "refunded_amount")
        parts.append(pd.DataFrame({
            "external_id": _refund_key(heads["order_id"][gets_refund]), "kind": "refund",
            "order_ref": heads["order_id"][gets_refund].astype(str),
            "customer_ext": heads["customer_id"][gets_refund], "refunded_at": when[gets_refund],
            "amount": amount[gets_refund], "reason": reason, "row": rows[gets_refund]}))
    # Partly refunded by refund rows of the same file (WooCommerce writes both), or by refunds
    # stored before (``stored_refunded``: order ids a refunds file or refund rows named): those say
    # how much.
    partly = (real & status.isin(PARTLY_REFUNDED_STATUSES).to_numpy() & ~gets_refund
              & ~refunded_by_rows.to_numpy() & ~heads["order_id"].astype(str).isin(stored_refunded).to_numpy())
    if partly.any():
        problems.cells(rows.to_numpy(), status, partly, "status",
                       "says the order was partly refunded, but refunded_amount is empty and no refund of it "
                       "is in this file or stored: give the amount refunded (or import the shop's refunds file "
                       "first)")
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REFUND_COLUMNS)
    out["amount"] = _cents(out["amount"]) if len(out) else out["amount"]
    return out[REFUND_COLUMNS], pd.Series(real, index=heads.index)


def _cancelled_orders_stored(refunds: pd.DataFrame, existing: pd.DataFrame) -> pd.DataFrame:
    """Stored orders (id, external_id) that this file cancels."""
    if refunds.empty or existing.empty:
        return existing.iloc[0:0][["id", "external_id"]]
    keys = refunds.loc[refunds["kind"] == "cancellation", "external_id"]
    return existing.loc[_isin(existing["external_id"].astype(str), keys), ["id", "external_id"]]


def _remove_orders(ctx: _Context, gone: pd.DataFrame) -> None:
    """Orders a later file cancels leave the orders with their lines and status refunds."""
    if gone.empty:
        return
    ids = [int(x) for x in gone["id"]]
    r, ln, o = Refund.__table__, OrderLine.__table__, Order.__table__
    for start in range(0, len(ids), 5_000):
        chunk = ids[start:start + 5_000]
        ctx.conn.execute(update(r).where(r.c.order_id.in_(chunk)).values(order_id=None))
        ctx.conn.execute(delete(ln).where(ln.c.order_id.in_(chunk)))
        ctx.conn.execute(delete(o).where(o.c.id.in_(chunk)))
    keys = _refund_key(gone["external_id"].astype(str)).tolist()
    for start in range(0, len(keys), 5_000):
        ctx.conn.execute(delete(r).where(r.c.external_id.in_(keys[start:start + 5_000])))


@dataclass
class _RefundPlan:
    incoming: pd.DataFrame  # external_id, kind, order_ref, customer_id, refunded_at, amount, reason
    new: pd.DataFrame
    changed: pd.DataFrame
    compare: list[str]
    stale: list[int]  # stored refunds this file replaces (an order no longer refunded or cancelled)


def _plan_refunds(ctx: _Context, refunds: pd.DataFrame, problems: Problems, *, file_orders: pd.DataFrame,
                  stored_orders: pd.DataFrame, replace_derived: pd.Series | None) -> _RefundPlan:
    """Check the refunds against their orders and compare them with the stored ones.

    ``file_orders``: the file's real orders (external_id, customer_ext, total_cents);
    ``stored_orders``: orders already stored (id, external_id, customer_id, total_cents).
    Money is whole cents throughout (core.money); refunds' ``amount`` is stored as amount_cents.
    ``replace_derived``: the order ids of an orders file with status or refund columns, whose
    stored status refunds and cancellations the file now decides.
    A refund that names an order of another customer, or refunds that add up to more than
    their order's total, are problems.
    """
    r = Refund.__table__
    if refunds.empty and replace_derived is None and file_orders.empty:
        empty = pd.DataFrame(columns=["external_id", "kind", "order_ref", "customer_id", "refunded_at",
                                      "amount_cents", "reason"])
        return _RefundPlan(incoming=empty, new=empty, changed=empty, compare=[], stale=[])
    ids = ctx.resolve_customers(refunds["customer_ext"])
    people = _read(ctx.conn, select(Customer.__table__.c.id, Customer.__table__.c.external_id))
    ext = pd.Series(people["external_id"].astype(str).to_numpy(), index=people["id"].to_numpy())
    totals = pd.concat([
        pd.DataFrame({"key": stored_orders["external_id"].astype(str).to_numpy(),
                      "cust": stored_orders["customer_id"].map(ext).to_numpy(dtype=object),
                      "total": stored_orders["total_cents"].astype("float64").to_numpy()}),
        pd.DataFrame({"key": file_orders["external_id"].astype(str).to_numpy(),
                      "cust": file_orders["customer_ext"].astype(str).to_numpy(dtype=object),
                      "total": file_orders["total_cents"].astype("float64").to_numpy()}),
    ]).drop_duplicates("key", keep="last").set_index("key")
    incoming = pd.DataFrame({
        "external_id": refunds["external_id"].astype(str).to_numpy(),
        "kind": refunds["kind"].to_numpy(), "order_ref": refunds["order_ref"].astype(object).to_numpy(),
        "customer_id": ids.astype("float64").to_numpy(),
        "refunded_at": pd.to_datetime(refunds["refunded_at"]).astype("datetime64[ns]").to_numpy(),
        "amount_cents": refunds["amount"].astype("int64").to_numpy(),
        "reason": refunds["reason"].astype(object).to_numpy()})
    row = refunds["row"].to_numpy()
    is_refund = (incoming["kind"] == "refund").to_numpy()
    ref = incoming["order_ref"].where(pd.Series(is_refund)).astype(object)
    known = _isin(ref.fillna(""), totals.index).to_numpy() & ref.notna().to_numpy()
    order_cust = ref.map(totals["cust"]).to_numpy(dtype=object)
    named_cust = refunds["customer_ext"].astype(str).to_numpy(dtype=object)
    other = known & (order_cust != named_cust) & ~_may_be_one_customer(order_cust, named_cust)
    for i in np.flatnonzero(other)[:MAX_LISTED_PROBLEMS]:
        problems.append(Problem(int(row[i]), "customer_id", str(refunds["customer_ext"].iloc[i]),
                                f"is not the customer of order {ref.iloc[i]}, which this refund names"))
    existing = _read(ctx.conn, select(r.c.id, r.c.external_id, r.c.kind, r.c.order_ref, r.c.customer_id,
                                      r.c.refunded_at, r.c.amount_cents, r.c.reason))
    # Which refunds are of a cancelled order is decided after writing (settle_refunds):
    # as written in a file, each is a refund.
    existing["kind"] = existing["kind"].replace({REFUND_OF_CANCELLED: "refund", REFUND_COVERED: "refund"})
    stale: list[int] = []
    if replace_derived is not None and not existing.empty:
        decided = pd.concat([_refund_key(replace_derived.astype(str)), replace_derived.astype(str)])
        gone = existing[_isin(existing["external_id"].astype(str), decided)
                        & ~_isin(existing["external_id"].astype(str), incoming["external_id"])]
        stale = [int(x) for x in gone["id"]]
    # Refunds of one order, stored and in this file, may not add up to more than its total.
    others = existing[(existing["kind"] == "refund") & existing["order_ref"].notna()
                      & ~_isin(existing["external_id"].astype(str), incoming["external_id"])
                      & ~existing["id"].isin(stale)]
    _check_stored_refunds_of_file_orders(others, file_orders, ext, problems)
    linked = pd.concat([pd.DataFrame({"ref": others["order_ref"].astype(str).to_numpy(),
                                      "id": others["external_id"].astype(str).to_numpy(),
                                      "amount": others["amount_cents"].to_numpy(dtype="float64")}),
                        pd.DataFrame({"ref": ref[known].astype(str).to_numpy(),
                                      "id": incoming["external_id"][known].astype(str).to_numpy(),
                                      "amount": incoming["amount_cents"].to_numpy(dtype="float64")[known]})])
    # An order's refunded total and its listed refunds are the same money: the larger counts.
    derived = (linked["id"] == _refund_key(linked["ref"]).to_numpy()).to_numpy()
    sums = pd.concat([linked[derived].groupby("ref")["amount"].sum(),
                      linked[~derived].groupby("ref")["amount"].sum()], axis=1).max(axis=1)
    too_much = sums[sums > totals["total"].reindex(sums.index).fillna(np.inf)]  # whole cents: exact
    file_rows = (pd.Series(file_orders["row"].to_numpy(), index=file_orders["external_id"].astype(str).to_numpy())
                 if "row" in file_orders else pd.Series(dtype="int64"))
    for key, value in too_much.items():
        hits = np.flatnonzero(known & (ref.astype(str).to_numpy() == key))
        if len(hits):
            problems.append(Problem(int(row[hits[0]]), "total" if ctx.summary.kind == "orders" else "amount",
                                    money.format(incoming["amount_cents"].iloc[hits[0]]),
                                    f"refunds of order {key} add up to {money.format(value)}, more than its "
                                    f"total of {money.format(totals.loc[key, 'total'])}"))
        elif key in file_rows.index:
            # Refunds stored before their order (a refunds file, or negative rows, imported
            # first): the order this file gives is checked against them, as they would have been
            # checked against it (the files give the same accounts in any order).
            ids = others.loc[others["order_ref"].astype(str) == key, "external_id"].astype(str)
            listed = ids[ids != _refund_key(pd.Series([key])).iloc[0]].tolist()
            named = [f"refunds {', '.join(listed[:5])}{', ...' if len(listed) > 5 else ''}"] if listed else []
            if len(listed) < len(ids):
                named.append("the refunded amount an earlier orders file gave")
            problems.append(Problem(int(file_rows[key]), "total", money.format(totals.loc[key, "total"]),
                                    f"is less than what was refunded of order {key} before ({' and '.join(named)}"
                                    f"): {money.format(value)}"))
    compare = {"kind": "text", "order_ref": "text", "customer_id": "whole", "refunded_at": "datetime",
               "amount_cents": "number", "reason": "text"}
    plan = _plan(incoming, existing, "external_id", compare)
    ctx.summary.refunds_inserted += int((plan.new["kind"] == "refund").sum())
    ctx.summary.cancellations += int((incoming["kind"] == "cancellation").sum())
    ctx.summary.refunds_updated += len(plan.changed)
    ctx.summary.refunds_unchanged += plan.unchanged
    ctx.summary.refunds_removed += len(stale)
    ctx.summary.refunded_cents += int(incoming.loc[is_refund, "amount_cents"].sum())
    return _RefundPlan(incoming=incoming, new=plan.new, changed=plan.changed, compare=list(compare), stale=stale)


def _may_be_one_customer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair of customer ids as files give them: True where either is an email address. A
    customer met only by address (a platform's file keyed by it) may be the one another file
    names by id: the customers file merges the two and the refunds are settled then
    (core.importing.records), so a refund and its order naming them is no contradiction, in
    whichever order the files come."""
    return np.array(["@" in str(x) or "@" in str(y) for x, y in zip(a, b, strict=True)], dtype=bool)


def _check_stored_refunds_of_file_orders(stored: pd.DataFrame, file_orders: pd.DataFrame, ext: pd.Series,
                                         problems: Problems) -> None:
    """A refund stored before its order (kept unlinked, with the customer its file gave) must be
    of the customer the orders file now gives that order: else the file is refused, naming the
    order's row (the refund imported after the order would have been refused the same way)."""
    if stored.empty or "row" not in file_orders or file_orders.empty:
        return
    owner = pd.Series(file_orders["customer_ext"].astype(str).to_numpy(),
                      index=file_orders["external_id"].astype(str).to_numpy())
    owner = owner[~owner.index.duplicated(keep="last")]
    rows = pd.Series(file_orders["row"].to_numpy(), index=file_orders["external_id"].astype(str).to_numpy())
    rows = rows[~rows.index.duplicated(keep="last")]
    refs = stored["order_ref"].astype(str)
    mine = _isin(refs, owner.index).to_numpy()
    if not mine.any():
        return
    whose = stored["customer_id"].map(ext).astype(object).to_numpy()
    named = refs.map(owner).to_numpy(dtype=object)
    wrong = mine & (whose != named) & ~_may_be_one_customer(whose, named)
    for i in np.flatnonzero(wrong)[:MAX_LISTED_PROBLEMS]:
        key = refs.iloc[i]
        problems.append(Problem(int(rows[key]), "customer_id", str(owner[key]),
                                f"is not the customer of refund {stored['external_id'].iloc[i]} of order {key}, "
                                f"stored before with customer {whose[i]}"))


def _write_refunds(ctx: _Context, plan: _RefundPlan) -> None:
    """Insert and update the planned refunds, each linked to its stored order where there is one."""
    r, o = Refund.__table__, Order.__table__
    if plan.stale:
        for start in range(0, len(plan.stale), 5_000):
            ctx.conn.execute(delete(r).where(r.c.id.in_(plan.stale[start:start + 5_000])))
    if plan.new.empty and plan.changed.empty:
        return
    refs = pd.concat([plan.new["order_ref"], plan.changed["order_ref"]]).dropna().astype(str).unique().tolist()
    link: dict[str, int] = {}
    for start in range(0, len(refs), 5_000):
        link.update({str(k): int(v) for k, v in ctx.conn.execute(
            select(o.c.external_id, o.c.id).where(o.c.external_id.in_(refs[start:start + 5_000])))})

    def prepared(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        refund = (out["kind"] == "refund").to_numpy()
        out["order_id"] = pd.Series([link.get(str(k)) if ok and k is not None else None
                                     for k, ok in zip(out["order_ref"], refund, strict=True)],
                                    index=out.index, dtype=object)
        out["customer_id"] = out["customer_id"].astype("int64")
        out["amount_cents"] = out["amount_cents"].astype("int64")
        return out

    bulk_insert(ctx.conn, r, prepared(plan.new))
    _update_rows(ctx.conn, r, prepared(plan.changed), [*plan.compare, "order_id"])


def settle_refunds(ctx: _Context) -> None:
    """Decide which stored refunds count, by this module's two rules: a refund of an order that
    has a cancellation (same order id, same customer) is REFUND_OF_CANCELLED; of an order's
    refunded total and the refunds listed for it, the larger counts and the other is
    REFUND_COVERED; every other refund is a refund (again). Runs after every write of orders or
    refunds; says in the summary how many are newly not counted."""
    r = Refund.__table__
    rf = _read(ctx.conn, select(r.c.id, r.c.external_id, r.c.kind, r.c.order_ref, r.c.customer_id,
                                r.c.amount_cents).where(
        r.c.order_ref.is_not(None),
        r.c.kind.in_(["refund", "cancellation", REFUND_OF_CANCELLED, REFUND_COVERED])))
    if rf.empty:
        return
    keys = pd.MultiIndex.from_arrays([rf["order_ref"].astype(str), rf["customer_id"].astype("int64")])
    is_cancellation = (rf["kind"] == "cancellation").to_numpy()
    refund = ~is_cancellation
    target = pd.Series("refund", index=rf.index, dtype=object)
    of_cancelled = refund & keys.isin(keys[is_cancellation])
    target[of_cancelled] = REFUND_OF_CANCELLED
    rest = refund & ~of_cancelled
    derived = (rf["external_id"].astype(str) == _refund_key(rf["order_ref"].astype(str))).to_numpy()
    group = pd.Series(np.arange(len(rf)), index=keys).groupby(level=[0, 1]).ngroup().to_numpy()
    amount = rf["amount_cents"].to_numpy(dtype="float64")
    n_groups = int(group.max()) + 1
    total = np.bincount(group[rest & derived], amount[rest & derived], minlength=n_groups)
    listed = np.bincount(group[rest & ~derived], amount[rest & ~derived], minlength=n_groups)
    both = (np.bincount(group[rest & derived], minlength=n_groups) > 0) & \
        (np.bincount(group[rest & ~derived], minlength=n_groups) > 0)
    # On a tie the listed refunds count: they carry the day the money went back, where the
    # order's refunded total is dated by the order file (often the order's own date).
    covered = rest & both[group] & np.where(derived, total[group] <= listed[group], total[group] > listed[group])
    target[covered] = REFUND_COVERED
    change = refund & (target.to_numpy() != rf["kind"].to_numpy())
    for kind in ("refund", REFUND_OF_CANCELLED, REFUND_COVERED):
        ids = [int(x) for x in rf["id"][change & (target == kind).to_numpy()]]
        for start in range(0, len(ids), 5_000):
            ctx.conn.execute(update(r).where(r.c.id.in_(ids[start:start + 5_000])).values(kind=kind))
    void = int((change & of_cancelled).sum())
    if void:
        ctx.summary.notes.append(f"{count_of(void, 'refund')} of orders that are cancelled "
                                 f"{'is' if void == 1 else 'are'} kept but not counted: a cancelled "
                                 "order counts in neither sales nor refunds")
    newly_covered = int((change & covered).sum())
    if newly_covered:
        ctx.summary.notes.append(f"{count_of(newly_covered, 'refund')} counted once, not twice: an order's "
                                 "refunded total and the refunds listed for it are the same money (the "
                                 "larger counts)")


def _import_refunds(ctx: _Context, problems: Problems) -> None:
    """A shop's separate refunds file: one refund per row, linked to the stored order it names.

    amount is the money given back (a negative amount counts as its absolute value; 0 is a
    problem). The customer is the named order's, or customer_id for a refund of an order
    Hearth does not have (kept unlinked); a row with neither is a problem.
    """
    t = ctx.typed
    for name in ("order_id", "customer_id", "refund_id", "reason"):
        if name not in t:
            t[name] = pd.Series(None, index=t.index, dtype=object)
    missing = t["refund_id"].isna().to_numpy()
    if missing.any():
        keys = _sha_keys([_canon(t[f], how)[missing] for f, how in (
            ("order_id", "text"), ("customer_id", "text"), ("refunded_at", "datetime"),
            ("amount", "money"))])
        t.loc[missing, "refund_id"] = keys.to_numpy()
    ctx.typed = t
    t = _dedupe(ctx, "refund_id", problems)
    rows = ctx.rownum.loc[t.index].to_numpy()
    problems.cells(rows, t["amount"].astype(str), (t["amount"] == 0).to_numpy(), "amount",
                   "is 0: a refund gives money back")
    o, c = Order.__table__, Customer.__table__
    stored = _read(ctx.conn, select(o.c.id, o.c.external_id, o.c.customer_id, o.c.total_cents))
    people = _read(ctx.conn, select(c.c.id, c.c.external_id))
    ext = pd.Series(people["external_id"].to_numpy(), index=people["id"].to_numpy())
    order_cust = pd.Series(stored["customer_id"].to_numpy(), index=stored["external_id"].astype(str).to_numpy())
    # An order cancelled since is no order, but its cancellation still says whose it was.
    r = Refund.__table__
    gone = _read(ctx.conn, select(r.c.order_ref, r.c.customer_id).where(r.c.kind == "cancellation",
                                                                        r.c.order_ref.is_not(None)))
    order_cust = pd.concat([order_cust, pd.Series(gone["customer_id"].to_numpy(),
                                                  index=gone["order_ref"].astype(str).to_numpy())])
    order_cust = order_cust[~order_cust.index.duplicated(keep="first")]
    named = t["order_id"].astype(object)
    owner = named.map(lambda k: order_cust.get(str(k)) if k is not None and k == k else None)
    owner_ext = owner.map(lambda i: None if i is None or i != i else ext.get(int(i)))
    customer = t["customer_id"].astype(object).where(t["customer_id"].notna(), owner_ext)
    problems.cells(rows, named.astype(str), (customer.isna() & named.notna()).to_numpy(), "order_id",
                   "is not an order Hearth has; import the orders first, or give the customer_id")
    problems.cells(rows, named.astype(str), (customer.isna() & named.isna()).to_numpy(), "order_id",
                   "is empty and so is customer_id: say whose refund it is")
    if problems:
        return
    unlinked = int((named.notna() & owner.isna()).sum())
    if unlinked:
        ctx.summary.notes.append(f"{unlinked:,} refunds name an order Hearth does not have; kept with their "
                                 "customer, unlinked")
    refunds = pd.DataFrame({
        "external_id": t["refund_id"].astype(str).to_numpy(), "kind": "refund",
        "order_ref": named.to_numpy(), "customer_ext": customer.to_numpy(),
        "refunded_at": t["refunded_at"].to_numpy(), "amount": _cents(t["amount"].abs()),
        "reason": t["reason"].where(t["reason"].notna(), "refunds file").to_numpy(), "row": rows})
    plan = _plan_refunds(ctx, refunds, problems, file_orders=pd.DataFrame(columns=["external_id", "customer_ext",
                                                                                    "total_cents"]),
                         stored_orders=stored, replace_derived=None)
    ctx.summary.inserted += len(plan.new)
    ctx.summary.updated += len(plan.changed)
    ctx.summary.unchanged += len(plan.incoming) - len(plan.new) - len(plan.changed)
    if problems or not ctx.write:
        return
    _write_refunds(ctx, plan)
    settle_refunds(ctx)
