"""precomputed_result: heavy aggregates shared by every process until their data changes

Revision ID: 0003_precomputed
Revises: 0002_scoring
Create Date: 2026-11-23 15:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0003_precomputed'
down_revision: str | None = '0002_scoring'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_table('precomputed_result')
