"""Columnar reads of the tables figures are computed from, and the DuckDB engine over them.

Why this path (measured in benchmarks/bench_kpis.py, see the README's benchmark section): at
the reference size SQLite's own aggregates walk 1.5 M order rows one at a time (seconds per
figure, and every Overview figure is another pass), and reading rows through the DB-API
turns every value into a Python object (17 s for the orders). The ADBC drivers for SQLite
and PostgreSQL hand the rows over as Arrow columns (about 1 s for the orders), and DuckDB
computes every aggregate over those columns in tens of milliseconds, vectorised and on both
cores. The same SQL runs whichever database the rows came from.

Reads, in this order of preference:

- the session has writes not yet committed (a test's flushed rows, an import in progress):
  read through the session's own connection, so the figures see what the session sees;
- otherwise read through ADBC on a connection of its own: for PostgreSQL in this process, for
  a SQLite file in a helper process (core.analytics.sqlite_reader: the driver's own copy of
  SQLite must never share a process with Python's, or concurrent writes corrupt the file);
- an in-memory SQLite database (no file another connection could open): the session's
  connection too.

A read is kept for the rest of the session's transaction (``session.info``) and, inside
:func:`request_scope` (one script run of the app: app.py opens it around the screen), for the
rest of the request, so the figures of one request share one read; a write to a table read
here, committed by this process, ends what the scope kept. When ``db.generation`` (the data generation moved by database
triggers on every write) is present, reads are also kept between requests in this process,
keyed by the table's generation, so a write anywhere makes the next read fresh.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from core.analytics import changelog, diskcopy
from db import generation
from db.engine import session_writing

if TYPE_CHECKING:
    import duckdb

# name -> the SELECT that reads it; columns are exactly what the analytics use, and the row's id
# (a copy is brought up to date by id: _brought_up). Money is whole cents (BIGINT, core.money),
# summed as integers.
# Timestamps come as text from SQLite and as timestamps from PostgreSQL: the views below cast.
READS: dict[str, str] = {
    "customer": "SELECT id, signup_date, segment, region, owner, subscription_status FROM customer",
    "orders": "SELECT id, customer_id, ordered_at, total_cents FROM orders",
    "refund": "SELECT id, customer_id, refunded_at, amount_cents, kind FROM refund",
    "support_ticket": "SELECT id, customer_id, opened_at FROM support_ticket",
    "feedback": "SELECT id, customer_id, submitted_at, nps_score FROM feedback",
    # Every entry but the expiries Hearth computed itself (core.loyalty: the computation leaves
    # them out; the expiry job reads them apart, read_rows): a fifth of the ledger's rows that
    # every new process read and threw away (2 M of 10.7 M at 1,000,000 customers).
    "loyalty_entry": "SELECT id, customer_id, occurred_at, kind, points, expires_at, computed, expiry_months "
                     "FROM loyalty_entry "
                     "WHERE (kind <> 'expire' OR computed = false)",
    # Who the members are, for the Loyalty screen's list (core.loyalty.member_balances): a million
    # rows through the DB-API took 6.7 s at 1,000,000 customers.
    "customer_people": "SELECT id, external_id, name, email, owner FROM customer",
}

# A read named otherwise than its table: the table whose data generation keys it.
TABLE_OF: dict[str, str] = {"customer_people": "customer"}

# DuckDB views with the types the SQL relies on, whatever the database gave.
VIEWS: dict[str, str] = {
    "customer": "SELECT CAST(id AS BIGINT) AS id, CAST(signup_date AS DATE) AS signup_date, "
                "CAST(segment AS VARCHAR) AS segment, CAST(region AS VARCHAR) AS region, "
                "CAST(owner AS VARCHAR) AS owner, CAST(subscription_status AS VARCHAR) AS subscription_status "
                "FROM raw_customer",
    "orders": "SELECT CAST(id AS BIGINT) AS id, CAST(customer_id AS BIGINT) AS customer_id, "
              "CAST(ordered_at AS TIMESTAMP) AS ordered_at, CAST(total_cents AS BIGINT) AS total_cents FROM raw_orders",
    "refund": "SELECT CAST(id AS BIGINT) AS id, CAST(customer_id AS BIGINT) AS customer_id, "
              "CAST(refunded_at AS TIMESTAMP) AS refunded_at, "
              "CAST(amount_cents AS BIGINT) AS amount_cents, CAST(kind AS VARCHAR) AS kind FROM raw_refund",
    "support_ticket": "SELECT CAST(id AS BIGINT) AS id, CAST(customer_id AS BIGINT) AS customer_id, "
                      "CAST(opened_at AS TIMESTAMP) AS opened_at FROM raw_support_ticket",
    "feedback": "SELECT CAST(id AS BIGINT) AS id, CAST(customer_id AS BIGINT) AS customer_id, "
                "CAST(submitted_at AS TIMESTAMP) AS submitted_at, "
                "CAST(nps_score AS BIGINT) AS nps_score FROM raw_feedback",
    "loyalty_entry": "SELECT CAST(id AS BIGINT) AS id, CAST(customer_id AS BIGINT) AS customer_id, "
                     "CAST(occurred_at AS TIMESTAMP) AS occurred_at, CAST(kind AS VARCHAR) AS kind, "
                     "CAST(points AS BIGINT) AS points, CAST(expires_at AS TIMESTAMP) AS expires_at, "
                     "CAST(computed AS BOOLEAN) AS computed, CAST(expiry_months AS INTEGER) AS expiry_months "
                     "FROM raw_loyalty_entry",
    "customer_people": "SELECT CAST(id AS BIGINT) AS id, CAST(external_id AS VARCHAR) AS external_id, "
                       "CAST(name AS VARCHAR) AS name, CAST(email AS VARCHAR) AS email, "
                       "CAST(owner AS VARCHAR) AS owner FROM raw_customer_people",
}

log = logging.getLogger("hearth.read")
_INFO_KEY = "hearth.analytics.reads"
_lock = threading.Lock()
_process_reads: dict[tuple[str, str], tuple[tuple, pa.Table]] = {}


_scope: contextvars.ContextVar[dict[str, pa.Table] | None] = contextvars.ContextVar("hearth_reads", default=None)
_WRITE = re.compile(r"\s*(?:insert\s+(?:or\s+\w+\s+)?into|update|delete\s+from)\s+\"?(\w+)", re.IGNORECASE)
_WROTE_KEY = "hearth.analytics.wrote"


@contextmanager
def request_scope() -> Iterator[None]:
    """Keep reads for the block (one request): every figure in it shares one read per table."""
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def _clear_reads(session: OrmSession, *_args: object) -> None:
    session.info.pop(_INFO_KEY, None)


def _note_write(conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
    match = _WRITE.match(statement)
    if match and match.group(1).lower() in READS:
        conn.info[_WROTE_KEY] = True


def _after_commit(conn: Connection) -> None:
    if conn.info.pop(_WROTE_KEY, False):
        kept = _scope.get()
        if kept is not None:
            kept.clear()


def _after_rollback(conn: Connection) -> None:
    # A connection the server dropped (a restart) is invalidated and rolled back without its
    # DB-API connection: asking for its info would raise inside the rollback and kill the
    # caller's retry (the outreach worker's). Its info went with it; nothing to forget.
    if conn.invalidated:
        return
    conn.info.pop(_WROTE_KEY, None)


event.listen(OrmSession, "after_transaction_end", _clear_reads)
event.listen(OrmSession, "after_flush", _clear_reads)
event.listen(Engine, "before_cursor_execute", _note_write)
event.listen(Engine, "commit", _after_commit)
event.listen(Engine, "rollback", _after_rollback)


def _adbc_uri(conn: Connection) -> tuple[str, str] | None:
    """(driver, uri) for ADBC, or None when only the session's connection can see the data."""
    url = make_url(str(conn.engine.url.render_as_string(hide_password=False)))
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        return "sqlite", f"file:{url.database}?mode=ro"
    if backend == "postgresql":
        return "postgresql", url.set(drivername="postgresql").render_as_string(hide_password=False)
    return None


