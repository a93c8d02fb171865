"""The weekly digest for account managers and support leads: their tasks, their book, the
results of their outreach, by email through the same channel as outreach (SMTP, else the
.eml outbox).

Staff mail is kept apart from customers' mail: it never goes through the `outreach` table,
so it neither counts toward a customer's frequency cap nor depends on customer consent. Its
own rules: a staff user may opt out (`setting` DIGEST_OPT_OUT_KEY, a JSON list of
usernames), and each user gets at most one digest per ISO week (an audit entry
`digest.sent` per user and week; the Message-ID is derived from the same key, so a retry
writes the same outbox file once)."""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
import tempfile
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session

from core import audit
from core import formatting as fmt
from core.config import Settings, get_settings
from core.roles import Role, parse_roles
from core.tasks import OUTCOME_LABELS, task_counts
from db.models import AuditLog, Customer, Outreach, ScoreSnapshot, Setting, StaffUser, Task, utcnow

DIGEST_OPT_OUT_KEY = "digest_opt_out"
DIGEST_ROLES = frozenset({Role.ACCOUNT_MANAGER, Role.SUPPORT_LEAD})


def opted_out(*, session: Session) -> set[str]:
    """Usernames of the staff who turned the weekly digest off (the JSON list stored under
    DIGEST_OPT_OUT_KEY in the `setting` table); empty when none did."""
    row = session.get(Setting, DIGEST_OPT_OUT_KEY)
    return set(json.loads(row.value)) if row is not None and row.value else set()


def set_opt_out(*, session: Session, username: str, opt_out: bool, actor: str) -> None:
    """Stop (or restart) the weekly digest for one staff user; audited."""
    names = opted_out(session=session)
    names = names | {username} if opt_out else names - {username}
    row = session.get(Setting, DIGEST_OPT_OUT_KEY) or Setting(key=DIGEST_OPT_OUT_KEY, value="[]")
    row.value = json.dumps(sorted(names))
    session.add(row)
    audit.record(session=session, actor=actor, action="digest.opt_out" if opt_out else "digest.opt_in",
                 record_type="staff_user", record_id=username)
    session.commit()


def week_key(as_of: date) -> str:
    """The ISO week of `as_of` as 'YYYY-Www' (e.g. '2026-W05'): the key that makes one digest per
    user and week."""
    year, week, _ = as_of.isocalendar()
    return f"{year}-W{week:02d}"


def digest_text(*, session: Session, username: str, as_of: date) -> tuple[str, str]:
    """(subject, plain-text body) of one user's digest for the 7 days ending on `as_of`."""
    start = datetime.combine(as_of - timedelta(days=6), datetime.min.time())
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    counts = task_counts(session=session, username=username, today=as_of)
    made = int(session.execute(select(func.count()).select_from(Task).where(
        Task.assignee == username, Task.created_at >= start, Task.created_at < end)).scalar() or 0)
    closed = dict(session.execute(select(Task.outcome, func.count()).where(
        Task.closed_by == username, Task.closed_at >= start, Task.closed_at < end).group_by(Task.outcome)).all())
    latest = session.execute(select(func.max(ScoreSnapshot.as_of)).where(ScoreSnapshot.as_of <= as_of)).scalar()
    at_risk_cents = func.coalesce(func.sum(ScoreSnapshot.value_at_risk_cents), 0)
    book = session.execute(select(func.count(), at_risk_cents).select_from(
        ScoreSnapshot).join(Customer, Customer.id == ScoreSnapshot.customer_id).where(
        Customer.owner == username, ScoreSnapshot.as_of == latest, ScoreSnapshot.band == "at_risk")).one()
    sent = dict(session.execute(select(Outreach.status, func.count()).where(
        Outreach.triggered_by == username, Outreach.triggered_at >= start, Outreach.triggered_at < end)
        .group_by(Outreach.status)).all())
    lines = [
        f"Your week in Hearth, {fmt.day_month(as_of - timedelta(days=6))} to {fmt.date_text(as_of)}",
        "",
        "Tasks",
        f"  open: {counts['open']} (overdue: {counts['overdue']}, due today: {counts['due_today']}, "
        f"snoozed: {counts['snoozed']})",
        f"  new this week: {made}",
        "  closed this week: " + (", ".join(f"{OUTCOME_LABELS.get(k, k)} {v}" for k, v in sorted(closed.items()))
                                 if closed else "none"),
        "",
        "Your book",
        f"  accounts at risk: {int(book[0]):,} (value at risk {fmt.money_cents(int(book[1]), decimals=0)})",
        "",
        "Your outreach this week",
        "  " + (", ".join(f"{fmt.label(k).lower()} {v}" for k, v in sorted(sent.items())) if sent else "none"),
        "",
        "Open My work in Hearth to act on your tasks.",
        "You get this because you are an account manager or support lead; ask an admin to stop it.",
    ]
    subject = f"Hearth weekly digest: {counts['open']} open tasks, {counts['overdue']} overdue"
    return subject, "\n".join(lines)


