"""Per-customer features at a cut-off date D, from what happened on or before D only.

Everything is read once with SQL (`load_frames`) and then computed with vectorised numpy /
pandas for any number of cut-offs (`customer_features`), so the churn model can be trained
on several earlier cut-offs without re-reading the database. Time is measured in days;
"on or before D" means a timestamp before midnight at the end of D.

Facts without a timestamp (subscription status) or with only the newest value (last login)
are not model features: at an earlier cut-off they would leak what happened later. They
feed the health score only, and the last login only when it is on or before D.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, String, case, cast, func, select, type_coerce
from sqlmodel import Session

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

# Features the churn model learns from: all time-stamped, so honest at any earlier cut-off.
MODEL_FEATURES = [
    "recency_days",
    "n_orders",
    "orders_h",
    "orders_prev_h",
    "orders_365",
    "spend_h",
    "spend_prev_h",
    "spend_365",
    "average_order_value",
    "days_since_first_order",
    "days_since_signup",
    "median_gap_days",
    "recency_ratio",
    "days_overdue",
    "refill_orders",
    "latest_nps",
    "nps_change",
    "mean_sentiment",
    "feedback_365",
    "open_tickets",
    "tickets_h",
    "loyalty_events_h",
    "loyalty_balance",
    "days_since_loyalty",
]


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

    orders = _read(conn, select(Order.id, Order.customer_id, _raw(Order.ordered_at), Order.total)
                   .where(Order.ordered_at < end))
    orders["ordered_at"] = _ts(orders["ordered_at"])
    orders["total"] = orders["total"].astype(float)
    orders = _cidx(orders, ids).sort_values(["cidx", "ordered_at"], kind="stable").reset_index(drop=True)
    say(f"read {len(orders):,} orders")

    products = _read(conn, select(Product.id.label("product_id"), Product.sku, Product.name,
                                  Product.category, Product.replenishment_days))
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
    refunds = _read(conn, select(Refund.customer_id, _raw(Refund.refunded_at), Refund.amount)
                    .where(Refund.kind == "refund", Refund.refunded_at < end))
    refunds["refunded_at"] = _ts(refunds["refunded_at"])
    refunds["amount"] = refunds["amount"].astype(float)
    refunds = _cidx(refunds, ids).reset_index(drop=True)
    say(f"read {len(feedback):,} feedback answers, {len(tickets):,} tickets, "
        f"{len(loyalty):,} loyalty entries, {len(refunds):,} refunds")

    return Frames(as_of=as_of, customers=customers, orders=orders, lines=lines, products=products,
                  feedback=feedback, tickets=tickets, loyalty=loyalty, refunds=refunds)


def _bincount(idx: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(idx, weights=weights, minlength=n).astype(float)


def _group_last(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per customer, the value of the last row (rows sorted by customer then time); NaN if none."""
    out = np.full(n, np.nan)
    if len(idx):
        last = np.r_[idx[1:] != idx[:-1], True]
        out[idx[last]] = values[last]
    return out


