"""Downloading the audit log is itself in the audit log (the Admin screen's "Download as CSV")."""

from __future__ import annotations

from sqlmodel import Session, select

from core import admin, audit
from db.models import AuditLog


def test_a_download_of_the_audit_log_is_recorded_with_its_filters(session: Session) -> None:
    for i in range(3):
        audit.record(session=session, actor="ada", action="login.ok", record_type="staff_user", record_id=f"u{i}")
    audit.record(session=session, actor="bob", action="outreach.trigger", record_type="outreach", record_id=1)
    session.commit()
    log = admin.audit_table(session=session, actor="ada")
    data = admin.audit_log_csv(session=session, log=log, actor="root", filters={"actor": "ada", "action": None})
    lines = data.decode("utf-8").strip().splitlines()
    assert len(lines) == 1 + 3  # a header and ada's three entries
    [entry] = session.exec(select(AuditLog).where(AuditLog.action == "audit.export")).all()
    assert entry.actor == "root"
    assert '"entries": 3' in entry.detail and '"actor": "ada"' in entry.detail and "action" not in entry.detail