def _message(settings: Settings, *, to: str, name: str, subject: str, body: str, message_id: str,
             now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = formataddr((name, to))
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(now.replace(tzinfo=UTC), usegmt=True)  # stored times are naive UTC
    msg["X-Hearth-Digest"] = "weekly"
    msg.set_content(body)
    return msg


def _deliver(settings: Settings, msg: EmailMessage, message_id: str) -> None:
    if settings.smtp_host:
        context = ssl.create_default_context()
        if settings.smtp_tls == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, context=context,
                                                    timeout=30)
        else:
            server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30)
        with server:
            if settings.smtp_tls == "starttls":
                server.starttls(context=context)
            if settings.smtp_user:
                server.login(settings.smtp_user, settings.smtp_password or "")
            server.send_message(msg)
        return
    outbox = Path(settings.outbox_dir)
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{message_id.strip('<>').replace('@', '_at_')}.eml"
    if path.exists():
        return
    fd, tmp = tempfile.mkstemp(dir=outbox, prefix=".tmp-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(msg))
        try:
            os.link(tmp, path)  # written once or not at all
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def send_weekly_digests(*, session: Session, as_of: date, now: datetime | None = None,
                        settings: Settings | None = None) -> dict[str, str]:
    """Send each enabled account manager and support lead with an email address, who has not
    opted out, their digest for the week ending `as_of`, at most once per ISO week.
    Returns {username: "sent" | "already sent this week" | "opted out" | "no email address"}."""
    settings = settings or get_settings()
    now = now or utcnow()
    key_week = week_key(as_of)
    out_of = opted_out(session=session)
    result: dict[str, str] = {}
    staff = session.execute(select(StaffUser).where(StaffUser.disabled.is_(False))
                            .order_by(StaffUser.username)).scalars().all()
    for user in staff:
        if not parse_roles(user.roles) & DIGEST_ROLES:
            continue
        if user.username in out_of:
            result[user.username] = "opted out"
            continue
        if not user.email:
            result[user.username] = "no email address"
            continue
        key = f"{user.username}:{key_week}"
        done = session.execute(select(AuditLog.id).where(AuditLog.action == "digest.sent",
                                                         AuditLog.record_id == key)).first()
        if done is not None:
            result[user.username] = "already sent this week"
            continue
        subject, body = digest_text(session=session, username=user.username, as_of=as_of)
        sender_domain = (parseaddr(settings.smtp_from)[1] or "care@hearth.example").split("@")[-1]
        message_id = f"<digest-{hashlib.sha256(key.encode()).hexdigest()[:24]}@{sender_domain}>"
        _deliver(settings, _message(settings, to=user.email, name=user.name, subject=subject, body=body,
                                    message_id=message_id, now=now), message_id)
        audit.record(session=session, actor="system", action="digest.sent", record_type="digest", record_id=key,
                     detail={"to": user.username, "week": key_week, "subject": subject})
        session.commit()
        result[user.username] = "sent"
    return result
