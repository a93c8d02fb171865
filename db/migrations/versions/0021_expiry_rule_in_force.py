"""loyalty_entry.expiry_months: Hearth's expiry rule in force when the entry was stored

A lot without its own expires_at used to expire by HEARTH_POINTS_EXPIRY_MONTHS as it is now, so
shortening the setting expired, after the fact, points that members had already redeemed: their
redemptions became debts and the liability fell below zero. Each entry now keeps the rule it was
stored under; a change of the setting applies to entries stored after it.

The column is filled by core (core.setup.prepare_database, run by `init` and the app's start),
which knows the setting: entries stored before this migration take the rule in force at the first
start of this version.

Revision ID: 0021_expiry_rule_in_force
Revises: 0020_rescore_other_scripts
Create Date: 2026-12-02 11:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_expiry_rule_in_force"
down_revision: str | None = "0020_rescore_other_scripts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expiry_months", sa.Integer(), nullable=True))
    # The entries still without their rule, found at once at every start (core.setup), and the
    # shortest and longest rule stored (core.tasks.priority).
    op.create_index("ix_loyalty_entry_expiry_months", "loyalty_entry", ["expiry_months"])


def downgrade() -> None:
    op.drop_index("ix_loyalty_entry_expiry_months", table_name="loyalty_entry")
    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.drop_column("expiry_months")
