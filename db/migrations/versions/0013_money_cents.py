"""money in whole cents: orders.total_cents, refund.amount_cents, order_line.unit_price_cents,
product.unit_price_cents, score_snapshot.value_at_risk_cents (BIGINT, core.money)

Every stored amount was a float in currency units; it becomes an integer number of cents,
converted exactly: ROUND(x * 100) (half away from zero; PostgreSQL rounds the float's decimal
value as NUMERIC, SQLite rounds the double, the same for every amount that was stored rounded
to the cent, as imports and the demo did). The downgrade gives back floats (cents / 100).

The columns are added, filled and dropped in place (SQLite 3.35+ drops a column without
copying the table), never by a batch copy of the table: a copy would drop the data-generation
triggers of migration 0012 with the old table, and SQLite cannot copy ``orders`` while its
foreign keys are enforced and ``order_line`` rows point at it. Should a future step need a
batch copy, :func:`_reinstall_triggers` puts the triggers back; it runs at the end either way.

Revision ID: 0013_money_cents
Revises: 0012_data_generation
Create Date: 2026-11-30 10:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_money_cents'
down_revision: str | None = '0012_data_generation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, old float column, new cents column, NOT NULL)
MONEY = (
    ("orders", "total", "total_cents", True),
    ("refund", "amount", "amount_cents", True),
    ("order_line", "unit_price", "unit_price_cents", True),
    ("product", "unit_price", "unit_price_cents", False),
    ("score_snapshot", "value_at_risk", "value_at_risk_cents", True),
)
QUEUE_INDEX = "ix_score_snapshot_queue"


def _cents(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"CAST(ROUND(CAST({column} AS NUMERIC) * 100) AS BIGINT)"
    return f"CAST(ROUND({column} * 100) AS INTEGER)"


def _reinstall_triggers() -> None:
    """The data-generation triggers of 0012 on the tables changed here (idempotent)."""
    from db import generation

    bind = op.get_bind()
    tables = [t for t, *_ in MONEY if t in generation.WATCHED]
    for statement in generation.create_statements(bind.dialect.name, dict.fromkeys(tables), stamped=False):
        op.execute(statement)


def _swap(table: str, old: str, new: str, *, not_null: bool, new_type: sa.types.TypeEngine,
          value_sql: str) -> None:
    """Add ``new`` beside ``old``, fill it from ``value_sql`` (over ``old``), drop ``old``."""
    dialect = op.get_bind().dialect.name
    default = "0" if not_null else None
    op.add_column(table, sa.Column(new, new_type, nullable=not not_null, server_default=default))
    op.execute(f'UPDATE "{table}" SET {new} = {value_sql}')
    if dialect == "postgresql":
        if not_null:
            op.alter_column(table, new, server_default=None)
        op.drop_column(table, old)
    else:
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN {old}')


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index(QUEUE_INDEX, table_name="score_snapshot")
    for table, old, new, not_null in MONEY:
        value = _cents(dialect, old)
        _swap(table, old, new, not_null=not_null, new_type=sa.BigInteger(),
              value_sql=value if not_null else f"CASE WHEN {old} IS NULL THEN NULL ELSE {value} END")
    op.create_index(QUEUE_INDEX, "score_snapshot", ["as_of", "value_at_risk_cents", "churn_probability"],
                    unique=False)
    _reinstall_triggers()


def downgrade() -> None:
    op.drop_index(QUEUE_INDEX, table_name="score_snapshot")
    for table, old, new, not_null in MONEY:
        _swap(table, new, old, not_null=not_null, new_type=sa.Float(), value_sql=f"{new} / 100.0")
    op.create_index(QUEUE_INDEX, "score_snapshot", ["as_of", "value_at_risk", "churn_probability"], unique=False)
    _reinstall_triggers()
