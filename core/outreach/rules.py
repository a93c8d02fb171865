"""Outreach's fixed rules and small pure helpers: templates, suppression reasons, errors, the
result types, the channel, who may send what, idempotency keys, offer codes, holdout assignment."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr

import pandas as pd
from sqlmodel import Session

from core import formatting as fmt
from core import loyalty
from core.analytics.definitions import REACTIVATION_WINDOW_DAYS
from core.config import Settings, get_settings
from core.roles import Role
from db.models import (
    Outreach,
)

TEMPLATES: tuple[str, ...] = ("win_back", "refill_reminder", "apology", "points_expiring", "vip_thanks")
TEMPLATE_LABELS: dict[str, str] = fmt.TEMPLATE_LABELS  # the one list of template names on screen
# Templates that carry a single-use offer code.
OFFER_TEMPLATES = frozenset({"win_back", "apology", "vip_thanks"})
OFFER_TEXT = {
    "win_back": "15 % off your next order",
    "apology": "10 % off your next order, with our apologies",
    "vip_thanks": "a free gift with your next order",
}
# Statuses that count as a contact for the frequency cap.
CONTACT_STATUSES = ("queued", "sending", "sent")
WIN_BACK_AFTER_DAYS = 30
REFILL_LOOKAHEAD_DAYS = 7
POINTS_EXPIRY_WINDOW_DAYS = loyalty.EXPIRING_WINDOW_DAYS
APOLOGY_LOOKBACK_DAYS = 90
VIP_MIN_ORDERS = 10
# Reactivation is defined once, in core.analytics.definitions (design.md).
REACTIVATION_DAYS = REACTIVATION_WINDOW_DAYS
_CHUNK = 5000

SUPPRESS_NO_CONSENT = "no email consent"
SUPPRESS_NO_EMAIL = "no email address"
SUPPRESS_INVALID_EMAIL = "invalid email address"
SUPPRESS_WITHDRAWN = "no email consent (withdrawn before sending)"
SUPPRESS_EMAIL_REMOVED = "no email address (removed before sending)"
# Statuses that count as a contact when the worker re-checks the cap just before sending:
# a message already handed out (queued ones have not reached anybody yet).
SENT_STATUSES = ("sending", "sent")


class OutreachError(ValueError):
    """A request the outreach rules cannot carry out; the message says what to change."""


class UnknownTemplate(OutreachError):
    pass


class CustomerNotFound(OutreachError):
    pass


@dataclass(frozen=True)
class MessagePreview:
    """The exact message a customer would get, and what would happen on Send."""

    customer_id: int
    template: str
    channel: str
    to: str | None
    subject: str | None
    body: str | None
    html: str | None
    offer_code: str | None
    outcome: str  # would_send or suppressed
    reason: str | None = None
    idempotency_key: str | None = None

    @property
    def would_send(self) -> bool:
        """Send would queue this message (not suppressed, held out or already recorded)."""
        return self.outcome == "would_send"


@dataclass(frozen=True)
class TriggerResult:
    outreach: Outreach
    created: bool

    @property
    def outcome(self) -> str:
        """queued, suppressed, holdout, or already_<status> for a repeated key."""
        return self.outreach.status if self.created else f"already_{self.outreach.status}"

    def describe(self) -> str:
        """The outcome in words for the person who clicked, e.g. "queued (outreach 12, email, code AB12)"."""
        o = self.outreach
        if not self.created:
            return f"already recorded (outreach {o.id}, {o.status}{': ' + o.reason if o.reason else ''})"
        if o.status == "queued":
            return f"queued (outreach {o.id}, {o.channel}, code {o.offer_code or 'none'})"
        if o.status == "suppressed":
            return f"suppressed: {o.reason}"
        if o.status == "holdout":
            return "held out (campaign control group, not contacted)"
        return o.status


@dataclass
class CampaignPlan:
    audience: int
    contact: int
    holdout: int
    suppressed: dict[str, int] = field(default_factory=dict)

    @property
    def suppressed_total(self) -> int:
        """Customers suppressed for any reason (the sum over ``suppressed``)."""
        return sum(self.suppressed.values())


# ---------------------------------------------------------------- helpers


def channel_for(settings: Settings | None = None) -> str:
    """email when SMTP is configured, else webhook when a URL is set, else the local outbox."""
    s = settings or get_settings()
    if s.smtp_host:
        return "email"
    if s.webhook_url:
        return "webhook"
    return "outbox"


def templates_for_roles(roles: Iterable[Role]) -> tuple[str, ...]:
    """Templates a user may send: all for account managers and admins, only `apology` for
    support leads, none for exec (design.md, "Who uses it")."""
    roles = set(roles)
    if roles & {Role.ACCOUNT_MANAGER, Role.ADMIN}:
        return TEMPLATES
    if Role.SUPPORT_LEAD in roles:
        return ("apology",)
    return ()


def _check_template(template: str) -> None:
    if template not in TEMPLATES:
        raise UnknownTemplate(f"unknown template {template!r}; use one of: {', '.join(TEMPLATES)}")


def default_idempotency_key(*, customer_id: int, template: str, now: datetime,
                            campaign_id: int | None = None, feedback_id: int | None = None) -> str:
    """One outreach per customer, template and day unless the caller passes its own key."""
    if campaign_id is not None:
        return f"campaign:{campaign_id}:{customer_id}"
    fb = f":fb{feedback_id}" if feedback_id is not None else ""
    return f"{template}:{customer_id}{fb}:{now.date().isoformat()}"


def offer_code_for(idempotency_key: str, settings: Settings | None = None) -> str:
    """A single-use code derived from the outreach's unique key with a server secret.

    The preview and the send compute the same code, so the preview shows the exact code the
    customer gets; the secret keeps codes unguessable from the (guessable) key.
    """
    secret = (settings or get_settings()).cookie_key.encode()
    digest = hmac.new(secret, idempotency_key.encode(), hashlib.sha256).digest()
    return "HH-" + base64.b32encode(digest[:10]).decode()[:10]


def message_id_for(settings: Settings | None = None) -> str:
    """A new, globally unique Message-ID (RFC 5322, angle brackets included) in the sender's domain."""
    domain = parseaddr((settings or get_settings()).smtp_from)[1].rpartition("@")[2] or "hearth.local"
    return f"<outreach.{uuid.uuid4().hex}@{domain}>"


def in_holdout(campaign_id: int, customer_id: int, share: float) -> bool:
    """Deterministic random assignment: the same campaign and customer always land the same way."""
    if share <= 0:
        return False
    h = hashlib.sha256(f"hearth-holdout:{campaign_id}:{customer_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < share


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    ids = list(ids)
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _read(session: Session, stmt, ids: Sequence[int], id_col, columns: list[str]) -> pd.DataFrame:
    frames = [pd.read_sql(stmt.where(id_col.in_(chunk)), session.connection()) for chunk in _chunks(ids)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)


def _first_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        return "there"
    return name.strip().split()[0]


def _day(ts: object) -> str:
    return pd.Timestamp(ts).strftime("%-d %B %Y")


def _invalid_email_reason(problem: str) -> str:
    return f"{SUPPRESS_INVALID_EMAIL}: {problem}"[:300]  # Outreach.reason holds 300 characters
