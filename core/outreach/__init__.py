"""Outreach: the templates, the rules that decide whether a message goes out, and campaigns.

Rules (design.md, "Outreach rules"):

- consent: no email without email consent (nor without one valid address, see
  core.email_address); the outreach is recorded as suppressed with that reason;
- frequency cap: one contact per customer per `HEARTH_FREQUENCY_CAP_DAYS`, whoever
  triggers it. The check runs under a lock on the customer's row (`SELECT ... FOR UPDATE`
  on PostgreSQL; on SQLite the first write takes the database's single write lock), so two
  staff at the same moment cannot both pass it;
- idempotent: `Outreach.idempotency_key` is unique in the database; a repeated key returns
  the outreach that already exists;
- outbox: the decision and the queued message are committed in one transaction; the worker
  in core.delivery sends it, after `recheck_before_send` has applied consent, the address and
  the frequency cap once more in the transaction that hands the message out;
- campaigns hold out a deterministic random share of the eligible audience (a hash of
  campaign id and customer id), so uplift compares like with like.

A customer counts as contacted by an outreach that is queued, being sent or sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr

import pandas as pd
from sqlalchemy import func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core import audit, consent, loyalty
from core import formatting as fmt
from core.analytics.definitions import REACTIVATION_WINDOW_DAYS
from core.config import Settings, get_settings
from core.email_address import email_problem
from core.roles import Role, require_personal_data
from db.models import (
    AuditLog,
    Campaign,
    Customer,
    Feedback,
    LoyaltyEntry,
    Order,
    OrderLine,
    Outreach,
    Product,
    utcnow,
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


# ---------------------------------------------------------------- customer contexts


def _lock_customers(session: Session, customer_ids: Sequence[int]) -> None:
    """Serialise decisions about these customers until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        for chunk in _chunks(sorted(customer_ids)):
            session.exec(select(Customer.id).where(col(Customer.id).in_(chunk))
                         .order_by(Customer.id).with_for_update()).all()
    else:
        # SQLite has no row locks: the first write takes the single database write lock,
        # which other writers wait for (busy_timeout), so the checks below cannot interleave.
        for chunk in _chunks(sorted(customer_ids)):
            table = Customer.__table__
            session.execute(update(table).where(table.c.id.in_(chunk)).values(updated_at=table.c.updated_at))


def customer_contexts(*, session: Session, customer_ids: Sequence[int], template: str,
                      now: datetime | None = None, feedback_id: int | None = None,
                      settings: Settings | None = None) -> pd.DataFrame:
    """One row per customer with what the template needs, `fits` and `not_fit_reason`.

    Vectorised: a handful of queries whatever the number of customers.

    Raises OutreachError when ``feedback_id`` belongs to another customer.
    """
    _check_template(template)
    now = now or utcnow()
    settings = settings or get_settings()
    ids = sorted({int(i) for i in customer_ids})
    cust = _read(session, select(Customer.id.label("customer_id"), Customer.external_id, Customer.name,
                                 Customer.email, Customer.email_opt_in, Customer.segment,
                                 Customer.signup_date),
                 ids, col(Customer.id),
                 ["customer_id", "external_id", "name", "email", "email_opt_in", "segment", "signup_date"])
    cust = cust.set_index("customer_id")
    orders = _read(session, select(Order.customer_id, func.count().label("order_count"),
                                   func.max(Order.ordered_at).label("last_order_at"),
                                   func.sum(Order.total).label("lifetime_spend"))
                   .where(Order.ordered_at <= now).group_by(Order.customer_id),
                   ids, col(Order.customer_id), ["customer_id", "order_count", "last_order_at",
                                                 "lifetime_spend"]).set_index("customer_id")
    ctx = cust.join(orders, how="left")
    ctx["order_count"] = ctx["order_count"].fillna(0).astype(int)
    ctx["lifetime_spend"] = ctx["lifetime_spend"].fillna(0.0).astype(float)
    ctx["last_order_at"] = pd.to_datetime(ctx["last_order_at"])
    ctx["fits"] = True
    ctx["not_fit_reason"] = None

    if template == "win_back":
        days = (pd.Timestamp(now) - ctx["last_order_at"]).dt.days
        ctx["days_since_order"] = days
        never = ctx["order_count"] == 0
        recent = days < WIN_BACK_AFTER_DAYS
        ctx.loc[never, ["fits", "not_fit_reason"]] = [False, "has never ordered"]
        ctx.loc[~never & recent, ["fits", "not_fit_reason"]] = [
            False, f"ordered in the last {WIN_BACK_AFTER_DAYS} days"]
    elif template == "refill_reminder":
        lines = _read(session, select(Order.customer_id, OrderLine.sku, Product.name.label("product"),
                                      Product.replenishment_days,
                                      func.max(Order.ordered_at).label("last_bought_at"))
                      .join(Order, Order.id == OrderLine.order_id)
                      .join(Product, Product.sku == OrderLine.sku)
                      .where(col(Product.replenishment_days).is_not(None), Order.ordered_at <= now)
                      .group_by(Order.customer_id, OrderLine.sku, Product.name, Product.replenishment_days),
                      ids, col(Order.customer_id),
                      ["customer_id", "sku", "product", "replenishment_days", "last_bought_at"])
        if not lines.empty:
            lines["last_bought_at"] = pd.to_datetime(lines["last_bought_at"])
            lines["due_at"] = lines["last_bought_at"] + pd.to_timedelta(lines["replenishment_days"], unit="D")
            first = (lines.sort_values(["due_at", "sku"]).groupby("customer_id").head(1)
                     .set_index("customer_id"))
            ctx = ctx.join(first[["sku", "product", "replenishment_days", "last_bought_at", "due_at"]])
        else:
            for c in ("sku", "product", "replenishment_days", "last_bought_at", "due_at"):
                ctx[c] = None
        due = pd.to_datetime(ctx["due_at"])
        none = due.isna()
        ctx.loc[none, ["fits", "not_fit_reason"]] = [
            False, "buys nothing with a replenishment interval"]
        later = ~none & (due > pd.Timestamp(now) + pd.Timedelta(days=REFILL_LOOKAHEAD_DAYS))
        ctx.loc[later, ["fits", "not_fit_reason"]] = [
            False, f"no product due for a refill in the next {REFILL_LOOKAHEAD_DAYS} days"]
    elif template == "apology":
        stmt = select(Feedback.id.label("feedback_id"), Feedback.customer_id, Feedback.submitted_at,
                      Feedback.nps_score, Feedback.channel)
        if feedback_id is not None:
            stmt = stmt.where(Feedback.id == feedback_id)
        else:
            stmt = stmt.where((col(Feedback.flagged)) | (col(Feedback.nps_score) <= 6),
                              Feedback.submitted_at > now - timedelta(days=APOLOGY_LOOKBACK_DAYS),
                              Feedback.submitted_at <= now)
        fb = _read(session, stmt, ids, col(Feedback.customer_id),
                   ["feedback_id", "customer_id", "submitted_at", "nps_score", "channel"])
        if feedback_id is not None and len(ids) == 1 and fb.empty:
            raise OutreachError(f"feedback {feedback_id} does not belong to this customer")
        if not fb.empty:
            fb = fb.sort_values("submitted_at").groupby("customer_id").tail(1).set_index("customer_id")
            ctx = ctx.join(fb)
        else:
            for c in ("feedback_id", "submitted_at", "nps_score", "channel"):
                ctx[c] = None
        none = ctx["feedback_id"].isna()
        ctx.loc[none, ["fits", "not_fit_reason"]] = [
            False, f"no negative feedback in the last {APOLOGY_LOOKBACK_DAYS} days"]
    elif template == "points_expiring":
        pts = expiring_points(session=session, customer_ids=ids, now=now)
        ctx = ctx.join(pts)
        ctx["expiring_points"] = ctx["expiring_points"].fillna(0).astype(int)
        ctx["balance"] = ctx["balance"].fillna(0).astype(int)
        none = ctx["expiring_points"] <= 0
        ctx.loc[none, ["fits", "not_fit_reason"]] = [
            False, f"no points expiring in the next {POINTS_EXPIRY_WINDOW_DAYS} days"]
        ctx["point_value"] = settings.point_value
    elif template == "vip_thanks":
        vip = (ctx["segment"].fillna("").str.lower().str.contains("vip")
               | (ctx["order_count"] >= VIP_MIN_ORDERS))
        ctx.loc[~vip, ["fits", "not_fit_reason"]] = [
            False, f"not a VIP (segment 'vip' or {VIP_MIN_ORDERS}+ orders)"]
    ctx["fits"] = ctx["fits"].astype(bool)
    return ctx