def _read_adbc(driver: str, uri: str, sql: str) -> pa.Table:
    if driver == "sqlite":
        # Never in this process: see core.analytics.sqlite_reader (two SQLite copies corrupt).
        from core.analytics import sqlite_reader

        return sqlite_reader.read(uri, sql)
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(uri) as aconn, aconn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table()


def _read_session(conn: Connection, sql: str) -> pa.Table:
    result = conn.exec_driver_sql(sql)
    names = list(result.keys())
    rows = result.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    arrays = []
    for col in columns:
        # pyarrow types Python dates, datetimes and numbers itself; SQLite's timestamps are text.
        arrays.append(pa.array(list(col)) if len(col) else pa.array([], type=pa.string()))
    return pa.table(dict(zip(names, arrays, strict=True)))


def _generation(conn: Connection, name: str) -> tuple | None:
    """The table's data generation when db.generation exists (after issue 17's trigger
    migration), else None: then reads are kept for one transaction only."""
    try:
        return tuple(generation.read(conn, [TABLE_OF.get(name, name)]))
    except Exception:  # noqa: BLE001 - no counter table yet (an old database): keep nothing
        return None


# The Arrow type of each SQL type in VIEWS, and the conversions Arrow does exactly as DuckDB's
# CAST does (checked value by value on the reference store): text timestamps and dates in ISO
# form, integers to booleans, SQLite's 64-bit integers to 32 bits (a value that does not fit is
# refused by Arrow's checked cast). Anything else, or a value Arrow refuses, goes through DuckDB.
_ARROW = {"BIGINT": pa.int64(), "INTEGER": pa.int32(), "DATE": pa.date32(), "VARCHAR": pa.string(),
          "DOUBLE": pa.float64(), "TIMESTAMP": pa.timestamp("us"), "BOOLEAN": pa.bool_()}
