"""The three channels a message leaves by (the local outbox, SMTP, a webhook) and the message
as they send it."""

from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from core.config import Settings
from core.email_address import check_email
from core.outreach import html_alternative


class DeliveryError(Exception):
    """A send that did not go through; `permanent` ones are not retried. A `bounce` is a hard
    bounce: the server refused the recipient with a 5xx (permanent failure) code."""

    def __init__(self, message: str, *, permanent: bool = False, bounce: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent or bounce
        self.bounce = bounce


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