def expiring_points(*, session: Session, customer_ids: Sequence[int], now: datetime) -> pd.DataFrame:
    """Balance and points expiring, per customer (index customer_id), by core.loyalty's rules
    (oldest lots used first; "expiring" = within loyalty.EXPIRING_WINDOW_DAYS after the day
    of `now`), so the message says what the Loyalty screen says.

    Columns: balance, expiring_points, expires_at (the date the next lot expires).
    """
    out_cols = ["balance", "expiring_points", "expires_at"]
    as_of = now.date()
    if len(customer_ids) > _CHUNK:
        # A whole audience (the Loyalty screen's "expiring in 30 days" list): the day's ledger
        # summary has every member's figures by the same rules, so read those, not the entries.
        bal = loyalty.ledger_summary(session=session, as_of=as_of).balances
        return _expiring_frame(bal[bal["customer_id"].isin({int(i) for i in customer_ids})])
    entries = _read(session, select(LoyaltyEntry.id, LoyaltyEntry.external_id, LoyaltyEntry.customer_id,
                                    LoyaltyEntry.occurred_at, LoyaltyEntry.kind, LoyaltyEntry.points,
                                    LoyaltyEntry.expires_at, LoyaltyEntry.order_ref),
                    customer_ids, col(LoyaltyEntry.customer_id),
                    ["id", "external_id", "customer_id", "occurred_at", "kind", "points", "expires_at",
                     "order_ref"])
    entries = entries[pd.to_datetime(entries["occurred_at"]) < pd.Timestamp(as_of) + pd.Timedelta(days=1)]
    if entries.empty:
        return pd.DataFrame(columns=out_cols, index=pd.Index([], name="customer_id"))
    entries = entries.sort_values("id").assign(
        occurred_at=lambda f: pd.to_datetime(f["occurred_at"]).astype("datetime64[ns]"),
        expires_at=lambda f: pd.to_datetime(f["expires_at"]).astype("datetime64[ns]"),
        points=lambda f: f["points"].astype("int64")).set_index("id")
    return _expiring_frame(loyalty.customer_balances(entries, as_of=as_of))


def _expiring_frame(balances: pd.DataFrame) -> pd.DataFrame:
    """core.loyalty's balances as expiring_points reports them, indexed by customer_id."""
    bal = balances.set_index("customer_id")
    return pd.DataFrame({"balance": bal["balance"], "expiring_points": bal["expiring_points"],
                         "expires_at": pd.to_datetime(bal["next_expiry_date"])})


