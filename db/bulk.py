"""Fast bulk writes for the demo generator and imports: never one ORM object per row.

SQLite gets the driver's `executemany` with plain tuples inside the caller's transaction;
PostgreSQL gets `COPY ... FROM STDIN` through psycopg's `cursor.copy()`. Values are converted
column by column (vectorised) to what SQLAlchemy itself would store, so rows written here
read back exactly like rows written through the ORM.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from db import generation

SQLITE_CHUNK = 100_000


def _frame(rows: pd.DataFrame | Sequence[dict[str, Any]]) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    return pd.DataFrame.from_records(list(rows))


def _fill_defaults(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Add the table's missing NOT NULL columns that have a Python-side default (e.g. created_at)."""
    extra: dict[str, Any] = {}
    for col in table.columns:
        if col.name in frame.columns or col.primary_key or col.default is None:
            continue
        default = col.default
        if getattr(default, "is_scalar", False):
            extra[col.name] = default.arg
        elif getattr(default, "is_callable", False):
            extra[col.name] = default.arg(None)
    if extra:
        frame = frame.assign(**extra)
    return frame


def _sqlite_datetimes(values: pd.Series) -> list[Any]:
    """'YYYY-MM-DD HH:MM:SS.ffffff', the format SQLAlchemy's SQLite DateTime writes."""
    arr = pd.to_datetime(values).to_numpy().astype("datetime64[us]")
    text = np.datetime_as_string(arr, unit="us")  # 'YYYY-MM-DDTHH:MM:SS.ffffff' or 'NaT'
    nat = np.isnat(arr)
    chars = text.astype("U26").view("U1").reshape(len(text), 26)
    chars[:, 10] = " "
    out = chars.view("U26").ravel().astype(object)
    if nat.any():
        out[nat] = None
    return out.tolist()


def _sqlite_dates(values: pd.Series) -> list[Any]:
    if pd.api.types.is_datetime64_any_dtype(values):
        arr = values.to_numpy().astype("datetime64[D]")
        out = np.datetime_as_string(arr, unit="D").astype(object)
        out[np.isnat(arr)] = None
        return out.tolist()
    return [None if v is None or v is pd.NaT or v != v else v.isoformat()[:10] for v in values.tolist()]


def _nullable(values: pd.Series) -> list[Any]:
    if values.isna().any():
        return values.astype(object).where(values.notna(), None).tolist()
    return values.tolist()


def _sqlite_column(values: pd.Series, col_type: Any) -> list[Any]:
    if isinstance(col_type, DateTime):
        if values.dtype == object and values.notna().any() and isinstance(values.dropna().iloc[0], str):
            return _nullable(values)
        return _sqlite_datetimes(values)
    if isinstance(col_type, Date):
        return _sqlite_dates(values)
    if isinstance(col_type, Boolean):
        if values.isna().any():
            return [None if v is None or v != v else int(bool(v)) for v in values.tolist()]
        return values.astype(bool).astype("int64").tolist()
    if isinstance(col_type, Integer) and values.dtype.kind == "f":
        return _nullable(values.astype("Int64"))
    return _nullable(values)


def _insert_sqlite(connection: Connection, table: Table, frame: pd.DataFrame,
                   progress: Callable[[int], None] | None, chunk_size: int) -> None:
    cols = list(frame.columns)
    sql = (f'INSERT INTO "{table.name}" ({", ".join(_quoted(cols))}) '
           f'VALUES ({", ".join("?" for _ in cols)})')
    for start in range(0, len(frame), chunk_size):
        part = frame.iloc[start : start + chunk_size]
        columns = [_sqlite_column(part[c], table.c[c].type) for c in cols]
        # Plain tuples straight to the driver's executemany (SQLAlchemy only wraps errors).
        connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))
        if progress:
            progress(start + len(part))


def _quoted(cols: Sequence[str]) -> list[str]:
    return [f'"{c}"' for c in cols]


def _csv_frame(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    out = {}
    for c in frame.columns:
        values = frame[c]
        col_type = table.c[c].type
        if isinstance(col_type, Integer) and not isinstance(col_type, Boolean) and values.dtype.kind == "f":
            values = values.astype("Int64")
        elif isinstance(col_type, Float) and values.dtype == object:
            values = pd.to_numeric(values)
        elif isinstance(col_type, Date) and pd.api.types.is_datetime64_any_dtype(values):
            values = pd.Series(_sqlite_dates(values), index=values.index, dtype=object)
        out[c] = values
    return pd.DataFrame(out)


def _insert_postgres(connection: Connection, table: Table, frame: pd.DataFrame,
                     progress: Callable[[int], None] | None, chunk_size: int) -> None:
    cols = ", ".join(_quoted(list(frame.columns)))
    sql = f'COPY "{table.name}" ({cols}) FROM STDIN WITH (FORMAT csv)'
    raw = connection.connection.driver_connection
    dbapi = connection.dialect.dbapi
    with raw.cursor() as cursor:
        for start in range(0, len(frame), chunk_size):
            part = _csv_frame(frame.iloc[start : start + chunk_size], table)
            buffer = io.StringIO()
            # Unquoted empty fields are NULL in COPY's CSV format; quoted "" is an empty string.
            part.to_csv(buffer, header=False, index=False, date_format="%Y-%m-%d %H:%M:%S.%f")
            try:
                with cursor.copy(sql) as copy:
                    copy.write(buffer.getvalue())
            except dbapi.Error as exc:  # the same exception classes as any SQLAlchemy statement
                raise DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=connection.dialect) from exc
            if progress:
                progress(start + len(part))
        if "id" in frame.columns and "id" in table.c and table.c["id"].primary_key:
            # Explicit ids leave the serial sequence behind; move it past the largest id.
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{table.name}"), false)'
            )