_ARROW_CASTS = {(pa.string(), pa.timestamp("us")), (pa.large_string(), pa.timestamp("us")),
                (pa.string(), pa.date32()), (pa.int64(), pa.bool_()), (pa.int64(), pa.int32())}
_VIEW_COLUMN = re.compile(r"CAST\((\w+) AS (\w+)\) AS (\w+)")


def _typed_by_arrow(name: str, raw: pa.Table) -> pa.Table | None:
    """The read with the types of :data:`VIEWS` by Arrow's own casts, or None when one column
    needs more than :data:`_ARROW_CASTS` (then DuckDB casts)."""
    columns, names = [], []
    for source_name, sql_type, out_name in _VIEW_COLUMN.findall(VIEWS[name]):
        column, want = raw.column(source_name), _ARROW[sql_type]
        if column.type != want:
            if (column.type, want) not in _ARROW_CASTS and column.null_count < len(column):
                return None
            try:
                column = pc.cast(column, want)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
        columns.append(column)
        names.append(out_name)
    return pa.table(columns, names=names)


def _typed(name: str, raw: pa.Table) -> pa.Table:
    """The raw read with the types of :data:`VIEWS`, converted once (SQLite's text timestamps
    parsed once per read, not once per figure): by Arrow where it can (several times faster,
    no copy of the columns that are already right), else by DuckDB running the view."""
    typed = _typed_by_arrow(name, raw)
    if typed is not None:
        return typed
    db = duckdb_connection()
    try:
        db.register(f"raw_{name}", raw)
        return db.sql(VIEWS[name]).to_arrow_table()
    finally:
        db.close()


def _plan(session: Session, name: str) -> tuple[pa.Table | None, tuple | None]:
    """What :func:`read_table` would do: (the kept table, None) or (None, (driver, uri, key, gen))
    for an ADBC read still to be made; reads through the session's connection are made here."""
    kept: dict[str, pa.Table] = session.info.setdefault(_INFO_KEY, {})
    if name in kept:
        return kept[name], None
    conn = session.connection()
    target = _adbc_uri(conn)
    if session_writing(session) or target is None:
        kept[name] = _typed(name, _read_session(conn, READS[name]))
        return kept[name], None
    scoped = _scope.get()
    if scoped is not None and name in scoped:
        kept[name] = scoped[name]
        return scoped[name], None
    gen = _generation(conn, name)
    key = (target[1], name)
    if gen is not None:
        with _lock:
            hit = _process_reads.get(key)
        if hit is not None and hit[0] == gen:
            kept[name] = hit[1]
            return hit[1], None
    return None, (target[0], target[1], key, gen)