def _unreachable(row: pd.Series | dict) -> str | None:
    """Why no email can go to this customer at all (consent, address), else None."""
    if not bool(row.get("email_opt_in")):
        return SUPPRESS_NO_CONSENT
    email = row.get("email")
    if not isinstance(email, str) or not email.strip():
        return SUPPRESS_NO_EMAIL
    problem = email_problem(email)
    return None if problem is None else _invalid_email_reason(problem)


def contact_problem(*, session: Session, customer_id: int) -> str | None:
    """Why no message of any template can go to this customer (SUPPRESS_NO_CONSENT,
    SUPPRESS_NO_EMAIL or an invalid address), or None when they can be emailed.

    Raises CustomerNotFound for an unknown id."""
    ctx = customer_contexts(session=session, customer_ids=[customer_id], template="vip_thanks")
    if ctx.empty:
        raise CustomerNotFound(f"no customer with id {customer_id}")
    return _unreachable(ctx.iloc[0])


def fitting_templates(*, session: Session, customer_id: int,
                      now: datetime | None = None) -> dict[str, str | None]:
    """{template: None when it fits this customer, else why not}: first whether they can be
    emailed at all (consent, address; the same reason for every template), then the
    template's own condition (e.g. "ordered in the last 30 days").

    Raises CustomerNotFound for an unknown customer id.
    """
    out: dict[str, str | None] = {}
    for t in TEMPLATES:
        ctx = customer_contexts(session=session, customer_ids=[customer_id], template=t, now=now)
        if ctx.empty:
            raise CustomerNotFound(f"no customer with id {customer_id}")
        row = ctx.iloc[0]
        out[t] = _unreachable(row) or (None if bool(row["fits"]) else str(row["not_fit_reason"]))
    return out


# ---------------------------------------------------------------- rendering


def _footer(settings: Settings) -> str:
    return (
        "\n\n--\n"
        "You get this email because you agreed to hear from Hearth Home. To unsubscribe, reply "
        "with the word UNSUBSCRIBE and we will not email you again.\n"
        f"{settings.postal_address}"
    )


def render(template: str, row: pd.Series | dict, *, offer_code: str | None, settings: Settings,
           now: datetime) -> tuple[str, str]:
    """Subject and plain-text body from the customer's own data (a row of customer_contexts).

    Raises UnknownTemplate for a template that is not one of TEMPLATES.
    """
    first = _first_name(row.get("name"))
    offer = OFFER_TEXT.get(template)
    code_line = (f"\n\nYour code for {offer}: {offer_code}\n(single use; enter it at checkout)"
                 if offer_code else "")
    if template == "win_back":
        last = row.get("last_order_at")
        since = f"since your last order on {_day(last)}" if pd.notna(last) else "for a while"
        subject = f"{first}, we miss you at Hearth Home"
        body = (f"Hello {first},\n\nWe have not seen you {since}, and your home essentials may be "
                f"running low. Come back and we will take care of the rest.{code_line}")
    elif template == "refill_reminder":
        product = row.get("product")
        days = int(row.get("replenishment_days"))
        last = row.get("last_bought_at")
        subject = f"Time to restock {product}?"
        body = (f"Hello {first},\n\nYou bought {product} on {_day(last)}. It usually lasts about {days} "
                f"days, so you may be running low around {_day(row.get('due_at'))}. Reorder now and "
                f"it arrives before you run out.{code_line}")
    elif template == "apology":
        when = _day(row.get("submitted_at"))
        score = row.get("nps_score")
        score_txt = f" (you gave us {int(score)} out of 10)" if pd.notna(score) else ""
        subject = f"{first}, we are sorry"
        body = (f"Hello {first},\n\nThank you for your feedback of {when}{score_txt}. We fell short, "
                f"and we are sorry. Our team has read what you told us and is putting it right."
                f"{code_line}")
    elif template == "points_expiring":
        pts = int(row.get("expiring_points"))
        bal = int(row.get("balance"))
        worth = pts * float(row.get("point_value", settings.point_value))
        subject = f"{first}, {pts:,} of your points expire on {_day(row.get('expires_at'))}"
        body = (f"Hello {first},\n\nYou have {bal:,} loyalty points. {pts:,} of them (worth "
                f"{fmt.money(worth)}) expire on {_day(row.get('expires_at'))}. Use them on your next order "
                f"before they go.{code_line}")
    elif template == "vip_thanks":
        n = int(row.get("order_count") or 0)
        orders = f"{n} orders" if n != 1 else "one order"
        subject = f"Thank you, {first}"
        body = (f"Hello {first},\n\nYou have placed {orders} with us, and that makes you one of our "
                f"most valued customers. Thank you for making Hearth Home part of your home."
                f"{code_line}")
    else:  # pragma: no cover - _check_template runs first
        raise UnknownTemplate(template)
    return subject, body + _footer(settings)


def html_alternative(body: str) -> str:
    """The HTML part: every character of the text (customer data included) html-escaped."""
    paras = [p for p in body.split("\n\n") if p.strip()]
    inner = "\n".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>" for p in paras)
    return f'<!DOCTYPE html>\n<html><body style="font-family: sans-serif">\n{inner}\n</body></html>\n'


# ---------------------------------------------------------------- decisions


