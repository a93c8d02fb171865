"""consent_change: every change of email and SMS consent, with time and source; the current
consent of every customer is backfilled as one 'initial' row per channel

Revision ID: 0006_consent_history
Revises: 0004_queue_index
Create Date: 2026-11-30 04:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0006_consent_history'
down_revision: str | None = '0005_refunds'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'consent_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('granted', sa.Boolean(), nullable=False),
        sa.Column('changed_at', sa.DateTime(), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column('recorded_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_consent_change_customer', 'consent_change', ['customer_id', 'channel', 'changed_at'],
                    unique=False)
    # The consent each customer holds today, dated when the customer was created (the real date is
    # not known): later imports and unsubscribes are compared with it.
    for channel in ('email', 'sms'):
        op.execute(
            "INSERT INTO consent_change (customer_id, channel, granted, changed_at, source, detail, recorded_by) "
            f"SELECT id, '{channel}', {channel}_opt_in, created_at, 'initial', "
            "'consent held when the history began', 'migration' FROM customer"
        )


def downgrade() -> None:
    op.drop_index('ix_consent_change_customer', table_name='consent_change')
    op.drop_table('consent_change')
