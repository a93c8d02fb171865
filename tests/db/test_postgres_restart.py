"""The outreach worker keeps running across a PostgreSQL restart and loses or repeats nothing.

This restarts the local server (`pg_ctlcluster ... restart`), which drops every open
connection on it for a second or two, so it runs only as root on a Debian-style cluster
and always leaves the server accepting connections (started again if it is not).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from core import delivery
from core import outreach as out
from core.config import get_settings
from db.models import AuditLog, Outreach
from tests.factories import make_customer, make_order

NOW = datetime(2026, 6, 1, 12, 0)
PG_HOST, PG_PORT = "127.0.0.1", "5432"


def _cluster() -> tuple[str, str] | None:
    etc = Path("/etc/postgresql")
    versions = sorted(p.name for p in etc.iterdir()) if etc.is_dir() else []
    if not versions or not (etc / versions[-1] / "main").is_dir():
        return None
    return versions[-1], "main"


def _restart_skip_reason() -> str | None:
    if os.environ.get("HEARTH_ALLOW_PG_RESTART") != "1":
        # It cuts every open connection of the server: never while other tests use it.
        return ("restarts the PostgreSQL server; runs alone with HEARTH_ALLOW_PG_RESTART=1 "
                "(.ci/run does so after the suite)")
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_isready") is None:
        return "pg_ctlcluster/pg_isready not installed: cannot restart PostgreSQL here"
    if os.geteuid() != 0:
        return "restarting PostgreSQL needs root"
    if _cluster() is None:
        return "no PostgreSQL cluster under /etc/postgresql/<version>/main"
    return None


def _ready() -> bool:
    return subprocess.run(["pg_isready", "-h", PG_HOST, "-p", PG_PORT, "-t", "2"],
                          capture_output=True).returncode == 0


def _pg_ctl(action: str) -> None:
    version, name = _cluster()  # type: ignore[misc]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action],
                   check=True, capture_output=True, timeout=120)


def _wait_ready(seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not _ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"PostgreSQL did not come back within {seconds} s")
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_sent(engine, n: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with Session(engine) as s:
                sent = s.exec(select(func.count()).select_from(Outreach)
                              .where(Outreach.status == "sent")).one()
            if sent >= n:
                return
        except Exception:  # noqa: BLE001 - the server may still be coming back; ask again
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"only {sent} of {n} messages sent after {seconds} s")
        time.sleep(0.2)


def _queue(engine, n: int, tag: str) -> list[int]:
    ids = []
    with Session(engine, expire_on_commit=False) as s:
        for _ in range(n):
            c = make_customer(s)
            make_order(s, c, NOW - timedelta(days=120), total=40.0)
            s.commit()
            r = out.trigger_outreach(session=s, customer_id=c.id, template="win_back", triggered_by="manager",
                                     idempotency_key=f"{tag}:{c.id}")
            assert r.outreach.status == "queued", r.describe()
            ids.append(r.outreach.id)
    return ids


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_worker_survives_postgres_restart(engine, tmp_path, monkeypatch, caplog):
    reason = _restart_skip_reason()
    if reason:
        pytest.skip(reason)
    for var in ("HEARTH_SMTP_HOST", "HEARTH_WEBHOOK_URL", "HEARTH_FREQUENCY_CAP_DAYS"):
        monkeypatch.delenv(var, raising=False)
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("HEARTH_OUTBOX_DIR", str(outbox))
    get_settings.cache_clear()

    stop = threading.Event()
    died: list[BaseException] = []
    passes = []

    def run() -> None:
        try:
            delivery.deliver(engine=engine, once=False, stop=stop, poll_seconds=0.1,
                             on_pass=passes.append)
        except BaseException as exc:  # noqa: BLE001 - recorded: the worker must not die
            died.append(exc)
            raise

    worker = threading.Thread(target=run, name="outreach-worker", daemon=True)
    try:
        first = _queue(engine, 3, "before")
        worker.start()
        _wait_sent(engine, 3)

        caplog.clear()
        _pg_ctl("restart")
        _wait_ready()
        # Let the worker meet the dropped connections before more work arrives.
        seen = len(passes)
        deadline = time.monotonic() + 30
        while len(passes) < seen + 3 and not died and time.monotonic() < deadline:
            time.sleep(0.1)

        second = _queue(engine, 3, "after")
        _wait_sent(engine, 6)
        assert worker.is_alive(), f"the worker died: {died!r}"
        assert died == []
        assert any("database unavailable" in r.getMessage() for r in caplog.records), \
            "the worker never met the restart (it should have logged and retried)"
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(timeout=30)
        if not _ready():
            _pg_ctl("start")
            _wait_ready()
        get_settings.cache_clear()

    assert not worker.is_alive()
    with Session(engine) as s:
        rows = s.exec(select(Outreach).order_by(Outreach.id)).all()
        sends = s.exec(select(AuditLog.record_id).where(AuditLog.action == "outreach.send")).all()
    assert [o.id for o in rows] == first + second
    assert {o.status for o in rows} == {"sent"}
    assert all(o.attempts == 1 for o in rows)  # none sent, lost and sent again
    assert sorted(int(r) for r in sends) == first + second  # one "sent" per message
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 6
    assert sorted(delivery.outbox_path(get_settings(), o.message_id) for o in rows) == files


def test_worker_waits_for_an_unreachable_database(caplog):
    """No server at all (nothing listens on the port): the loop logs and retries until
    stopped; a single pass (`once`, the CLI's --once) reports the error instead."""
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/none",
                           connect_args={"connect_timeout": 2})
    stop = threading.Event()
    died: list[BaseException] = []

    def run() -> None:
        try:
            delivery.deliver(engine=engine, once=False, stop=stop, poll_seconds=0.05)
        except BaseException as exc:  # noqa: BLE001 - recorded: the worker must not die
            died.append(exc)

    caplog.set_level("WARNING", logger="core.delivery")
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while sum("database unavailable" in r.getMessage() for r in caplog.records) < 3:
        assert worker.is_alive() and time.monotonic() < deadline, f"the worker stopped: {died!r}"
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive() and died == []
    with pytest.raises(OperationalError):
        delivery.deliver(engine=engine, once=True)
    engine.dispose()
