"""score_snapshot.next_order_date: when the customer's next order is expected

Revision ID: 0008_next_order_date
Revises: 0004_queue_index
Create Date: 2026-11-30 04:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_next_order_date'
down_revision: str | None = '0007_feedback_model'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('score_snapshot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_order_date', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('score_snapshot', schema=None) as batch_op:
        batch_op.drop_column('next_order_date')
