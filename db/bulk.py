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
    sql = (f'INSERT INTO "{table.name}" ({", ".join(f"{c!s}" for c in _quoted(cols))}) '
           f'VALUES ({", ".join("?" for _ in cols)})')
    cursor = connection.connection.cursor()
    try:
        for start in range(0, len(frame), chunk_size):
            part = frame.iloc[start : start + chunk_size]
            columns = [_sqlite_column(part[c], table.c[c].type) for c in cols]
            cursor.executemany(sql, list(zip(*columns, strict=True)))
            if progress:
                progress(start + len(part))
    finally:
        cursor.close()


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
    with raw.cursor() as cursor:
        for start in range(0, len(frame), chunk_size):
            part = _csv_frame(frame.iloc[start : start + chunk_size], table)
            buffer = io.StringIO()
            # Unquoted empty fields are NULL in COPY's CSV format; quoted "" is an empty string.
            part.to_csv(buffer, header=False, index=False, date_format="%Y-%m-%d %H:%M:%S.%f")
            with cursor.copy(sql) as copy:
                copy.write(buffer.getvalue())
            if progress:
                progress(start + len(part))
        if "id" in frame.columns and "id" in table.c and table.c["id"].primary_key:
            # Explicit ids leave the serial sequence behind; move it past the largest id.
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{table.name}"), false)'
            )


def bulk_insert(
    connection: Connection,
    table: Table,
    rows: pd.DataFrame | Sequence[dict[str, Any]],
    *,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert rows inside the caller's transaction. Returns the number inserted.

    ``rows`` is a DataFrame or a list of dicts keyed by column name; columns the rows leave
    out get the table's Python-side defaults (``created_at`` and the like). Ids may be given
    explicitly; on PostgreSQL the id sequence is then moved past them.
    """
    frame = _frame(rows)
    if frame.empty:
        return 0
    unknown = [c for c in frame.columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(map(str, unknown))}")
    frame = _fill_defaults(frame, table)
    if connection.dialect.name == "postgresql":
        _insert_postgres(connection, table, frame, progress, chunk_size or 200_000)
    elif connection.dialect.name == "sqlite":
        _insert_sqlite(connection, table, frame, progress, chunk_size or SQLITE_CHUNK)
    else:  # any other database: SQLAlchemy's own executemany
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        connection.execute(table.insert(), records)
        if progress:
            progress(len(records))
    return len(frame)
