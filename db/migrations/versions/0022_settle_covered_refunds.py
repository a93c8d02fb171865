"""refund: of an order's refunded total and the refunds listed for it, only the larger counts

A shop's order file gives an order's refunded total (Shopify's "Refunded Amount", a status of
refunded) and its refund file lists the same money again, refund by refund. Imports now keep
both and count the larger (core.importing.refunds.settle_refunds: the other is kind
refund_covered); a store imported before counted both, so its refunds and revenue stayed wrong
until the next import of orders or refunds. This migration settles what is stored, by the same
rule: per order (order id and customer), the refund derived from the order file (entry id
``refund-of-<order id>``) and the refunds listed for it; when both are there, the derived one
is covered when its total is not larger than the listed ones' (on a tie the listed refunds
count: they carry the day the money went back), else the listed ones are. A derived
refund whose key was too long for ``refund-of-<order id>`` (an order id over 54 characters) is
settled at the next import instead. Refunds of cancelled orders (0019) are left as they are.

Revision ID: 0022_settle_covered_refunds
Revises: 0021_expiry_rule_in_force
Create Date: 2026-12-02 11:10:00
"""
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_settle_covered_refunds"
down_revision: str | None = "0021_expiry_rule_in_force"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 5_000


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, external_id, kind, order_ref, customer_id, amount_cents FROM refund "
        "WHERE order_ref IS NOT NULL AND kind IN ('refund', 'refund_covered')")).all()
    # (order_ref, customer_id) -> [derived total, listed total, derived present, listed present]
    groups: dict[tuple, list] = defaultdict(lambda: [0, 0, False, False])
    derived_of: dict[int, bool] = {}
    for rid, ext, _kind, ref, cust, cents in rows:
        derived = str(ext) == f"refund-of-{ref}"
        derived_of[rid] = derived
        g = groups[(str(ref), cust)]
        g[0 if derived else 1] += int(cents or 0)
        g[2 if derived else 3] = True
    target: dict[str, list[int]] = {"refund": [], "refund_covered": []}
    for rid, _ext, kind, ref, cust, _cents in rows:
        total, listed, has_derived, has_listed = groups[(str(ref), cust)]
        derived = derived_of[rid]
        covered = has_derived and has_listed and (total <= listed if derived else total > listed)
        want = "refund_covered" if covered else "refund"
        if want != kind:
            target[want].append(rid)
    for kind, ids in target.items():
        for start in range(0, len(ids), _CHUNK):
            conn.execute(sa.text("UPDATE refund SET kind = :kind WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)), {"kind": kind, "ids": ids[start:start + _CHUNK]})


def downgrade() -> None:
    op.execute("UPDATE refund SET kind = 'refund' WHERE kind = 'refund_covered'")
