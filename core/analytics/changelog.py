"""A copy of a table brought up to date by reading only the rows written since (issue 17).

A columnar read kept by an older data generation (in this process, or on this machine's disk:
core.analytics.diskcopy) used to be thrown away after any write to its table, and the table
read whole again: at 1,000,000 customers the 15 M orders and 10.7 M ledger entries, about 13 s,
after an import of a hundred rows. The triggers that move the generation also log the ids of
the rows each write touched (db.generation, "The change log"); :func:`changed_since` reads the
ids written between the copy's state and the current one, and :func:`apply` replaces those rows
of the copy with their current version (or drops them, when deleted).

Correct only when the log tells every write between the two states, so :func:`changed_since`
answers None (read the whole table, as before) unless all of these hold:

- same epoch, and the copy's generation is older than the current one;
- the log still holds the copy's own generation with the copy's stamp: the copy's state is one
  this database went through (not a state of a backup restored since, nor of another
  database), and the log was not trimmed past it; (generation 0, the table as created and
  never written, needs no row);
- every generation after it, up to the current one, has its rows, each with one stamp, the
  current one with the current stamp: no write went unlogged;
- none of them is ``whole`` (a bulk write, which does not say which rows it touched);
- at most :data:`MOST_IDS` ids: beyond that a whole read is about as fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from db import generation

# Beyond this many changed ids the whole table is read instead (reading rows by id costs more
# per row than a sequential read).
MOST_IDS = 200_000
MOST_CHUNKS = 64


@dataclass(frozen=True)
class Changes:
    """What was written to a table between two states: ``ids``, the rows written (sorted,
    unique, int64); ``customers``, the customers those rows belong or belonged to (same)."""

    ids: np.ndarray
    customers: np.ndarray


def state_of(gen: tuple) -> tuple[int, int, int] | None:
    """(epoch, counter, stamp) of one table's data generation as db.generation.read gives it
    for that table alone, or None for another shape."""
    try:
        (epoch_name, epoch), (_table, n), (stamps_name, stamps) = gen
    except (TypeError, ValueError):
        return None
    if epoch_name != generation.EPOCH or stamps_name != generation.STAMPS or len(stamps) != 1:
        return None
    return int(epoch), int(n), int(stamps[0])


def follows(old: tuple[int, int, int] | None, new: tuple[int, int, int] | None) -> bool:
    """Whether state ``new`` may follow state ``old`` (both (epoch, counter, stamp)): same epoch,
    a later counter. Only then is the log worth reading (:func:`changed_since` checks the rest)."""
    return old is not None and new is not None and old[0] == new[0] and old[1] < new[1]


def _logged(table: str) -> None:
    if table not in generation.LOGGED:
        raise KeyError(f"the writes of {table!r} are not logged")


def log_sql(table: str, since: int, until: int) -> str:
    """The query of the change log's rows of ``table`` for generations ``since`` to ``until``
    (both included): columns n, stamp, row_id, customer_id, whole. Integers only are put in the
    text. Raises KeyError for a table whose writes are not logged."""
    _logged(table)
    return (f"SELECT n, stamp, row_id, customer_id, whole FROM {generation.CHANGES} WHERE table_name = '{table}' "
            f"AND n >= {int(since)} AND n <= {int(until)}")


def rows_sql(select: str, table: str, since: int, until: int) -> str:
    """``select`` (a read of ``table``, with no WHERE or with one condition in parentheses)
    limited to the rows the log names for generations after ``since`` up to ``until``. Raises
    KeyError for a table whose writes are not logged."""
    _logged(table)
    joiner = "AND" if " WHERE " in select else "WHERE"
    return (f"{select} {joiner} id IN (SELECT row_id FROM {generation.CHANGES} WHERE table_name = '{table}' "
            f"AND n > {int(since)} AND n <= {int(until)} AND row_id IS NOT NULL)")


def changed_since(log: pa.Table, old: tuple[int, int, int], new: tuple[int, int, int]) -> Changes | None:
    """The rows written after state ``old`` up to state ``new`` (both (epoch, counter, stamp)
    from :func:`state_of`) and their customers, from ``log`` (the rows :func:`log_sql` gives
    for ``old``'s counter to ``new``'s); None when the log cannot tell them all (see the module
    doc). Both empty when no row changed."""
    if not follows(old, new):
        return None
    (_epoch, n0, s0), (_epoch, n1, s1) = old, new
    n = log.column("n").to_numpy(zero_copy_only=False).astype(np.int64)
    stamp = log.column("stamp").to_numpy(zero_copy_only=False).astype(np.int64)
    whole = log.column("whole").to_numpy(zero_copy_only=False).astype(np.int64)
    if n0 > 0:
        own = n == n0
        if not own.any() or (stamp[own] != s0).any():
            return None
    after = n > n0
    gens, first = np.unique(n[after], return_index=True)
    if len(gens) != n1 - n0 or (len(gens) and (gens[0] != n0 + 1 or gens[-1] != n1)):
        return None  # a generation without its rows: trimmed, or written before the log existed
    # One stamp per generation, the current one with the current stamp.
    stamp_after = stamp[after]
    if (stamp_after != stamp_after[first][np.searchsorted(gens, n[after])]).any():
        return None
    if stamp_after[first][-1] != s1 or whole[after].any():
        return None
    mask = pa.array(after)
    ids, customers = (np.unique(pc.drop_null(log.column(c).filter(mask)).to_numpy(zero_copy_only=False)
                                .astype(np.int64)) for c in ("row_id", "customer_id"))
    return None if len(ids) > MOST_IDS else Changes(ids=ids, customers=customers)


def apply(base: pa.Table, keys: np.ndarray, fresh: pa.Table, key: str = "id") -> pa.Table:
    """``base`` with the rows whose ``key`` column is in ``keys`` replaced by ``fresh`` (their
    current version: the rows read again by id, or a per-customer figure computed again for
    those customers; a key missing from ``fresh`` is gone). ``fresh`` has ``base``'s columns
    and types. When no row of ``base`` is among ``keys`` (only new rows), ``base``'s columns are
    kept as they are (a memory-mapped copy stays mapped) and ``fresh`` appended. The rows'
    order is not the database's (no reader relies on it: the reads have no ORDER BY)."""
    fresh = fresh.select(base.column_names).cast(base.schema)
    if len(keys):
        base = _without(base, key, np.unique(np.asarray(keys, dtype=np.int64)))
    out = pa.concat_tables([base, fresh]) if fresh.num_rows else base
    # Each bringing up adds a chunk: a table brought up many times is made one again.
    return out.combine_chunks() if out.num_rows and out.column(0).num_chunks > MOST_CHUNKS else out