def _fetch(name: str, todo: tuple) -> pa.Table:
    """The read ``todo`` plans: from this machine's disk copy when one of the same data
    generation is there (core.analytics.diskcopy), else an older copy (this process's, or the
    disk's) brought up to date from the change log (:func:`_brought_up`), else from the
    database; a read not found on disk is then copied there in the background for the next
    process."""
    driver, uri, _key, gen = todo
    where = None if gen is None else diskcopy.slot("read", uri, name, gen)

    def compute() -> pa.Table:
        table = _brought_up(name, todo, where)
        if table is None:
            table = _typed(name, _read_adbc(driver, uri, READS[name]))
        return _stamped(table, gen)

    return diskcopy.kept_table(where, compute)


_STATE_KEY = b"hearth.state"


def _stamped(table: pa.Table, gen: tuple | None) -> pa.Table:
    """``table`` with the state it holds (the table's data generation) and the code version in
    its schema metadata, for a later reader to bring it up to date (:func:`_brought_up`)."""
    state = None if gen is None else changelog.state_of(gen)
    if state is None:
        return table.replace_schema_metadata(None)
    return table.replace_schema_metadata({_STATE_KEY: json.dumps(state).encode(),
                                          diskcopy.CODE_KEY: diskcopy.code_version().encode()})


def _state(table: pa.Table) -> tuple[int, int, int] | None:
    raw = (table.schema.metadata or {}).get(_STATE_KEY)
    try:
        epoch, n, stamp = json.loads(raw) if raw else (None, None, None)
    except (ValueError, TypeError):
        return None
    return None if epoch is None else (int(epoch), int(n), int(stamp))


def _brought_up(name: str, todo: tuple, where: tuple[str, str] | None) -> pa.Table | None:
    """The read ``todo`` plans, made from an older copy of it (kept in this process, else the
    disk's newest other copy) and the rows written since, read by id (core.analytics.changelog);
    None when there is no older copy, its table's writes are not logged, or the log cannot tell
    every row written since (then the whole table is read)."""
    driver, uri, key, gen = todo
    table = TABLE_OF.get(name, name)
    new = None if gen is None else changelog.state_of(gen)
    if new is None or table not in generation.LOGGED or not READS[name].startswith("SELECT id, "):
        return None
    with _lock:
        hit = _process_reads.get(key)
    base = hit[1] if hit is not None and hit[0] != gen else diskcopy.previous_table(where)
    old = None if base is None else _state(base)
    if not changelog.follows(old, new):
        return None
    try:
        changes = changelog.changed_since(_read_adbc(driver, uri, changelog.log_sql(table, old[1], new[1])), old, new)
        if changes is None:
            return None
        fresh = _typed(name, _read_adbc(driver, uri, changelog.rows_sql(READS[name], table, old[1], new[1])))
    except Exception:  # noqa: BLE001 - no change log (an older schema): read the whole table
        log.debug("%s not brought up to date from the change log", name, exc_info=True)
        return None
    log.info("%s brought up to date from the change log: %d rows written since, %d read", name,
             len(changes.ids), fresh.num_rows)
    return changelog.apply(base, changes.ids, fresh)


def changes_since(session: Session, table: str, old: tuple[int, int, int],
                  new: tuple[int, int, int]) -> changelog.Changes | None:
    """The rows of ``table`` written after state ``old`` up to state ``new`` (both (epoch,
    counter, stamp)) and their customers, from the change log read on the session's connection
    (core.analytics.changelog.changed_since; None when it cannot tell)."""
    if table not in generation.LOGGED or not changelog.follows(old, new):
        return None
    try:
        rows = session.connection().exec_driver_sql(changelog.log_sql(table, old[1], new[1])).all()
    except Exception:  # noqa: BLE001 - no change log (an older schema): compute everything
        return None
    names = ("n", "stamp", "row_id", "customer_id", "whole")
    log = pa.table({c: pa.array([r[i] for r in rows], type=pa.int64()) for i, c in enumerate(names)})
    return changelog.changed_since(log, old, new)


