"""Small factories for hand-made data in tests. Each adds, flushes and returns the row."""

from __future__ import annotations

import itertools
from datetime import date, datetime

from sqlmodel import Session

from core import money
from db.models import Customer, Feedback, LoyaltyEntry, Order, OrderLine, Product, Refund, SupportTicket

# Far above the demo store's ids (C000001, O0000001, ...), so factories can add rows to a
# demo store (page tests) without a unique-key clash.
_ids = itertools.count(900_001)


def _next(prefix: str) -> str:
    # "X" keeps test rows apart from the demo store's ids (C000001, O0000001, ...).
    return f"X{prefix}{next(_ids):06d}"


def make_customer(session: Session, **kw) -> Customer:
    kw.setdefault("external_id", _next("C"))
    kw.setdefault("name", f"Customer {kw['external_id']}")
    kw.setdefault("email", f"{kw['external_id'].lower()}@example.com")
    kw.setdefault("signup_date", date(2025, 1, 1))
    kw.setdefault("email_opt_in", True)
    kw.setdefault("owner", "manager")
    c = Customer(**kw)
    session.add(c)
    session.flush()
    return c


def make_product(session: Session, **kw) -> Product:
    kw.setdefault("sku", _next("SKU"))
    kw.setdefault("name", f"Product {kw['sku']}")
    kw.setdefault("category", "laundry")
    kw.setdefault("replenishment_days", 30)
    p = Product(**kw)
    session.add(p)
    session.flush()
    return p


def make_order(
    session: Session,
    customer: Customer,
    ordered_at: datetime,
    total: float = 25.0,
    lines: list[tuple[str, int, float]] | None = None,
    **kw,
) -> Order:
    """An order of ``total`` in currency units (stored as whole cents by core.money's rule);
    ``lines`` as (sku, quantity, unit price in currency units)."""
    kw.setdefault("external_id", _next("O"))
    o = Order(customer_id=customer.id, ordered_at=ordered_at, total_cents=money.to_cents(total), **kw)
    session.add(o)
    session.flush()
    for sku, qty, price in lines or []:
        session.add(OrderLine(order_id=o.id, sku=sku, quantity=qty, unit_price_cents=money.to_cents(price)))
    session.flush()
    return o


def make_feedback(session: Session, customer: Customer | None, submitted_at: datetime, **kw) -> Feedback:
    kw.setdefault("external_id", _next("F"))
    f = Feedback(customer_id=customer.id if customer else None, submitted_at=submitted_at, **kw)
    session.add(f)
    session.flush()
    return f


def make_loyalty(
    session: Session, customer: Customer, occurred_at: datetime, kind: str, points: int, **kw
) -> LoyaltyEntry:
    kw.setdefault("external_id", _next("L"))
    e = LoyaltyEntry(customer_id=customer.id, occurred_at=occurred_at, kind=kind, points=points, **kw)
    session.add(e)
    session.flush()
    return e


def make_ticket(session: Session, customer: Customer, opened_at: datetime, **kw) -> SupportTicket:
    kw.setdefault("external_id", _next("T"))
    t = SupportTicket(customer_id=customer.id, opened_at=opened_at, **kw)
    session.add(t)
    session.flush()
    return t


def make_refund(session: Session, customer: Customer, refunded_at: datetime, amount: float,
                order: Order | None = None, **kw) -> Refund:
    """A refund (``kind="refund"``, or ``kind="cancellation"``) of ``amount`` in currency units,
    stored as whole cents; of ``order`` if given."""
    kw.setdefault("external_id", _next("R"))
    r = Refund(customer_id=customer.id, refunded_at=refunded_at, amount_cents=money.to_cents(amount),
               order_id=None if order is None else order.id,
               order_ref=None if order is None else order.external_id, **kw)
    session.add(r)
    session.flush()
    return r
