"""The schema is created only by Alembic, and the migrations match the models: from an empty
database up to head, and down to nothing and back up again (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import db.models  # noqa: F401
from db.engine import get_engine
from db.migrate import alembic_config, is_at_head, upgrade_to_head


def _run(engine: Engine, verb, target: str) -> None:  # noqa: ANN001 - command.upgrade / downgrade
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        verb(config, target)


def _schema(engine: Engine) -> dict:
    """Every table as the database reports it: columns (type, nullable), primary key, indexes,
    unique constraints and foreign keys, names included."""
    insp = inspect(engine)
    out = {}
    for table in sorted(set(insp.get_table_names()) - {"alembic_version"}):
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(table)),
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)),
            "fks": sorted((f["name"], tuple(f["constrained_columns"]), f["referred_table"],
                           tuple(f["referred_columns"])) for f in insp.get_foreign_keys(table)),
        }
    return out


def _model_diff(engine: Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), SQLModel.metadata)


def test_from_empty_to_head_matches_the_models(db_url: str) -> None:
    engine = get_engine(db_url)
    _run(engine, command.downgrade, "base")
    assert _schema(engine) == {}  # every migration's downgrade removes what its upgrade made
    upgrade_to_head(engine)
    assert is_at_head(engine)
    assert _model_diff(engine) == []
    tables = set(_schema(engine))
    assert tables == {t.name for t in SQLModel.metadata.sorted_tables}


def test_down_to_nothing_and_up_again_gives_the_same_schema(db_url: str) -> None:
    engine = get_engine(db_url)
    before = _schema(engine)
    assert before and _model_diff(engine) == []
    # One step at a time from head: each downgrade undoes exactly its own upgrade.
    revisions = [r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
    _run(engine, command.downgrade, revisions[1])  # one step below head
    _run(engine, command.upgrade, "head")
    assert _schema(engine) == before
    _run(engine, command.downgrade, "base")
    _run(engine, command.upgrade, "head")
    assert _schema(engine) == before
    assert _model_diff(engine) == []


def test_upgrading_twice_changes_nothing(engine: Engine) -> None:
    before = _schema(engine)
    upgrade_to_head(engine)
    assert is_at_head(engine) and _schema(engine) == before


def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str) -> None:
    with get_engine(sqlite_url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
