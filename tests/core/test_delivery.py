"""The worker against real servers on localhost: aiosmtpd (plain, STARTTLS, SSL), a local
HTTP server for the webhook, and .eml files; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlmodel import Session, select

from core import delivery
from core import outreach as out
from core.config import PROJECT_ROOT, get_settings
from db.models import AuditLog, Customer, Outreach, utcnow
from tests.factories import make_customer, make_order

NOW = datetime(2026, 6, 1, 12, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"


@pytest.fixture
def configure(monkeypatch, tmp_path):
    """Set HEARTH_* settings for one test (and clear the cached settings)."""
    for var in ("HEARTH_SMTP_HOST", "HEARTH_WEBHOOK_URL", "HEARTH_SMTP_TLS", "HEARTH_SMTP_USER",
                "HEARTH_SMTP_PASSWORD", "HEARTH_FREQUENCY_CAP_DAYS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HEARTH_OUTBOX_DIR", str(tmp_path / "outbox"))

    def _set(**env: str) -> None:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()

    _set()
    yield _set
    get_settings.cache_clear()


@pytest.fixture
def smtp(configure):
    handler = Collector()
    port = free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    configure(HEARTH_SMTP_HOST="127.0.0.1", HEARTH_SMTP_PORT=str(port), HEARTH_SMTP_TLS="none")
    yield handler
    ctl.stop()


def _lapsed(session, **kw):
    c = make_customer(session, **kw)
    make_order(session, c, NOW - timedelta(days=120), total=40.0)
    session.commit()
    return c


def _trigger(session, c, template="win_back", **kw):
    return out.trigger_outreach(session=session, customer_id=c.id, template=template,
                                triggered_by="manager", now=NOW, **kw)


def test_double_trigger_sends_one_email_with_name_and_code(session, engine, smtp):
    c = _lapsed(session, name="Ada Lovelace <ada>", email="ada@example.com")
    first = _trigger(session, c)
    second = _trigger(session, c)  # a double click
    assert first.created and not second.created
    report = delivery.deliver(engine=engine, once=True, now=NOW)
    assert report.sent == 1
    assert delivery.deliver(engine=engine, once=True, now=NOW + timedelta(hours=1)).sent == 0
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    code = first.outreach.offer_code
    assert msg["To"].addresses[0].addr_spec == "ada@example.com"
    assert msg["Message-ID"] == first.outreach.message_id
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Hello Ada" in text and code in text and "UNSUBSCRIBE" in text
    assert get_settings().postal_address in text
    assert code in html and "Ada" in html
    assert msg["List-Unsubscribe"].startswith("<mailto:")
    with Session(engine) as s:
        o = s.get(Outreach, first.outreach.id)
        assert o.status == "sent" and o.sent_at == NOW and o.attempts == 1
        sends = s.exec(select(AuditLog).where(AuditLog.action == "outreach.send")).all()
        assert [a.actor for a in sends] == ["manager"]


def test_opted_out_customer_gets_nothing(session, engine, smtp):
    c = _lapsed(session, email_opt_in=False)
    assert _trigger(session, c).outreach.status == "suppressed"
    report = delivery.deliver(engine=engine, once=True, now=NOW)
    assert report.sent == 0 and smtp.messages == []


def test_unsubscribe_after_queueing_is_never_sent(session, engine, smtp):
    c = _lapsed(session)
    oid = _trigger(session, c).outreach.id
    out.record_unsubscribe(session=session, customer_id=c.id, actor="support")
    report = delivery.deliver(engine=engine, once=True, now=NOW)
    assert report.sent == 0 and report.suppressed == 1 and smtp.messages == []
    with Session(engine) as s:
        o = s.get(Outreach, oid)
        assert o.status == "suppressed" and o.reason == "no email consent (withdrawn before sending)"


def test_message_survives_the_server_being_down(session, engine, configure):
    port = free_port()  # nothing listens here yet
    configure(HEARTH_SMTP_HOST="127.0.0.1", HEARTH_SMTP_PORT=str(port))
    c = _lapsed(session, name="Grace Hopper")
    oid = _trigger(session, c).outreach.id
    report = delivery.deliver(engine=engine, once=True, now=NOW)
    assert report.retrying == 1 and report.sent == 0
    with Session(engine) as s:
        o = s.get(Outreach, oid)
        assert o.status == "queued" and o.attempts == 1 and "SMTP 127.0.0.1" in o.last_error
        assert o.next_attempt_at == NOW + timedelta(seconds=60)
    # Still down a bit later: the second attempt backs off twice as long.
    assert delivery.deliver(engine=engine, once=True, now=NOW + timedelta(seconds=61)).retrying == 1
    with Session(engine) as s:
        assert s.get(Outreach, oid).next_attempt_at == NOW + timedelta(seconds=61 + 120)
    # Not due yet: nothing is tried.
    handler = Collector()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        assert delivery.deliver(engine=engine, once=True, now=NOW + timedelta(seconds=90)).touched == 0
        report = delivery.deliver(engine=engine, once=True, now=NOW + timedelta(minutes=5))
        assert report.sent == 1
    finally:
        ctl.stop()
    assert len(handler.messages) == 1
    assert "Hello Grace" in handler.messages[0].get_body(("plain",)).get_content()
    with Session(engine) as s:
        o = s.get(Outreach, oid)
        assert o.status == "sent" and o.attempts == 3
        retries = s.exec(select(AuditLog).where(AuditLog.action == "outreach.retry")).all()
        assert len(retries) == 2


def test_failed_after_max_attempts(session, engine, configure):
    configure(HEARTH_SMTP_HOST="127.0.0.1", HEARTH_SMTP_PORT=str(free_port()))
    c = _lapsed(session)
    oid = _trigger(session, c).outreach.id
    t = NOW
    for _ in range(delivery.MAX_ATTEMPTS):
        delivery.deliver(engine=engine, once=True, now=t)
        t += timedelta(hours=3)
    with Session(engine) as s:
        o = s.get(Outreach, oid)
        assert o.status == "failed" and o.attempts == delivery.MAX_ATTEMPTS
        assert s.exec(select(AuditLog).where(AuditLog.action == "outreach.fail")).one().actor == "manager"


# ---------------------------------------------------------------- TLS


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # it is TLS: implicit SSL
@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_modes_with_a_self_signed_certificate(sqlite_url, tmp_path, configure, monkeypatch, mode):
    from db.engine import get_engine

    engine = get_engine(sqlite_url)
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the worker trusts this certificate only
    handler = Collector()
    logins: list[str] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append(auth_data.login.decode())
        return AuthResult(success=auth_data.password == b"s3cret")

    port = free_port()
    if mode == "starttls":
        ctl = Controller(handler, hostname="127.0.0.1", port=port, tls_context=server_ctx,
                         require_starttls=True, authenticator=authenticator, auth_required=True)
    else:
        ctl = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=server_ctx,
                         authenticator=authenticator, auth_required=True, auth_require_tls=False)
    ctl.start()
    try:
        configure(HEARTH_SMTP_HOST="127.0.0.1", HEARTH_SMTP_PORT=str(port), HEARTH_SMTP_TLS=mode,
                  HEARTH_SMTP_USER="hearth", HEARTH_SMTP_PASSWORD="s3cret")
        with Session(engine, expire_on_commit=False) as session:
            c = _lapsed(session, name="Joan Clarke")
            _trigger(session, c)
        assert delivery.deliver(engine=engine, once=True, now=NOW).sent == 1
    finally:
        ctl.stop()
    assert logins == ["hearth"]
    assert len(handler.messages) == 1 and "Joan" in handler.messages[0]["Subject"]


def test_untrusted_certificate_is_not_used(sqlite_url, tmp_path, configure):
    from db.engine import get_engine

    engine = get_engine(sqlite_url)
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    handler = Collector()
    port = free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port, tls_context=server_ctx, require_starttls=True)
    ctl.start()
    try:
        configure(HEARTH_SMTP_HOST="127.0.0.1", HEARTH_SMTP_PORT=str(port), HEARTH_SMTP_TLS="starttls")
        with Session(engine, expire_on_commit=False) as session:
            _trigger(session, _lapsed(session))
        report = delivery.deliver(engine=engine, once=True, now=NOW)
    finally:
        ctl.stop()
    assert report.retrying == 1 and handler.messages == []
    assert "CERTIFICATE_VERIFY_FAILED" in report.errors[0]


# ---------------------------------------------------------------- webhook and outbox


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict, dict]] = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server's hook name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(configure):
    _Hook.received, _Hook.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configure(HEARTH_WEBHOOK_URL=f"http://127.0.0.1:{server.server_address[1]}/hook")
    yield _Hook
    server.shutdown()
    server.server_close()


def test_webhook_posts_json_once(session, engine, webhook):
    c = _lapsed(session, name="Mary Somerville")
    o = _trigger(session, c).outreach
    assert o.channel == "webhook"
    webhook.status = 503
    assert delivery.deliver(engine=engine, once=True, now=NOW).retrying == 1
    webhook.status = 200
    assert delivery.deliver(engine=engine, once=True, now=NOW + timedelta(minutes=5)).sent == 1
    assert delivery.deliver(engine=engine, once=True, now=NOW + timedelta(hours=5)).sent == 0
    assert len(webhook.received) == 2  # the refused attempt and the accepted one
    headers, payload = webhook.received[-1]
    assert headers["Content-Type"] == "application/json" and headers["Idempotency-Key"] == o.message_id
    assert payload["customer_id"] == c.external_id and payload["offer_code"] == o.offer_code
    assert "Hello Mary" in payload["text"] and payload["message_id"] == o.message_id


def test_webhook_client_error_fails_at_once(session, engine, webhook):
    _trigger(session, _lapsed(session))
    webhook.status = 400
    assert delivery.deliver(engine=engine, once=True, now=NOW).failed == 1


def test_outbox_writes_one_eml_per_message(session, engine, configure, tmp_path):
    c = _lapsed(session, name="Emmy Noether")
    o = _trigger(session, c).outreach
    assert o.channel == "outbox"
    assert delivery.deliver(engine=engine, once=True, now=NOW).sent == 1
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    msg = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg["Message-ID"] == o.message_id and o.offer_code in msg.get_body(("plain",)).get_content()


def _claim_and_die(engine, now):
    """What a worker that crashed right after claiming leaves behind."""
    settings = get_settings()
    claim = delivery.worker._claim_next(engine, now, settings, out.channel_for(settings))
    return [] if claim is None else [claim.msg]


def test_dead_worker_after_writing_outbox_file_is_not_resent(session, engine, configure, tmp_path):
    c = _lapsed(session)
    _trigger(session, c)
    settings = get_settings()
    [msg] = _claim_and_die(engine, NOW)
    delivery.send_outbox(msg, settings, NOW)  # sent, then the worker died before marking
    first_bytes = delivery.outbox_path(settings, msg.message_id).read_bytes()
    # Within the lease nobody touches it.
    assert delivery.deliver(engine=engine, once=True, now=NOW + timedelta(minutes=1)).touched == 0
    report = delivery.deliver(engine=engine, once=True, now=NOW + timedelta(minutes=11))
    assert report.recovered_sent == 1 and report.sent == 0
    assert delivery.outbox_path(settings, msg.message_id).read_bytes() == first_bytes
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    with Session(engine) as s:
        assert s.get(Outreach, msg.outreach_id).status == "sent"


def test_dead_worker_before_writing_outbox_file_is_requeued(session, engine, configure, tmp_path):
    _trigger(session, _lapsed(session))
    [msg] = _claim_and_die(engine, NOW)
    report = delivery.deliver(engine=engine, once=True, now=NOW + timedelta(minutes=11))
    assert report.requeued == 1 and report.sent == 1
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_dead_worker_during_smtp_send_is_not_resent(session, engine, smtp):
    _trigger(session, _lapsed(session))
    [msg] = _claim_and_die(engine, NOW)
    delivery.send_smtp(msg, get_settings(), NOW)  # delivered, then the worker died
    report = delivery.deliver(engine=engine, once=True, now=NOW + timedelta(minutes=11))
    assert report.uncertain == 1 and report.sent == 0
    assert len(smtp.messages) == 1
    with Session(engine, expire_on_commit=False) as s:
        o = s.get(Outreach, msg.outreach_id)
        assert o.status == "failed" and "delivery uncertain" in o.last_error
        assert msg.message_id in o.last_error
        # A person who checked the mail log and found nothing can requeue it.
        delivery.requeue_outreach(session=s, outreach_id=o.id, actor="admin", now=NOW)
    assert delivery.deliver(engine=engine, once=True, now=NOW + timedelta(minutes=12)).sent == 1
    assert len(smtp.messages) == 2


# ---------------------------------------------------------------- concurrency


def _run_threads(n, target):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def wrapped(i):
        try:
            barrier.wait(timeout=10)
            results.append(target(i))
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def test_concurrent_triggers_give_exactly_one_outreach(session, engine, configure):
    c = _lapsed(session, segment="VIP")  # both templates fit

    def trigger(i):
        with Session(engine, expire_on_commit=False) as s:
            # Half repeat the same click (same key); half are other staff with other templates.
            template = "win_back" if i % 2 == 0 else "vip_thanks"
            key = "same-click" if i % 2 == 0 else f"staff{i}-click"
            return out.trigger_outreach(session=s, customer_id=c.id, template=template,
                                        triggered_by=f"staff{i}", idempotency_key=key, now=NOW)

    results, errors = _run_threads(6, trigger)
    assert errors == []
    with Session(engine) as s:
        rows = s.exec(select(Outreach).where(Outreach.customer_id == c.id)).all()
    queued = [r for r in rows if r.status == "queued"]
    assert len(queued) == 1
    assert sum(1 for r in results if r.created and r.outreach.status == "queued") == 1
    assert len([r for r in rows if r.idempotency_key == "same-click"]) <= 1


def test_two_workers_never_double_send(session, engine, smtp):
    ids = []
    for _ in range(30):
        c = _lapsed(session)
        ids.append(_trigger(session, c).outreach.id)

    def work(_i):
        return delivery.deliver(engine=engine, once=True, now=NOW)

    results, errors = _run_threads(2, work)
    assert errors == []
    assert sum(r.sent for r in results) == 30
    mids = [m["Message-ID"] for m in smtp.messages]
    assert len(mids) == 30 and len(set(mids)) == 30
    with Session(engine) as s:
        assert {o.status for o in s.exec(select(Outreach)).all()} == {"sent"}


# ---------------------------------------------------------------- one message's fault stays its own


class GatedCollector(Collector):
    """A server that holds the `hold_at`-th message (1-based) in DATA until `release` is set:
    the test knows exactly which message is in flight, with no sleep to guess it."""

    def __init__(self, hold_at: int) -> None:
        super().__init__()
        self.hold_at = hold_at
        self.seen = 0
        self.held = threading.Event()
        self.release = threading.Event()
        self.rcpt_tos: list[list[str]] = []
        self.accepted_at: list[datetime] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.seen += 1
        if self.seen == self.hold_at:
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        with self.lock:
            self.rcpt_tos.append(list(envelope.rcpt_tos))
            self.accepted_at.append(utcnow())
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def gated_smtp(configure):
    servers = []

    def start(hold_at: int) -> GatedCollector:
        handler = GatedCollector(hold_at)
        port = free_port()
        ctl = Controller(handler, hostname="127.0.0.1", port=port)
        ctl.start()
        servers.append((handler, ctl))
        configure(HEARTH_SMTP_HOST="127.0.0.1", HEARTH_SMTP_PORT=str(port), HEARTH_SMTP_TLS="none")
        return handler

    yield start
    for handler, ctl in servers:
        handler.release.set()
        ctl.stop()


CRLF_ADDRESS = "victim@example.com\r\nBcc: all@example.net"
LIST_ADDRESS = "someone@example.com, other@example.net"


def _set_email_behind_the_rules(engine, customer_id: int, address: str) -> None:
    """What an old database holds: written before addresses were checked."""
    with engine.begin() as conn:
        table = Customer.__table__
        conn.execute(table.update().where(table.c.id == customer_id).values(email=address))


def test_line_break_and_list_addresses_are_suppressed_and_the_rest_sent_once(session, engine, smtp):
    customers = [_lapsed(session, name=f"Person {i}", email=f"p{i}@example.com") for i in range(7)]
    camp = out.create_campaign(session=session, name="spring", template="win_back",
                               customer_ids=[c.id for c in customers], audience_rule={}, holdout_share=0.0,
                               created_by="manager", now=NOW)
    # Queued while the addresses were fine; the database then holds two bad ones (bypassing the
    # import's check), in the middle of the batch.
    _set_email_behind_the_rules(engine, customers[2].id, CRLF_ADDRESS)
    _set_email_behind_the_rules(engine, customers[4].id, LIST_ADDRESS)
    report = delivery.deliver(engine=engine, once=True, now=NOW)  # returns: nothing is fatal
    assert (report.sent, report.suppressed, report.failed, report.retrying) == (5, 2, 0, 0)
    assert delivery.deliver(engine=engine, once=True, now=NOW + timedelta(hours=3)).touched == 0
    good = sorted(f"p{i}@example.com" for i in (0, 1, 3, 5, 6))
    assert sorted(m["To"].addresses[0].addr_spec for m in smtp.messages) == good
    assert all(len(m["To"].addresses) == 1 and m["Bcc"] is None for m in smtp.messages)
    with Session(engine) as s:
        rows = {o.customer_id: o for o in s.exec(select(Outreach).where(Outreach.campaign_id == camp.id))}
        assert rows[customers[2].id].status == rows[customers[4].id].status == "suppressed"
        assert rows[customers[2].id].reason == (
            "invalid email address: contains a line break or another control character")
        assert rows[customers[4].id].reason.startswith("invalid email address: holds more than one address")
        assert sorted(o.status for o in rows.values()) == ["sent"] * 5 + ["suppressed"] * 2
        suppress = s.exec(select(AuditLog).where(AuditLog.action == "outreach.suppress")).all()
        assert len(suppress) == 2
    # A trigger for such a customer is suppressed at once, with the same reason.
    assert _trigger(session, customers[2], template="vip_thanks").outreach.reason == (
        "invalid email address: contains a line break or another control character")


def test_envelope_has_the_one_recipient(session, engine, gated_smtp):
    server = gated_smtp(hold_at=0)
    _trigger(session, _lapsed(session, name="Ada\r\nBcc: all@example.net", email="ada@example.com"))
    assert delivery.deliver(engine=engine, once=True, now=NOW).sent == 1
    assert server.rcpt_tos == [["ada@example.com"]]
    [msg] = server.messages
    assert msg["Bcc"] is None and msg["To"].addresses[0].display_name == "Ada Bcc: all@example.net"


def test_unsubscribe_committed_while_a_batch_is_sent_stops_that_message(session, engine, gated_smtp):
    server = gated_smtp(hold_at=1)
    a, b, c = (_lapsed(session, email=f"{n}@example.com") for n in ("a", "b", "c"))
    ids = {x.id: _trigger(session, x).outreach.id for x in (a, b, c)}
    result: list[delivery.DeliveryReport] = []
    worker = threading.Thread(target=lambda: result.append(delivery.deliver(engine=engine, once=True)))
    worker.start()
    try:
        assert server.held.wait(30), "the worker never reached the server"
        # a's message is at the server; b and c are the rest of the batch.
        out.record_unsubscribe(session=session, customer_id=c.id, actor="support")
        released_at = utcnow()
    finally:
        server.release.set()
        worker.join(timeout=60)
    [report] = result
    assert (report.sent, report.suppressed) == (2, 1)
    assert server.rcpt_tos == [["a@example.com"], ["b@example.com"]]
    with Session(engine) as s:
        o_a, o_c = s.get(Outreach, ids[a.id]), s.get(Outreach, ids[c.id])
        assert o_c.status == "suppressed" and o_c.reason == "no email consent (withdrawn before sending)"
        assert o_c.sent_at is None
        # sent_at is when the server accepted a's message: after it was let through.
        assert o_a.status == "sent" and o_a.sent_at >= released_at


def test_frequency_cap_is_checked_again_before_sending(session, engine, smtp, configure):
    c = _lapsed(session, segment="VIP")
    configure(HEARTH_FREQUENCY_CAP_DAYS="0")  # both queued, as with a cap changed in between
    first = _trigger(session, c, template="win_back").outreach
    second = _trigger(session, c, template="vip_thanks").outreach
    assert first.status == second.status == "queued"
    configure(HEARTH_FREQUENCY_CAP_DAYS="14")
    report = delivery.deliver(engine=engine, once=True, now=NOW)
    assert (report.sent, report.suppressed) == (1, 1) and len(smtp.messages) == 1
    with Session(engine) as s:
        assert s.get(Outreach, first.id).status == "sent"
        later = s.get(Outreach, second.id)
        assert later.status == "suppressed"
        assert later.reason == "frequency cap: last contacted on 2026-06-01 (one outreach per 14 days)"


def test_killed_worker_leaves_one_uncertain_message_and_the_next_sends_the_rest(db_url, engine,
                                                                                   gated_smtp):
    server = gated_smtp(hold_at=3)
    with Session(engine, expire_on_commit=False) as s:
        for i in range(6):
            _trigger(s, _lapsed(s, email=f"k{i}@example.com"))
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "core", "outreach", "deliver", "--poll-seconds", "0.2"],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert server.held.wait(60), "the worker never reached the third message"
        with Session(engine) as s:  # the moment of the crash: one message in flight, four untouched
            statuses = sorted(s.exec(select(Outreach.status)).all())
        assert statuses == ["queued"] * 3 + ["sending"] + ["sent"] * 2
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    server.release.set()
    # The next worker sends the three that never left at once, without waiting for a lease.
    report = delivery.deliver(engine=engine, once=True)
    assert (report.sent, report.uncertain) == (3, 0)
    # After the lease, the in-flight one, and only it, is "delivery uncertain", and not resent.
    later = delivery.deliver(engine=engine, once=True,
                             now=utcnow() + delivery.CLAIM_LEASE + timedelta(minutes=1))
    assert (later.sent, later.uncertain) == (0, 1)
    with Session(engine, expire_on_commit=False) as s:
        rows = s.exec(select(Outreach).order_by(Outreach.id)).all()
    assert [o.status for o in rows] == ["sent", "sent", "failed", "sent", "sent", "sent"]
    uncertain = rows[2]
    assert "delivery uncertain" in uncertain.last_error and uncertain.message_id in uncertain.last_error
    # aiosmtpd drops a message whose client vanished mid-DATA, so the server's log (here: what
    # it accepted) shows the uncertain one never arrived; each of the others arrived once.
    mids = [m["Message-ID"] for m in server.messages]
    assert sorted(mids) == sorted(o.message_id for o in rows if o.status == "sent")
    # Having checked that, a person requeues it, and it goes exactly once.
    with Session(engine) as s:
        delivery.requeue_outreach(session=s, outreach_id=uncertain.id, actor="admin")
    assert delivery.deliver(engine=engine, once=True).sent == 1
    mids = [m["Message-ID"] for m in server.messages]
    assert len(mids) == 6 and set(mids) == {o.message_id for o in rows}


def test_a_message_that_cannot_be_built_fails_alone(session, engine, smtp):
    ids = [_trigger(session, _lapsed(session, email=f"m{i}@example.com")).outreach.id for i in range(3)]
    with engine.begin() as conn:  # a header value no email can carry, as a damaged row might hold
        table = Outreach.__table__
        conn.execute(table.update().where(table.c.id == ids[0]).values(message_id="<a\r\nBcc: x@example.net>"))
    report = delivery.deliver(engine=engine, once=True, now=NOW)
    assert (report.sent, report.failed, report.retrying) == (2, 1, 0)
    assert sorted(m["To"].addresses[0].addr_spec for m in smtp.messages) == ["m1@example.com", "m2@example.com"]
    with Session(engine) as s:
        bad = s.get(Outreach, ids[0])
        assert bad.status == "failed" and bad.last_error.startswith("not sent: ValueError")
        assert [s.get(Outreach, i).status for i in ids[1:]] == ["sent", "sent"]
