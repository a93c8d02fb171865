"""The settings that change figures reach the screen and the command line the same way, and a
change of one changes the figure on both (HEARTH_HORIZON_DAYS here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from core.config import get_settings
from db.engine import get_engine
from db.models import utcnow
from tests.pages.helpers import app_as

ROOT = Path(__file__).resolve().parents[2]
PAGE = "views/overview.py"


def _orders_by_sql(url: str, days: int) -> int:
    """Orders in (D - H, D], D today: timestamps from D - H + 1 00:00 up to D + 1 00:00."""
    today = utcnow().date()
    start = f"{today - timedelta(days=days - 1):%Y-%m-%d} 00:00:00"
    end = f"{today + timedelta(days=1):%Y-%m-%d} 00:00:00"
    with get_engine(url).connect() as conn:
        return conn.execute(text("SELECT count(*) FROM orders WHERE ordered_at >= :s AND ordered_at < :e"),
                            {"s": start, "e": end}).scalar()


def _on_screen() -> int:
    at = app_as("exec", PAGE)
    assert not at.exception, at.exception
    return int(next(m for m in at.metric if m.label == "Orders").value.replace(",", ""))


def _on_command_line(url: str) -> int:
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "core", "kpis", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    return int(json.loads(done.stdout)["orders"])


def test_a_horizon_change_changes_the_orders_on_the_overview_and_the_command_line_alike(
        demo_app: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_HORIZON_DAYS", "30")
    get_settings.cache_clear()
    month = _orders_by_sql(demo_app, 30)
    assert _on_screen() == _on_command_line(demo_app) == month
    monkeypatch.setenv("HEARTH_HORIZON_DAYS", "180")
    get_settings.cache_clear()
    half_year = _orders_by_sql(demo_app, 180)
    assert half_year > month  # the demo store has orders all year round
    assert _on_screen() == _on_command_line(demo_app) == half_year
