"""`generate_demo`: every demo table as a DataFrame with its db table's columns, from one seed."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from core.demo.arrays import _frame, _to_datetime
from core.demo.feedback import _feedback, _tickets
from core.demo.loyalty import _loyalty
from core.demo.orders import _customers, _orders, _refunds
from core.demo.story import DECLINING, HISTORY_DAYS, LAPSED, NEW, ONE_TIME, STEADY, VIP, _catalogue_frame


def generate_demo(*, customers: int, seed: int, today: date | None = None,
                  first_ids: dict[str, int] | None = None,
                  progress: Callable[[str], None] | None = None) -> dict[str, pd.DataFrame]:
    """Every demo table as a DataFrame with the columns of its db table (plus a few helper
    columns, e.g. `kind` on customers, that `load_demo` leaves out).

    Parameters
    ----------
    customers : how many customers (orders, answers and points scale with it).
    seed : the same seed and `today` give the same store, row for row.
    today : the last day of the history (default: today's UTC date); events end before it.
    first_ids : the first id per table (default 1), for a store that already has rows.

    Raises ValueError for fewer than one customer.
    """
    if customers < 1:
        raise ValueError("the demo store needs at least one customer")
    say = progress or (lambda _msg: None)
    today = today or datetime.now(UTC).date()
    ids = {"customer": 1, "product": 1, "orders": 1, "order_line": 1, "refund": 1, "feedback": 1,
           "loyalty_entry": 1, "support_ticket": 1, **(first_ids or {})}
    rng = np.random.default_rng(seed)
    horizon = HISTORY_DAYS
    start = today - timedelta(days=horizon)
    origin = np.datetime64(start, "s")
    started = time.perf_counter()

    prod = _catalogue_frame()
    prod.insert(0, "id", np.arange(ids["product"], ids["product"] + len(prod)))
    cust = _customers(rng, customers, horizon, start, ids["customer"])
    orders, lines = _orders(rng, cust, prod, horizon, start, ids["orders"])
    say(f"generated {len(cust):,} customers, {len(orders):,} orders, {len(lines):,} order lines "
        f"({time.perf_counter() - started:.1f} s)")
    refunds = _refunds(np.random.default_rng([seed, 3]), orders, origin, horizon, ids["refund"])
    feedback = _feedback(rng, cust, orders, prod, horizon, ids["feedback"])
    loyalty = _loyalty(rng, cust, orders, feedback, origin, horizon, ids["loyalty_entry"])
    tickets = _tickets(rng, cust, orders, feedback, horizon, ids["support_ticket"])
    say(f"generated {len(feedback):,} feedback answers, {len(loyalty):,} loyalty entries, "
        f"{len(tickets):,} support tickets ({time.perf_counter() - started:.1f} s)")

    customers_frame = _customer_table(rng, cust, orders, horizon=horizon, start=start, origin=origin)
    events = _event_tables(orders, lines, feedback, tickets, origin=origin, first_line_id=ids["order_line"])
    return {
        "product": prod[["id", "sku", "name", "category", "replenishment_days"]].assign(
            unit_price_cents=np.round(prod["unit_price"].to_numpy() * 100).astype("int64")),  # whole cents
        "customer": customers_frame,
        "orders": events["orders"],
        "order_line": events["order_line"],
        "refund": refunds,
        "feedback": events["feedback"],
        "loyalty_entry": loyalty,
        "support_ticket": events["support_ticket"],
    }


def _customer_table(rng: np.random.Generator, cust: pd.DataFrame, orders: pd.DataFrame, *, horizon: int,
                    start: date, origin: np.datetime64) -> pd.DataFrame:
    """The customer table with dates and states that match each kind's story: signup no later
    than the first order, last login, subscription status (plus the helper column `kind`)."""
    n = len(cust)
    kind = cust["kind_code"].to_numpy()
    orow = orders["customer_row"].to_numpy()
    last_x = np.full(n, np.nan)
    np.fmax.at(last_x, orow, orders["x"].to_numpy())
    login_x = np.select(
        [np.isin(kind, (STEADY, VIP)), kind == NEW, kind == DECLINING],
        [horizon - rng.uniform(0.05, 20, n), horizon - rng.uniform(0.05, 15, n),
         horizon - rng.uniform(20, 120, n)],
        last_x + rng.uniform(0.01, 25, n))
    login_x = np.minimum(login_x, horizon - 0.01)
    login_x[rng.random(n) < 0.12] = np.nan
    r = rng.random(n)
    status_choices = {
        STEADY: (["active", "paused"], [0.88, 0.12]),
        VIP: (["active", None], [0.6, 0.4]),
        DECLINING: (["paused", "active", None], [0.4, 0.3, 0.3]),
        LAPSED: (["cancelled", None], [0.6, 0.4]),
        NEW: (["active", None], [0.4, 0.6]),
        ONE_TIME: ([None, "cancelled"], [0.9, 0.1]),
    }
    subscription = np.full(n, None, dtype=object)
    for code, (values, shares) in status_choices.items():
        mask = kind == code
        edges = np.cumsum(shares)
        subscription[mask] = np.array(values, dtype=object)[np.searchsorted(edges, r[mask], side="right")]
    signup = np.minimum(cust["signup_x"].to_numpy(), np.where(np.isnan(last_x), horizon - 1, cust["first_x"]))
    created = pd.Timestamp(origin) + pd.to_timedelta(np.floor(signup), unit="D")
    customers_frame = _frame({
        "id": cust["id"],
        "external_id": cust["external_id"],
        "name": cust["name"],
        "email": cust["email"],
        "phone": cust["phone"],
        "signup_date": np.datetime64(start, "D") + np.floor(signup).astype("int64"),
        "segment": cust["segment"],
        "region": cust["region"],
        "owner": cust["owner"],
        "email_opt_in": cust["email_opt_in"],
        "sms_opt_in": cust["sms_opt_in"],
        "subscription_status": subscription,
        "last_login_at": _to_datetime(origin, login_x),
        "created_at": created.to_numpy().astype("datetime64[s]"),
        "updated_at": created.to_numpy().astype("datetime64[s]"),
        "kind": cust["kind"],
    })
    return customers_frame


def _event_tables(orders: pd.DataFrame, lines: pd.DataFrame, feedback: pd.DataFrame, tickets: pd.DataFrame, *,
                  origin: np.datetime64, first_line_id: int) -> dict[str, pd.DataFrame]:
    """The orders, order lines, feedback and support tickets with their db tables' columns:
    times from the history's start `origin`, money from cents to the currency unit."""
    orders_frame = _frame({
        "id": orders["id"],
        "external_id": orders["external_id"],
        "customer_id": orders["customer_id"],
        "ordered_at": origin + orders["t"].to_numpy().astype("timedelta64[s]"),
        "total_cents": orders["total_cents"].to_numpy().astype("int64"),
        "offer_code": orders["offer_code"],
    })
    lines_frame = _frame({
        "id": np.arange(first_line_id, first_line_id + len(lines)),
        "order_id": lines["order_id"],
        "sku": lines["sku"],
        "quantity": lines["quantity"],
        "unit_price_cents": lines["unit_cents"].to_numpy().astype("int64"),
    })
    feedback_frame = _frame({
        "id": feedback["id"],
        "external_id": feedback["external_id"],
        "customer_id": feedback["customer_id"],
        "submitted_at": _to_datetime(origin, feedback["x"].to_numpy()),
        "channel": feedback["channel"],
        "nps_score": feedback["nps_score"],
        "comment": feedback["comment"],
        "state": "new",
        "flagged": False,
    })
    tickets_frame = _frame({
        "id": tickets["id"],
        "external_id": tickets["external_id"],
        "customer_id": tickets["customer_id"],
        "opened_at": _to_datetime(origin, tickets["x"].to_numpy()),
        "closed_at": _to_datetime(origin, tickets["closed_x"].to_numpy()),
        "topic": tickets["topic"],
        "status": tickets["status"],
    })
    return {"orders": orders_frame, "order_line": lines_frame, "feedback": feedback_frame,
            "support_ticket": tickets_frame}
