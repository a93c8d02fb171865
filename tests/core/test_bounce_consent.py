"""A hard bounce withdraws email consent (issue 14, kind 2): the delivery worker against a real
aiosmtpd server that refuses the recipient, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session

from core import consent, delivery
from db.models import Customer, Outreach
from tests.core.test_delivery import NOW, _lapsed, _trigger, configure, free_port  # noqa: F401


class Refuser:
    """Refuses every recipient with the given reply (a 5xx is a hard bounce, a 4xx is not)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.messages: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802, ANN001, ANN201
        return self.reply

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001, ANN201
        self.messages.append(envelope.original_content)
        return "250 OK"


@pytest.fixture
def refusing_smtp(configure, request):  # noqa: F811
    handler = Refuser(request.param)
    port = free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    configure(HEARTH_SMTP_HOST="127.0.0.1", HEARTH_SMTP_PORT=str(port), HEARTH_SMTP_TLS="none")
    yield handler
    ctl.stop()


@pytest.mark.parametrize("refusing_smtp", ["550 5.1.1 <ada@example.com>: mailbox unavailable"], indirect=True)
def test_hard_bounce_withdraws_email_consent_with_source_bounce(session, engine, refusing_smtp):
    c = _lapsed(session, email="ada@example.com")
    oid = _trigger(session, c).outreach.id
    report = delivery.deliver(engine=engine, once=True, now=NOW)
    assert report.sent == 0 and report.failed == 1 and refusing_smtp.messages == []
    with Session(engine) as s:
        assert s.get(Outreach, oid).status == "failed"
        assert s.get(Customer, c.id).email_opt_in is False
        hist = consent.history(session=s, customer_id=c.id)
    latest = hist.iloc[0]
    assert (latest["channel"], latest["consent"], latest["source"], latest["by"]) == \
        ("email", "withdrawn", "bounce", "worker")
    assert "ada@example.com" in latest["detail"] and "550" in latest["detail"]
    assert latest["changed at"] == NOW
    # The next message to the same address is held back: consent is withdrawn.
    session.expire_all()
    second = _trigger(session, c, template="vip_thanks")
    assert second.created and second.outreach.status == "suppressed"
    assert "consent" in second.outreach.reason


@pytest.mark.parametrize("refusing_smtp", ["450 4.2.1 mailbox busy, try later"], indirect=True)
def test_a_temporary_refusal_is_no_bounce(session, engine, refusing_smtp):
    c = _lapsed(session, email="bob@example.com")
    _trigger(session, c)
    delivery.deliver(engine=engine, once=True, now=NOW)
    with Session(engine) as s:
        assert s.get(Customer, c.id).email_opt_in is True
        assert "bounce" not in set(consent.history(session=s, customer_id=c.id)["source"])
