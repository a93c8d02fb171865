"""refund: a refund of an order that is cancelled is kind refund_of_cancelled, counted nowhere

Shopify refunds an order and then cancels it; a cancellation already keeps the order out of
sales, so subtracting its refund as well took revenue below zero. Imports now settle this after
every write of orders or refunds (core.importing.refunds.settle_refunds); this
migration settles what is stored. No column changes: kind is text of up to 20 characters.

Revision ID: 0019_refund_of_cancelled
Revises: 0018_change_log
Create Date: 2026-12-02 06:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0019_refund_of_cancelled"
down_revision: str | None = "0018_change_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
        UPDATE refund SET kind = 'refund_of_cancelled'
        WHERE kind = 'refund' AND order_ref IS NOT NULL AND EXISTS (
            SELECT 1 FROM refund AS c
            WHERE c.kind = 'cancellation' AND c.order_ref = refund.order_ref
              AND c.customer_id = refund.customer_id)
    """)


def downgrade() -> None:
    op.execute("UPDATE refund SET kind = 'refund' WHERE kind = 'refund_of_cancelled'")
