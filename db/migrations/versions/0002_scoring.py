"""score snapshot: days_overdue and rfm_segment columns for the at-risk queue's filters

Revision ID: 0002_scoring
Revises: 0001
Create Date: 2026-11-23 12:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0002_scoring'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('score_snapshot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('days_overdue', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('rfm_segment', sqlmodel.sql.sqltypes.AutoString(length=24),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_score_snapshot_rfm_segment'), ['rfm_segment'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('score_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_score_snapshot_rfm_segment'))
        batch_op.drop_column('rfm_segment')
        batch_op.drop_column('days_overdue')
