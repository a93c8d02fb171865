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

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.loyalty.lots import _i8, compute_lots, lot_columns
from core.loyalty.rules import KINDS

# The per-member sums of the counted entries (the columns of core.loyalty.lots._member_sums).
SUMS = ("earned", "redeemed", "adjusted", "reversed", "written_expired", "credit", "debit")
_I8_MAX = np.iinfo("int64").max
_I4 = np.iinfo("int32")
# member_month_sums counts (member, month) cells in one dense array up to this many cells (an
# int64 each: 512 MB), else by sorting them.
_DENSE_CELLS = 1 << 26

# Each counted entry moves points of one class (at most one of its credit and debit is not
# zero): an earn's credit, a redemption's debit, an adjustment's or a reversal's credit or
# debit, a written expiry's debit, or nothing (an unknown kind, a sign that contradicts the
# kind). Every SUMS column is a sum of classes (see _named). An entry is stored as its key,
# member code * _K + class, and the points it moves (>= 0): two narrow numbers, not seven.
_SHIFT = 3
_K = 1 << _SHIFT
_EARN, _REDEEM, _ADJ_UP, _ADJ_DOWN, _REV_UP, _REV_DOWN, _WRITTEN, _NONE = range(_K)


@dataclass(frozen=True)
class LedgerHistory:
    """The whole normalised ledger's sums and lots followed to the end of time, as arrays (the
    normalised frame itself is kept apart: core.loyalty.normalised_ledger).

    Kept in memory once per data generation, so narrow: whole numbers are int32 wherever every
    value fits (:func:`_narrow`; else int64), and nothing another field gives is kept.

    ``ids``: the members' customer ids, sorted (member code = position here); ``rank``: the
    member code of each of normalise_entries' ``_c`` codes. Entries that count (every kind but
    Hearth's own computed expiries), sorted by time (stable): ``e_t`` (ns), ``e_key`` (member
    code * _K + the class of points the entry moves, see :func:`_entry_keys`), ``e_v`` (the
    points it moves, >= 0); ``exact`` when no partial sum can reach 2**52, so bincount's float64
    sums are exact. Lots: ``lots`` (compute_lots of the whole ledger as numpy columns, FIFO
    order: entry, occurred_at, expires_at, points, expired; customer_id is ``ids[lot_code]``),
    ``lot_code`` (member code), ``lot_s`` (the member's credits up to and with the lot),
    ``bad_from`` (per member code: the earning instant of the first lot that expires before the
    lot before it, int64 max if none), ``entry_dtype`` and ``customer_dtype`` (of the frame's
    labels and customer ids, as compute_lots gives them). Lots that expire with points, sorted
    by expiry: ``x_t`` (ns), ``x_c`` (member code), ``x_v`` (points expired)."""

    ids: np.ndarray
    rank: np.ndarray
    e_t: np.ndarray
    e_key: np.ndarray
    e_v: np.ndarray
    exact: bool
    lots: dict[str, np.ndarray]
    lot_code: np.ndarray
    lot_s: np.ndarray
    bad_from: np.ndarray
    entry_dtype: np.dtype
    customer_dtype: np.dtype
    x_t: np.ndarray
    x_c: np.ndarray
    x_v: np.ndarray


_ARRAY_FIELDS = ("ids", "rank", "e_t", "e_key", "e_v", "lot_code", "lot_s", "bad_from", "x_t", "x_c", "x_v")


def history_arrays(h: LedgerHistory) -> dict[str, np.ndarray]:
    """``h`` as named arrays (no object arrays), for core.analytics.diskcopy; the inverse of
    :func:`history_from_arrays`."""
    out = {name: getattr(h, name) for name in _ARRAY_FIELDS}
    out.update({f"lots.{name}": values for name, values in h.lots.items()})
    out["exact"] = np.array(h.exact)
    out["entry_dtype"] = np.array(h.entry_dtype.str)
    out["customer_dtype"] = np.array(h.customer_dtype.str)
    return out


def history_from_arrays(arrays: dict[str, np.ndarray]) -> LedgerHistory:
    """The :class:`LedgerHistory` that :func:`history_arrays` gave ``arrays`` for."""
    lots = {name.split(".", 1)[1]: values for name, values in arrays.items() if name.startswith("lots.")}
    return LedgerHistory(**{name: arrays[name] for name in _ARRAY_FIELDS}, lots=lots,
                         exact=bool(arrays["exact"]), entry_dtype=np.dtype(str(arrays["entry_dtype"])),
                         customer_dtype=np.dtype(str(arrays["customer_dtype"])))