def _last_contacts(session: Session, ids: Sequence[int], since: datetime) -> pd.Series:
    df = _read(session, select(Outreach.customer_id, func.max(Outreach.triggered_at).label("last_contact"))
               .where(col(Outreach.status).in_(CONTACT_STATUSES), Outreach.triggered_at > since)
               .group_by(Outreach.customer_id),
               ids, col(Outreach.customer_id), ["customer_id", "last_contact"])
    return pd.to_datetime(df.set_index("customer_id")["last_contact"]) if not df.empty else pd.Series(
        dtype="datetime64[ns]")


def _cap_reason(last_contact: object, cap: int) -> str:
    return (f"frequency cap: last contacted on {pd.Timestamp(last_contact).date().isoformat()} "
            f"(one outreach per {cap} days)")


def _invalid_email_reason(problem: str) -> str:
    return f"{SUPPRESS_INVALID_EMAIL}: {problem}"[:300]  # Outreach.reason holds 300 characters


def _email_problems(emails: pd.Series) -> pd.Series:
    """Why each non-empty address is invalid (core.email_address), None where it is valid or empty."""
    return emails.map(lambda a: email_problem(a) if isinstance(a, str) and a.strip() else None)


def _decide(session: Session, ctx: pd.DataFrame, *, now: datetime, settings: Settings) -> pd.DataFrame:
    """Adds `decision` (would_send or suppressed) and `reason` to customer contexts."""
    cap = settings.frequency_cap_days
    last = _last_contacts(session, list(ctx.index), now - timedelta(days=cap)) if cap > 0 else pd.Series(
        dtype="datetime64[ns]")
    ctx = ctx.copy()
    ctx["last_contact"] = ctx.index.map(last) if len(last) else pd.NaT
    ctx["decision"] = "would_send"
    ctx["reason"] = None
    ctx["email_problem"] = _email_problems(ctx["email"])
    checks = [
        (~ctx["email_opt_in"].astype(bool), lambda r: SUPPRESS_NO_CONSENT),
        (ctx["email"].fillna("").str.strip() == "", lambda r: SUPPRESS_NO_EMAIL),
        (ctx["email_problem"].notna(), lambda r: _invalid_email_reason(r["email_problem"])),
        (ctx["last_contact"].notna(), lambda r: _cap_reason(r["last_contact"], cap)),
        (~ctx["fits"], lambda r: f"not applicable: {r['not_fit_reason']}"),
    ]
    for mask, why in checks:
        hit = mask & (ctx["decision"] == "would_send")
        if hit.any():
            ctx.loc[hit, "decision"] = "suppressed"
            ctx.loc[hit, "reason"] = ctx[hit].apply(why, axis=1)
    return ctx


def reason_kind(reason: str | None) -> str:
    """The reason without its details (a date), for counting suppressions by reason."""
    if not reason:
        return ""
    return (reason.split(":", 1)[0] if reason.startswith(("frequency cap", "not applicable",
                                                          SUPPRESS_INVALID_EMAIL)) else reason)


def recheck_before_send(*, session: Session, customer_id: int, email: str | None, email_opt_in: bool,
                        outreach_id: int, now: datetime, settings: Settings | None = None) -> str | None:
    """The rules once more, for one queued message, just before the worker hands it out.

    Run by core.delivery inside the transaction that claims the message, with the customer's
    row locked (as `_lock_customers` locks it), and `email` / `email_opt_in` read from that
    row after locking, so an unsubscribe either committed before it (and is seen
    here) or waits until the message is on its way. Returns the suppression reason, or None
    when the message may go:

    - email consent withdrawn since the trigger (an unsubscribe): SUPPRESS_WITHDRAWN;
    - the address removed (SUPPRESS_EMAIL_REMOVED) or not one valid address, as an old
      database may hold ("invalid email address: <why>");
    - frequency cap: another message to this customer, triggered within the last
      `frequency_cap_days` days, is already being sent or sent (the trigger's rule, counted
      among the messages that really went out).
    """
    settings = settings or get_settings()
    if not email_opt_in:
        return SUPPRESS_WITHDRAWN
    address = email or ""
    if not address.strip():
        return SUPPRESS_EMAIL_REMOVED
    problem = email_problem(address)
    if problem is not None:
        return _invalid_email_reason(problem)
    cap = settings.frequency_cap_days
    if cap > 0:
        last = session.exec(select(func.max(Outreach.triggered_at)).where(
            Outreach.customer_id == customer_id, Outreach.id != outreach_id,
            col(Outreach.status).in_(SENT_STATUSES), Outreach.triggered_at > now - timedelta(days=cap))).one()
        if last is not None:
            return _cap_reason(last, cap)
    return None


# ---------------------------------------------------------------- public API


def preview_outreach(*, session: Session, customer_id: int, template: str, feedback_id: int | None = None,
                     idempotency_key: str | None = None, now: datetime | None = None) -> MessagePreview:
    """The exact message `trigger_outreach` with the same key would queue, and its outcome.

    Raises CustomerNotFound for an unknown customer id.
    """
    _check_template(template)
    settings = get_settings()
    now = now or utcnow()
    ctx = customer_contexts(session=session, customer_ids=[customer_id], template=template, now=now,
                            feedback_id=feedback_id, settings=settings)
    if ctx.empty:
        raise CustomerNotFound(f"no customer with id {customer_id}")
    ctx = _decide(session, ctx, now=now, settings=settings)
    row = ctx.iloc[0]
    key = idempotency_key or default_idempotency_key(customer_id=customer_id, template=template, now=now,
                                                     feedback_id=feedback_id)
    existing = session.exec(select(Outreach).where(Outreach.idempotency_key == key)).first()
    if existing is not None:
        return MessagePreview(customer_id=customer_id, template=template, channel=existing.channel,
                              to=row["email"], subject=existing.subject, body=existing.body,
                              html=html_alternative(existing.body) if existing.body else None,
                              offer_code=existing.offer_code, outcome="suppressed",
                              reason=f"already recorded: outreach {existing.id} is {existing.status}",
                              idempotency_key=key)
    subject = body = code = None
    # No message (so no offer code, no "you agreed to hear from us") for a customer who cannot
    # be emailed: the preview says why instead.
    if bool(row["fits"]) and _unreachable(row) is None:
        code = offer_code_for(key, settings) if template in OFFER_TEMPLATES else None
        subject, body = render(template, row, offer_code=code, settings=settings, now=now)
    return MessagePreview(customer_id=customer_id, template=template, channel=channel_for(settings),
                          to=row["email"], subject=subject, body=body,
                          html=html_alternative(body) if body else None, offer_code=code,
                          outcome=row["decision"], reason=row["reason"], idempotency_key=key)