def _secondary_indexes(connection: Connection, table: Table) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's indexes as the database has them, leaving out
    the ones behind a primary key or unique constraint (they cannot be dropped on their own)."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table.name,),
        ).all()
    elif connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
            "AND i.tablename = %(t)s AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname AND c.connamespace = (SELECT oid FROM pg_namespace "
            "WHERE nspname = current_schema()))",
            {"t": table.name},
        ).all()
    else:
        return []
    return [(str(name), str(sql)) for name, sql in rows]


def _pg_foreign_keys(connection: Connection, table: Table) -> list[tuple[str, str]]:
    rows = connection.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = to_regclass(%(t)s)",
        {"t": f'"{table.name}"'},
    ).all()
    return [(str(name), str(definition)) for name, definition in rows]


def bulk_insert(
    connection: Connection,
    table: Table,
    rows: pd.DataFrame | Sequence[dict[str, Any]],
    *,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    rebuild_indexes: bool = False,
) -> int:
    """Insert rows inside the caller's transaction. Returns the number inserted.

    ``rows`` is a DataFrame or a list of dicts keyed by column name; columns the rows leave
    out get the table's Python-side defaults (``created_at`` and the like). Ids may be given
    explicitly; on PostgreSQL the id sequence is then moved past them.

    ``rebuild_indexes`` drops the table's secondary indexes (and, on PostgreSQL, its foreign
    keys) first and creates them again afterwards, in the same transaction: much faster for
    millions of rows into a table that is empty or small (one sort per index and one join per
    foreign key instead of work per row). Rows that break a unique index or a foreign key
    fail on re-creation and roll the whole insert back. On PostgreSQL the table is then analysed
    (ANALYZE, in the same transaction), so the planner knows its new rows at once.
    """
    frame = _frame(rows)
    if frame.empty:
        return 0
    unknown = [c for c in frame.columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(map(str, unknown))}")
    frame = _fill_defaults(frame, table)
    dialect = connection.dialect.name
    if dialect == "sqlite" and not connection.connection.driver_connection.in_transaction:
        # Python's sqlite3 opens a transaction only before INSERT/UPDATE/DELETE, so a DROP
        # INDEX would commit at once; begin here so everything below commits or rolls back
        # with the caller's transaction.
        connection.exec_driver_sql("BEGIN")
    indexes = _secondary_indexes(connection, table) if rebuild_indexes else []
    for name, _sql in indexes:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    if dialect == "postgresql":
        foreign_keys = _pg_foreign_keys(connection, table) if rebuild_indexes else []
        for name, _definition in foreign_keys:
            connection.exec_driver_sql(f'ALTER TABLE "{table.name}" DROP CONSTRAINT "{name}"')
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        _insert_postgres(connection, table, frame, progress, chunk_size or 200_000)
        for _name, sql in indexes:
            connection.exec_driver_sql(sql)
        # Re-adding a foreign key checks every row in one join instead of a trigger per row.
        for name, definition in foreign_keys:
            connection.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD CONSTRAINT "{name}" {definition}')
        if rebuild_indexes:
            # Statistics for the planner now, in this transaction (ANALYZE samples a bounded number
            # of rows, the transaction's own included): without them, the first queries after a
            # bulk load of millions of rows were planned blind until autovacuum came round
            # (measured on the 1,000,000-customer demo store: one customer's order lines 2.2 to
            # 3.3 s before the ANALYZE, 2 ms after).
            connection.exec_driver_sql(f'ANALYZE "{table.name}"')
    elif dialect == "sqlite":
        # A bigger page cache (about 256 MB) for this connection while it writes.
        old_cache = int(connection.exec_driver_sql("PRAGMA cache_size").scalar())
        connection.exec_driver_sql("PRAGMA cache_size = -262144")
        # Index builds sort with helper threads (SQLite's sorter; 0 = none, the default).
        old_threads = int(connection.exec_driver_sql("PRAGMA threads").scalar())
        try:
            # One move of the data generation instead of a trigger run per row (db.generation).
            with generation.bulk_write(connection, table.name, rows=len(frame)):
                _insert_sqlite(connection, table, frame, progress, chunk_size or SQLITE_CHUNK)
            if indexes:
                connection.exec_driver_sql("PRAGMA threads = 2")
            for _name, sql in indexes:
                connection.exec_driver_sql(sql)
        finally:
            connection.exec_driver_sql(f"PRAGMA threads = {old_threads}")
            connection.exec_driver_sql(f"PRAGMA cache_size = {old_cache}")
    else:  # any other database: SQLAlchemy's own executemany
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        connection.execute(table.insert(), records)
        if progress:
            progress(len(records))
        for _name, sql in indexes:
            connection.exec_driver_sql(sql)
    return len(frame)
