"""The data generation: a counter per table that every INSERT, UPDATE and DELETE moves on.

``data_generation`` holds one row per watched table, ``(table_name, n)``. A trigger on each
watched table adds one to its row in the same transaction as the write, so:

- any writer counts, whatever process, replica or tool it is (an import, the app, a psql
  session, another replica): the database does it, not Hearth's code;
- the counter moves exactly when the write commits (a rolled-back write moves nothing), and a
  reader that sees the new counter sees the written rows too;
- on PostgreSQL the trigger is statement-level (``FOR EACH STATEMENT``: one update per
  INSERT/UPDATE/DELETE/TRUNCATE statement, however many rows; a COPY counts as one statement).
  The counter row stays locked until the writer commits, so two writers of the same table take
  turns at commit time and both increments count (no lost update, whatever order ids came in).
- SQLite triggers are row-level only: one tiny UPDATE per row written, which about doubles the
  cost of inserting a row. Bulk writes (db.bulk) therefore go through :func:`bulk_write`, which
  moves the counter once per bulk write instead (see there why that is correct for every writer).

Each row also holds a ``stamp``, set to a new random number by the same trigger (migration
0017). The counter alone names a state only along one history: a backup restored (its counters
with it) and then written to differently reaches the same counter again with other data, and a
figure kept under that counter before the restore, in memory or on disk
(core.analytics.diskcopy), would be served. The stamp of the restored state's next write is a
new random number, so it never matches what was kept before.

core.readcache keys every cached figure by these counters and stamps. Audit log, users' sign-in
bookkeeping and other tables no figure reads are not watched.

The change log (``data_change``, migration 0018): for the tables in :data:`LOGGED` (the large
ones the columnar reads copy, core.analytics.source) the same trigger also writes which rows
the write touched and whose they are, ``(table_name, n, stamp, row_id, customer_id, whole)`` with
the counter and stamp the write set (an UPDATE that moved a row to another customer logs both).
A reader holding a copy of the table at one state can then bring it to the current one by
reading only those rows, and a figure kept per customer by computing only those customers again
(core.analytics.changelog). Each write of a generation leaves at
least one row: the ids it touched; one row with no id and ``whole = 0`` when it touched none;
one row with ``whole = 1`` when the log does not say which rows (a bulk write of more than
:data:`LOG_ROWS` rows: SQLite's :func:`bulk_write`, a PostgreSQL statement; a TRUNCATE).
Rows more than :data:`KEEP_GENERATIONS` generations old are removed by the writers, every
1,024th generation; a reader that finds its state's rows gone reads the whole table, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

TABLE = "data_generation"
EPOCH = "~epoch"
STAMPS = "~stamps"

# The tables figures and screens read. Not audit_log (every sign-in, export and view writes it).
WATCHED: tuple[str, ...] = (
    "customer", "consent_change", "product", "orders", "refund", "order_line", "feedback",
    "loyalty_entry", "support_ticket", "staff_user", "model_run", "score_snapshot", "campaign",
    "outreach", "setting", "feedback_model", "task",
)


# The tables whose writes log the ids of the rows they touched (the columnar reads' tables).
LOGGED: tuple[str, ...] = ("customer", "orders", "refund", "feedback", "loyalty_entry", "support_ticket")
CHANGES = "data_change"
# A PostgreSQL statement touching more rows than this logs "whole" instead of every id: reading
# that many rows by id is no faster than reading the table, and a bulk load stays one cheap row.
LOG_ROWS = 10_000
# How many generations of a table the log keeps (older rows are removed by the writers).
KEEP_GENERATIONS = 50_000


def _function_name(table: str) -> str:
    return f"hearth_generation_{table}"


def _trigger_names(table: str) -> list[str]:
    """The SQLite triggers of ``table``: after each INSERT, UPDATE and DELETE, and (logged tables,
    migration 0023) before an INSERT that replaces rows (:func:`_sqlite_replace_trigger`)."""
    return [f"hearth_generation_{table}_{op}" for op in ("insert", "update", "delete", "replace")]


def _sqlite_replace_trigger(t: str) -> str:
    """SQLite's INSERT OR REPLACE (and REPLACE INTO) deletes the rows it conflicts with (same id or
    same external_id) without firing DELETE triggers, so the change log named only the new row:
    a copy kept the replaced row beside it (an order counted twice) and its customer's figures
    were not computed again. Before such an insert this trigger moves the counter (a generation
    of its own, with its own stamp) and logs each row about to be replaced, with its customer;
    the AFTER INSERT trigger then logs the new row as usual. A plain insert, which replaces
    nothing, does nothing more than the conflict lookup (by primary key and unique index)."""
    name = f"hearth_generation_{t}_replace"
    conflict = f'FROM "{t}" WHERE id = NEW.id OR external_id = NEW.external_id'
    return (f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE INSERT ON \"{t}\" FOR EACH ROW "
            f"WHEN EXISTS (SELECT 1 {conflict}) BEGIN "
            f"UPDATE {TABLE} SET {_move_sql('sqlite', True)} WHERE table_name = '{t}'; "
            f"INSERT INTO {CHANGES} (table_name, n, stamp, row_id, customer_id, whole) "
            f"SELECT '{t}', g.n, g.stamp, r.id, {_owner(t, 'r')}, 0 FROM {TABLE} g, \"{t}\" r "
            f"WHERE g.table_name = '{t}' AND (r.id = NEW.id OR r.external_id = NEW.external_id); END")


def _stamp_sql(dialect: str) -> str:
    """A new random 63-bit stamp, in the dialect's SQL."""
    return "random()" if dialect == "sqlite" else "floor(random() * 9e15)::bigint"


