"""Shared fixtures: a throwaway database on SQLite and, when it answers, PostgreSQL.

`engine` / `session` run a test once per backend. PostgreSQL is reached at
HEARTH_TEST_POSTGRES_URL (default: the local server, database `test`); each test run
creates its own database there and drops it afterwards, so parallel runs never meet.
With HEARTH_REQUIRE_POSTGRES=1 (CI) an unreachable server is an error, not a skip.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from core.config import get_settings
from db.engine import get_engine, normalise_url
from db.migrate import upgrade_to_head

PG_ADMIN_URL = os.environ.get(
    "HEARTH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("HEARTH_REQUIRE_POSTGRES") == "1"

# Tests never read a developer's own secrets file or database.
os.environ["HEARTH_SECRETS_FILE"] = "/nonexistent/secrets.toml"
os.environ.pop("DATABASE_URL", None)
# Nor write into their disk copy of reads (core.analytics.diskcopy): one of the test run's own.
_DISK_COPIES = tempfile.mkdtemp(prefix="hearth-test-copies-")
os.environ["HEARTH_DISK_CACHE_DIR"] = _DISK_COPIES
atexit.register(shutil.rmtree, _DISK_COPIES, ignore_errors=True)


def _pg_reason() -> str | None:
    try:
        engine = sa_create_engine(normalise_url(PG_ADMIN_URL), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL at {PG_ADMIN_URL} does not answer ({type(exc).__name__})"


_PG_SKIP_REASON = _pg_reason()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = get_engine(f"sqlite:///{path}")
    upgrade_to_head(engine)
    engine.dispose()
    get_engine.cache_clear()
    return path


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    if _PG_SKIP_REASON:
        if REQUIRE_PG:
            pytest.fail(_PG_SKIP_REASON + " and HEARTH_REQUIRE_POSTGRES=1")
        pytest.skip(_PG_SKIP_REASON)
    name = f"hearth_test_{uuid.uuid4().hex[:10]}"
    admin = sa_create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = get_engine(url)
    upgrade_to_head(engine)
    yield url
    engine.dispose()
    get_engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_pg(engine: Engine) -> None:
    # Not the data generation's counters: they only ever grow, so a figure cached in this process
    # for an earlier test's data (same URL) can never be mistaken for this one's.
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables if t.name != "data_generation")
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated, empty database URL, once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "hearth.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("_pg_database")
    _empty_pg(get_engine(url))
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A fresh, migrated SQLite database, for tests that need only one backend (pages, CLI)."""
    path = tmp_path / "hearth.db"
    shutil.copy(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Engine:
    return get_engine(db_url)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def app_env(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the settings (and so the app, the CLI and core) at a fresh SQLite database."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HEARTH_ENV", "demo")
    monkeypatch.setenv("HEARTH_COOKIE_KEY", "test-cookie-key-" + "x" * 32)
    monkeypatch.setenv("HEARTH_OUTBOX_DIR", str(tmp_path / "outbox"))
    get_settings.cache_clear()
    yield sqlite_url
    get_settings.cache_clear()
