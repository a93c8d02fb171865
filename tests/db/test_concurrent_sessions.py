"""Ten staff at once on PostgreSQL: outreach and feedback triage from concurrent sessions.

Each thread is one user with its own Session on the shared engine (what the app does: one
short session per request). A threading.Barrier starts every phase at the same moment.
Checked: no error leaks, one outreach per customer within the frequency cap, no repeated
idempotency key, every note kept (no lost update), one audit entry per action done.

Expected refusals are part of the contract, not errors: acknowledging or resolving an item
another user has just acknowledged/resolved raises core.feedback.FeedbackError ("already
..."), which the Feedback screen shows as a message. A PostgreSQL deadlock or serialization
failure (SQLSTATE 40P01 / 40001) would be retried once the way a user clicks again; the
test counts such retries and expects none, since every triage action locks a single row
and commits at once.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from core import feedback as fbk
from core import outreach as out
from core.config import get_settings
from db.models import AuditLog, Feedback, Outreach, StaffUser
from tests.factories import make_customer, make_feedback, make_order

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 6, 1, 12, 0)
THREADS = 10
CUSTOMERS = 6
LEADS = ("lead_a", "lead_b")
ROLES = ["support_lead"]
RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected


@pytest.fixture
def pg_session(db_url, engine, monkeypatch):
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrency is checked on PostgreSQL (SQLite has a single writer)")
    monkeypatch.delenv("HEARTH_SMTP_HOST", raising=False)
    monkeypatch.delenv("HEARTH_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("HEARTH_FREQUENCY_CAP_DAYS", raising=False)
    get_settings.cache_clear()
    with Session(engine, expire_on_commit=False) as s:
        yield s
    get_settings.cache_clear()


def _retrying(fn, retries: Counter):
    """Run fn(); on a deadlock/serialization failure, once more (a user's second click)."""
    for attempt in range(3):
        try:
            return fn()
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in RETRYABLE or attempt == 2:
                raise
            retries[code] += 1
    raise AssertionError("unreachable")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_ten_users_trigger_and_triage_at_once(pg_session, engine):
    s = pg_session
    for name in LEADS:
        s.add(StaffUser(username=name, name=name, password_hash="x", roles="support_lead"))
    customers = []
    items = []
    for _ in range(CUSTOMERS):
        c = make_customer(s, segment="VIP")  # win_back and vip_thanks both apply
        make_order(s, c, NOW - timedelta(days=120), total=40.0)
        customers.append(c.id)
        f = make_feedback(s, c, NOW - timedelta(days=2), nps_score=1, comment="broken on arrival",
                          sentiment=-0.8, flagged=True, severity=0.9, state="new")
        items.append(f.id)
    s.commit()

    barrier = threading.Barrier(THREADS, timeout=60)
    lock = threading.Lock()
    errors: list[str] = []
    retries: Counter = Counter()
    results: list[out.TriggerResult] = []
    done: Counter = Counter()  # action -> successful calls
    refused: Counter = Counter()  # action -> expected FeedbackError refusals

    def triage(s: Session, action: str, fn) -> None:
        def call():
            try:
                fn()
                s.commit()
            except BaseException:
                s.rollback()
                raise
        try:
            _retrying(call, retries)
        except fbk.FeedbackError as exc:
            with lock:
                refused[action] += 1
            assert "already" in str(exc), str(exc)
            return
        with lock:
            done[action] += 1

    def user(i: int) -> None:
        actor = f"staff{i}"
        rng = random.Random(i)
        try:
            with Session(engine, expire_on_commit=False) as s:
                # Phase 1: outreach. The same click (shared key) from everyone, and each user's
                # own key with another template, which the frequency cap must refuse.
                order = customers[:]
                rng.shuffle(order)
                barrier.wait()
                for cid in order:
                    for template, key in (("win_back", f"shared:{cid}"), ("vip_thanks", f"{actor}:{cid}")):
                        r = _retrying(lambda cid=cid, template=template, key=key: out.trigger_outreach(
                            session=s, customer_id=cid, template=template, triggered_by=actor,
                            idempotency_key=key, now=NOW), retries)
                        with lock:
                            results.append(r)
                # Phase 2: everyone notes, acknowledges and assigns every item.
                fb_order = items[:]
                rng.shuffle(fb_order)
                barrier.wait()
                for fid in fb_order:
                    triage(s, "note", lambda fid=fid: fbk.add_note(
                        session=s, feedback_id=fid, actor=actor, roles=ROLES, text=f"note by {actor}", now=NOW))
                    triage(s, "acknowledge", lambda fid=fid: fbk.acknowledge(
                        session=s, feedback_id=fid, actor=actor, roles=ROLES, now=NOW))
                    triage(s, "assign", lambda fid=fid: fbk.assign(
                        session=s, feedback_id=fid, actor=actor, roles=ROLES, assignee=LEADS[i % 2]))
                # Phase 3: everyone resolves every item.
                rng.shuffle(fb_order)
                barrier.wait()
                for fid in fb_order:
                    triage(s, "resolve", lambda fid=fid: fbk.resolve(
                        session=s, feedback_id=fid, actor=actor, roles=ROLES, resolution="refund issued",
                        note=f"resolved by {actor}", now=NOW + timedelta(hours=1)))
        except BaseException as exc:  # noqa: BLE001 - every leaked error is collected and reported
            barrier.abort()
            with lock:
                errors.append(f"{actor}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=user, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert retries == Counter()

    with Session(engine) as s:
        rows = s.exec(select(Outreach)).all()
        audit = Counter(s.exec(select(AuditLog.action)).all())
        fbs = {f.id: f for f in s.exec(select(Feedback)).all()}

    # Outreach: one queued per customer; the rest refused by the cap; no key twice.
    contacted = Counter(o.customer_id for o in rows if o.status in out.CONTACT_STATUSES)
    assert contacted == {cid: 1 for cid in customers}
    keys = Counter(o.idempotency_key for o in rows)
    assert max(keys.values()) == 1
    # The shared click is recorded once per customer; each user's own key once each.
    assert len(rows) == CUSTOMERS * (1 + THREADS)
    suppressed = [o for o in rows if o.status == "suppressed"]
    assert len(suppressed) == CUSTOMERS * THREADS
    assert all(o.reason and o.reason.startswith("frequency cap") for o in suppressed)
    # 20 clicks per customer; every click beyond the first row per key saw "already recorded".
    assert len(results) == THREADS * CUSTOMERS * 2
    assert sum(r.created for r in results) == len(rows)
    # One audit entry per recorded decision; a repeated key records nothing new.
    assert audit["outreach.trigger"] == CUSTOMERS
    assert audit["outreach.suppress"] == CUSTOMERS * THREADS

    # Triage: every note from every user is there, one acknowledge and one resolve per item.
    for fid in items:
        f = fbs[fid]
        assert f.state == "resolved" and f.resolution == "refund issued"
        lines = f.notes.splitlines()
        for i in range(THREADS):
            assert sum(line.endswith(f"staff{i}: note by staff{i}") for line in lines) == 1
        assert sum("resolved by" in line for line in lines) == 1
        assert len(lines) == THREADS + 1
        assert f.assignee in LEADS
        assert f.first_response_at == NOW
    n = len(items)
    assert done == {"note": THREADS * n, "acknowledge": n, "assign": THREADS * n, "resolve": n}
    assert refused == {"acknowledge": (THREADS - 1) * n, "resolve": (THREADS - 1) * n}
    for action in ("note", "acknowledge", "assign", "resolve"):
        assert audit[f"feedback.{action}"] == done[action]
