"""Money refunded per customer: the one read every net-of-refunds figure outside the KPIs uses
(the at-risk queue's 12-month spend, the lifetime spend outreach messages quote, the monetary
value of lifetime value). Only refunds that count (kind "refund": not one of a cancelled order,
not one an order's refunded total already covers: core.importing.refunds) are read, by the day
the money went back (design.md: revenue is net of refunds)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from db.models import Refund


def refunded_cents(conn: Connection, *, end: datetime, start: datetime | None = None,
                   customer_ids: Iterable[int] | None = None) -> pd.Series:
    """Whole cents refunded per customer (int64 Series indexed by customer table id; customers
    with none left out) with refunded_at in [start, end) (no start: everything before end).
    ``customer_ids`` limits the read to those customers (read in chunks of 5,000)."""
    r = Refund.__table__.c
    base = select(r.customer_id, func.sum(r.amount_cents).label("cents")).where(r.kind == "refund",
                                                                               r.refunded_at < end)
    if start is not None:
        base = base.where(r.refunded_at >= start)
    if customer_ids is None:
        parts = [pd.read_sql(base.group_by(r.customer_id), conn)]
    else:
        ids = [int(i) for i in customer_ids]
        parts = [pd.read_sql(base.where(r.customer_id.in_(ids[i:i + 5_000])).group_by(r.customer_id), conn)
                 for i in range(0, len(ids), 5_000)] or [pd.DataFrame(columns=["customer_id", "cents"])]
    frame = pd.concat(parts, ignore_index=True)
    return pd.Series(frame["cents"].astype("int64").to_numpy(), index=frame["customer_id"].astype("int64").to_numpy(),
                     dtype="int64")


def refunded_cents_by_order(conn: Connection, order_ids: Iterable[int]) -> pd.Series:
    """Whole cents refunded per order (int64 Series indexed by order table id; orders without a
    counted refund left out), whatever the day: what an order finally brought in is its total
    less this. Read in chunks of 5,000 ids."""
    r = Refund.__table__.c
    ids = [int(i) for i in order_ids]
    parts = [pd.read_sql(select(r.order_id, func.sum(r.amount_cents).label("cents"))
                         .where(r.kind == "refund", r.order_id.in_(ids[i:i + 5_000])).group_by(r.order_id), conn)
             for i in range(0, len(ids), 5_000)] or [pd.DataFrame(columns=["order_id", "cents"])]
    frame = pd.concat(parts, ignore_index=True)
    return pd.Series(frame["cents"].astype("int64").to_numpy(), index=frame["order_id"].astype("int64").to_numpy(),
                     dtype="int64")
