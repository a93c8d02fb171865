"""The one engine factory and session helper. Nothing else in Hearth creates an engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

_BUSY_TIMEOUT_MS = 15_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    # WAL lets the app read while the outreach worker writes; busy_timeout waits for the
    # single writer instead of failing at once; SQLite leaves foreign keys off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def get_engine(url: str) -> Engine:
    """One engine per database URL for the whole process (the app, the CLI, a worker).

    db/ knows no settings (imports go core -> db, never back): the caller passes the URL,
    usually core.config.get_settings().database_url."""
    return _engine_for(normalise_url(url))


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        # No JIT compilation on PostgreSQL: the app's statements are short, and the planner's
        # cost estimates on the million-row tables switched JIT on for them, which cost up to
        # 1.6 s a statement in compilation alone (the at-risk queue's page at 1 M customers).
        connect_args = {"options": "-c jit=off"} if parsed.get_backend_name() == "postgresql" else {}
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, connect_args=connect_args)
    return engine


def clear_engines() -> None:
    """Forget every cached engine (tests that point the process at another database)."""
    _engine_for.cache_clear()


# Kept so code that clears the engine cache reads naturally.
get_engine.cache_clear = clear_engines  # type: ignore[attr-defined]


def refresh_statistics(engine: Engine) -> None:
    """Let the query planner see the tables as they are now (after bulk loads and scoring).

    SQLite keeps no statistics unless asked; with a bounded sample ANALYZE takes milliseconds.
    PostgreSQL's autovacuum gets there too, but only after a while."""
    with engine.begin() as conn:
        if is_sqlite(engine):
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A short session on ``engine`` that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def session_writing(session: Session) -> bool:
    """True while ``session`` holds writes not yet committed (pending, flushed, or an open
    write transaction): reads made in it must not be kept for others (core.readcache,
    core.analytics.source)."""
    if session.new or session.dirty or session.deleted:
        return True
    if not session.in_transaction():
        return False
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        return bool(getattr(conn.connection.dbapi_connection, "in_transaction", False))
    return conn.execute(text("SELECT txid_current_if_assigned()")).scalar() is not None