def _outreach_values(*, customer_id: int, template: str, row: pd.Series | dict, status: str, reason: str | None,
                     key: str, triggered_by: str, now: datetime, channel: str, settings: Settings,
                     campaign_id: int | None, feedback_id: int | None) -> dict:
    subject = body = code = message_id = None
    if status == "queued":
        code = offer_code_for(key, settings) if template in OFFER_TEMPLATES else None
        subject, body = render(template, row, offer_code=code, settings=settings, now=now)
        message_id = message_id_for(settings)
    fb = row.get("feedback_id") if template == "apology" else None
    fb_id = feedback_id if feedback_id is not None else (int(fb) if fb is not None and pd.notna(fb) else None)
    return {"customer_id": customer_id, "template": template, "channel": channel, "campaign_id": campaign_id,
            "feedback_id": fb_id, "triggered_by": triggered_by, "triggered_at": now, "idempotency_key": key,
            "status": status, "reason": reason, "subject": subject, "body": body, "offer_code": code,
            "message_id": message_id, "next_attempt_at": now if status == "queued" else None, "attempts": 0}


AUDIT_ACTIONS = {"queued": "outreach.trigger", "suppressed": "outreach.suppress",
                 "holdout": "outreach.holdout"}


def _audit_detail(v: dict) -> dict:
    return {"template": v["template"], "status": v["status"], "reason": v["reason"], "channel": v["channel"],
            "campaign_id": v["campaign_id"], "offer_code": v["offer_code"]}


def _audit_outreach(session: Session, o: Outreach) -> None:
    audit.record(session=session, actor=o.triggered_by, action=AUDIT_ACTIONS[o.status],
                 record_type="outreach", record_id=o.id, customer_id=o.customer_id,
                 detail=_audit_detail(o.model_dump()))


def trigger_outreach(*, session: Session, customer_id: int, template: str, triggered_by: str,
                     feedback_id: int | None = None, campaign_id: int | None = None,
                     idempotency_key: str | None = None, now: datetime | None = None) -> TriggerResult:
    """Decide and record one outreach, committing the decision and the queued message together.

    Outcomes: queued; suppressed with the reason (no email consent, no email address,
    frequency cap with the date of the last contact, template not applicable); holdout for a
    campaign's control group; or, for a key already used, the outreach recorded then
    (`created` False).

    Raises CustomerNotFound for an unknown customer, OutreachError without ``triggered_by`` or for an unknown
    campaign.
    """
    _check_template(template)
    if not triggered_by:
        raise OutreachError("triggered_by (the staff username) is required")
    settings = get_settings()
    now = now or utcnow()
    key = idempotency_key or default_idempotency_key(customer_id=customer_id, template=template, now=now,
                                                     campaign_id=campaign_id, feedback_id=feedback_id)

    def existing() -> Outreach | None:
        return session.exec(select(Outreach).where(Outreach.idempotency_key == key)).first()

    try:
        _lock_customers(session, [customer_id])
        found = existing()
        if found is not None:
            session.commit()  # releases the lock; nothing was changed
            return TriggerResult(found, False)
        campaign = session.get(Campaign, campaign_id) if campaign_id is not None else None
        if campaign_id is not None and campaign is None:
            raise OutreachError(f"no campaign with id {campaign_id}")
        ctx = customer_contexts(session=session, customer_ids=[customer_id], template=template, now=now,
                                feedback_id=feedback_id, settings=settings)
        if ctx.empty:
            raise CustomerNotFound(f"no customer with id {customer_id}")
        ctx = _decide(session, ctx, now=now, settings=settings)
        row = ctx.iloc[0]
        if row["decision"] == "would_send":
            status, reason = "queued", None
        else:
            status, reason = "suppressed", row["reason"]
        if status == "queued" and campaign is not None and in_holdout(campaign.id, customer_id,
                                                                      campaign.holdout_share):
            status = "holdout"
        o = Outreach(**_outreach_values(
            customer_id=customer_id, template=template, row=row, status=status, reason=reason, key=key,
            triggered_by=triggered_by, now=now, channel=channel_for(settings), settings=settings,
            campaign_id=campaign_id, feedback_id=feedback_id))
        session.add(o)
        session.flush()
        _audit_outreach(session, o)
        session.commit()
        session.refresh(o)  # loaded, so callers may read it after their session closes
        return TriggerResult(o, True)
    except IntegrityError:
        # Another transaction inserted the same key between our check and our insert.
        session.rollback()
        found = existing()
        if found is None:
            raise
        return TriggerResult(found, False)
    except BaseException:
        session.rollback()
        raise


