"""The ledger's whole history computed once, and any as-of date read from it by filters and sums.

Why this holds (issue 17): the rules are causal. What happens at an instant depends only on
the entries before it and on the credits, expiries and debits of that instant in their fixed
order (credits, then expiries, then debits), never on a later entry:

- the lots credited before a cutoff are a prefix of the customer's lots in FIFO order (FIFO
  order is by earning time first), and the debits before it a prefix of the debits in time
  order (ties in entry order, which a filter keeps);
- the points a lot loses at its expiry instant ``e`` are decided by the events before ``e``
  and the credits at ``e``: the same whether the computation stops at a cutoff after ``e`` or
  runs to the end of time. Both the event replay (core.loyalty.lots._replay) and the running
  sums of core.analytics.ledger.fifo_fates read only those;
- a programme's own ``expire`` row is a debit like any other; Hearth's computed ones are left
  out of the shared ledger; whether a member's lots expire by the programme only
  (``by_programme``) is decided over the member's whole ledger already (read_entries), so a
  filtered ledger normalises to the same rows.

So the lots of the whole ledger are computed once per data generation (:func:`ledger_history`)
and the state as of ``D`` (cutoff ``c``) is: the entries before ``c`` summed per member, and
each lot that expires before ``c`` expired as it did in the whole history. What is still left
of a lot at ``c`` follows from the member's pointer (expired + debited before ``c``) on the
cumulative-points axis when the member's lots before ``c`` expire in earning order, as in
fifo_fates; the rare members whose lots do not are replayed for ``c`` (compute_lots).
tests/core/test_loyalty_history.py pins this against compute_lots and hand-built ledgers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.loyalty.lots import _i8, compute_lots

# The per-entry columns summed per member, in this order (see _member_sums).
SUMS = ("earned", "redeemed", "adjusted", "reversed", "written_expired", "credit", "debit")
_I8_MAX = np.iinfo("int64").max


@dataclass(frozen=True)
class LedgerHistory:
    """The whole normalised ledger and its lots followed to the end of time, as arrays.

    ``ids``: the members' customer ids, sorted (member code = position here). Entries that
    count (every kind but Hearth's own computed expiries), sorted by time (stable): ``e_t``
    (ns), ``e_c`` (member code), ``e_sums`` (one int64 row per :data:`SUMS` column),
    ``e_earn`` (an earn's credit, for the tier window). Lots: ``lots`` (compute_lots of the
    whole ledger, FIFO order), ``lot_code`` (member code), ``lot_s`` (the member's credits up
    to and with the lot), ``bad_from`` (per member code: the earning instant of the first lot
    that expires before the lot before it, int64 max if none). Expired lots sorted by expiry:
    ``x_t`` (ns), ``x_c`` (member code), ``x_v`` (points expired)."""

    norm: pd.DataFrame
    ids: np.ndarray
    row_code: np.ndarray
    e_t: np.ndarray
    e_c: np.ndarray
    e_sums: np.ndarray
    e_earn: np.ndarray
    lots: pd.DataFrame
    lot_code: np.ndarray
    lot_s: np.ndarray
    bad_from: np.ndarray
    x_t: np.ndarray
    x_c: np.ndarray
    x_v: np.ndarray


def build_history(norm: pd.DataFrame) -> LedgerHistory:
    """The :class:`LedgerHistory` of a frame from normalise_entries (the whole ledger)."""
    cust = norm["customer_id"].to_numpy().astype("int64")
    ids, row_code = np.unique(cust, return_inverse=True)
    row_code = row_code.astype("int64")
    kind = norm["kind"].to_numpy()
    written = norm["written_expiry"].to_numpy()
    active = (kind != "expire") | written
    occ = _i8(norm["occurred_at"])
    credit = norm["credit"].to_numpy()
    debit = norm["debit"].to_numpy()
    pts = norm["points"].to_numpy()
    is_earn = kind == "earn"
    cols = np.vstack([
        np.where(is_earn, credit, 0),
        np.where(kind == "redeem", debit, 0),
        np.where(kind == "adjust", pts, 0),
        np.where(kind == "reverse", -pts, 0),
        np.where(written, debit, 0),
        credit,
        debit,
    ]).astype("int64")
    idx = np.flatnonzero(active)
    idx = idx[np.argsort(occ[idx], kind="stable")]

    lots = compute_lots(norm)
    lot_code = np.searchsorted(ids, lots["customer_id"].to_numpy().astype("int64"))
    la = lots["points"].to_numpy()
    le = _i8(lots["expires_at"])
    lo = _i8(lots["occurred_at"])
    first = np.ones(len(lots), dtype=bool)
    first[1:] = lot_code[1:] != lot_code[:-1]
    starts = np.flatnonzero(first)
    running = np.cumsum(la, dtype="int64")
    lot_s = running - np.repeat((running - la)[starts], np.diff(np.r_[starts, len(lots)]))
    bad = np.zeros(len(lots), dtype=bool)
    bad[1:] = (lot_code[1:] == lot_code[:-1]) & (le[1:] < le[:-1])
    bad_from = np.full(len(ids), _I8_MAX, dtype="int64")
    np.minimum.at(bad_from, lot_code[bad], lo[bad])

    ex = lots["expired"].to_numpy()
    xi = np.flatnonzero(ex > 0)
    xi = xi[np.argsort(le[xi], kind="stable")]
    return LedgerHistory(norm=norm, ids=ids, row_code=row_code, e_t=occ[idx], e_c=row_code[idx],
                         e_sums=cols[:, idx], e_earn=cols[0, idx], lots=lots, lot_code=lot_code,
                         lot_s=lot_s, bad_from=bad_from, x_t=le[xi], x_c=lot_code[xi], x_v=ex[xi])


def _sum_by(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum of int64 ``values`` per code 0..n-1, exactly (bincount sums in float64, exact for
    integers below 2**53 in magnitude; checked, else summed with np.add.at)."""
    if len(codes) and np.abs(values).sum(dtype="float64") >= 2.0**53:
        out = np.zeros(n, dtype="int64")
        np.add.at(out, codes, values)
        return out
    return np.bincount(codes, weights=values, minlength=n).round().astype("int64")


def member_sums(h: LedgerHistory, cut: int, earned_from: int | None = None) -> pd.DataFrame:
    """Per member with an entry before ``cut`` (ns), index customer_id (sorted): the columns of
    core.loyalty.lots._member_sums, as of that cutoff: earned, redeemed, adjusted, reversed,
    credit, debit, earned_12m (earn credits at or after ``earned_from``, ns; 0 without it),
    expired (by Hearth's rule and as the programme wrote it), balance. int64 points."""
    n = len(h.ids)
    k = int(np.searchsorted(h.e_t, cut, side="left"))
    c = h.e_c[:k]
    present = np.bincount(c, minlength=n) > 0
    sums = {name: _sum_by(c, h.e_sums[i, :k], n) for i, name in enumerate(SUMS)}
    if earned_from is None:
        sums["earned_12m"] = np.zeros(n, dtype="int64")
    else:
        j = int(np.searchsorted(h.e_t, earned_from, side="left"))
        sums["earned_12m"] = _sum_by(h.e_c[j:k], h.e_earn[j:k], n) if j < k else np.zeros(n, dtype="int64")
    x = int(np.searchsorted(h.x_t, cut, side="left"))
    expired = _sum_by(h.x_c[:x], h.x_v[:x], n)
    out = pd.DataFrame({name: sums[name][present] for name in
                        ("earned", "redeemed", "adjusted", "reversed", "credit", "debit", "earned_12m")},
                       index=pd.Index(h.ids[present], name="customer_id"))
    out["balance"] = out["credit"] - out["debit"] - expired[present]
    out.insert(7, "expired", expired[present] + sums["written_expired"][present])
    return out


def lots_as_of(h: LedgerHistory, norm_d: pd.DataFrame, cut: int) -> pd.DataFrame:
    """What compute_lots(norm_d, cutoff=cut) gives (same rows, order and values), from the whole
    history: ``norm_d`` is the history's ledger before ``cut`` (ns) as _norm_before gives it."""
    n = len(h.ids)
    lots = h.lots
    lo = _i8(lots["occurred_at"])
    le = _i8(lots["expires_at"])
    la = lots["points"].to_numpy()
    keep = np.flatnonzero(lo < cut)
    code = h.lot_code[keep]
    le_k, la_k = le[keep], la[keep]
    gone = le_k < cut
    expired = np.where(gone, lots["expired"].to_numpy()[keep], 0)
    # The member's pointer at the cutoff: points expired plus points debited before it.
    k = int(np.searchsorted(h.e_t, cut, side="left"))
    debited = _sum_by(h.e_c[:k], h.e_sums[SUMS.index("debit"), :k], n)
    pointer = _sum_by(code, expired, n) + debited
    remaining = np.where(gone, 0, np.clip(h.lot_s[keep] - pointer[code], 0, la_k))
    slow = h.bad_from < cut
    if slow.any():
        # Members whose lots before the cutoff expire out of earning order: replayed for it.
        ids = h.ids[slow]
        part = norm_d[np.isin(norm_d["customer_id"].to_numpy(), ids)]
        replay = compute_lots(part, cutoff=pd.Timestamp(cut))
        at = pd.Index(lots["entry"].to_numpy()[keep]).get_indexer(replay["entry"].to_numpy())
        expired[at] = replay["expired"].to_numpy()
        remaining[at] = replay["remaining"].to_numpy()
    # compute_lots orders members by their first entry before the cutoff (norm_d's codes).
    c_d = np.zeros(n, dtype="int64")
    c_d[np.searchsorted(h.ids, norm_d["customer_id"].to_numpy().astype("int64"))] = norm_d["_c"].to_numpy()
    lc = c_d[code]
    order = np.argsort(lc, kind="stable")
    sel = keep[order]
    remaining = remaining[order].astype("int64")
    expired = expired[order].astype("int64")
    return pd.DataFrame({
        "customer_id": lots["customer_id"].to_numpy()[sel],
        "entry": lots["entry"].to_numpy()[sel],
        "occurred_at": lots["occurred_at"].to_numpy()[sel],
        "expires_at": lots["expires_at"].to_numpy()[sel],
        "points": la[sel],
        "expired": expired,
        "remaining": remaining,
        "consumed": la[sel] - expired - remaining,
        "_c": lc[order],
    })


def expiry_events_as_of(h: LedgerHistory, cut: int) -> pd.DataFrame:
    """core.loyalty.lots.expiry_events(compute_lots(ledger before cut), cutoff=cut), from the
    history: expired points per customer and expiry instant (customer_id, at, points)."""
    x = int(np.searchsorted(h.x_t, cut, side="left"))
    ev = pd.DataFrame({"customer_id": h.ids[h.x_c[:x]], "at": h.x_t[:x].view("datetime64[ns]"),
                       "points": h.x_v[:x]})
    ev = ev.groupby(["customer_id", "at"], sort=True)["points"].sum().reset_index()
    return ev
