"""The raw frames the features are computed from (`Frames`): read once with SQL
(`load_frames`) or built from an order history (`frames_from_orders`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, String, case, cast, func, select, type_coerce
from sqlmodel import Session

from core import money
from db.models import Customer, Feedback, LoyaltyEntry, Order, OrderLine, Product, Refund, SupportTicket

DAY = np.timedelta64(1, "D")
# A bought item's quantity stretches its due date, but a bulk buy of 10 is not 10 months' supply.
MAX_QUANTITY_STRETCH = 3
PACK = 1_000_000  # product ids below a million
# Only consumables are refills: a vase "replenished" every 365 days says nothing about
# when the next order is due, and would hide every other overdue refill.
MAX_REFILL_DAYS = 90
# Longest overdue that is still a useful number (a year late is simply "gone").
MAX_OVERDUE_DAYS = 365


@dataclass
class Frames:
    """The store's history up to `as_of`, one frame per kind of fact, read once."""

    as_of: date
    customers: pd.DataFrame  # id, signup_date, created_at, subscription_status, last_login_at
    orders: pd.DataFrame  # cidx, customer_id, ordered_at, total; sorted by cidx, ordered_at
    lines: pd.DataFrame  # per order with refills: cidx, ordered_at, lasts_days, product_id, due
    products: pd.DataFrame  # product_id -> sku, name, category, replenishment_days
    feedback: pd.DataFrame  # cidx, submitted_at, nps_score, sentiment
    tickets: pd.DataFrame  # cidx, opened_at, closed_at, status
    loyalty: pd.DataFrame  # cidx, occurred_at, kind, points
    # Money given back (kind 'refund'; cancellations never counted as sales): cidx, refunded_at,
    # amount. Spend figures are net of it (design.md: revenue is net of refunds).
    refunds: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"cidx": np.array([], dtype=int), "refunded_at": np.array([], dtype="datetime64[ns]"),
         "amount": np.array([], dtype=float)}))
    # Features and labels already computed, by (what, cut-off, horizon): a scoring run asks for
    # the same cut-off in the backtest and in the final training.
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def first_activity(self) -> pd.Timestamp | None:
        """The first order of the store: how much history there is to learn from."""
        if self.orders.empty:
            return None
        return self.orders["ordered_at"].min()


def _end_of(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), datetime.min.time())


