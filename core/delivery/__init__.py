"""The outreach worker: sends queued messages, retries with backoff, never sends one twice.

One pass:

1. Recover stale claims (a worker died between claiming and marking, see below).
2. Claim ONE due message in a short transaction, and in that same transaction check it
   again (core.outreach.recheck_before_send, with the customer's row locked): consent
   still given, one valid address, frequency cap. A message that fails the check becomes
   `suppressed` with the reason and is never handed out; otherwise `queued` and due ->
   `sending`, attempts + 1, and `next_attempt_at` becomes the claim's expiry (the lease).
   PostgreSQL selects with `FOR UPDATE SKIP LOCKED`, so several workers share the queue
   without waiting for or taking each other's rows. The row is claimed with a conditional
   `UPDATE ... WHERE status = 'queued'`, so even two workers on SQLite cannot both win it
   (run one there all the same: SQLite has a single writer).
3. Send it with no transaction open (network time holds no locks). Only this one message
   is `sending`; the rest of the queue is still `queued`, so a worker killed here leaves
   one message to settle, and the others go to the next worker untouched.
4. Mark it: `sent`, with sent_at the moment the server accepted it; or, on an error, back
   to `queued` with last_error and an exponential backoff; `failed` after MAX_ATTEMPTS, on a
   permanent refusal, or when the message cannot be built at all. Whatever goes wrong with
   one message is recorded on that message, and the worker goes on with the next.

An unsubscribe committed before step 2 stops the message; one committed after it, in the
milliseconds before the server's answer, cannot (the message is already on its way).

Every message has a stable Message-ID, written at trigger time and reused by every
attempt. A worker that dies after sending and before marking leaves the row `sending`
with an expired lease. What the next worker does with it depends on the channel:

- outbox: the .eml file is named after the Message-ID and appears atomically (hard link
  of a finished temporary file), so the file existing means delivered -> `sent`; no file
  means nothing went out -> `queued` again.
- SMTP and webhook: the other side cannot be asked whether it got the message. Hearth
  chooses at most once: the row becomes `failed` with "delivery uncertain" and the
  Message-ID in last_error, and is not resent by itself. A person can look the
  Message-ID up in the mail server's log (or the webhook receiver, which also gets it as
  the `Idempotency-Key` header) and requeue it with `requeue_outreach`. The window is the
  few milliseconds between the server's final OK and the mark, so this is rare; the
  alternative, resending, would risk a duplicate email every time it happens.
"""

from __future__ import annotations

import json
import logging
import os
import re
import smtplib
import ssl
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from sqlalchemy import and_, or_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from core import audit, consent
from core.config import Settings, get_settings
from core.email_address import check_email
from core.outreach import channel_for, html_alternative, recheck_before_send
from db.models import Customer, Outreach, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_MAX = timedelta(hours=2)
CLAIM_LEASE = timedelta(minutes=10)
WORKER = "worker"


