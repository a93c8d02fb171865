"""score_snapshot: an index in the at-risk queue's order (as_of, value_at_risk, churn_probability)

Revision ID: 0004_queue_index
Revises: 0003_precomputed
Create Date: 2026-11-23 16:10:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0004_queue_index'
down_revision: str | None = '0003_precomputed'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_score_snapshot_queue', 'score_snapshot', ['as_of', 'value_at_risk', 'churn_probability'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_score_snapshot_queue', table_name='score_snapshot')
