"""data_generation: counters moved by triggers on every write; precomputed_result dropped

Every figure is now cached in memory per process, keyed by the counters of the tables it
reads (core.readcache); results are no longer stored in the database.

Revision ID: 0012_data_generation
Revises: 0011_tasks
Create Date: 2026-11-30 07:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0012_data_generation'
down_revision: str | None = '0011_tasks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the watched tables as of this revision (db.generation.WATCHED may grow later,
# with its own migration).
TABLES = (
    "customer", "consent_change", "product", "orders", "refund", "order_line", "feedback",
    "loyalty_entry", "support_ticket", "staff_user", "model_run", "score_snapshot", "campaign",
    "outreach", "setting", "feedback_model", "task",
)


def upgrade() -> None:
    from db import generation

    bind = op.get_bind()
    for statement in generation.create_statements(bind.dialect.name, TABLES, stamped=False):
        op.execute(statement)
    op.drop_table('precomputed_result')


def downgrade() -> None:
    from db import generation

    op.create_table(
        'precomputed_result',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('params', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column('data_version', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column('computed_at', sa.DateTime(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name', 'params', name='uq_precomputed_name_params'),
    )
    for statement in generation.drop_statements(op.get_bind().dialect.name, TABLES):
        op.execute(statement)