def kept_per_customer(session: Session, name: str, what: str, key: tuple,
                      compute: Callable[[np.ndarray | None], pa.Table]) -> pa.Table:
    """A table of one row per customer (column ``customer_id``) computed from table ``name`` (and
    ``key``: the dates and settings it depends on), kept on this machine's disk like a read, by
    ``name``'s data generation (core.analytics.diskcopy). When only a copy of an earlier
    generation is there and the change log names the customers written since, it is brought up
    to date by computing those customers only: ``compute(customers)`` gives their rows (a
    customer left without rows has none), which replace theirs; else ``compute(None)`` gives
    every customer's. Without a disk copy, ``compute(None)``."""
    state = disk_key(session, name)
    if state is None:
        return compute(None)
    database, gen = state
    where = diskcopy.slot(what, database, f"{name}@{key!r}", (gen,))

    def build() -> pa.Table:
        new = changelog.state_of(gen)
        base = diskcopy.previous_table(where)
        old = None if base is None else _state(base)
        changes = changes_since(session, name, old, new) if changelog.follows(old, new) else None
        if changes is None:
            return _stamped(compute(None), gen)
        log.info("%s brought up to date from the change log: %d customers computed again", what,
                 len(changes.customers))
        return _stamped(changelog.apply(base, changes.customers, compute(changes.customers), key="customer_id"),
                        gen)

    return diskcopy.kept_table(where, build)


def disk_key(session: Session, name: str) -> tuple[str, tuple] | None:
    """(database, data generation of ``name``'s table) when values computed from that table
    may be kept between processes (core.analytics.diskcopy): the session has no uncommitted
    writes, the database is one other connections can open, and it has data generations."""
    conn = session.connection()
    target = _adbc_uri(conn)
    if session_writing(session) or target is None:
        return None
    gen = _generation(conn, name)
    return None if gen is None else (target[1], gen)


def _keep(session: Session, name: str, todo: tuple, table: pa.Table) -> pa.Table:
    _driver, _uri, key, gen = todo
    if gen is not None:
        with _lock:
            _process_reads[key] = (gen, table)
    scoped = _scope.get()
    if scoped is not None:
        scoped[name] = table
    session.info.setdefault(_INFO_KEY, {})[name] = table
    return table


def read_rows(session: Session, name: str, where: str) -> pa.Table:
    """The rows of the table read as ``name`` (:data:`READS`) that ``where`` (an SQL condition of
    this code's own, never user text) selects, whatever the read's own condition, with the read's
    columns and types; read now, not kept (a part of a table one command needs: the ledger's
    computed expiries for the expiry job)."""
    select = READS[name].split(" WHERE ", 1)[0]
    conn = session.connection()
    target = _adbc_uri(conn)
    sql = f"{select} WHERE {where}"
    if session_writing(session) or target is None:
        return _typed(name, _read_session(conn, sql))
    return _typed(name, _read_adbc(target[0], target[1], sql))


def read_table(session: Session, name: str) -> pa.Table:
    """The rows of one table of :data:`READS` as an Arrow table, with the column types of
    :data:`VIEWS` (timestamps as timestamps, whatever the database gave); a read started by
    :func:`prefetch` is waited for, not made again."""
    table, todo = _plan(session, name)
    if todo is None:
        return table
    return _keep(session, name, todo, _result(name, todo))


# Reads started ahead (prefetch), two at a time: (table's key) -> (its generation, the read).
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hearth-read")

# How much lower than the app's other threads the reads started at app start run (Linux nice).
AHEAD_NICENESS = 10
_BASE_NICENESS = os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0
# Reads ahead under way: (table's key) -> the thread reading it; and the keys a screen waits for.
_ahead_threads: dict[tuple[str, str], int] = {}
_ahead_queued: set[tuple[str, str]] = set()
_awaited: set[tuple[str, str]] = set()