def _move_sql(dialect: str, stamped: bool) -> str:
    """The SET clause a write runs on its table's row."""
    return f"n = n + 1, stamp = {_stamp_sql(dialect)}" if stamped else "n = n + 1"


def _owner(t: str, row: str) -> str:
    """The customer a row of ``t`` belongs to, in a trigger: its customer_id (the customer's own
    id for a customer)."""
    return f"{row}.id" if t == "customer" else f"{row}.customer_id"


def _sqlite_logged_body(t: str, op: str) -> str:
    """A SQLite row trigger's body for a logged table: move the counter, log the row's id and
    customer (an UPDATE that changed either logs the old ones too), and every 1,024th
    generation drop the log's rows older than KEEP_GENERATIONS."""
    now = f"(SELECT n FROM {TABLE} WHERE table_name = '{t}')"
    log = (f"INSERT INTO {CHANGES} (table_name, n, stamp, row_id, customer_id, whole) "
           f"SELECT '{t}', n, stamp, {{id}}, {{owner}}, 0 FROM {TABLE} WHERE table_name = '{t}'{{cond}}; ")
    changed = f" AND (OLD.id IS NOT NEW.id OR {_owner(t, 'OLD')} IS NOT {_owner(t, 'NEW')})"
    rows = {"INSERT": [("NEW", "")], "DELETE": [("OLD", "")], "UPDATE": [("NEW", ""), ("OLD", changed)]}[op]
    return (f"UPDATE {TABLE} SET {_move_sql('sqlite', True)} WHERE table_name = '{t}'; "
            + "".join(log.format(id=f"{r}.id", owner=_owner(t, r), cond=c) for r, c in rows)
            + f"DELETE FROM {CHANGES} WHERE table_name = '{t}' AND {now} % 1024 = 0 "
              f"AND n <= {now} - {KEEP_GENERATIONS}; ")


def _postgres_logged_function(t: str) -> str:
    """A PostgreSQL statement trigger's function for a logged table (see the module doc): one
    counter move per statement, the ids and customers from the statement's transition tables."""
    fn = _function_name(t)
    row = f"INSERT INTO {CHANGES} (table_name, n, stamp, row_id, customer_id, whole) "
    owner = "id" if t == "customer" else "customer_id"
    return (
        f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE g bigint; s bigint; k bigint; BEGIN "
        f"UPDATE {TABLE} SET {_move_sql('postgresql', True)} WHERE table_name = '{t}' RETURNING n, stamp INTO g, s; "
        "IF TG_OP = 'TRUNCATE' THEN k := -1; "
        f"ELSIF TG_OP = 'INSERT' THEN SELECT count(*) INTO k FROM (SELECT 1 FROM hearth_new LIMIT {LOG_ROWS + 1}) x; "
        f"ELSE SELECT count(*) INTO k FROM (SELECT 1 FROM hearth_old LIMIT {LOG_ROWS + 1}) x; END IF; "
        f"IF k < 0 OR k > {LOG_ROWS} THEN {row}VALUES ('{t}', g, s, NULL, NULL, 1); "
        f"ELSIF k = 0 THEN {row}VALUES ('{t}', g, s, NULL, NULL, 0); "
        f"ELSIF TG_OP = 'INSERT' THEN {row}SELECT '{t}', g, s, id, {owner}, 0 FROM hearth_new; "
        f"ELSIF TG_OP = 'DELETE' THEN {row}SELECT '{t}', g, s, id, {owner}, 0 FROM hearth_old; "
        f"ELSE {row}SELECT '{t}', g, s, r, c, 0 FROM "
        f"(SELECT id AS r, {owner} AS c FROM hearth_old UNION SELECT id, {owner} FROM hearth_new) u; "
        "END IF; "
        f"IF g % 1024 = 0 THEN DELETE FROM {CHANGES} WHERE table_name = '{t}' AND n <= g - {KEEP_GENERATIONS}; "
        "END IF; RETURN NULL; END $$")


