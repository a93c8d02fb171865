"""data_generation.stamp: a random number every write sets beside its table's counter

A counter names a state of the data only along one history. Restore a backup (its counters
come with it) and write something else, and the counter reaches a value it had before with
other data: a figure kept under it before the restore (in memory, or on disk by
core.analytics.diskcopy) would be served. Every write now also sets its table's ``stamp`` to a
new random number, so the key of a state reached after a restore never equals one kept before
(db.generation). Existing rows get a random stamp now: nothing kept under the old key (without
stamps) can match.

Revision ID: 0017_generation_stamp
Revises: 0016_audit_customer_at
Create Date: 2026-11-30 22:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_generation_stamp'
down_revision: str | None = '0016_audit_customer_at'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the watched tables as of this revision (the same as 0012's).
TABLES = (
    "customer", "consent_change", "product", "orders", "refund", "order_line", "feedback",
    "loyalty_entry", "support_ticket", "staff_user", "model_run", "score_snapshot", "campaign",
    "outreach", "setting", "feedback_model", "task",
)


def _has_stamp() -> bool:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("data_generation")}
    return "stamp" in columns


def upgrade() -> None:
    from db import generation

    dialect = op.get_bind().dialect.name
    if not _has_stamp():
        op.execute("ALTER TABLE data_generation ADD COLUMN stamp BIGINT NOT NULL DEFAULT 0")
    stamp = "random()" if dialect == "sqlite" else "floor(random() * 9e15)::bigint"
    op.execute(f"UPDATE data_generation SET stamp = {stamp}")
    for statement in generation.drop_trigger_statements(dialect, TABLES):
        op.execute(statement)
    for statement in generation.create_statements(dialect, TABLES, stamped=True):
        op.execute(statement)


def downgrade() -> None:
    from db import generation

    dialect = op.get_bind().dialect.name
    for statement in generation.drop_trigger_statements(dialect, TABLES):
        op.execute(statement)
    for statement in generation.create_statements(dialect, TABLES, stamped=False):
        op.execute(statement)
    op.execute("ALTER TABLE data_generation DROP COLUMN stamp")
