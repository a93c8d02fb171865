"""The loyalty ledger: the entries read as columns (DuckDB), and oldest-first lots as running sums.

The rules are core.loyalty's (design.md, "Definitions"): every credit is a lot, debits take the
oldest unexpired lots first, a lot's unconsumed points expire at its expiry instant, and
within one instant credits come first, then expiries, then debits.

When a customer's lots expire in the order they were earned (always, with the default
12-month expiry), what has been consumed is one prefix of their lots on the cumulative-points
axis, so each lot's fate follows from three running sums, computed for every customer at once
(numpy, :func:`fifo_fates`):

- ``S_k``: the customer's credits up to lot k (a window sum in FIFO order);
- ``D(e_k)``: the customer's debits strictly before lot k's expiry instant (a sorted search
  of each lot's expiry in the running debit total);
- expired up to lot k = ``max(0, max_{j<=k, j expired} (S_j - D(e_j)))`` (a running maximum).

Lot k expired ``E_k - E_{k-1}`` points, and an unexpired lot keeps
``max(0, S_k - max(pointer, S_{k-1}))`` where the pointer is the customer's total expired plus
total debited. Customers whose lots expire out of earning order (an imported promotion that
expires before older points) are left to core.loyalty's event replay; they are rare.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlmodel import Session

from core.analytics import source


def _group_bounds(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first-of-run mask, run starts, run sizes) of runs of equal codes."""
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    starts = np.flatnonzero(first)
    return first, starts, np.diff(np.r_[starts, len(codes)])


def _debits_before(lot_c: np.ndarray, lot_e: np.ndarray, deb_c: np.ndarray, deb_t: np.ndarray,
                   prefix: np.ndarray, d_lo: np.ndarray, d_hi: np.ndarray) -> np.ndarray:
    """``D(e_k)``: each lot's customer's debits strictly before the lot's expiry instant.

    Debits sorted by (customer, instant); ``prefix`` their running total with a leading 0;
    ``d_lo``/``d_hi``: per lot, its customer's debits' bounds in them (only lots of customers
    with a debit are searched; the others owe 0). The instants are ranked among the debits' own
    distinct instants (far fewer than the lots), so
    that (customer, instant) packs into one sorted int64 key: a debit's rank is below a lot's
    (the number of debit instants before its expiry) exactly when it is strictly before it."""
    out = np.zeros(len(lot_c), dtype="int64")
    some = np.flatnonzero(d_hi > d_lo)
    if len(some) == 0:
        return out
    lot_e = lot_e[some]
    packed = _packed_keys(deb_c, deb_t, lot_c[some], lot_e)
    if packed is None:
        times = np.unique(deb_t)
        span = np.int64(len(times) + 1)
        packed = (deb_c * span + np.searchsorted(times, deb_t, side="left"),
                  lot_c[some] * span + np.searchsorted(times, lot_e, side="left"))
    d_key, l_key = packed
    out[some] = prefix[np.searchsorted(d_key, l_key, side="left")] - prefix[d_lo[some]]
    return out