def set_niceness(thread: int, value: int) -> None:
    """Set a thread's nice value (on Linux each thread has its own); nothing where the system
    refuses (raising a priority again needs CAP_SYS_NICE or RLIMIT_NICE) or has none."""
    try:
        os.setpriority(os.PRIO_PROCESS, thread, value)
    except (AttributeError, OSError):
        pass


def _fetch_ahead(name: str, todo: tuple) -> pa.Table:
    """:func:`_fetch` for a read started at app start (:func:`warm`), at a lower scheduling
    priority (nice + AHEAD_NICENESS) unless a screen already waits for it: the reads ahead take
    only the CPU the screens leave. At 1,000,000 customers they kept both cores busy for about
    ten seconds after the start (the app decoding 15 M orders and 10 M ledger entries), and the
    first screen opened then, My work, took 6.2 s instead of 0.6 s (0.3 s with them lowered).
    A screen that comes to wait for the read raises it back (:func:`_hurry`)."""
    key, me = todo[2], threading.get_native_id()
    with _lock:
        _ahead_threads[key] = me
        low = key not in _awaited
    set_niceness(me, _BASE_NICENESS + AHEAD_NICENESS if low else _BASE_NICENESS)
    try:
        return _fetch(name, todo)
    finally:
        with _lock:
            _ahead_threads.pop(key, None)
            _ahead_queued.discard(key)
            _awaited.discard(key)
        set_niceness(me, _BASE_NICENESS + AHEAD_NICENESS)


def _hurry(key: tuple[str, str]) -> None:
    """A screen waits for the read ahead of ``key``: run it at the app's own priority from now
    on (the figures the screen computes meanwhile would otherwise starve the read its first
    figure needs: the Overview at 1,000,000 customers took 22 s instead of 17)."""
    with _lock:
        if key not in _ahead_queued:
            return  # not a read ahead
        _awaited.add(key)
        thread = _ahead_threads.get(key)
    if thread is not None:
        set_niceness(thread, _BASE_NICENESS)


# The reads of :func:`warm`, on threads of their own.
_ahead_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hearth-read-ahead")
_pending: dict[tuple[str, str], tuple[tuple, Future]] = {}


def _result(name: str, todo: tuple) -> pa.Table:
    _driver, _uri, key, gen = todo
    with _lock:
        pending = _pending.get(key)
        if pending is not None and pending[0] != gen:
            del _pending[key]  # a read of an older generation: never wanted again
            pending = None
    if pending is None:
        return _fetch(name, todo)
    _hurry(key)
    try:
        table = pending[1].result()
    finally:
        with _lock:
            if _pending.get(key) is pending:
                del _pending[key]
                if gen is not None and pending[1].exception() is None:
                    # Kept before the started read is forgotten, so another thread asking in
                    # between finds one or the other and never reads the table a second time.
                    _process_reads[key] = (gen, pending[1].result())
    return table


def prefetch(session: Session, names: Iterable[str]) -> None:
    """Start the reads of ``names`` that are neither kept nor started yet, in the background and
    two at a time (the machine's two cores: one table is parsed while another is read, and a
    figure over the first can be computed while the second is still read); :func:`read_table`
    waits for them. Only reads kept by data generation are started ahead (see the module doc).

    The session is used only in this thread; the reads run on their own connections (ADBC) or
    in the SQLite reader processes."""
    _start(session, names)


def _start(session: Session, names: Iterable[str], *, ahead: bool = False) -> list[tuple[str, tuple, Future]]:
    """Submit the reads of ``names`` kept by data generation that are neither kept nor started
    for their generation (``ahead``: as reads ahead, :func:`_fetch_ahead`); returns (name, plan,
    future) of each read started."""
    started = []
    for name in dict.fromkeys(names):
        _table, todo = _plan(session, name)
        if todo is None or todo[3] is None:
            continue
        key, gen = todo[2], todo[3]
        with _lock:
            pending = _pending.get(key)
            if pending is not None and pending[0] == gen:
                continue
            if ahead:
                _ahead_queued.add(key)
                future = _ahead_pool.submit(_fetch_ahead, name, todo)
            else:
                future = _pool.submit(_fetch, name, todo)
            _pending[key] = (gen, future)
        started.append((name, todo, future))
    return started