def plan_campaign(*, session: Session, customer_ids: Sequence[int], template: str,
                  holdout_share: float = 0.10, now: datetime | None = None,
                  campaign_id: int | None = None) -> CampaignPlan:
    """How many would be contacted, held out and suppressed (by reason), before confirming.

    The holdout is drawn from the eligible customers only, so contacted and held-out groups
    are comparable. Without a campaign id yet the holdout count is the expected share.

    Raises OutreachError for a holdout share outside [0, 1).
    """
    _check_template(template)
    if not 0 <= holdout_share < 1:
        raise OutreachError("holdout share must be at least 0 and below 1")
    settings = get_settings()
    now = now or utcnow()
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return CampaignPlan(0, 0, 0, {})
    ctx = _decide(session, customer_contexts(session=session, customer_ids=ids, template=template, now=now,
                                             settings=settings), now=now, settings=settings)
    eligible = ctx[ctx["decision"] == "would_send"]
    if campaign_id is not None:
        hold = int(sum(in_holdout(campaign_id, int(c), holdout_share) for c in eligible.index))
    else:
        hold = int(round(len(eligible) * holdout_share))
    supp = ctx.loc[ctx["decision"] == "suppressed", "reason"].map(reason_kind).value_counts()
    return CampaignPlan(audience=len(ctx), contact=len(eligible) - hold, holdout=hold,
                        suppressed={str(k): int(v) for k, v in supp.items()})


def create_campaign(*, session: Session, name: str, template: str, customer_ids: Sequence[int],
                    audience_rule: dict, holdout_share: float, created_by: str,
                    now: datetime | None = None) -> Campaign:
    """Create the campaign and record every audience member's outreach in one transaction:
    queued (the worker sends), holdout, or suppressed with its reason.

    Raises OutreachError for an empty name or audience, or a holdout share outside [0, 1).
    """
    _check_template(template)
    if not name or not name.strip():
        raise OutreachError("give the campaign a name")
    if not 0 <= holdout_share < 1:
        raise OutreachError("holdout share must be at least 0 and below 1")
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        raise OutreachError("the audience is empty: select at least one customer")
    settings = get_settings()
    now = now or utcnow()
    channel = channel_for(settings)
    try:
        _lock_customers(session, ids)
        campaign = Campaign(name=name.strip(), template=template, audience_rule=json.dumps(audience_rule,
                                                                                           default=str),
                            holdout_share=holdout_share, created_by=created_by, created_at=now)
        session.add(campaign)
        session.flush()
        ctx = _decide(session, customer_contexts(session=session, customer_ids=ids, template=template,
                                                 now=now, settings=settings), now=now, settings=settings)
        # Core inserts: building 10,000s of ORM objects costs far more than the inserts themselves.
        values: list[dict] = []
        for cid, row in ctx.to_dict("index").items():  # dicts: far cheaper than iterrows' Series
            if row["decision"] == "would_send":
                status = "holdout" if in_holdout(campaign.id, int(cid), holdout_share) else "queued"
                reason = None
            else:
                status, reason = "suppressed", row["reason"]
            values.append(_outreach_values(
                customer_id=int(cid), template=template, row=row, status=status, reason=reason,
                key=default_idempotency_key(customer_id=int(cid), template=template, now=now,
                                            campaign_id=campaign.id),
                triggered_by=created_by, now=now, channel=channel, settings=settings,
                campaign_id=campaign.id, feedback_id=None))
        if values:
            session.execute(insert(Outreach.__table__), values)
        ids_by_key = dict(session.execute(select(Outreach.idempotency_key, Outreach.id)
                                          .where(Outreach.campaign_id == campaign.id)).all())
        audits = [{"at": utcnow(), "actor": created_by, "action": AUDIT_ACTIONS[v["status"]],
                   "record_type": "outreach", "record_id": str(ids_by_key[v["idempotency_key"]]),
                   "customer_id": v["customer_id"],
                   "detail": json.dumps(_audit_detail(v), default=str, sort_keys=True)} for v in values]
        if audits:
            session.execute(insert(AuditLog.__table__), audits)
        counts = pd.Series([v["status"] for v in values]).value_counts().to_dict()
        audit.record(session=session, actor=created_by, action="campaign.create", record_type="campaign",
                     record_id=campaign.id, detail={"name": campaign.name, "template": template,
                                                    "audience": len(ids), "holdout_share": holdout_share,
                                                    "audience_rule": audience_rule, "counts": counts})
        session.commit()
        session.refresh(campaign)  # loaded, so callers may read it after their session closes
        return campaign
    except BaseException:
        session.rollback()
        raise


def record_unsubscribe(*, session: Session, customer_id: int, actor: str, source: str = "reply") -> Customer:
    """An unsubscribe is withdrawn email consent; later outreach is suppressed for it.

    Raises CustomerNotFound for an unknown customer id.
    """
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(f"no customer with id {customer_id}")
    consent.set_consent(session=session, customer_id=customer_id, channel="email", granted=False,
                        source="unsubscribe", by=actor, detail=f"via {source}")
    audit.record(session=session, actor=actor, action="outreach.unsubscribe", record_type="customer",
                 record_id=customer_id, customer_id=customer_id, detail={"source": source})
    session.commit()
    session.refresh(customer)
    return customer


# ---------------------------------------------------------------- results and log

RESULT_COLUMNS = [
    "campaign_id", "name", "template", "created_at", "created_by", "holdout_share", "audience",
    "contacted", "holdout", "queued", "sent", "suppressed", "failed", "contacted_inactive",
    "contacted_reactivated", "reactivation_contacted", "holdout_inactive", "holdout_reactivated",
    "reactivation_holdout", "uplift", "uplift_ci_low", "uplift_ci_high", "revenue_contacted",
    "revenue_holdout", "revenue_offer_codes", "offers_redeemed", "window_complete",
]