def _packed_keys(deb_c: np.ndarray, deb_t: np.ndarray, lot_c: np.ndarray,
                 lot_e: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(customer, instant) of the debits and of the lots' expiries as one int64 key each,
    ordered as the pairs are: the instants counted in their greatest common step from the
    least (whole seconds, say), without ranking them; None when the keys would not fit."""
    lo = min(int(deb_t.min()), int(lot_e.min()))
    hi = max(int(deb_t.max()), int(lot_e.max()))
    top = max(int(deb_c.max()), int(lot_c.max()))
    if hi - lo >= 2**62 or min(int(deb_c.min()), int(lot_c.min())) < 0:
        return None
    d_t, l_t = deb_t - lo, lot_e - lo
    step = int(np.gcd(np.gcd.reduce(d_t), np.gcd.reduce(l_t))) or 1
    span = (hi - lo) // step + 1
    if (top + 1) * span >= 2**62:
        return None
    return deb_c * span + d_t // step, lot_c * span + l_t // step


def fifo_fates(*, lot_c: np.ndarray, lot_e: np.ndarray, lot_a: np.ndarray, deb_c: np.ndarray,
               deb_t: np.ndarray, deb_v: np.ndarray, cut: int) -> tuple[np.ndarray, np.ndarray]:
    """(expired, remaining) points per lot, for customers whose lots expire in FIFO order.

    Lots come in FIFO order (sorted by customer code, then earning order); ``lot_c`` and
    ``deb_c`` are customer codes (int64), ``lot_e`` expiry instants and ``deb_t`` debit
    instants as int64 nanoseconds, ``lot_a``/``deb_v`` points (> 0). ``cut``: the cutoff
    instant (ns); a lot expiring before it has expired. Both results are int64 arrays in lot
    order.

    Vectorised in numpy (sorts, prefix sums, a grouped running maximum): measured 3 to 4 times
    faster at the reference size than the same running sums as DuckDB window functions and an
    ASOF join, with identical results. The per-member quantities stay per member and the per-lot
    ones are computed in place, so the whole ledger's lots need a few lot-sized arrays at a time
    (issue 17: the peak while the history is built).
    """
    n = len(lot_c)
    if n == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    lot_c, lot_e, lot_a = (np.asarray(x, dtype="int64") for x in (lot_c, lot_e, lot_a))
    deb_c, deb_t, deb_v = (np.asarray(x, dtype="int64") for x in (deb_c, deb_t, deb_v))
    d_order = np.lexsort((deb_t, deb_c))
    deb_c, deb_t, deb_v = deb_c[d_order], deb_t[d_order], deb_v[d_order]
    first, starts, sizes = _group_bounds(lot_c)
    s_cum = np.cumsum(lot_a)  # S_k: the member's credits up to and with lot k
    s_cum -= np.repeat(s_cum[starts] - lot_a[starts], sizes)
    prefix = np.r_[np.int64(0), np.cumsum(deb_v)]
    # The member's debits' bounds, searched once per member (lots are grouped by member).
    m_lo = np.searchsorted(deb_c, lot_c[starts], side="left")
    m_hi = np.searchsorted(deb_c, lot_c[starts], side="right")
    d_before = _debits_before(lot_c, lot_e, deb_c, deb_t, prefix, np.repeat(m_lo, sizes),
                              np.repeat(m_hi, sizes))  # D(e_k)
    is_exp = lot_e < cut
    not_exp = ~is_exp
    # Expired up to lot k: the running maximum of (S_j - D(e_j)) over expired lots j <= k, at least 0.
    e_cum = np.subtract(s_cum, d_before, out=d_before)
    np.maximum(e_cum, 0, out=e_cum)
    e_cum[not_exp] = 0
    _group_cummax(e_cum, starts, sizes)
    expired = np.empty(n, dtype="int64")
    expired[0] = 0
    expired[1:] = e_cum[:-1]
    expired[first] = 0  # e_prev
    np.subtract(e_cum, expired, out=expired)
    expired[not_exp] = 0
    e_cum[not_exp] = 0
    # Per member: points expired in all, plus points debited in all.
    owed = np.maximum.reduceat(e_cum, starts) + (prefix[m_hi] - prefix[m_lo])
    del e_cum
    remaining = s_cum - lot_a
    np.maximum(remaining, np.repeat(owed, sizes), out=remaining)
    np.subtract(s_cum, remaining, out=remaining)
    np.maximum(remaining, 0, out=remaining)
    remaining[is_exp] = 0
    return expired, remaining


def _group_cummax(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> None:
    """Running maximum within each run (``starts``, ``sizes``) of non-negative int64 ``values``,
    in place: one running maximum of the values lifted by run number x (max + 1), so no run
    reaches the next, when that fits in int64; else pandas' grouped cummax."""
    top = int(values.max()) + 1
    if len(starts) * top < (1 << 62):
        lift = np.repeat(np.arange(len(starts), dtype="int64") * top, sizes)
        values += lift
        np.maximum.accumulate(values, out=values)
        values -= lift
        return
    values[:] = pd.Series(values).groupby(np.repeat(np.arange(len(starts)), sizes)).cummax().to_numpy()


def read_entries(*, session: Session, before: datetime | None = None, stored_expiries: bool = True) -> pd.DataFrame:
    """Every ledger entry (optionally only those before an instant, and without the ``expire``
    entries Hearth computed itself), by id, read as columns.

    The frame core.loyalty.read_entries gives without details: index id; customer_id,
    occurred_at, kind, points, expires_at, computed, expiry_months (-1 when empty), by_programme
    (the customer has an
    ``expire`` entry from the programme's own file at any time).
    """
    with source.engine_for(session, ["loyalty_entry"]) as db:
        entries = "loyalty_entry"  # the shared read leaves Hearth's computed expiries out (source.READS)
        if stored_expiries:
            db.register("computed_expiry", source.read_rows(session, "loyalty_entry",
                                                            "kind = 'expire' AND computed = true"))
            entries = "(SELECT * FROM loyalty_entry UNION ALL SELECT * FROM computed_expiry)"
        rows = db.execute(f"""
            SELECT id, customer_id, occurred_at, kind, points, expires_at, coalesce(computed, false) AS computed,
                   coalesce(expiry_months, -1) AS expiry_months,
                   customer_id IN (SELECT customer_id FROM loyalty_entry
                                   WHERE kind = 'expire' AND computed = false) AS by_programme
            FROM {entries} AS e
            WHERE ($before IS NULL OR occurred_at < $before)
            ORDER BY id
        """, {"before": before}).fetchnumpy()
    # Straight from numpy arrays with the dtypes below (a pandas frame of DuckDB's result would
    # hold Arrow-backed columns, converted again by every later step: seconds at the reference size).
    columns = {}
    for col in ("occurred_at", "expires_at"):
        columns[col] = np.asarray(pd.to_datetime(_filled(rows[col], np.datetime64("NaT"))), dtype="datetime64[ns]")
    for col in ("customer_id", "points", "expiry_months"):
        columns[col] = np.asarray(rows[col], dtype="int64")
    for col in ("computed", "by_programme"):
        columns[col] = np.asarray(_filled(rows[col], False), dtype=bool)
    index = pd.Index(np.asarray(rows["id"], dtype="int64"), name="id")
    columns["kind"] = pd.Series(np.asarray(rows["kind"], dtype=object), index=index, dtype=object)
    order = ("customer_id", "occurred_at", "kind", "points", "expires_at", "computed", "expiry_months",
             "by_programme")
    return pd.DataFrame({col: columns[col] for col in order}, index=index)


# The kinds in core.loyalty.KINDS' order: an entry whose kind is exactly one of them is read as
# its position (the rest, rare, are cleaned in Python by core.loyalty).
_KINDS = ("earn", "redeem", "expire", "adjust", "reverse")
_NS_LIMIT_US = np.iinfo("int64").max // 1000


def read_columns(*, session: Session) -> dict[str, np.ndarray] | None:
    """The entries the shared computation uses (every entry but the ``expire`` entries Hearth
    computed itself) as numpy columns in id order, or None when one needs the general path
    (a timestamp outside pandas' nanosecond range, an empty kind).

    Keys: id, customer_id, points (int64); occurred_at, expires_at (datetime64[ns], NaT when
    empty); computed (bool, empty as false); expiry_months (int16, -1 when empty: the rule each
    entry was stored under, core.loyalty.normalise_entries); kind_code (int8: the position of the kind in
    earn, redeem, expire, adjust, reverse when it is exactly that word, else -1); odd_at (the
    positions of the kind_code -1 rows) and odd_kind (their kinds as stored, object).

    Straight from the columnar read by Arrow's own kernels (a kind looked up in the five
    words, never a Python string per row; the kept rows by SQL's three-valued ``kind <>
    'expire' OR computed = false``): through DuckDB's numpy result it took 5.4 s at 1,000,000
    customers, most of the Overview's first load after the read."""
    return columns_of(source.read_table(session, "loyalty_entry"))


def columns_of(table: pa.Table) -> dict[str, np.ndarray] | None:
    """:func:`read_columns` of ``table``, a columnar read of the ledger's entries (all of them,
    or some members' only: core.loyalty.ledger_totals brings its copy up to date so)."""
    kind, computed = table.column("kind"), table.column("computed")
    # The kept rows (a null, unknown, is left out as SQL's WHERE does), in id order: one take
    # of each column (the database hands rows over in its own order).
    kept = pc.or_kleene(pc.not_equal(kind, "expire"), pc.equal(computed, False))
    ids = _numpy(table.column("id"), 0, "int64")
    sel: np.ndarray | slice = slice(None)
    if kept.null_count or not pc.all(kept).as_py():
        sel = np.flatnonzero(_numpy(kept, False, "bool"))
    kept_ids = ids[sel]
    if len(kept_ids) > 1 and not (kept_ids[1:] > kept_ids[:-1]).all():
        sel = np.arange(len(ids))[sel][np.argsort(kept_ids, kind="stable")]
    code = pc.index_in(kind, value_set=pa.array(_KINDS, type=kind.type))
    out: dict[str, np.ndarray] = {"id": ids[sel]}
    out["customer_id"] = _numpy(table.column("customer_id"), 0, "int64")[sel]
    out["points"] = _numpy(table.column("points"), 0, "int64")[sel]
    out["computed"] = _numpy(computed, False, "bool")[sel]
    out["expiry_months"] = _numpy(table.column("expiry_months"), -1, "int16")[sel]
    out["kind_code"] = _numpy(code, -1, "int8")[sel]
    if table.column("occurred_at").null_count:
        return None
    for col in ("occurred_at", "expires_at"):
        values = np.asarray(table.column(col).to_numpy(), dtype="datetime64[us]")[sel]
        us = values.view("int64")[~np.isnat(values)]
        if len(us) and (us.max() > _NS_LIMIT_US or us.min() < -_NS_LIMIT_US):
            return None
        out[col] = values.astype("datetime64[ns]")
    # The rare kinds not spelt exactly as one of the words (a null kind is not among them).
    odd = _numpy(pc.and_(pc.is_null(code), pc.is_valid(kind)), False, "bool")[sel]
    out["odd_at"] = np.flatnonzero(odd)
    rows = np.arange(len(ids))[sel][out["odd_at"]]
    out["odd_kind"] = np.asarray(kind.take(pa.array(rows, type=pa.int64())).to_numpy(zero_copy_only=False),
                                 dtype=object)
    if int((out["kind_code"] < 0).sum()) != len(out["odd_at"]):
        return None
    return out


def _numpy(column: pa.ChunkedArray, fill: object, dtype: str) -> np.ndarray:
    """A column of the read as a numpy array of ``dtype``, its nulls as ``fill``."""
    if column.null_count:
        column = pc.fill_null(column, fill)
    return np.asarray(column.to_numpy(), dtype=dtype)


def _filled(values: np.ndarray, fill: object) -> np.ndarray:
    """A DuckDB numpy column with its NULLs (a masked array) as ``fill``."""
    return values.filled(fill) if isinstance(values, np.ma.MaskedArray) else values