class DeliveryError(Exception):
    """A send that did not go through; `permanent` ones are not retried. A `bounce` is a hard
    bounce: the server refused the recipient with a 5xx (permanent failure) code."""

    def __init__(self, message: str, *, permanent: bool = False, bounce: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent or bounce
        self.bounce = bounce


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


@dataclass(frozen=True)
class Message:
    outreach_id: int
    customer_id: int
    customer_external_id: str
    name: str | None
    to: str
    subject: str
    body: str
    message_id: str
    offer_code: str | None
    template: str
    campaign_id: int | None
    triggered_by: str
    attempts: int

    def email(self, settings: Settings, now: datetime) -> EmailMessage:
        """The message; raises ValueError (InvalidEmail) when `to` is not one valid address.

        Headers hold one line each: the recipient is one parsed Address (never a string that
        could carry a second address or a header), name and subject lose control characters."""
        msg = EmailMessage()
        msg["From"] = settings.smtp_from
        msg["To"] = Address(display_name=_one_line(self.name), addr_spec=check_email(self.to))
        msg["Subject"] = _one_line(self.subject)
        msg["Message-ID"] = self.message_id
        msg["Date"] = format_datetime(now.replace(tzinfo=UTC), usegmt=True)  # stored times are UTC
        sender = parseaddr(settings.smtp_from)[1] or "care@hearth.example"
        msg["List-Unsubscribe"] = f"<mailto:{sender}?subject=unsubscribe>"
        msg["X-Hearth-Outreach"] = str(self.outreach_id)
        msg.set_content(self.body)
        msg.add_alternative(html_alternative(self.body), subtype="html")
        return msg

    def payload(self) -> dict:
        """The message as the webhook's JSON body: ids, recipient, subject, text and HTML bodies,
        offer code, template and campaign id."""
        return {
            "message_id": self.message_id, "outreach_id": self.outreach_id,
            "customer_id": self.customer_external_id, "to": self.to, "name": self.name,
            "subject": self.subject, "text": self.body, "html": html_alternative(self.body),
            "offer_code": self.offer_code, "template": self.template, "campaign_id": self.campaign_id,
        }


def _one_line(text: str | None) -> str:
    """Text fit for one header line: control characters (line breaks included) become spaces."""
    return " ".join("".join(" " if ch < " " or ch == "\x7f" else ch for ch in text or "").split())


def backoff(attempts: int) -> timedelta:
    """60 s, 2 min, 4 min, ... capped at 2 h, after the n-th failed attempt."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


# ---------------------------------------------------------------- channels


def outbox_path(settings: Settings, message_id: str) -> Path:
    """The .eml file of message ``message_id`` in HEARTH_OUTBOX_DIR (characters that a file name
    cannot hold become ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", message_id.strip("<>"))
    return Path(settings.outbox_dir) / f"{safe}.eml"


def send_outbox(msg: Message, settings: Settings, now: datetime) -> bool:
    """Write the .eml once. Returns False when it was already there (delivered before)."""
    path = outbox_path(settings, msg.message_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(msg.email(settings, now)))
        try:
            os.link(tmp, path)  # atomic, and fails if the file exists: written once or not at all
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)
    return True


def _ssl_context() -> ssl.SSLContext:
    # The system's trust store (SSL_CERT_FILE / SSL_CERT_DIR are honoured).
    return ssl.create_default_context()


def send_smtp(msg: Message, settings: Settings, now: datetime) -> None:
    """Send ``msg`` through the configured SMTP server (plain, STARTTLS or SSL as configured).

    Raises DeliveryError: permanent when the server refuses the recipient, temporary (retried)
    for any other SMTP or network failure."""
    host, port = settings.smtp_host, settings.smtp_port
    email = msg.email(settings, now)  # built before connecting: a message that cannot be built fails alone
    try:
        if settings.smtp_tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=30, context=_ssl_context())
        else:
            client = smtplib.SMTP(host, port, timeout=30)
        with client:
            if settings.smtp_tls == "starttls":
                client.starttls(context=_ssl_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password or "")
            # The envelope names the one validated recipient, whatever the headers say.
            client.send_message(email, to_addrs=[msg.to])
    except smtplib.SMTPRecipientsRefused as exc:
        hard = any(500 <= int(code) < 600 for code, _text in exc.recipients.values())
        raise DeliveryError(f"SMTP refused the recipient: {exc.recipients}", permanent=True, bounce=hard) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}") from exc


def send_webhook(msg: Message, settings: Settings, now: datetime) -> None:
    """POST ``msg``'s payload as JSON to HEARTH_WEBHOOK_URL, with the message id as Idempotency-Key.

    Raises DeliveryError for an answer other than 2xx (permanent for a 4xx the receiver will
    not change its mind about) or a network failure (temporary, retried)."""
    data = json.dumps(msg.payload()).encode()
    req = urllib.request.Request(
        settings.webhook_url, data=data, method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": msg.message_id,
                 "User-Agent": "hearth-outreach/1"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - URL from settings
            if not 200 <= resp.status < 300:
                raise DeliveryError(f"webhook answered {resp.status}")
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 409, 425, 429)
        raise DeliveryError(f"webhook answered {exc.code} {exc.reason}", permanent=permanent) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"webhook {settings.webhook_url}: {exc}") from exc


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
            on_pass=None) -> DeliveryReport:
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