_duck: duckdb.DuckDBPyConnection | None = None


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """A fresh DuckDB cursor on this process's one in-memory DuckDB database (closed by its user).

    A cursor sees only the tables registered on it, so two figures (two threads) never see each
    other's; a cursor takes microseconds, a new database tens of milliseconds (once per figure
    before, the largest cost of a filter combination once the tables were read)."""
    global _duck
    with _lock:
        if _duck is None:
            import duckdb  # here, not at the top: a command's reads start before DuckDB is loaded

            _duck = duckdb.connect(":memory:")
        return _duck.cursor()


def engine_for(session: Session, tables: Iterable[str]) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with the named tables registered (typed once per read).

    Each table has the columns of :data:`VIEWS`; timestamps are naive UTC as stored."""
    tables = list(tables)
    prefetch(session, tables)
    db = duckdb_connection()
    for name in tables:
        db.register(name, read_table(session, name))
    return db


def release(session: Session, name: str) -> None:
    """Forget this process's kept read of ``name`` (between requests, in the request scope and in
    the session), for a table whose only reader keeps what it derived from it: the loyalty
    ledger's entries, normalised once per data generation (core.loyalty.normalised_ledger), are
    the largest read (533 MB at 1,000,000 customers) and were kept twice, raw and normalised. A
    later reader reads the table again; a read started ahead is left to finish."""
    with _lock:
        for key in [k for k in _process_reads if k[1] == name]:
            del _process_reads[key]
    scoped = _scope.get()
    if scoped is not None:
        scoped.pop(name, None)
    session.info.get(_INFO_KEY, {}).pop(name, None)


def forget_reads() -> None:
    """Drop the reads kept between requests and those started ahead (tests, the benchmark's
    cold runs)."""
    with _lock:
        _process_reads.clear()
        _pending.clear()


# What the app reads ahead when it starts (:func:`warm`): the tables the first screens read,
# largest first. Reads only, as the database holds them: nothing is computed ahead.
WARM_TABLES: tuple[str, ...] = ("orders", "loyalty_entry", "customer", "feedback", "refund", "support_ticket")


def _keep_ahead(name: str, todo: tuple, future: Future) -> None:
    """When a read started by :func:`warm` is done, keep it as any read is kept between
    requests (by its table's generation), so a session that asks later finds it at once."""
    _driver, _uri, key, gen = todo
    if future.cancelled() or future.exception() is not None:
        return
    with _lock:
        if _pending.get(key, (None, None))[1] is future:
            del _pending[key]
        current = _process_reads.get(key)
        if current is None or current[0] != gen:
            _process_reads[key] = (gen, future.result())


def warm(engine: Engine, names: Iterable[str] = WARM_TABLES) -> int:
    """Start the columnar reads of ``names`` in the background now (app start), on the reader
    threads of :func:`prefetch`, and keep each, when done, by its table's data generation.
    Returns how many reads were started (none for a database whose reads are not kept by
    generation, or when they are kept or started already).

    Only reads: each is what the first figure over the table would read, keyed as any read kept
    between requests, so a write before a screen asks makes that screen read afresh. Nothing is
    computed ahead and nothing is written."""
    with Session(engine) as session:
        if _adbc_uri(session.connection()) is None:
            return 0  # read through the session only (an in-memory database): nothing to start
        started = _start(session, names, ahead=True)
    for name, todo, future in started:
        future.add_done_callback(lambda f, name=name, todo=todo: _keep_ahead(name, todo, f))
    return len(started)


def start_readers(url: str) -> None:
    """Start the SQLite reader processes (core.analytics.sqlite_reader) now when ``url`` is a
    SQLite file, so the first screen does not wait for them; nothing for other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        from core.analytics import sqlite_reader

        sqlite_reader.start()
