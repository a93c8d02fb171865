"""audit_log: one index on (customer_id, at) instead of (customer_id)

The Account screen's timeline reads a customer's newest audit entries (WHERE customer_id = ?
ORDER BY at DESC LIMIT 300, core.timeline.audit_events) on every open. With an index on
customer_id and another on `at`, SQLite walked the whole audit log in `at` order whenever its
statistics were older than the log (the log grows with every sign-in and export): 8 ms at
16,000 entries on the 100,000-customer demo store, growing with the log. An index on both
columns answers the filter and the order together, on both engines, as every other
per-customer history does (orders, refunds, loyalty, outreach). It replaces the index on
customer_id alone (its first column).

Revision ID: 0016_audit_customer_at
Revises: 0015_worker_heartbeat
Create Date: 2026-11-30 17:20:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0016_audit_customer_at'
down_revision: str | None = '0015_worker_heartbeat'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_audit_log_customer_at', 'audit_log', ['customer_id', 'at'], unique=False)
    op.drop_index('ix_audit_log_customer_id', table_name='audit_log')


def downgrade() -> None:
    op.create_index('ix_audit_log_customer_id', 'audit_log', ['customer_id'], unique=False)
    op.drop_index('ix_audit_log_customer_at', table_name='audit_log')
