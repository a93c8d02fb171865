"""`streamlit run app.py` on an empty database: the demo store is built while the server starts,
before it answers, and the terminal says what it is doing and how to log in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import running_app

pytestmark = pytest.mark.e2e


def test_the_demo_store_is_ready_before_the_server_answers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {**os.environ, "DATABASE_URL": url, "HEARTH_ENV": "demo",
           "HEARTH_COOKIE_KEY": "e2e-cookie-key-" + "x" * 32, "HEARTH_OUTBOX_DIR": str(tmp_path / "outbox"),
           "HEARTH_SECRETS_FILE": "/nonexistent/secrets.toml"}
    log = tmp_path / "streamlit.log"
    with running_app(env, log):  # returns once /_stcore/health answers; no browser has opened a page
        engine = create_engine(url)
        with engine.connect() as conn:
            customers = conn.execute(text("SELECT count(*) FROM customer")).scalar_one()
            scored = conn.execute(text("SELECT count(DISTINCT customer_id) FROM score_snapshot")).scalar_one()
        engine.dispose()
        terminal = log.read_text()
    assert customers == 2000  # the README's demo store, built before anyone logged in
    assert scored == 2000
    steps = [line for line in terminal.splitlines() if line.startswith("Hearth first start")]
    assert steps[0].endswith("] preparing the database")
    assert "schema is at the newest migration" in steps[1]
    assert "the store is empty: building the demo store (first start)" in steps[2]
    assert any("generated 2,000 customers" in step for step in steps)
    assert steps[-1].endswith("] done")
    ready = terminal.index("Hearth is ready on demo data")
    assert terminal.index(steps[-1]) < ready
    assert "log in as manager, support, exec or admin with the password hearth-demo" in terminal[ready:]
    assert "Local URL: http://localhost:" in terminal