def of_customers(table: pa.Table, customers: np.ndarray) -> pa.Table:
    """The rows of ``table`` (a read with a ``customer_id`` column) that belong to ``customers``:
    what a per-customer figure is computed again from after a write."""
    return table.filter(pc.is_in(table.column("customer_id"), value_set=pa.array(customers, pa.int64())))


def _without(base: pa.Table, key: str, keys: np.ndarray) -> pa.Table:
    """``base`` without its rows whose ``key`` is in ``keys`` (sorted, unique). The rows kept are
    slices of ``base`` (no copy) when they make at most MOST_CHUNKS runs: the rows written are
    usually a few, and close together (the newest orders, a customer's entries); else one
    filter (a copy). Only rows whose key lies between the smallest and largest of ``keys`` are
    looked up: at 15 M orders a hash lookup of every row took 0.3 s."""
    values = base.column(key)
    if values.null_count:
        hit = pc.fill_null(pc.is_in(values, value_set=pa.array(keys, type=values.type)), False).to_numpy(
            zero_copy_only=False)
        at = np.flatnonzero(hit)
    else:
        column = values.to_numpy()
        near = np.flatnonzero((column >= keys[0]) & (column <= keys[-1]))
        at = near[np.isin(column[near], keys)]
    if not len(at):
        return base
    # The runs of kept rows: between one hit and the next.
    starts = np.concatenate(([0], at + 1))
    ends = np.concatenate((at, [base.num_rows]))
    runs = [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b > a]
    if len(runs) <= MOST_CHUNKS:
        return pa.concat_tables([base.slice(a, b - a) for a, b in runs]) if runs else base.slice(0, 0)
    keep = np.ones(base.num_rows, dtype=bool)
    keep[at] = False
    return base.filter(pa.array(keep))