def uplift_interval(x_c: int, n_c: int, x_h: int, n_h: int, z: float = 1.96) -> tuple[float, float, float]:
    """Difference of two proportions with a Wald 95 % interval; NaN where a group is empty."""
    if n_c == 0 or n_h == 0:
        return (math.nan, math.nan, math.nan)
    p_c, p_h = x_c / n_c, x_h / n_h
    d = p_c - p_h
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_h * (1 - p_h) / n_h)
    return (d, d - z * se, d + z * se)


def outreach_outcomes(*, session: Session, campaign_id: int | None = None) -> pd.DataFrame:
    """One row per campaign outreach (of one campaign if `campaign_id` is given) with its outcome.

    Columns: outreach_id, campaign_id, customer_id (Customer.id), triggered_at, status,
    offer_code, group ("contacted" = queued, being sent, sent or failed; "holdout"; "other" =
    suppressed and the like), active_before (an order in the activity horizon up to
    triggered_at), inactive (not active_before), ordered_after (an order within
    REACTIVATION_DAYS after triggered_at), reactivated (inactive and ordered_after, the
    reactivation of design.md / core.analytics.definitions), revenue_after (order totals in those
    days, money). "other" rows are never inactive, reactivated or with revenue. This is the one
    definition :func:`campaign_results` counts per campaign. No personal data beyond the id.
    """
    horizon = pd.Timedelta(days=get_settings().horizon_days)
    window = pd.Timedelta(days=REACTIVATION_DAYS)
    ostmt = select(Outreach.id.label("outreach_id"), Outreach.campaign_id, Outreach.customer_id,
                   Outreach.triggered_at, Outreach.status, Outreach.offer_code).where(
        col(Outreach.campaign_id).is_not(None))
    if campaign_id is not None:
        ostmt = ostmt.where(Outreach.campaign_id == campaign_id)
    outs = pd.read_sql(ostmt, session.connection())
    outs["triggered_at"] = pd.to_datetime(outs["triggered_at"])
    contacted_status = {"queued", "sending", "sent", "failed"}
    outs["group"] = outs["status"].map(lambda s: "contacted" if s in contacted_status
                                       else ("holdout" if s == "holdout" else "other"))
    outs["active_before"] = False
    outs["ordered_after"] = False
    outs["revenue_after"] = 0.0
    grp = outs[outs["group"] != "other"]
    if not grp.empty:
        start = grp["triggered_at"].min() - horizon
        sub = select(Outreach.customer_id).where(col(Outreach.campaign_id).is_not(None))
        if campaign_id is not None:
            sub = sub.where(Outreach.campaign_id == campaign_id)
        orders = pd.read_sql(select(Order.customer_id, Order.ordered_at, Order.total)
                             .where(col(Order.customer_id).in_(sub.distinct()),
                                    Order.ordered_at > start.to_pydatetime()), session.connection())
        orders["ordered_at"] = pd.to_datetime(orders["ordered_at"])
        m = grp[["outreach_id", "customer_id", "triggered_at"]].merge(orders, on="customer_id", how="inner")
        before = m[(m["ordered_at"] > m["triggered_at"] - horizon) & (m["ordered_at"] <= m["triggered_at"])]
        after = m[(m["ordered_at"] > m["triggered_at"]) & (m["ordered_at"] <= m["triggered_at"] + window)]
        in_grp = outs["group"] != "other"
        outs["active_before"] = in_grp & outs["outreach_id"].isin(before["outreach_id"])
        outs["ordered_after"] = in_grp & outs["outreach_id"].isin(after["outreach_id"])
        outs["revenue_after"] = outs["outreach_id"].map(after.groupby("outreach_id")["total"].sum()).fillna(
            0.0).where(in_grp, 0.0).astype(float)
    outs["inactive"] = (outs["group"] != "other") & ~outs["active_before"]
    outs["reactivated"] = outs["inactive"] & outs["ordered_after"]
    return outs


