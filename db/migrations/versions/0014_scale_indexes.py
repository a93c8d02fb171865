"""feedback: two partial indexes for the open answers, found at 1,000,000 customers on PostgreSQL

- ix_feedback_open_detractor (customer_id) WHERE nps_score <= 6 AND the answer is open: the
  at-risk queue's "open detractor" column (core.accounts) read the whole feedback table for
  every page (a seq scan of 3 M answers, about 2 s of the Accounts screen at 1 M customers);
- ix_feedback_open_flagged (submitted_at) WHERE flagged and open: the inbox's and the reports'
  counts of open flagged answers by age (a bitmap scan of the 896,000 flagged answers, 2.1 s at
  1 M customers, for 55,000 open ones).

Both predicates are the queries' own conditions (core.sentiment.DETRACTOR_MAX = 6,
core.feedback.OPEN_STATES), so PostgreSQL and SQLite use the indexes for them as written.

Revision ID: 0014_scale_indexes
Revises: 0013_money_cents
Create Date: 2026-11-30 13:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_scale_indexes'
down_revision: str | None = '0013_money_cents'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "state IN ('new', 'acknowledged', 'waiting')"
INDEXES = (
    ("ix_feedback_open_detractor", ["customer_id"], f"nps_score <= 6 AND {OPEN}"),
    ("ix_feedback_open_flagged", ["submitted_at"], f"flagged IS TRUE AND {OPEN}"),
)


def upgrade() -> None:
    for name, columns, where in INDEXES:
        op.create_index(name, 'feedback', columns, unique=False, postgresql_where=sa.text(where),
                        sqlite_where=sa.text(where))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE feedback")


def downgrade() -> None:
    for name, _columns, _where in INDEXES:
        op.drop_index(name, table_name='feedback')
