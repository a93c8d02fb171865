"""The audit log: who did what, when, to which record."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from db.models import AuditLog


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    record_type: str | None = None,
    record_id: str | int | None = None,
    customer_id: int | None = None,
    detail: dict[str, Any] | str | None = None,
) -> AuditLog:
    """Add an audit entry to the session; it commits with the change it describes."""
    if isinstance(detail, dict):
        detail = json.dumps(detail, default=str, sort_keys=True)
    entry = AuditLog(
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=None if record_id is None else str(record_id),
        customer_id=customer_id,
        detail=detail,
    )
    session.add(entry)
    return entry