def _ts(series: pd.Series) -> pd.Series:
    """Naive datetimes from what the driver returned (ISO strings on SQLite, datetimes on PostgreSQL)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.astype("datetime64[ns]")
    return pd.to_datetime(series, format="ISO8601").astype("datetime64[ns]")


def _raw(column):  # noqa: ANN001, ANN202
    """A timestamp column without SQLAlchemy's per-row conversion: on SQLite that conversion
    (a regex per value) took longer than the query itself; pandas parses the lot at once."""
    return type_coerce(column, String).label(column.key)


def _read(conn, stmt) -> pd.DataFrame:  # noqa: ANN001
    """pd.read_sql, minus SQLAlchemy's Row objects: the DBAPI cursor's plain tuples go straight
    into the frame (a third of the time for millions of rows). Bind parameters are still
    processed by SQLAlchemy; the columns are plain numbers and strings (see `_raw`)."""
    result = conn.execute(stmt)
    try:
        columns = list(result.keys())
        rows = result.cursor.fetchall()
    finally:
        result.close()
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)


def _cidx(frame: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """Replace customer_id by its position in the customer frame; drop unknown customers."""
    pos = ids.get_indexer(frame["customer_id"])
    frame = frame.assign(cidx=pos)
    return frame[frame["cidx"] >= 0]


def _refill_lines(conn, orders: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001 - a Connection
    """Per order of `orders`, the refill that lasts longest and when it runs out (cidx,
    ordered_at, lasts_days, product_id, due), sorted by customer and due date."""
    # Per order, the refill that lasts longest (days x quantity, at most 3 x) and its product,
    # packed into one integer so that a plain MAX works on every database.
    stretch = case((OrderLine.quantity > MAX_QUANTITY_STRETCH, MAX_QUANTITY_STRETCH),
                   (OrderLine.quantity < 1, 1), else_=OrderLine.quantity)
    packed = func.max(cast(Product.replenishment_days, BigInteger) * stretch * PACK + Product.id).label("packed")
    per_order = _read(
        conn,
        select(OrderLine.order_id, packed)
        .join(Product, Product.sku == OrderLine.sku)
        .where(Product.replenishment_days > 0, Product.replenishment_days <= MAX_REFILL_DAYS)
        .group_by(OrderLine.order_id),
    )
    pos = pd.Index(orders["id"]).get_indexer(per_order["order_id"])
    keep = pos >= 0
    pos, code = pos[keep], per_order["packed"].to_numpy()[keep].astype("int64")
    lines = pd.DataFrame({
        "cidx": orders["cidx"].to_numpy()[pos],
        "ordered_at": orders["ordered_at"].to_numpy()[pos],
        "lasts_days": (code // PACK).astype(float),
        "product_id": code % PACK,
    })
    lines["due"] = lines["ordered_at"] + pd.to_timedelta(lines["lasts_days"], unit="D")
    # Sorted once by customer and due date: any cut-off's subset stays sorted.
    lines = lines.sort_values(["cidx", "due"], kind="stable").reset_index(drop=True)
    return lines


def load_frames(
    *, session: Session, as_of: date, progress: Callable[[str], None] | None = None
) -> Frames:
    """Read every fact on or before `as_of` that the features need, once."""
    say = progress or (lambda _m: None)
    conn = session.connection()
    end = _end_of(as_of)

    customers = _read(conn, select(
        Customer.id, _raw(Customer.signup_date), _raw(Customer.created_at), Customer.subscription_status,
        _raw(Customer.last_login_at)).order_by(Customer.id))
    customers["signup_date"] = _ts(customers["signup_date"])
    customers["created_at"] = _ts(customers["created_at"])
    customers["last_login_at"] = _ts(customers["last_login_at"])
    ids = pd.Index(customers["id"])
    say(f"read {len(customers):,} customers")

    orders = _read(conn, select(Order.id, Order.customer_id, _raw(Order.ordered_at), Order.total_cents)
                   .where(Order.ordered_at < end))
    orders["ordered_at"] = _ts(orders["ordered_at"])
    # The model's features are floats in currency units, from the stored whole cents (core.money).
    orders["total"] = money.units_array(orders.pop("total_cents"))
    orders = _cidx(orders, ids).sort_values(["cidx", "ordered_at"], kind="stable").reset_index(drop=True)
    say(f"read {len(orders):,} orders")

    products = _read(conn, select(Product.id.label("product_id"), Product.sku, Product.name,
                                  Product.category, Product.replenishment_days))
    lines = _refill_lines(conn, orders)
    say(f"read the refills of {len(lines):,} orders")

    feedback = _read(conn, select(Feedback.customer_id, _raw(Feedback.submitted_at), Feedback.nps_score,
                                  Feedback.sentiment)
                     .where(Feedback.submitted_at < end, Feedback.customer_id.is_not(None)))
    feedback["submitted_at"] = _ts(feedback["submitted_at"])
    feedback = _cidx(feedback, ids).sort_values(["cidx", "submitted_at"], kind="stable")
    feedback = feedback.reset_index(drop=True)

    tickets = _read(conn, select(SupportTicket.customer_id, _raw(SupportTicket.opened_at),
                                 _raw(SupportTicket.closed_at), SupportTicket.status)
                    .where(SupportTicket.opened_at < end))
    tickets["opened_at"] = _ts(tickets["opened_at"])
    tickets["closed_at"] = _ts(tickets["closed_at"])
    tickets = _cidx(tickets, ids).reset_index(drop=True)

    loyalty = _read(conn, select(LoyaltyEntry.customer_id, _raw(LoyaltyEntry.occurred_at), LoyaltyEntry.kind,
                                 LoyaltyEntry.points)
                    .where(LoyaltyEntry.occurred_at < end))
    loyalty["occurred_at"] = _ts(loyalty["occurred_at"])
    loyalty = _cidx(loyalty, ids).reset_index(drop=True)
    refunds = _read(conn, select(Refund.customer_id, _raw(Refund.refunded_at), Refund.amount_cents)
                    .where(Refund.kind == "refund", Refund.refunded_at < end))
    refunds["refunded_at"] = _ts(refunds["refunded_at"])
    refunds["amount"] = money.units_array(refunds.pop("amount_cents"))
    refunds = _cidx(refunds, ids).reset_index(drop=True)
    say(f"read {len(feedback):,} feedback answers, {len(tickets):,} tickets, "
        f"{len(loyalty):,} loyalty entries, {len(refunds):,} refunds")

    return Frames(as_of=as_of, customers=customers, orders=orders, lines=lines, products=products,
                  feedback=feedback, tickets=tickets, loyalty=loyalty, refunds=refunds)


ORDER_HISTORY_COLUMNS = ("customer_id", "ordered_at", "total")


def frames_from_orders(orders: pd.DataFrame, *, as_of: date | None = None) -> Frames:
    """Frames for an order history alone (no products, feedback, tickets or loyalty): what
    `python -m core score --backtest FILE` scores. `orders` has customer_id, ordered_at and
    total (column names matched without regard to case, spaces and underscores); customers
    are those with an order, created at their first. `as_of` defaults to the last order's date.

    Raises ValueError naming a missing column or the first row whose date or total is unreadable.
    """
    def norm(name: object) -> str:
        return str(name).strip().lower().replace(" ", "").replace("_", "")

    by_norm = {norm(c): c for c in orders.columns}
    missing = [c for c in ORDER_HISTORY_COLUMNS if norm(c) not in by_norm]
    if missing:
        raise ValueError(f"the order history has no {missing[0]!r} column (it needs "
                         f"{', '.join(ORDER_HISTORY_COLUMNS)}; it has {', '.join(map(str, orders.columns))})")
    frame = pd.DataFrame({c: orders[by_norm[norm(c)]] for c in ORDER_HISTORY_COLUMNS})
    when = pd.to_datetime(frame["ordered_at"].astype(str).str.strip(), format="ISO8601", errors="coerce")
    bad = when.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"row {row + 2}: ordered_at {frame['ordered_at'].iloc[row]!r} is not a date "
                         "(use YYYY-MM-DD)")
    total = pd.to_numeric(frame["total"], errors="coerce")
    bad = total.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"row {row + 2}: total {frame['total'].iloc[row]!r} is not a number")
    ext = frame["customer_id"].astype(str).str.strip()
    codes, uniques = pd.factorize(ext, sort=True)
    ids = codes + 1
    o = pd.DataFrame({"id": np.arange(1, len(frame) + 1), "customer_id": ids,
                      "ordered_at": when.astype("datetime64[ns]").to_numpy(), "total": total.astype(float)})
    as_of = as_of or o["ordered_at"].max().date()
    o = o[o["ordered_at"] < _end_of(as_of)]
    first = o.groupby("customer_id")["ordered_at"].min()
    customers = pd.DataFrame({
        "id": first.index.to_numpy(), "signup_date": pd.NaT, "created_at": first.to_numpy(),
        "subscription_status": None, "last_login_at": pd.NaT, "external_id": uniques[first.index - 1],
    })
    for col in ("signup_date", "last_login_at"):
        customers[col] = customers[col].astype("datetime64[ns]")
    cid = pd.Index(customers["id"])
    o = o.assign(cidx=cid.get_indexer(o["customer_id"])).sort_values(["cidx", "ordered_at"], kind="stable")
    empty_ts = np.array([], dtype="datetime64[ns]")
    return Frames(
        as_of=as_of, customers=customers, orders=o.reset_index(drop=True),
        lines=pd.DataFrame({"cidx": np.array([], dtype=int), "ordered_at": empty_ts, "lasts_days": [],
                            "product_id": np.array([], dtype=int), "due": empty_ts}),
        products=pd.DataFrame(columns=["product_id", "sku", "name", "category", "replenishment_days"]),
        feedback=pd.DataFrame({"cidx": np.array([], dtype=int), "submitted_at": empty_ts,
                               "nps_score": np.array([], dtype=float), "sentiment": np.array([], dtype=float)}),
        tickets=pd.DataFrame({"cidx": np.array([], dtype=int), "opened_at": empty_ts, "closed_at": empty_ts,
                              "status": np.array([], dtype=object)}),
        loyalty=pd.DataFrame({"cidx": np.array([], dtype=int), "occurred_at": empty_ts,
                              "kind": np.array([], dtype=object), "points": np.array([], dtype=float)}),
    )
