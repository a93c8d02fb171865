"""The delivery worker's heartbeat, and the worker the app runs itself in demo mode.

Every pass of a delivery worker (`python -m core outreach deliver`, or the app's own thread)
stores its time in the `worker_heartbeat` table (HEARTBEAT_KEY), shared by every process, so
the Outreach screen can say when no worker has been seen for a while and messages wait. That
table has no data generation (db.generation): a beat every few seconds changes no figure."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core import delivery
from db.models import Outreach, WorkerHeartbeat, utcnow

log = logging.getLogger("hearth.worker")
HEARTBEAT_KEY = "delivery_heartbeat"
STALE_AFTER = timedelta(minutes=2)


def record_heartbeat(*, engine: Engine, source: str, now: datetime | None = None) -> None:
    """Store that a worker (`source`: "cli" or "app") passed just now."""
    value = json.dumps({"at": (now or utcnow()).isoformat(), "source": source, "host": socket.gethostname(),
                        "pid": os.getpid()})
    with Session(engine) as session:
        row = session.get(WorkerHeartbeat, HEARTBEAT_KEY) or WorkerHeartbeat(key=HEARTBEAT_KEY, value=value)
        row.value = value
        session.add(row)
        session.commit()


@dataclass(frozen=True)
class WorkerStatus:
    last_seen: datetime | None
    source: str | None
    waiting: int  # messages queued or being sent
    stale: bool  # no worker pass within STALE_AFTER

    def describe(self) -> str:
        """When the delivery worker was last seen and how many messages wait, in words."""
        seen = "never" if self.last_seen is None else f"last seen {self.last_seen:%Y-%m-%d %H:%M:%S} UTC"
        return f"delivery worker {seen}; {self.waiting:,} messages waiting"


def worker_status(*, session: Session, now: datetime | None = None) -> WorkerStatus:
    """When a delivery worker last passed, and how many messages wait for one."""
    now = now or utcnow()
    row = session.get(WorkerHeartbeat, HEARTBEAT_KEY)
    info = json.loads(row.value) if row is not None and row.value else {}
    last = datetime.fromisoformat(info["at"]) if info.get("at") else None
    waiting = int(session.execute(select(func.count()).select_from(Outreach)
                                  .where(Outreach.status.in_(("queued", "sending")))).scalar() or 0)
    return WorkerStatus(last_seen=last, source=info.get("source"), waiting=waiting,
                        stale=last is None or now - last > STALE_AFTER)


class BackgroundWorker:
    """The delivery worker as a daemon thread of the app process (demo mode), so the quick
    start sends what it queues. A thread, not a child process: it ends with the server and
    leaves nothing behind. `stop()` ends it after the current message."""

    def __init__(self, engine: Engine, poll_seconds: float = 3.0) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hearth-delivery", daemon=True)

    def start(self) -> BackgroundWorker:
        """Start the worker's thread; returns the worker."""
        self.thread.start()
        return self

    def _beat(self, _report: delivery.DeliveryReport) -> None:
        try:
            record_heartbeat(engine=self.engine, source="app")
        except Exception:  # noqa: BLE001 - a missed heartbeat must not stop delivery
            log.warning("could not record the delivery heartbeat", exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivery.deliver(engine=self.engine, once=False, poll_seconds=self.poll_seconds, stop=self._stop,
                                 on_pass=self._beat)
            except Exception:  # noqa: BLE001 - keep the thread alive; the next pass retries
                log.exception("delivery worker pass failed")
                self._stop.wait(self.poll_seconds)

    def stop(self, timeout: float = 10) -> None:
        """Ask the worker to stop and wait for it at most ``timeout`` seconds."""
        self._stop.set()
        self.thread.join(timeout)
