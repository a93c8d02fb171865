"""Per-customer features and churn labels at a cut-off, vectorised over every customer."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from core.features.frames import MAX_OVERDUE_DAYS, Frames, _end_of

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


def _days_to_d(cut: float, t: np.ndarray) -> np.ndarray:
    """Whole calendar days from the date of `t` to D (0 on D itself); D ends at day `cut`."""
    return np.ceil(cut - t) - 1


def _order_facts(frames: Frames, cut: float, h: float, n: int) -> dict[str, np.ndarray]:
    """Per customer (length n), from the orders before the end of D: counts and gross spend over
    (D - H, D], the H before it, 365 days and all time; first and last order; net 365-day spend;
    the median gap between orders (days)."""
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
    same = np.zeros(len(oi), dtype=bool)
    same[1:] = oi[1:] == oi[:-1]
    gaps = np.diff(ot.astype("float64"), prepend=np.nan)[same]  # no orders at all: none
    gap_idx = oi[same]
    median_gap = np.full(n, np.nan)
    if len(gaps):
        med = pd.Series(gaps).groupby(gap_idx).median()
        median_gap[med.index.to_numpy()] = med.to_numpy()

    return {
        "n_orders": n_orders, "last_t": last_t, "first_t": first_t, "spend": spend, "orders_h": orders_h,
        "orders_prev_h": orders_prev_h, "orders_365": orders_365, "spend_h": spend_h, "spend_prev_h": spend_prev_h,
        "spend_365": spend_365, "net_spend_365": net_spend_365, "median_gap": median_gap,
    }


def _refill_facts(frames: Frames, cut: float, n: int) -> dict[str, np.ndarray]:
    """Per customer (length n): days the last refill is overdue at D, the two most overdue refill
    products and their days, the product due, the typical refill interval (days)."""
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

    return {
        "due_product": due_product, "days_overdue": days_overdue, "refill": refill,
        "replenish_interval": replenish_interval, "refill_orders": refill_orders,
    }


def _feedback_facts(frames: Frames, cut: float, n: int) -> dict[str, np.ndarray]:
    """Per customer (length n), from answers before the end of D: the latest and previous NPS,
    when the latest came, mean sentiment over 365 days, answer counts."""
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

    return {
        "latest_nps": latest_nps, "previous_nps": previous_nps, "mean_sentiment": mean_sentiment,
        "latest_nps_t": latest_nps_t, "feedback_365": feedback_365, "feedback_any": feedback_any,
    }


def _ticket_facts(frames: Frames, cut: float, h: float, n: int) -> dict[str, np.ndarray]:
    """Per customer (length n): tickets open at D, opened in (D - H, D], opened ever."""
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

    return {
        "open_tickets": open_tickets, "tickets_h": tickets_h, "tickets_any": tickets_any,
    }


def _loyalty_facts(frames: Frames, cut: float, h: float, n: int) -> dict[str, np.ndarray]:
    """Per customer (length n): earn/redeem events in (D - H, D], points balance, the last
    earn or redeem, entries ever."""
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

    return {
        "loyalty_events_h": loyalty_events_h, "loyalty_balance": loyalty_balance, "last_loyalty": last_loyalty,
        "loyalty_any": loyalty_any,
    }


def _customer_features(frames: Frames, *, cutoff: date, horizon_days: int) -> pd.DataFrame:
    h = float(horizon_days)
    cut = _days(np.array([_end_of(cutoff)], dtype="datetime64[ns]"))[0]
    cust = frames.customers
    n = len(cust)
    o = _order_facts(frames, cut, h, n)
    r = _refill_facts(frames, cut, n)
    f = _feedback_facts(frames, cut, n)
    t = _ticket_facts(frames, cut, h, n)
    y = _loyalty_facts(frames, cut, h, n)
    n_orders, spend, median_gap, refill = o["n_orders"], o["spend"], o["median_gap"], r["refill"]
    latest_nps, previous_nps = f["latest_nps"], f["previous_nps"]

    # Customer facts ---------------------------------------------------------------------
    signup = _days(cust["signup_date"])
    created = _days(cust["created_at"])
    login = _days(cust["last_login_at"])
    login = np.where(login < cut, login, np.nan)
    exists = (signup < cut) | (n_orders > 0) | (np.isnan(signup) & (created < cut))

    def days_to_d(t: np.ndarray) -> np.ndarray:
        return _days_to_d(cut, t)

    with np.errstate(invalid="ignore", divide="ignore"):
        recency = days_to_d(o["last_t"])
        frame = pd.DataFrame(
            {
                "recency_days": recency,
                "n_orders": n_orders,
                "orders_h": o["orders_h"],
                "orders_prev_h": o["orders_prev_h"],
                "orders_365": o["orders_365"],
                "spend_total": spend,
                "spend_h": o["spend_h"],
                "spend_prev_h": o["spend_prev_h"],
                "spend_365": o["spend_365"],
                "net_spend_365": o["net_spend_365"],
                "average_order_value": np.where(n_orders > 0, spend / np.maximum(n_orders, 1), np.nan),
                "days_since_first_order": days_to_d(o["first_t"]),
                "days_since_signup": np.where(signup < cut, days_to_d(signup), np.nan),
                "median_gap_days": median_gap,
                "recency_ratio": recency / np.maximum(median_gap, 1.0),
                "days_overdue": r["days_overdue"],
                "replenish_interval": r["replenish_interval"],
                "due_product_id": r["due_product"],
                "overdue_refill_1": refill[0],  # product id of the most overdue refill
                "overdue_refill_1_days": refill[1],
                "overdue_refill_2": refill[2],
                "overdue_refill_2_days": refill[3],
                "refill_orders": r["refill_orders"],
                "latest_nps": latest_nps,
                "previous_nps": previous_nps,
                "nps_change": latest_nps - previous_nps,
                "days_since_nps": days_to_d(f["latest_nps_t"]),
                "mean_sentiment": f["mean_sentiment"],
                "feedback_365": f["feedback_365"],
                "has_feedback": f["feedback_any"] > 0,
                "open_tickets": t["open_tickets"],
                "tickets_h": t["tickets_h"],
                "has_tickets": t["tickets_any"] > 0,
                "loyalty_events_h": y["loyalty_events_h"],
                "loyalty_balance": y["loyalty_balance"],
                "days_since_loyalty": days_to_d(y["last_loyalty"]),
                "has_loyalty": y["loyalty_any"] > 0,
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
