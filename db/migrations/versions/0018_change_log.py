"""data_change: the ids of the rows each write touched, for the tables the columnar reads copy

A process holding a copy of a large table (in memory, or on disk by core.analytics.diskcopy)
used to read the whole table again after any write to it: at 1,000,000 customers the 15 M
orders and 10.7 M ledger entries, about 13 s, after an import of a hundred rows. The triggers
that move the data generation now also write which rows they touched (db.generation, "The
change log"), so the copy is brought up to date by reading those rows only
(core.analytics.changelog). The log starts empty: the first read after this migration reads
the whole table, as before.

Revision ID: 0018_change_log
Revises: 0017_generation_stamp
Create Date: 2026-12-01 03:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0018_change_log'
down_revision: str | None = '0017_generation_stamp'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the logged tables as of this revision (all watched since 0012).
LOGGED = ("customer", "orders", "refund", "feedback", "loyalty_entry", "support_ticket")


def upgrade() -> None:
    from db import generation

    dialect = op.get_bind().dialect.name
    op.create_table(
        'data_change',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('table_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.Column('stamp', sa.BigInteger(), nullable=False),
        sa.Column('row_id', sa.BigInteger(), nullable=True),
        sa.Column('customer_id', sa.BigInteger(), nullable=True),
        sa.Column('whole', sa.SmallInteger(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_data_change_table_n', 'data_change', ['table_name', 'n'], unique=False)
    for statement in generation.drop_trigger_statements(dialect, LOGGED):
        op.execute(statement)
    for statement in generation.create_statements(dialect, LOGGED, stamped=True, logged=LOGGED, replaces=False):
        op.execute(statement)


def downgrade() -> None:
    from db import generation

    dialect = op.get_bind().dialect.name
    for statement in generation.drop_trigger_statements(dialect, LOGGED):
        op.execute(statement)
    for statement in generation.create_statements(dialect, LOGGED, stamped=True):
        op.execute(statement)
    op.drop_index('ix_data_change_table_n', table_name='data_change')
    op.drop_table('data_change')
