"""Page tests run the real app (app.py) on a small demo store, one fresh copy per test."""

from __future__ import annotations

import shutil
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


@pytest.fixture
def demo_app(_demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the app at a fresh copy of the small demo store; yields its URL."""
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
    get_settings.cache_clear()
