"""The queue and the worker's passes: claim one due message under a lease, re-check it, send,
mark it sent or failed with backoff, recover stale claims, requeue by hand."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from core import audit, consent
from core.config import Settings, get_settings
from core.delivery.channels import DeliveryError, Message, outbox_path, send_outbox, send_smtp, send_webhook
from core.outreach import channel_for, recheck_before_send
from db.models import Customer, Outreach, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_MAX = timedelta(hours=2)
CLAIM_LEASE = timedelta(minutes=10)
WORKER = "worker"


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    recovered_sent: int = 0
    requeued: int = 0
    uncertain: int = 0
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        """Add ``other``'s counts and errors to this report (one report over several passes)."""
        for name in ("sent", "retrying", "failed", "recovered_sent", "requeued", "uncertain", "suppressed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    @property
    def touched(self) -> int:
        """How many messages this pass changed, whatever the outcome."""
        return (self.sent + self.retrying + self.failed + self.recovered_sent + self.requeued + self.uncertain
                + self.suppressed)

    def summary(self) -> str:
        """The counts in words for the command line and the Admin screen, e.g. "sent 3, retrying 0, failed 1"."""
        parts = [f"sent {self.sent}", f"retrying {self.retrying}", f"failed {self.failed}"]
        if self.suppressed:
            parts.append(f"suppressed {self.suppressed} (consent withdrawn, no valid address or frequency cap)")
        if self.recovered_sent or self.requeued or self.uncertain:
            parts.append(f"recovered {self.recovered_sent} already delivered, requeued {self.requeued}, "
                         f"uncertain {self.uncertain}")
        return ", ".join(parts)


def backoff(attempts: int) -> timedelta:
    """60 s, 2 min, 4 min, ... capped at 2 h, after the n-th failed attempt."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


# ---------------------------------------------------------------- queue


def _due_filter(now: datetime):
    return and_(Outreach.status == "queued",
                or_(col(Outreach.next_attempt_at).is_(None), col(Outreach.next_attempt_at) <= now))


def _message(o, *, customer_id: int, external_id: str, name: str | None,  # noqa: ANN001
             email: str | None) -> Message:
    """The message from an outreach row (ORM object or Core row) and its customer's fields."""
    return Message(o.id, customer_id, external_id, name, email or "", o.subject or "", o.body or "",
                   o.message_id or f"<outreach.{o.id}@hearth.local>", o.offer_code, o.template,
                   o.campaign_id, o.triggered_by, o.attempts)


@dataclass(frozen=True)
class Claim:
    """One message taken from the queue: `sending` and to be sent, or, when the last check
    stopped it, already `suppressed` with `suppressed` as the reason."""

    msg: Message
    suppressed: str | None = None


_OUTREACH_FIELDS = ("id", "subject", "body", "message_id", "offer_code", "template", "campaign_id",
                    "triggered_by", "attempts")


def _claim_next(engine: Engine | Connection, now: datetime, settings: Settings, channel: str) -> Claim | None:
    """Claim the next due message and check it again, in one transaction; None when none is due.

    Core statements, few round trips: this runs once per message (on the pass's connection)."""
    table, cust = Outreach.__table__, Customer.__table__
    pg = engine.dialect.name == "postgresql"
    due = select(table.c.id).where(_due_filter(now)).order_by(table.c.id).limit(1)
    if pg:
        due = due.with_for_update(skip_locked=True)
    claim = (update(table).where(table.c.id == due.scalar_subquery(), table.c.status == "queued")
             .values(status="sending", attempts=table.c.attempts + 1, next_attempt_at=now + CLAIM_LEASE)
             .returning(table.c.id, table.c.customer_id))
    with Session(engine) as session:
        # One statement picks and claims: on PostgreSQL SKIP LOCKED passes over rows other
        # workers hold; SQLite runs it under its single write lock.
        row = session.execute(claim).first()
        if row is None:
            session.rollback()
            return None
        oid, cid = row
        read = (select(*[table.c[f] for f in _OUTREACH_FIELDS], cust.c.external_id, cust.c.name, cust.c.email,
                       cust.c.email_opt_in)
                .join_from(table, cust, cust.c.id == table.c.customer_id).where(table.c.id == oid))
        if pg:
            # The customer's row, locked like a trigger or an unsubscribe locks it, read as last
            # committed. (SQLite: the UPDATE above already holds the only write lock.)
            read = read.with_for_update(of=cust)
        r = session.execute(read).one()
        msg = _message(r, customer_id=cid, external_id=r.external_id, name=r.name, email=r.email)
        reason = recheck_before_send(session=session, customer_id=cid, email=r.email,
                                     email_opt_in=bool(r.email_opt_in), outreach_id=oid, now=now,
                                     settings=settings)
        if reason is not None:
            session.execute(update(table).where(table.c.id == oid)
                            .values(status="suppressed", reason=reason, channel=channel, next_attempt_at=None))
            audit.record(session=session, actor=msg.triggered_by, action="outreach.suppress",
                         record_type="outreach", record_id=oid, customer_id=cid,
                         detail={"channel": channel, "reason": reason, "message_id": msg.message_id,
                                 "by": WORKER})
        session.commit()
        return Claim(msg, reason)


def _mark(engine: Engine | Connection, msg: Message, *, status: str, now: datetime, channel: str,
          error: str | None = None, next_at: datetime | None = None, action: str,
          from_status: str = "sending", detail: dict | None = None, reason: str | None = None,
          bounce: str | None = None) -> bool:
    """Move the message from ``from_status`` to ``status`` (False if another worker moved it
    first) and audit it; a ``bounce`` (the server's refusal) also withdraws the customer's
    email consent with source 'bounce' (core.consent), in the same transaction."""
    table = Outreach.__table__
    values: dict = {"status": status, "channel": channel, "last_error": error, "next_attempt_at": next_at}
    if reason is not None:
        values["reason"] = reason
    if status == "sent":
        values["sent_at"] = now
    with Session(engine) as session:
        res = session.execute(update(table)
                              .where(table.c.id == msg.outreach_id, table.c.status == from_status)
                              .values(**values))
        if res.rowcount != 1:
            session.rollback()
            return False
        audit.record(session=session, actor=msg.triggered_by, action=action, record_type="outreach",
                     record_id=msg.outreach_id, customer_id=msg.customer_id,
                     detail={"channel": channel, "attempt": msg.attempts, "error": error,
                             "message_id": msg.message_id, "by": WORKER, **(detail or {})})
        if bounce is not None:
            consent.set_consent(session=session, customer_id=msg.customer_id, channel="email", granted=False,
                                source="bounce", by=WORKER, detail=f"{msg.to}: {bounce}"[:300], at=now)
        session.commit()
        return True


def _recover_stale(engine: Engine, now: datetime, settings: Settings) -> DeliveryReport:
    """Rows left `sending` by a worker that stopped before marking them (lease expired)."""
    report = DeliveryReport()
    with Session(engine) as session:
        stmt = (select(Outreach, Customer).join(Customer, Customer.id == Outreach.customer_id)
                .where(Outreach.status == "sending", col(Outreach.next_attempt_at) < now).limit(500))
        if engine.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Outreach)
        rows = session.exec(stmt).all()
        stale = [_message(o, customer_id=c.id, external_id=c.external_id, name=c.name, email=c.email)
                 for o, c in rows]
        channels = {o.id: o.channel for o, _ in rows}
        session.commit()
    for msg in stale:
        channel = channels[msg.outreach_id]
        if channel == "outbox":
            if outbox_path(settings, msg.message_id).exists():
                if _mark(engine, msg, status="sent", now=now, channel=channel, action="outreach.send",
                         detail={"recovered": True}):
                    report.recovered_sent += 1
            elif _mark(engine, msg, status="queued", now=now, channel=channel, next_at=now,
                       error="worker stopped before writing the message; queued again",
                       action="outreach.retry"):
                report.requeued += 1
        else:
            err = (f"delivery uncertain: a worker stopped while sending {msg.message_id} by {channel}; "
                   "not resent to avoid a duplicate. Check the receiving side's log for this Message-ID, "
                   "then requeue it if it never arrived.")
            if _mark(engine, msg, status="failed", now=now, channel=channel, error=err,
                     action="outreach.fail", detail={"uncertain": True}):
                report.uncertain += 1
    return report


