"""task: the account team's work made from signals by rules (core.tasks)

Revision ID: 0011_tasks
Revises: 0004_queue_index
Create Date: 2026-11-30 04:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0011_tasks'
down_revision: str | None = '0008_next_order_date'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'task',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column('signal_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('open_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column('why', sa.Text(), nullable=False),
        sa.Column('assignee', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('due_date', sa.Date(), nullable=False),
        sa.Column('snoozed_until', sa.Date(), nullable=True),
        sa.Column('snooze_reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('feedback_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id']),
        sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('customer_id', 'reason', 'signal_key', name='uq_task_signal'),
    )
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_open_key'), ['open_key'], unique=True)
        batch_op.create_index('ix_task_assignee_open', ['assignee', 'closed_at', 'due_date'], unique=False)


def downgrade() -> None:
    op.drop_table('task')
