"""Deciding and recording one outreach: consent, address, frequency cap and the template's
condition (`_decide`), the preview, the trigger that queues or suppresses, the re-check before
sending, and unsubscribes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core import audit, consent
from core.config import Settings, get_settings
from core.email_address import email_problem
from core.outreach.contexts import _lock_customers, _unreachable, customer_contexts
from core.outreach.messages import html_alternative, render
from core.outreach.rules import (
    CONTACT_STATUSES,
    OFFER_TEMPLATES,
    SENT_STATUSES,
    SUPPRESS_EMAIL_REMOVED,
    SUPPRESS_INVALID_EMAIL,
    SUPPRESS_NO_CONSENT,
    SUPPRESS_NO_EMAIL,
    SUPPRESS_WITHDRAWN,
    CustomerNotFound,
    MessagePreview,
    OutreachError,
    TriggerResult,
    _check_template,
    _invalid_email_reason,
    _read,
    channel_for,
    default_idempotency_key,
    in_holdout,
    message_id_for,
    offer_code_for,
)
from db.models import (
    Campaign,
    Customer,
    Outreach,
    utcnow,
)

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


def _decided(session: Session, customer_id: int, template: str, *, now: datetime, feedback_id: int | None,
             settings: Settings) -> pd.Series:
    """One customer's context for `template` with the send decision taken (:func:`_decide`): what
    a preview shows and a trigger records. Raises CustomerNotFound for an unknown customer id."""
    ctx = customer_contexts(session=session, customer_ids=[customer_id], template=template, now=now,
                            feedback_id=feedback_id, settings=settings)
    if ctx.empty:
        raise CustomerNotFound(f"no customer with id {customer_id}")
    return _decide(session, ctx, now=now, settings=settings).iloc[0]


# ---------------------------------------------------------------- public API


def preview_outreach(*, session: Session, customer_id: int, template: str, feedback_id: int | None = None,
                     idempotency_key: str | None = None, now: datetime | None = None) -> MessagePreview:
    """The exact message `trigger_outreach` with the same key would queue, and its outcome.

    Raises CustomerNotFound for an unknown customer id.
    """
    _check_template(template)
    settings = get_settings()
    now = now or utcnow()
    row = _decided(session, customer_id, template, now=now, feedback_id=feedback_id, settings=settings)
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
        row = _decided(session, customer_id, template, now=now, feedback_id=feedback_id, settings=settings)
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
