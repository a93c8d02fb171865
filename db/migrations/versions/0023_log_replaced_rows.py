"""SQLite: log the rows an INSERT OR REPLACE removes

SQLite deletes the rows a REPLACE conflicts with without firing DELETE triggers (unless
recursive_triggers is on, which another tool's connection does not set), so the change log
named only the new row: a copy brought up to date kept the old row beside it (an order
rewritten by `INSERT OR REPLACE` counted twice in orders and revenue), and the old customer's
figures were not computed again. A trigger before each insert into the logged tables logs the
rows it is about to replace (db.generation._sqlite_replace_trigger). PostgreSQL has no REPLACE
(ON CONFLICT DO UPDATE fires the update trigger): nothing changes there.

Revision ID: 0023_log_replaced_rows
Revises: 0022_settle_covered_refunds
Create Date: 2026-12-02 19:10:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0023_log_replaced_rows"
down_revision: str | None = "0022_settle_covered_refunds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the logged tables as of this revision.
LOGGED = ("customer", "orders", "refund", "feedback", "loyalty_entry", "support_ticket")


def upgrade() -> None:
    from db import generation

    if op.get_bind().dialect.name != "sqlite":
        return
    for table in LOGGED:
        op.execute(generation._sqlite_replace_trigger(table))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in LOGGED:
        op.execute(f"DROP TRIGGER IF EXISTS hearth_generation_{table}_replace")