def requeue_outreach(*, session: Session, outreach_id: int, actor: str,
                     now: datetime | None = None) -> Outreach:
    """Put a failed message back in the queue (after checking it never arrived).

    Raises ValueError for an unknown outreach id or a message that is not failed.
    """
    o = session.get(Outreach, outreach_id)
    if o is None:
        raise ValueError(f"no outreach with id {outreach_id}")
    if o.status != "failed":
        raise ValueError(f"outreach {outreach_id} is {o.status}; only failed messages can be requeued")
    o.status, o.attempts, o.next_attempt_at = "queued", 0, now or utcnow()
    session.add(o)
    audit.record(session=session, actor=actor, action="outreach.requeue", record_type="outreach",
                 record_id=o.id, customer_id=o.customer_id, detail={"previous_error": o.last_error})
    session.commit()
    session.refresh(o)
    return o


def deliver_pass(*, engine: Engine, now: datetime | None = None, settings: Settings | None = None,
                 stop: threading.Event | None = None) -> DeliveryReport:
    """Recover stale claims, then claim and send one message after another until nothing is
    due (or `stop` is set). `now` fixes the clock (tests); otherwise each step reads it."""
    settings = settings or get_settings()
    fixed_now = now
    report = _recover_stale(engine, fixed_now or utcnow(), settings)
    channel = channel_for(settings)
    sender = {"email": send_smtp, "webhook": send_webhook, "outbox": send_outbox}[channel]
    # One connection for the pass: a claim and a mark per message, without a pool checkout
    # (and PostgreSQL's pre-ping) for each. No transaction is open while a message is sent.
    with engine.connect() as conn:
        while not (stop and stop.is_set()):
            claim = _claim_next(conn, fixed_now or utcnow(), settings, channel)
            if claim is None:
                break
            if claim.suppressed is not None:
                report.suppressed += 1
                continue
            _send_one(conn, claim.msg, sender, settings=settings, channel=channel, fixed_now=fixed_now,
                      report=report)
    return report


