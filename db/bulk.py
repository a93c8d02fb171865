"""Fast bulk writes for the demo generator and imports: one statement per chunk of rows,
never one ORM object per row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Table
from sqlalchemy.engine import Connection


def _records(rows: pd.DataFrame | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        frame = rows.astype(object).where(rows.notna(), None)
        return frame.to_dict("records")
    return list(rows)


def bulk_insert(
    connection: Connection,
    table: Table,
    rows: pd.DataFrame | Sequence[dict[str, Any]],
    *,
    chunk_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert rows in chunks inside the caller's transaction. Returns the number inserted."""
    records = _records(rows)
    for start in range(0, len(records), chunk_size):
        chunk = records[start : start + chunk_size]
        connection.execute(table.insert(), chunk)
        if progress:
            progress(start + len(chunk))
    return len(records)
