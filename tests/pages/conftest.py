"""Page tests run the real app (app.py) on a small demo store, one fresh copy per test."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

from core.config import get_settings
from core.setup import prepare_database
from db.engine import get_engine

DEMO_TEST_CUSTOMERS = 300


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = get_engine(f"sqlite:///{path}")
    prepare_database(engine=engine, demo=True, customers=DEMO_TEST_CUSTOMERS, seed=11)
    engine.dispose()
    get_engine.cache_clear()
    return path


def _drain_background_work() -> None:
    """Wait until the app's background threads have finished everything submitted so far: the
    Overview's figures computed alongside (ui.kpis), the reads started ahead (core.analytics.source)
    and the disk copies being written. A screen's script run ends before the figures it started
    alongside do; left running into the next test, such a job computed under that test's
    settings (its DATABASE_URL) and kept a value read from the earlier database under the new
    one's key, or, between the two tests, opened the default database and built the demo store
    there (seen: a Loyalty figure of "833 of 2,000 customers" on a 300-customer store)."""
    from core.analytics import diskcopy, source
    from ui import kpis as ui_kpis

    for pool in (ui_kpis._pool, source._pool, source._ahead_pool, diskcopy._writer):
        # One blocking task per worker, all waiting for each other: when they all run, no
        # worker is busy with an earlier task any more.
        n = pool._max_workers
        barrier = threading.Barrier(n)
        for future in [pool.submit(barrier.wait, 300) for _ in range(n)]:
            future.result(timeout=300)


@pytest.fixture
def demo_app(_demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the app at a fresh copy of the small demo store; yields its URL. The app's background
    work is drained before and after (_drain_background_work), so no test's jobs run into another's."""
    _drain_background_work()
    path = tmp_path / "demo.db"
    shutil.copy(_demo_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("HEARTH_ENV", "demo")
    monkeypatch.setenv("HEARTH_COOKIE_KEY", "test-cookie-key-" + "x" * 32)
    monkeypatch.setenv("HEARTH_OUTBOX_DIR", str(tmp_path / "outbox"))
    # No delivery thread per test database (the browser tests run the app's worker for real).
    monkeypatch.setenv("HEARTH_APP_DELIVERY_WORKER", "0")
    get_settings.cache_clear()
    # Cached readers live for the process; every test has its own database.
    st.cache_data.clear()
    yield url
    _drain_background_work()
    get_settings.cache_clear()
