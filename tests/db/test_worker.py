"""The app's own delivery thread sends what is queued into the outbox and leaves a heartbeat;
the Outreach screen's status says when no worker has been seen."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import get_settings
from core.outreach import trigger_outreach, uplift_window_text
from core.worker import BackgroundWorker, record_heartbeat, worker_status
from db.models import Outreach
from tests.factories import make_customer, make_order


def _wait_for(condition, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_the_app_worker_delivers_into_the_outbox_and_beats(engine: Engine, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_OUTBOX_DIR", str(tmp_path / "outbox"))
    get_settings.cache_clear()
    with Session(engine, expire_on_commit=False) as session:
        c = make_customer(session)
        make_order(session, c, datetime.now() - timedelta(days=60))
        session.commit()
        assert worker_status(session=session).stale  # no worker has ever run
        result = trigger_outreach(session=session, customer_id=c.id, template="win_back", triggered_by="manager")
        oid = result.outreach.id
        assert worker_status(session=session).waiting == 1
    worker = BackgroundWorker(engine, poll_seconds=0.2).start()
    try:
        def sent() -> bool:
            with Session(engine) as s:
                return s.get(Outreach, oid).status == "sent"
        _wait_for(sent)
    finally:
        worker.stop()
    assert not worker.thread.is_alive()
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and c.email in files[0].read_text()
    with Session(engine) as session:
        status = worker_status(session=session)
        assert (status.stale, status.source, status.waiting) == (False, "app", 0)
        later = worker_status(session=session, now=status.last_seen + timedelta(minutes=3))
        assert later.stale
    get_settings.cache_clear()


def test_a_cli_heartbeat_counts_too(engine: Engine) -> None:
    record_heartbeat(engine=engine, source="cli", now=datetime(2026, 6, 1, 12, 0))
    with Session(engine) as session:
        assert not worker_status(session=session, now=datetime(2026, 6, 1, 12, 1)).stale
        assert worker_status(session=session, now=datetime(2026, 6, 1, 12, 3)).stale


def test_a_campaign_is_too_early_until_its_30_days_have_passed() -> None:
    created = datetime(2026, 6, 1, 9, 0)
    assert uplift_window_text(created_at=created, window_complete=False, now=created) == "too early: 0 days of 30"
    assert uplift_window_text(created_at=created, window_complete=False,
                              now=datetime(2026, 6, 13, 10, 0)) == "too early: 12 days of 30"
    assert uplift_window_text(created_at=created, window_complete=True, now=datetime(2026, 7, 2)) is None


def test_a_heartbeat_moves_no_data_generation(engine: Engine) -> None:
    """A worker beats every few seconds; if a beat moved a watched table's counter, every figure
    keyed by that table would be computed again every few seconds (it did, in `setting`)."""
    from db import generation

    with engine.connect() as conn:
        before = generation.read(conn)
    record_heartbeat(engine=engine, source="app", now=datetime(2026, 6, 1, 12, 0))
    record_heartbeat(engine=engine, source="cli", now=datetime(2026, 6, 1, 12, 0, 3))
    with engine.connect() as conn:
        after = generation.read(conn)
    assert after == before
    with Session(engine) as session:
        status = worker_status(session=session, now=datetime(2026, 6, 1, 12, 1))
    assert (status.last_seen, status.source, status.stale) == (datetime(2026, 6, 1, 12, 0, 3), "cli", False)