def _group_first(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    if len(idx):
        first = np.r_[True, idx[1:] != idx[:-1]]
        out[idx[first]] = values[first]
    return out


def _days(ts: pd.Series | np.ndarray) -> np.ndarray:
    """Timestamps as float days since the epoch (NaT -> NaN)."""
    arr = np.asarray(ts, dtype="datetime64[ns]")
    out = arr.astype("int64").astype(float) / 86_400e9
    out[np.isnat(arr)] = np.nan
    return out


def customer_features(frames: Frames, *, cutoff: date, horizon_days: int) -> pd.DataFrame:
    """One row per customer who exists on `cutoff` (signed up or ordered by then), indexed by
    customer id, with the MODEL_FEATURES plus what the health score and drivers need.

    Only facts on or before `cutoff` are used, whatever `frames` holds beyond it.

    Raises ValueError when ``cutoff`` is after the data read.
    """
    if cutoff > frames.as_of:
        raise ValueError(f"cut-off {cutoff} is after the data read ({frames.as_of})")
    key = ("features", cutoff, horizon_days)
    if key not in frames.cache:
        frames.cache[key] = _customer_features(frames, cutoff=cutoff, horizon_days=horizon_days)
    return frames.cache[key]


def _net_of_refunds(refunds: pd.DataFrame, cut: float, n: int, spend_365: np.ndarray) -> np.ndarray:
    """Per customer (length ``n``, money), ``spend_365`` minus the money refunded in the last
    365 days before the cut-off (by refund date), floored at 0."""
    rt = _days(refunds["refunded_at"])
    m = (rt < cut) & (cut - rt <= 365)
    refunded = _bincount(refunds["cidx"].to_numpy()[m], n, refunds["amount"].to_numpy()[m])
    return np.maximum(spend_365 - refunded, 0.0)


def _customer_features(frames: Frames, *, cutoff: date, horizon_days: int) -> pd.DataFrame:
    h = float(horizon_days)
    cut = _days(np.array([_end_of(cutoff)], dtype="datetime64[ns]"))[0]
    cust = frames.customers
    n = len(cust)

    # Orders -----------------------------------------------------------------------------
    o = frames.orders
    ot = _days(o["ordered_at"])
    m = ot < cut
    oi = o["cidx"].to_numpy()[m]
    ot = ot[m]
    total = o["total"].to_numpy()[m]
    age = cut - ot  # days before the end of D
    n_orders = _bincount(oi, n)
    last_t = _group_last(oi, ot, n)
    first_t = _group_first(oi, ot, n)
    spend = _bincount(oi, n, total)
    w_h = age <= h
    w_prev = (age > h) & (age <= 2 * h)
    w_365 = age <= 365
    orders_h = _bincount(oi[w_h], n)
    orders_prev_h = _bincount(oi[w_prev], n)
    orders_365 = _bincount(oi[w_365], n)
    spend_h = _bincount(oi[w_h], n, total[w_h])
    spend_prev_h = _bincount(oi[w_prev], n, total[w_prev])
    spend_365 = _bincount(oi[w_365], n, total[w_365])
    # The last 365 days' spend net of the money refunded in them (by refund date), never below
    # 0: the basis of the expected value (core.health). The model's inputs stay gross sales.
    net_spend_365 = _net_of_refunds(frames.refunds, cut, n, spend_365)
    # The customer's own cadence: median gap between consecutive orders (orders are sorted).
    same = np.r_[False, oi[1:] == oi[:-1]]
    gaps = np.r_[np.nan, np.diff(ot)][same]
    gap_idx = oi[same]
    median_gap = np.full(n, np.nan)
    if len(gaps):
        med = pd.Series(gaps).groupby(gap_idx).median()
        median_gap[med.index.to_numpy()] = med.to_numpy()

    # Replenishment: when does the last of what they buy run out? -------------------------
    ln = frames.lines
    lm = _days(ln["ordered_at"]) < cut
    li = ln["cidx"].to_numpy()[lm]
    due = _days(ln["due"])[lm]
    latest_due = _group_last(li, due, n)  # rows are sorted by customer, then due date
    due_product = _group_last(li, ln["product_id"].to_numpy()[lm].astype(float), n)
    days_overdue = np.clip(np.ceil(cut - latest_due) - 1, -MAX_OVERDUE_DAYS, MAX_OVERDUE_DAYS)
    # Each refill product's own due date (its latest purchase): the most overdue ones, worst first.
    refill = [np.full(n, np.nan) for _ in range(4)]  # product 1, days 1, product 2, days 2
    if len(li):
        per = (pd.DataFrame({"c": li, "p": ln["product_id"].to_numpy()[lm], "due": due})
               .groupby(["c", "p"], sort=False)["due"].max().reset_index())
        per["late"] = np.ceil(cut - per["due"].to_numpy()) - 1
        per = per[(per["late"] > 0) & (per["late"] <= MAX_OVERDUE_DAYS)]
        per = per.sort_values(["c", "late", "p"], ascending=[True, False, True], kind="stable")
        rank = per.groupby("c", sort=False).cumcount().to_numpy()
        for k in (0, 1):
            sel = per[rank == k]
            refill[2 * k][sel["c"].to_numpy()] = sel["p"].to_numpy(float)
            refill[2 * k + 1][sel["c"].to_numpy()] = sel["late"].to_numpy(float)
    # typical refill interval of what they buy: median over their orders of the longest-lasting item
    replenish_interval = np.full(n, np.nan)
    refill_orders = _bincount(li, n)
    if len(li):
        ri = pd.Series(ln["lasts_days"].to_numpy()[lm]).groupby(li).median()
        replenish_interval[ri.index.to_numpy()] = ri.to_numpy()

    # Feedback ---------------------------------------------------------------------------
    fb = frames.feedback
    ft = _days(fb["submitted_at"])
    fm = ft < cut
    fi = fb["cidx"].to_numpy()[fm]
    nps = fb["nps_score"].to_numpy(dtype=float, na_value=np.nan)[fm]
    has_nps = ~np.isnan(nps)
    latest_nps = _group_last(fi[has_nps], nps[has_nps], n)
    # previous answer: drop each customer's last scored row, then take the last again
    si, sn = fi[has_nps], nps[has_nps]
    not_last = np.r_[si[1:] == si[:-1], False] if len(si) else np.array([], dtype=bool)
    previous_nps = _group_last(si[not_last], sn[not_last], n)
    sent = fb["sentiment"].to_numpy(dtype=float, na_value=np.nan)[fm]
    recent_fb = (cut - ft[fm]) <= 365
    sm = recent_fb & ~np.isnan(sent)
    sent_n = _bincount(fi[sm], n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_sentiment = np.where(sent_n > 0, _bincount(fi[sm], n, sent[sm]) / np.maximum(sent_n, 1), np.nan)
    latest_nps_t = _group_last(fi[has_nps], ft[fm][has_nps], n)
    feedback_365 = _bincount(fi[recent_fb], n)
    feedback_any = _bincount(fi, n)

    # Tickets ----------------------------------------------------------------------------
    tk = frames.tickets
    tt = _days(tk["opened_at"])
    tc = _days(tk["closed_at"])
    tm = tt < cut
    ti = tk["cidx"].to_numpy()[tm]
    closed_later = tc[tm] >= cut
    no_close = np.isnan(tc[tm]) & (tk["status"].to_numpy()[tm] != "closed")
    open_tickets = _bincount(ti[closed_later | no_close], n)
    tickets_h = _bincount(ti[(cut - tt[tm]) <= h], n)
    tickets_any = _bincount(ti, n)

    # Loyalty ----------------------------------------------------------------------------
    ly = frames.loyalty
    yt = _days(ly["occurred_at"])
    ym = yt < cut
    yi = ly["cidx"].to_numpy()[ym]
    kind = ly["kind"].to_numpy()[ym]
    active = (kind == "earn") | (kind == "redeem")
    loyalty_events_h = _bincount(yi[active & ((cut - yt[ym]) <= h)], n)
    loyalty_balance = _bincount(yi, n, ly["points"].to_numpy()[ym].astype(float))
    last_loyalty = np.full(n, np.nan)
    if active.any():
        ll = pd.Series(yt[ym][active]).groupby(yi[active]).max()
        last_loyalty[ll.index.to_numpy()] = ll.to_numpy()
    loyalty_any = _bincount(yi, n)

    # Customer facts ---------------------------------------------------------------------
    signup = _days(cust["signup_date"])
    created = _days(cust["created_at"])
    login = _days(cust["last_login_at"])
    login = np.where(login < cut, login, np.nan)
    exists = (signup < cut) | (n_orders > 0) | (np.isnan(signup) & (created < cut))

    def days_to_d(t: np.ndarray) -> np.ndarray:
        """Whole calendar days from the date of `t` to D (0 on D itself)."""
        return np.ceil(cut - t) - 1

    with np.errstate(invalid="ignore", divide="ignore"):
        recency = days_to_d(last_t)
        frame = pd.DataFrame(
            {
                "recency_days": recency,
                "n_orders": n_orders,
                "orders_h": orders_h,
                "orders_prev_h": orders_prev_h,
                "orders_365": orders_365,
                "spend_total": spend,
                "spend_h": spend_h,
                "spend_prev_h": spend_prev_h,
                "spend_365": spend_365,
                "net_spend_365": net_spend_365,
                "average_order_value": np.where(n_orders > 0, spend / np.maximum(n_orders, 1), np.nan),
                "days_since_first_order": days_to_d(first_t),
                "days_since_signup": np.where(signup < cut, days_to_d(signup), np.nan),
                "median_gap_days": median_gap,
                "recency_ratio": recency / np.maximum(median_gap, 1.0),
                "days_overdue": days_overdue,
                "replenish_interval": replenish_interval,
                "due_product_id": due_product,
                "overdue_refill_1": refill[0],  # product id of the most overdue refill
                "overdue_refill_1_days": refill[1],
                "overdue_refill_2": refill[2],
                "overdue_refill_2_days": refill[3],
                "refill_orders": refill_orders,
                "latest_nps": latest_nps,
                "previous_nps": previous_nps,
                "nps_change": latest_nps - previous_nps,
                "days_since_nps": days_to_d(latest_nps_t),
                "mean_sentiment": mean_sentiment,
                "feedback_365": feedback_365,
                "has_feedback": feedback_any > 0,
                "open_tickets": open_tickets,
                "tickets_h": tickets_h,
                "has_tickets": tickets_any > 0,
                "loyalty_events_h": loyalty_events_h,
                "loyalty_balance": loyalty_balance,
                "days_since_loyalty": days_to_d(last_loyalty),
                "has_loyalty": loyalty_any > 0,
                "days_since_login": days_to_d(login),
                "subscription_status": cust["subscription_status"].to_numpy(dtype=object),
            },
            index=pd.Index(cust["id"].to_numpy(), name="customer_id"),
        )
    return frame[exists]


def churn_labels(frames: Frames, *, cutoff: date, horizon_days: int, index: pd.Index) -> pd.Series:
    """1 where the customer placed no order in (cutoff, cutoff + H], for the customers in `index`.

    `frames` must reach at least cutoff + H.

    Raises ValueError when the label window reaches past the data read.
    """
    if cutoff + timedelta(days=horizon_days) > frames.as_of:
        raise ValueError("the label window reaches past the data read")
    start = _days(np.array([_end_of(cutoff)], dtype="datetime64[ns]"))[0]
    o = frames.orders
    ot = _days(o["ordered_at"])
    m = (ot >= start) & (ot < start + horizon_days)
    ordered = _bincount(o["cidx"].to_numpy()[m], len(frames.customers)) > 0
    pos = pd.Index(frames.customers["id"]).get_indexer(index)
    return pd.Series((~ordered[pos]).astype(int), index=index, name="churned")


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
