"""feedback: language, needs_read and the team's label; feedback_model: retrained flag models

Revision ID: 0007_feedback_model
Revises: 0004_queue_index
Create Date: 2026-11-30 04:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0007_feedback_model'
down_revision: str | None = '0006_consent_history'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column('needs_read', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('labelled_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('labelled_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_feedback_label'), ['label'], unique=False)
    op.create_table(
        'feedback_model',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('labels_used', sa.Integer(), nullable=False),
        sa.Column('figures', sa.Text(), nullable=False),
        sa.Column('params', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_feedback_model_active'), 'feedback_model', ['active'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_feedback_model_active'), table_name='feedback_model')
    op.drop_table('feedback_model')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_label'))
        batch_op.drop_column('labelled_at')
        batch_op.drop_column('labelled_by')
        batch_op.drop_column('label')
        batch_op.drop_column('needs_read')
        batch_op.drop_column('language')
