"""Admin reads: staff users and the audit log, as tables for the Admin screen."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from db.models import AuditLog, Customer, StaffUser


def staff_table(*, session: Session) -> pd.DataFrame:
    """Every staff user, one row each by username: username, name, email, roles (comma-separated),
    disabled, is_demo, totp_enabled, locked_until and last_login_at (naive UTC). No password hashes."""
    stmt = select(
        StaffUser.username, StaffUser.name, StaffUser.email, StaffUser.roles, StaffUser.disabled,
        StaffUser.is_demo, StaffUser.totp_enabled, StaffUser.locked_until, StaffUser.last_login_at,
    ).order_by(StaffUser.username)
    return pd.read_sql(stmt, session.connection())


def audit_table(
    *,
    session: Session,
    actor: str | None = None,
    action_prefix: str | None = None,
    since: datetime | None = None,
    limit: int = 2_000,
) -> pd.DataFrame:
    """The newest audit entries matching the filters (bound parameters only). Columns: at, actor,
    action, record_type, record_id, customer_id (database id), customer (the shop's customer id,
    e.g. C000763), detail (JSON text)."""
    stmt = (select(AuditLog.at, AuditLog.actor, AuditLog.action, AuditLog.record_type, AuditLog.record_id,
                   AuditLog.customer_id, Customer.external_id.label("customer"), AuditLog.detail)
            .outerjoin(Customer, Customer.id == AuditLog.customer_id))
    if actor:
        stmt = stmt.where(AuditLog.actor == actor)
    if action_prefix:
        escaped = action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(AuditLog.action.like(escaped + "%", escape="\\"))
    if since:
        stmt = stmt.where(AuditLog.at >= since)
    stmt = stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
    return pd.read_sql(stmt, session.connection())


def audit_log_csv(*, session: Session, log: pd.DataFrame, actor: str, filters: dict[str, str | None]) -> bytes:
    """The audit entries ``log`` (as audit_table returns them) as formula-safe CSV bytes, and an
    audit entry ``audit.export`` by ``actor`` naming the filters and the number of entries: a
    download of who did what is itself recorded. Commits."""
    from core import audit
    from core.exporting import write_csv

    data = write_csv(log) or b""
    audit.record(session=session, actor=actor, action="audit.export", record_type="audit_log",
                 detail={"entries": len(log), **{k: v for k, v in filters.items() if v}})
    session.commit()
    return data