def create_statements(dialect: str, tables: Iterable[str] = WATCHED, *, stamped: bool = True,
                      logged: Iterable[str] = (), replaces: bool = True) -> list[str]:
    """DDL that creates the counter table (if missing), its rows and the triggers for ``tables``.

    ``stamped``: the triggers also set the row's random ``stamp`` (migration 0017 on); without it,
    the counters as migrations 0012 to 0016 had them (no stamp column). ``logged``: the tables
    (of ``tables``) whose triggers also write the change log (migration 0018 on; needs
    ``stamped``); the log's table is created when any is named. ``replaces``: on SQLite, the
    logged tables also get the trigger before an INSERT OR REPLACE (migration 0023 on)."""
    tables = list(tables)
    logged = [t for t in tables if t in set(logged)]
    if logged and not stamped:
        raise ValueError("the change log needs the stamped counters")
    stamp_column = ", stamp BIGINT NOT NULL DEFAULT 0" if stamped else ""
    out = [f"CREATE TABLE IF NOT EXISTS {TABLE} "
           f"(table_name VARCHAR(64) NOT NULL PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0{stamp_column})"]
    # A random epoch, new whenever the counters are created afresh (a schema rebuilt, a
    # downgrade and upgrade), so counters that start again at 0 never match older keys.
    rand = "abs(random())" if dialect == "sqlite" else "floor(random() * 9e15)::bigint"
    out.append(f"INSERT INTO {TABLE} (table_name, n) SELECT '{EPOCH}', {rand} "
               f"WHERE NOT EXISTS (SELECT 1 FROM {TABLE} WHERE table_name = '{EPOCH}')")
    for t in tables:
        out.append(f"INSERT INTO {TABLE} (table_name, n) SELECT '{t}', 0 "
                   f"WHERE NOT EXISTS (SELECT 1 FROM {TABLE} WHERE table_name = '{t}')")
    if dialect == "sqlite":
        for t in tables:
            for name, op in zip(_trigger_names(t)[:3], ("INSERT", "UPDATE", "DELETE"), strict=True):
                body = (_sqlite_logged_body(t, op) if t in logged
                        else f"UPDATE {TABLE} SET {_move_sql(dialect, stamped)} WHERE table_name = '{t}'; ")
                out.append(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {op} ON \"{t}\" FOR EACH ROW BEGIN "
                           f"{body}END")
            if t in logged and replaces:
                out.append(_sqlite_replace_trigger(t))
    elif dialect == "postgresql":
        for t in tables:
            fn = _function_name(t)
            out.append(f'DROP TRIGGER IF EXISTS {fn} ON "{t}"')
            if t in logged:
                out.append(_postgres_logged_function(t))
                insert, update, delete = _trigger_names(t)[:3]
                for name, event, refs in ((insert, "INSERT", "NEW TABLE AS hearth_new"),
                                          (update, "UPDATE", "OLD TABLE AS hearth_old NEW TABLE AS hearth_new"),
                                          (delete, "DELETE", "OLD TABLE AS hearth_old")):
                    out.append(f'DROP TRIGGER IF EXISTS {name} ON "{t}"')
                    out.append(f'CREATE TRIGGER {name} AFTER {event} ON "{t}" REFERENCING {refs} '
                               f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()")
                out.append(f'DROP TRIGGER IF EXISTS {fn}_truncate ON "{t}"')
                out.append(f'CREATE TRIGGER {fn}_truncate AFTER TRUNCATE ON "{t}" '
                           f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()")
                continue
            out.append(f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                       f"UPDATE {TABLE} SET {_move_sql(dialect, stamped)} WHERE table_name = '{t}'; "
                       "RETURN NULL; END $$")
            out.append(f'CREATE TRIGGER {fn} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{t}" '
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()")
    else:
        raise ValueError(f"no data-generation triggers for the {dialect!r} dialect")
    return out


def drop_trigger_statements(dialect: str, tables: Iterable[str] = WATCHED) -> list[str]:
    """DDL that removes the triggers for ``tables`` (and their PostgreSQL functions), logged or not."""
    out: list[str] = []
    for t in tables:
        if dialect == "sqlite":
            out.extend(f"DROP TRIGGER IF EXISTS {name}" for name in _trigger_names(t))
        else:
            fn = _function_name(t)
            for name in (fn, *_trigger_names(t), f"{fn}_truncate"):
                out.append(f'DROP TRIGGER IF EXISTS {name} ON "{t}"')
            out.append(f"DROP FUNCTION IF EXISTS {fn}()")
    return out


def drop_statements(dialect: str, tables: Iterable[str] = WATCHED) -> list[str]:
    """DDL that removes the triggers for ``tables`` and the counter table."""
    return [*drop_trigger_statements(dialect, tables), f"DROP TABLE IF EXISTS {TABLE}"]


def install(connection: Connection, tables: Iterable[str] = WATCHED) -> None:
    """Create the counters and triggers on ``connection`` (idempotent)."""
    for statement in create_statements(connection.dialect.name, tables, logged=LOGGED):
        connection.exec_driver_sql(statement)


def read(connection: Connection, tables: Iterable[str] | None = None) -> tuple[tuple[str, Any], ...]:
    """The epoch, then the counters of ``tables`` (default: every watched table) by table name,
    then (:data:`STAMPS`, the tables' stamps in the same order): a key that names one state of
    the data (see the module doc).

    One primary-key read of a table of ~20 rows. Raises KeyError naming a table that is not
    watched (a figure keyed by an unwatched table could never see its writes)."""
    rows = {name: (n, stamp) for name, n, stamp in
            connection.execute(text(f"SELECT table_name, n, stamp FROM {TABLE}")).all()}
    names = sorted(WATCHED if tables is None else set(tables))
    missing = [t for t in names if t not in rows]
    if missing:
        raise KeyError(f"tables without a data generation: {', '.join(missing)}")
    epoch = int(rows[EPOCH][0]) if EPOCH in rows else 0
    return ((EPOCH, epoch), *((t, int(rows[t][0])) for t in names),
            (STAMPS, tuple(int(rows[t][1]) for t in names)))


@contextmanager
def bulk_write(connection: Connection, table: str, rows: int | None = None) -> Iterator[None]:
    """Around a bulk write of ``table`` (``rows`` rows, when known) inside the caller's open
    transaction: on SQLite the table's row triggers are dropped, the counter is moved once, and
    the triggers are created again, all in that transaction. Correct for every writer: SQLite
    lets one connection write at a time, so no other writer can touch the table while the
    triggers are away, and DDL is transactional, so a rollback brings them back. When the
    table's writes are logged (the change log, see the module doc), the move is logged as
    ``whole``: the log does not say which rows a bulk write touched. A write of at most
    LOG_ROWS rows of a logged table (an import of a small file) keeps its triggers instead, so
    that the log names its rows (about 15 microseconds a row). PostgreSQL's statement triggers
    already cost one update per statement (a COPY is one; a statement of more than LOG_ROWS
    rows logs ``whole``): nothing is changed there."""
    if connection.dialect.name != "sqlite" or table not in WATCHED:
        yield
        return
    if table in LOGGED and rows is not None and rows <= LOG_ROWS and connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (CHANGES,)).first():
        yield
        return
    names = _trigger_names(table)
    rows = connection.exec_driver_sql(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({', '.join('?' * len(names))})",
        tuple(names)).all()
    for name, _sql in rows:
        connection.exec_driver_sql(f"DROP TRIGGER {name}")
    try:
        yield
        connection.exec_driver_sql(f"UPDATE {TABLE} SET {_move_sql('sqlite', True)} WHERE table_name = ?",
                                   (table,))
        if table in LOGGED and connection.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (CHANGES,)).first():
            connection.exec_driver_sql(f"INSERT INTO {CHANGES} (table_name, n, stamp, row_id, customer_id, whole) "
                                       f"SELECT table_name, n, stamp, NULL, NULL, 1 FROM {TABLE} WHERE table_name = ?",
                                       (table,))
    finally:
        for name, sql in rows:  # unless a failed write's rollback has brought it back already
            if not connection.exec_driver_sql(
                    "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?", (name,)).first():
                connection.exec_driver_sql(sql)