def _narrow(values: np.ndarray) -> np.ndarray:
    """Whole numbers as int32 when every value fits in it, else unchanged (int64)."""
    if values.dtype.kind != "i" or values.dtype.itemsize <= 4:
        return values
    if len(values) and (int(values.min()) < _I4.min or int(values.max()) > _I4.max):
        return values
    return values.astype("int32")


def _member_ranks(norm: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(sorted customer ids, the position in them of each ``_c`` code of normalise_entries):
    a sort of the members, not of the rows."""
    first_c = norm["_c"].to_numpy()
    n = int(first_c.max()) + 1 if len(first_c) else 0
    by_code = np.zeros(n, dtype="int64")
    by_code[first_c] = norm["customer_id"].to_numpy()
    order = np.argsort(by_code, kind="stable")
    rank = np.empty(n, dtype="int64")
    rank[order] = np.arange(n, dtype="int64")
    return by_code[order], rank


def _kind_codes(norm: pd.DataFrame) -> np.ndarray:
    """Each row's kind as its position in core.loyalty.KINDS (-1 for another word): one
    comparison of the whole column per kind, no per-row strings."""
    kind = norm["kind"]
    codes = np.full(len(norm), -1, dtype="int8")
    for i, word in enumerate(KINDS):
        codes[(kind == word).to_numpy(dtype=bool)] = i
    return codes


def _entry_keys(norm: pd.DataFrame, code: np.ndarray, idx: np.ndarray,
                member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(key, points) of the rows ``idx`` of ``norm``: key = member code * _K + class, points the
    row's credit or debit (>= 0; normalise_entries gives a row at most one of them). ``code``
    the rows' :func:`_kind_codes`, ``member`` the member code of the rows ``idx``. The class: an
    earn is _EARN, a redemption _REDEEM, an adjustment or a reversal _ADJ_UP or _REV_UP (its
    credit), _ADJ_DOWN or _REV_DOWN (its debit), a written expiry _WRITTEN; anything else
    _NONE (normalise_entries gives it no credit or debit)."""
    code = code[idx]
    credit = norm["credit"].to_numpy()[idx]
    debit = norm["debit"].to_numpy()[idx]
    earn, redeem, _expire, adjust, reverse = range(len(KINDS))
    # One byte a row, filled kind by kind (the kinds are exclusive; a written expiry is an expire).
    cls = np.full(len(idx), _NONE, dtype="int8")
    for kind, c in ((earn, _EARN), (redeem, _REDEEM), (adjust, _ADJ_UP), (reverse, _REV_UP)):
        cls[code == kind] = c
    cls[norm["written_expiry"].to_numpy()[idx]] = _WRITTEN
    cls += ((code == adjust) | (code == reverse)) & (debit > 0)  # _ADJ_DOWN, _REV_DOWN
    key = member * _K
    key += cls
    credit = credit + debit
    return _narrow(key), _narrow(credit)


def _named(s: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`SUMS` columns (int64) from sums per class (one row per member or month, one
    column per class)."""
    return {"earned": s[:, _EARN], "redeemed": s[:, _REDEEM], "adjusted": s[:, _ADJ_UP] - s[:, _ADJ_DOWN],
            "reversed": s[:, _REV_DOWN] - s[:, _REV_UP], "written_expired": s[:, _WRITTEN],
            "credit": s[:, _EARN] + s[:, _ADJ_UP] + s[:, _REV_UP], "debit": _debits(s)}


def _debits(s: np.ndarray) -> np.ndarray:
    """The debit column of :func:`_named`."""
    return s[:, _REDEEM] + s[:, _ADJ_DOWN] + s[:, _REV_DOWN] + s[:, _WRITTEN]


def _class_sums(h: LedgerHistory, lo: int, hi: int) -> np.ndarray:
    """Per member code (rows) and class (columns), the points of the counted entries lo..hi
    (positions in time order), int64."""
    n = len(h.ids)
    return _sum_by(h.e_key[lo:hi], h.e_v[lo:hi], n * _K, h.exact).reshape(n, _K)


def build_history(norm: pd.DataFrame) -> LedgerHistory:
    """The :class:`LedgerHistory` of a frame from normalise_entries (the whole ledger).

    The lots (lot_columns: sorts and running sums, numpy releasing the GIL) are computed on a
    second thread while this one sums the entries."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        lots_f = pool.submit(lot_columns, norm)
        ids, rank, e_t, e_key, e_v, exact = _entries(norm)
        lots = lots_f.result()
    return _with_lots(norm, ids, rank, e_t, e_key, e_v, exact, lots)


def _entries(norm: pd.DataFrame) -> tuple:
    """(ids, rank, and of the counted rows in time order: occurred ns, :func:`_entry_keys`,
    whether bincount's float64 sums of their points are exact)."""
    ids, rank = _member_ranks(norm)
    code = _kind_codes(norm)
    active = (code != KINDS.index("expire")) | norm["written_expiry"].to_numpy()
    occ = _i8(norm["occurred_at"])
    idx = np.flatnonzero(active)
    idx = idx[np.argsort(occ[idx], kind="stable")]
    e_t = occ[idx]
    del occ, active
    key, v = _entry_keys(norm, code, idx, rank[norm["_c"].to_numpy()[idx]])
    # Every partial sum is at most the sum of all points moved (expired points are at most
    # credits); 2**52 leaves a margin for the float64 total itself.
    exact = bool(v.sum(dtype="float64") < 2.0**52)
    return ids, rank, e_t, key, v, exact


def _with_lots(norm: pd.DataFrame, ids: np.ndarray, rank: np.ndarray, e_t: np.ndarray, e_key: np.ndarray,
               e_v: np.ndarray, exact: bool, lots: dict[str, np.ndarray]) -> LedgerHistory:
    """The :class:`LedgerHistory` from :func:`_entries`' parts and lot_columns of ``norm``."""
    for unused in ("remaining", "consumed", "customer_id"):  # not read (customer_id: ids[lot_code])
        lots.pop(unused)
    lot_code = rank[lots.pop("_c")]
    la = lots["points"]
    le = _i8(lots["expires_at"])
    lo = _i8(lots["occurred_at"])
    first = np.ones(len(la), dtype=bool)
    first[1:] = lot_code[1:] != lot_code[:-1]
    starts = np.flatnonzero(first)
    running = np.cumsum(la, dtype="int64")
    lot_s = running - np.repeat((running - la)[starts], np.diff(np.r_[starts, len(la)]))
    bad = np.zeros(len(la), dtype=bool)
    bad[1:] = (lot_code[1:] == lot_code[:-1]) & (le[1:] < le[:-1])
    bad_from = np.full(len(ids), _I8_MAX, dtype="int64")
    np.minimum.at(bad_from, lot_code[bad], lo[bad])

    ex = lots["expired"]
    xi = np.flatnonzero(ex > 0)
    xi = xi[_stable_argsort(le[xi])]
    lot_code = _narrow(lot_code)
    entry_dtype = lots["entry"].dtype
    for name in ("entry", "points", "expired"):
        lots[name] = _narrow(lots[name])
    return LedgerHistory(ids=ids, rank=rank, e_t=e_t, e_key=e_key, e_v=e_v, exact=exact, lots=lots,
                         lot_code=lot_code, lot_s=_narrow(lot_s), bad_from=bad_from, entry_dtype=entry_dtype,
                         customer_dtype=norm["customer_id"].dtype, x_t=le[xi], x_c=lot_code[xi],
                         x_v=_narrow(ex[xi]))


def _stable_argsort(v: np.ndarray) -> np.ndarray:
    """np.argsort(v, kind="stable") of int64 ``v``: one sort of packed (value, position) keys
    when the values, in units of their greatest common step from the least, times the length
    fit in int64 (instants on whole seconds do), else the stable argsort itself."""
    n = len(v)
    if n == 0:
        return np.zeros(0, dtype="int64")
    lo, hi = int(v.min()), int(v.max())
    if hi - lo >= _I8_MAX:  # v - lo would overflow
        return np.argsort(v, kind="stable")
    d = v - lo
    step = int(np.gcd.reduce(d)) or 1
    if (hi - lo) // step >= (1 << 62) // n:
        return np.argsort(v, kind="stable")
    return np.sort((d // step) * n + np.arange(n, dtype="int64")) % n


def _sum_by(codes: np.ndarray, values: np.ndarray, n: int, exact: bool) -> np.ndarray:
    """Sum of whole-number ``values`` per code 0..n-1, as int64: bincount's float64 sums when
    ``exact``, else int64 sums (np.add.at, slower)."""
    if not exact:
        out = np.zeros(n, dtype="int64")
        np.add.at(out, codes, values.astype("int64"))
        return out
    return np.bincount(codes, weights=values, minlength=n).astype("int64")


def member_sums(h: LedgerHistory, cut: int, earned_from: int | None = None) -> pd.DataFrame:
    """Per member with an entry before ``cut`` (ns), index customer_id (sorted): the columns of
    core.loyalty.lots._member_sums, as of that cutoff: earned, redeemed, adjusted, reversed,
    credit, debit, earned_12m (earn credits at or after ``earned_from``, ns; 0 without it),
    expired (by Hearth's rule and as the programme wrote it), balance. int64 points."""
    n = len(h.ids)
    k = int(np.searchsorted(h.e_t, cut, side="left"))
    present = np.bincount(h.e_key[:k] >> _SHIFT, minlength=n) > 0
    sums = _named(_class_sums(h, 0, k))
    if earned_from is None:
        sums["earned_12m"] = np.zeros(n, dtype="int64")
    else:
        j = min(int(np.searchsorted(h.e_t, earned_from, side="left")), k)
        sums["earned_12m"] = _class_sums(h, j, k)[:, _EARN]
    x = int(np.searchsorted(h.x_t, cut, side="left"))
    expired = _sum_by(h.x_c[:x], h.x_v[:x], n, h.exact)
    out = pd.DataFrame({name: sums[name][present] for name in
                        ("earned", "redeemed", "adjusted", "reversed", "credit", "debit", "earned_12m")},
                       index=pd.Index(h.ids[present], name="customer_id"))
    out["expired"] = expired[present] + sums["written_expired"][present]
    out["balance"] = out["credit"] - out["debit"] - expired[present]
    return out


def norm_before(h: LedgerHistory, norm: pd.DataFrame, cut: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The normalised entries ``norm`` the history ``h`` was built from, before ``cut`` (ns), as
    normalise_entries gives them for those entries alone (``_pos`` and ``_c`` counted within
    them, int64), and the member code of each of their ``_c`` codes. From the compact shared
    ledger (core.loyalty.normalised_ledger) the rows keep its columns (no ``expires_at``,
    ``kind`` categorical) and get ``_pos`` before ``_c``."""
    before = _i8(norm["occurred_at"]) < cut
    if before.all():
        # Every entry (an as-of date after the last one: the usual case): a copy that shares the
        # columns until one is changed (copy on write), not a copy of ten million rows.
        keep = slice(None)
        out = norm.copy(deep=False)
    else:
        keep = np.flatnonzero(before)
        out = norm.take(keep)
    codes, members = pd.factorize(h.rank[norm["_c"].to_numpy()[keep]])
    pos = np.arange(len(out), dtype="int64")
    if "_pos" in out.columns:
        out["_pos"] = pos
    else:  # the compact shared ledger (core.loyalty.normalised_ledger)
        out.insert(out.columns.get_loc("_c"), "_pos", pos)
    out["_c"] = codes.astype("int64")
    return out, np.asarray(members, dtype="int64")


def lots_as_of(h: LedgerHistory, norm_d: pd.DataFrame, members: np.ndarray, cut: int) -> pd.DataFrame:
    """What compute_lots(norm_d, cutoff=cut) gives (same rows, order and values), from the whole
    history; ``norm_d`` and ``members`` as :func:`norm_before` gives them for ``cut`` (ns)."""
    n = len(h.ids)
    lots = h.lots
    keep = np.flatnonzero(_i8(lots["occurred_at"]) < cut)
    code = h.lot_code[keep]
    la = lots["points"][keep]
    gone = _i8(lots["expires_at"])[keep] < cut
    expired = np.where(gone, lots["expired"][keep], 0)
    # The member's pointer at the cutoff: points expired plus points debited before it.
    k = int(np.searchsorted(h.e_t, cut, side="left"))
    debited = _debits(_class_sums(h, 0, k))
    pointer = _sum_by(code, expired.astype("float64"), n, h.exact) + debited
    remaining = np.where(gone, 0, np.clip(h.lot_s[keep] - pointer[code], 0, la))
    slow = h.bad_from < cut
    if slow.any():
        # Members whose lots before the cutoff expire out of earning order: replayed for it.
        part = norm_d[slow[members[norm_d["_c"].to_numpy()]]]
        replay = compute_lots(part, cutoff=pd.Timestamp(cut))
        at = pd.Index(lots["entry"][keep].astype(h.entry_dtype, copy=False)).get_indexer(
            replay["entry"].to_numpy())
        expired[at] = replay["expired"].to_numpy()
        remaining[at] = replay["remaining"].to_numpy()
    # compute_lots orders members by their first entry before the cutoff (norm_d's codes).
    c_d = np.zeros(n, dtype="int64")
    c_d[members] = np.arange(len(members), dtype="int64")
    lc = c_d[code]
    order = np.argsort(lc, kind="stable")
    sel = keep[order]
    remaining = remaining[order].astype("int64")
    expired = expired[order].astype("int64")
    points = la[order].astype("int64")
    # copy=False: the columns are this function's own arrays, so the frame takes them as they
    # are (by default pandas copies them into one block per dtype: 0.9 s at 1,000,000 customers).
    return pd.DataFrame({
        "customer_id": h.ids[h.lot_code[sel]].astype(h.customer_dtype, copy=False),
        "entry": lots["entry"][sel].astype(h.entry_dtype, copy=False),
        "occurred_at": lots["occurred_at"][sel],
        "expires_at": lots["expires_at"][sel],
        "points": points,
        "expired": expired,
        "remaining": remaining,
        "consumed": points - expired - remaining,
        "_c": lc[order],
    }, copy=False)


def expiry_events_as_of(h: LedgerHistory, cut: int) -> pd.DataFrame:
    """core.loyalty.lots.expiry_events(compute_lots(ledger before cut), cutoff=cut), from the
    history: expired points per customer and expiry instant (customer_id, at, points)."""
    x = int(np.searchsorted(h.x_t, cut, side="left"))
    ev = pd.DataFrame({"customer_id": h.ids[h.x_c[:x]], "at": h.x_t[:x].view("datetime64[ns]"),
                       "points": h.x_v[:x].astype("int64")})
    return ev.groupby(["customer_id", "at"], sort=True)["points"].sum().reset_index()


def _months(ns: np.ndarray) -> np.ndarray:
    """Calendar months since 1970-01 (a monthly Period's ordinal) of instants in ns."""
    return ns.view("datetime64[ns]").astype("datetime64[M]").astype("int64")


def member_month_sums(h: LedgerHistory, cut: int, first_month: int) -> pd.DataFrame:
    """core.loyalty.point_flows of the state before ``cut`` (ns) summed per member and calendar
    month: what each member's flows add to each month from ``first_month`` (a monthly Period's
    ordinal) on, and, as one row at month ``first_month - 1``, everything before it (a monthly
    table carries it in as one balance). The written expiries and the lots' expiries both count
    as expired.

    Columns: customer_id, month (Period ordinal, int32), earned, redeemed, adjusted, reversed,
    expired (int64 points); one row per member and month with a flow, sorted by customer_id then
    month. Summed over members by month they are the monthly flows (they add up member by
    member); they are kept per member so that a write to some members' entries changes only their
    rows (core.loyalty.ledger.monthly_as_of)."""
    k = int(np.searchsorted(h.e_t, cut, side="left"))
    x = int(np.searchsorted(h.x_t, cut, side="left"))
    names = ["earned", "redeemed", "adjusted", "reversed", "expired"]
    before = first_month - 1
    em = np.maximum(_months(h.e_t[:k]), before) - before
    xm = np.maximum(_months(h.x_t[:x]), before) - before
    if not k + x:
        return pd.DataFrame({"customer_id": np.zeros(0, dtype="int64"), "month": np.zeros(0, dtype="int32"),
                             **{n: np.zeros(0, dtype="int64") for n in names}})
    span = int(max(em.max() if k else 0, xm.max() if x else 0)) + 1
    cells = np.concatenate([(h.e_key[:k] >> _SHIFT).astype("int64") * span + em,
                            h.x_c[:x].astype("int64") * span + xm])
    if len(h.ids) * span <= _DENSE_CELLS:
        # Every (member, month) cell counted in place: at 1,000,000 members and 25 months a
        # quarter of np.unique's time (which sorts the 10.7 M entries' cells).
        cell = np.flatnonzero(np.bincount(cells, minlength=len(h.ids) * span))
        pos = np.zeros(len(h.ids) * span, dtype="int64")
        pos[cell] = np.arange(len(cell), dtype="int64")
        at = pos[cells]
        del pos
    else:
        cell, at = np.unique(cells, return_inverse=True)
    n = len(cell)
    cls = h.e_key[:k] & (_K - 1)
    at_e, v = at[:k], h.e_v[:k]

    def points(*classes: int) -> np.ndarray:
        rows = np.isin(cls, classes) if len(classes) > 1 else cls == classes[0]
        return _sum_by(at_e[rows], v[rows], n, h.exact)

    cols = {"earned": points(_EARN), "redeemed": points(_REDEEM),
            "adjusted": points(_ADJ_UP) - points(_ADJ_DOWN), "reversed": points(_REV_DOWN) - points(_REV_UP),
            "expired": points(_WRITTEN) + _sum_by(at[k:], h.x_v[:x], n, h.exact)}
    return pd.DataFrame({"customer_id": h.ids[cell // span].astype("int64"),
                         "month": (cell % span + before).astype("int32"), **cols}, copy=False)
