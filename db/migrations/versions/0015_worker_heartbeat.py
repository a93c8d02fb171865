"""worker_heartbeat: the delivery worker's heartbeat moves out of `setting`

The worker stored its time in `setting` every few seconds, and `setting` is a watched table
(migration 0012): each beat moved its data generation, so every figure keyed by `setting`
(or by every table) was thrown away and computed again every few seconds while a worker ran.
The new table has no data-generation triggers on purpose. The stored beat is carried over.

Revision ID: 0015_worker_heartbeat
Revises: 0014_scale_indexes
Create Date: 2026-11-30 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0015_worker_heartbeat'
down_revision: str | None = '0014_scale_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "delivery_heartbeat"


def upgrade() -> None:
    op.create_table(
        'worker_heartbeat',
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('value', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('key'),
    )
    op.execute(sa.text("INSERT INTO worker_heartbeat (key, value) SELECT key, value FROM setting WHERE key = :k")
               .bindparams(k=KEY))
    op.execute(sa.text("DELETE FROM setting WHERE key = :k").bindparams(k=KEY))


def downgrade() -> None:
    op.execute(sa.text("INSERT INTO setting (key, value) SELECT key, value FROM worker_heartbeat WHERE key = :k")
               .bindparams(k=KEY))
    op.drop_table('worker_heartbeat')