def campaign_results(*, session: Session, campaign_id: int | None = None,
                     now: datetime | None = None) -> pd.DataFrame:
    """One row per campaign: counts, reactivation of contacted vs held-out, uplift, revenue.

    contacted = the eligible customers not held out (queued, being sent, sent or failed).
    Reactivation (design.md, core.analytics.definitions): inactive at outreach time (no order
    in the activity horizon before it) and an order within 30 days after; a group's rate is
    reactivated / inactive (per outreach, by :func:`outreach_outcomes`).
    Revenue: order totals in those 30 days (contacted and holdout groups) and of orders
    carrying one of the campaign's offer codes (first use of each code). No personal data.
    """
    now = now or utcnow()
    window = pd.Timedelta(days=REACTIVATION_DAYS)
    cstmt = select(Campaign.id.label("campaign_id"), Campaign.name, Campaign.template, Campaign.created_at,
                   Campaign.created_by, Campaign.holdout_share)
    if campaign_id is not None:
        cstmt = cstmt.where(Campaign.id == campaign_id)
    camps = pd.read_sql(cstmt.order_by(col(Campaign.created_at).desc()), session.connection())
    if camps.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    outs = outreach_outcomes(session=session, campaign_id=campaign_id)
    grp = outs[outs["group"] != "other"]
    codes = outs.dropna(subset=["offer_code"])
    redeemed = pd.DataFrame(columns=["campaign_id", "total"])
    if not codes.empty:
        red = pd.read_sql(select(Order.offer_code, Order.ordered_at, Order.total)
                          .where(col(Order.offer_code).in_(
                              select(Outreach.offer_code).where(col(Outreach.campaign_id).is_not(None),
                                                                col(Outreach.offer_code).is_not(None)))),
                          session.connection())
        if not red.empty:
            red = red.sort_values("ordered_at").drop_duplicates("offer_code")  # single use: first order
            redeemed = red.merge(codes[["offer_code", "campaign_id"]], on="offer_code")
    rows = []
    for _, c in camps.iterrows():
        o = outs[outs["campaign_id"] == c["campaign_id"]]
        st_counts = o["status"].value_counts()
        g = grp[grp["campaign_id"] == c["campaign_id"]] if not grp.empty else grp
        gc = g[g["group"] == "contacted"] if not g.empty else g
        gh = g[g["group"] == "holdout"] if not g.empty else g
        nc = int(gc["inactive"].sum()) if not gc.empty else 0
        xc = int(gc["reactivated"].sum()) if not gc.empty else 0
        nh = int(gh["inactive"].sum()) if not gh.empty else 0
        xh = int(gh["reactivated"].sum()) if not gh.empty else 0
        d, lo, hi = uplift_interval(xc, nc, xh, nh)
        r = redeemed[redeemed["campaign_id"] == c["campaign_id"]]
        last_t = o["triggered_at"].max() if not o.empty else pd.NaT
        rows.append({
            **c.to_dict(),
            "audience": len(o),
            "contacted": len(gc),
            "holdout": int(st_counts.get("holdout", 0)),
            "queued": int(st_counts.get("queued", 0) + st_counts.get("sending", 0)),
            "sent": int(st_counts.get("sent", 0)),
            "suppressed": int(st_counts.get("suppressed", 0)),
            "failed": int(st_counts.get("failed", 0)),
            "contacted_inactive": nc, "contacted_reactivated": xc,
            "reactivation_contacted": xc / nc if nc else math.nan,
            "holdout_inactive": nh, "holdout_reactivated": xh,
            "reactivation_holdout": xh / nh if nh else math.nan,
            "uplift": d, "uplift_ci_low": lo, "uplift_ci_high": hi,
            "revenue_contacted": float(gc["revenue_after"].sum()) if not gc.empty else 0.0,
            "revenue_holdout": float(gh["revenue_after"].sum()) if not gh.empty else 0.0,
            "revenue_offer_codes": float(r["total"].sum()) if not r.empty else 0.0,
            "offers_redeemed": len(r),
            "window_complete": bool(pd.notna(last_t) and last_t + window <= pd.Timestamp(now)),
        })
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def uplift_window_text(*, created_at: datetime, window_complete: bool, now: datetime | None = None) -> str | None:
    """"too early: N days of 30" for a campaign whose reactivation window (REACTIVATION_DAYS
    after its outreach) has not passed, so no uplift is shown yet; None once it has."""
    if window_complete:
        return None
    days = max(0, min((pd.Timestamp(now or utcnow()) - pd.Timestamp(created_at)).days, REACTIVATION_DAYS - 1))
    return f"too early: {days} days of {REACTIVATION_DAYS}"


LOG_COLUMNS = ["outreach_id", "triggered_at", "customer_id", "customer", "name", "template", "channel",
               "status", "reason", "attempts", "last_error", "sent_at", "offer_code", "campaign_id",
               "triggered_by", "subject"]


def outreach_log(*, session: Session, roles: Iterable[Role], customer_id: int | None = None,
                 status: str | Sequence[str] | None = None, template: str | None = None,
                 campaign_id: int | None = None, triggered_by: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 limit: int = 1000) -> pd.DataFrame:
    """The message log, newest first, with the customer's name (personal data: not for exec)."""
    require_personal_data(frozenset(roles))
    stmt = (select(Outreach.id.label("outreach_id"), Outreach.triggered_at, Outreach.customer_id,
                   Customer.external_id.label("customer"), Customer.name, Outreach.template,
                   Outreach.channel, Outreach.status, Outreach.reason, Outreach.attempts,
                   Outreach.last_error, Outreach.sent_at, Outreach.offer_code, Outreach.campaign_id,
                   Outreach.triggered_by, Outreach.subject)
            .join(Customer, Customer.id == Outreach.customer_id))
    if customer_id is not None:
        stmt = stmt.where(Outreach.customer_id == customer_id)
    if status:
        stmt = stmt.where(col(Outreach.status).in_([status] if isinstance(status, str) else list(status)))
    if template:
        stmt = stmt.where(Outreach.template == template)
    if campaign_id is not None:
        stmt = stmt.where(Outreach.campaign_id == campaign_id)
    if triggered_by:
        stmt = stmt.where(Outreach.triggered_by == triggered_by)
    if since is not None:
        stmt = stmt.where(Outreach.triggered_at >= since)
    if until is not None:
        stmt = stmt.where(Outreach.triggered_at < until)
    stmt = stmt.order_by(col(Outreach.triggered_at).desc(), col(Outreach.id).desc()).limit(limit)
    df = pd.read_sql(stmt, session.connection())
    return df[LOG_COLUMNS] if not df.empty else pd.DataFrame(columns=LOG_COLUMNS)


def find_customer(*, session: Session, external_id: str) -> Customer:
    """The customer with the shop's id ``external_id``.

    Raises CustomerNotFound when there is none."""
    customer = session.exec(select(Customer).where(Customer.external_id == external_id)).first()
    if customer is None:
        raise CustomerNotFound(f"no customer with id {external_id!r}")
    return customer
