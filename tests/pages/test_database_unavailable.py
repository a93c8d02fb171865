"""A locked database shows a clear message and a retry, never a traceback, and recovers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from db.engine import get_engine
from tests.pages.helpers import log_in, logged_out_app


def test_locked_sqlite_shows_a_message_and_recovers(demo_app: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("db.engine._BUSY_TIMEOUT_MS", 300)
    get_engine.cache_clear()  # new connections pick up the short timeout
    at = logged_out_app()
    blocker = sqlite3.connect(Path(demo_app.removeprefix("sqlite:///")), timeout=1)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        log_in(at, "admin")  # a login writes (lockout counters, audit), so it needs the lock
        assert not at.exception
        assert any("not reachable" in e.value for e in at.error)
    finally:
        blocker.rollback()
        blocker.close()
    at.button(key="db_retry").click().run()
    log_in(at, "admin")
    assert not at.exception
    assert any("Signed in as **admin**" in c.value for c in at.sidebar.caption)
