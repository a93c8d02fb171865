"""The schema is created only by Alembic, and the migrations match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import db.models  # noqa: F401
from db.migrate import is_at_head, upgrade_to_head


def test_migrations_reach_head_and_match_the_models(engine: Engine) -> None:
    assert is_at_head(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}),
                                SQLModel.metadata)
    assert diff == [], diff
    tables = set(inspect(engine).get_table_names())
    assert {"customer", "orders", "feedback", "outreach", "audit_log"} <= tables


def test_upgrading_twice_changes_nothing(engine: Engine) -> None:
    upgrade_to_head(engine)
    assert is_at_head(engine)


def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str) -> None:
    from db.engine import get_engine

    with get_engine(sqlite_url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
