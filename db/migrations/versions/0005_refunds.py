"""refund table (refunds and cancellations are not orders); loyalty_entry.computed

Revision ID: 0005_refunds
Revises: 0004_queue_index
Create Date: 2026-11-30 04:00:00

Orders stored with a negative total before this revision (a refund row of a shop export)
move to `refund`; stored `expire` entries are marked `computed` (until now every one was
a record of Hearth's own expiry rule and the computation ignored them, so nothing changes
for them; an import of the programme's own file marks its rows as written).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = '0005_refunds'
down_revision: str | None = '0004_queue_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'refund',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('order_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('refunded_at', sa.DateTime(), nullable=False),
        sa.Column('amount', sa.Float(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id']),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.create_index('ix_refund_customer_refunded', ['customer_id', 'refunded_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_external_id'), ['external_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_refund_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_refunded_at'), ['refunded_at'], unique=False)
    with op.batch_alter_table('loyalty_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('computed', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE loyalty_entry SET computed = TRUE WHERE kind = 'expire'")
    op.execute(
        "INSERT INTO refund (external_id, kind, order_id, order_ref, customer_id, refunded_at, amount, reason) "
        "SELECT external_id, 'refund', NULL, NULL, customer_id, ordered_at, -total, 'negative total' "
        "FROM orders WHERE total < 0")
    op.execute("DELETE FROM order_line WHERE order_id IN (SELECT id FROM orders WHERE total < 0)")
    op.execute("DELETE FROM orders WHERE total < 0")


def downgrade() -> None:
    with op.batch_alter_table('loyalty_entry', schema=None) as batch_op:
        batch_op.drop_column('computed')
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_refunded_at'))
        batch_op.drop_index(batch_op.f('ix_refund_order_id'))
        batch_op.drop_index(batch_op.f('ix_refund_external_id'))
        batch_op.drop_index('ix_refund_customer_refunded')
    op.drop_table('refund')