def _send_one(engine: Engine | Connection, msg: Message, sender, *, settings: Settings, channel: str,  # noqa: ANN001
              fixed_now: datetime | None, report: DeliveryReport) -> None:
    """Send one claimed message and mark the outcome on it alone."""
    now = fixed_now or utcnow()
    try:
        sender(msg, settings, now)
    except DeliveryError as exc:
        err = str(exc)
        report.errors.append(f"outreach {msg.outreach_id}: {err}")
        log.warning("outreach %s attempt %s failed: %s", msg.outreach_id, msg.attempts, err)
        if exc.permanent or msg.attempts >= MAX_ATTEMPTS:
            _mark(engine, msg, status="failed", now=now, channel=channel, error=err, action="outreach.fail",
                  bounce=err if exc.bounce else None)
            report.failed += 1
        else:
            _mark(engine, msg, status="queued", now=now, channel=channel, error=err,
                  next_at=now + backoff(msg.attempts), action="outreach.retry")
            report.retrying += 1
        return
    except Exception as exc:  # noqa: BLE001 - one message's fault (say a header it cannot carry) stays its own
        err = f"not sent: {type(exc).__name__}: {exc}"
        report.errors.append(f"outreach {msg.outreach_id}: {err}")
        log.exception("outreach %s cannot be sent", msg.outreach_id)
        _mark(engine, msg, status="failed", now=now, channel=channel, error=err, action="outreach.fail")
        report.failed += 1
        return
    # sent_at is the server's acceptance (the sender returned), not the claim.
    _mark(engine, msg, status="sent", now=fixed_now or utcnow(), channel=channel, action="outreach.send")
    report.sent += 1


def deliver(*, engine: Engine, once: bool, now: datetime | None = None, settings: Settings | None = None,
            poll_seconds: float = 5.0, stop: threading.Event | None = None,
            on_pass: Callable[[DeliveryReport], None] | None = None) -> DeliveryReport:
    """Run the worker: one pass with `once`, else pass after pass every `poll_seconds`
    until `stop` is set (the CLI sets it on Ctrl-C / SIGTERM, after the current message).

    In the loop a database error (server restarted or unreachable) is logged and the pass is
    tried again after `poll_seconds`; with `once` it is raised."""
    total = DeliveryReport()
    stop = stop or threading.Event()
    while True:
        try:
            report = deliver_pass(engine=engine, now=now, settings=settings, stop=stop)
        except DBAPIError as exc:
            if once:
                raise
            # The database went away (a restart, a network blip): keep running and try again
            # on a fresh pool. A message claimed but not yet marked stays `sending` until its
            # lease expires, then _recover_stale settles it, so nothing is lost or sent twice.
            log.warning("outreach worker: database unavailable, retrying in %s s: %s", poll_seconds,
                        str(exc).splitlines()[0])
            engine.dispose()
            if stop.wait(poll_seconds):
                return total
            continue
        total.add(report)
        if on_pass is not None:
            on_pass(report)
        if once or stop.wait(poll_seconds):
            return total
