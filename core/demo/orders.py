"""Demo customers, their orders and order lines, and the refunds of some of those orders."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from core.demo.arrays import _day_of_year, _effective_clock, _ext_ids, _frame, _group_index
from core.demo.story import (
    CADENCE,
    DAY_S,
    DECLINING,
    EMAIL_DOMAINS,
    EMAIL_OPT_IN,
    FIRST_NAMES,
    GAP_CLIP,
    INCIDENT_ALTERNATIVES,
    INCIDENT_DAYS_AGO,
    INCIDENT_SKU,
    INCIDENT_WINDOW_DAYS,
    KIND_SHARES,
    KINDS,
    LAPSED,
    LAST_NAMES,
    NEW,
    ONE_TIME,
    OWNER_SHARES,
    OWNERS,
    REGION_SHARES,
    REGIONS,
    SMS_OPT_IN,
    STEADY,
    VIP,
)

# ----------------------------------------------------------------------------- customers


def _customers(rng: np.random.Generator, n: int, horizon: int, start: date, first_id: int) -> pd.DataFrame:
    kind = rng.choice(len(KINDS), size=n, p=KIND_SHARES)
    u = rng.random(n)
    cadence = CADENCE[kind, 0] + (CADENCE[kind, 1] - CADENCE[kind, 0]) * rng.random(n)
    # Signup (calendar days since the history's start; negative = before it).
    latest = np.select([kind == STEADY, kind == DECLINING, kind == VIP, kind == LAPSED],
                       [horizon - 150, horizon - 300, horizon - 240, horizon - 250], horizon - 1)
    signup = latest * u ** 0.8
    veteran = np.isin(kind, (STEADY, DECLINING, VIP, LAPSED)) & (rng.random(n) < 0.22)
    signup = np.where(veteran, -rng.uniform(20, 1200, n), signup)
    new = kind == NEW
    signup = np.where(new, rng.uniform(horizon - 120, horizon - 2, n), signup)
    one = kind == ONE_TIME
    signup = np.where(one, rng.uniform(-200, horizon - 1, n), signup)
    first = np.where(veteran, rng.random(n) * cadence, np.maximum(signup, 0) + rng.uniform(0, 4, n))
    first = np.where(one & (signup < 0), rng.uniform(0, horizon - 1, n), first)
    first = np.minimum(first, horizon - 0.01)
    end = np.full(n, horizon - 1e-6)
    lapsed = kind == LAPSED
    stop = first + (horizon - 95 - first) * rng.uniform(0.12, 1.0, n)
    end = np.where(lapsed, np.maximum(stop, first + 20), end)
    growth = np.where(kind == DECLINING, rng.uniform(1.05, 1.15, n), 1.0)

    segment = np.where(rng.random(n) < 0.14, "small_business", "consumer").astype(object)
    segment[kind == VIP] = np.where(rng.random((kind == VIP).sum()) < 0.85, "vip", "small_business")
    ids = np.arange(first_id, first_id + n)
    fn = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), n)]
    ln = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), n)]
    domain = np.array(EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(EMAIL_DOMAINS), n)]
    name = fn + " " + ln
    email = (pd.Series(fn).str.lower() + "." + pd.Series(ln).str.lower() + pd.Series(ids).astype(str)
             + "@" + pd.Series(domain)).to_numpy(dtype=object)
    phone = np.char.add("+44 7700 900", np.char.zfill(rng.integers(0, 1000, n).astype(str), 3)).astype(object)
    phone[rng.random(n) < 0.3] = None
    email_opt = rng.random(n) < EMAIL_OPT_IN[kind]
    sms_opt = rng.random(n) < SMS_OPT_IN[kind]
    return _frame({
        "id": ids,
        "external_id": _ext_ids("C", ids, 6),
        "kind": np.array(KINDS, dtype=object)[kind],
        "kind_code": kind,
        "name": name,
        "email": email,
        "phone": phone,
        "signup_x": signup,
        "first_x": first,
        "end_x": end,
        "cadence": cadence,
        "growth": growth,
        "segment": segment,
        "region": np.array(REGIONS, dtype=object)[rng.choice(len(REGIONS), n, p=REGION_SHARES)],
        "owner": np.array(OWNERS, dtype=object)[rng.choice(len(OWNERS), n, p=OWNER_SHARES)],
        "email_opt_in": email_opt,
        "sms_opt_in": sms_opt,
    })


# ----------------------------------------------------------------------------- orders


def _order_times(rng: np.random.Generator, cust: pd.DataFrame, clock: tuple[np.ndarray, np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(customer row, calendar day as float) of every order, from a renewal process per
    customer in effective time, all customers at once."""
    grid, eff = clock
    kind = cust["kind_code"].to_numpy()
    s0 = np.interp(cust["first_x"].to_numpy(), grid, eff)
    s1 = np.interp(cust["end_x"].to_numpy(), grid, eff)
    cad = cust["cadence"].to_numpy()
    lo, hi = GAP_CLIP[kind, 0], GAP_CLIP[kind, 1]
    span = np.maximum(s1 - s0, 0)
    nmax = np.where(kind == ONE_TIME, 1, np.floor(span / np.maximum(cad * lo, 1e-9)).astype("int64") + 1)
    group, within, starts = _group_index(nmax)
    factor = np.clip(rng.gamma(7.0, 1 / 7.0, len(group)), lo[group], hi[group])
    growth = cust["growth"].to_numpy()[group] ** np.minimum(within, 200)
    gap = factor * cad[group] * growth
    gap[within == 0] = 0.0
    csum = np.cumsum(gap)
    pos = s0[group] + csum - csum[starts][group]
    keep = pos <= s1[group]
    group, pos = group[keep], pos[keep]
    x = np.interp(pos, eff, grid)
    return group, np.minimum(x, grid[-1] - 1e-6)


OFFER_CODES = np.array([None, "WELCOME10", "HOLIDAY20", "SPRING15", "COMEBACK15", "REFILL5"], dtype=object)
OFFER_DISCOUNTS = np.array([0.0, 0.10, 0.20, 0.15, 0.15, 0.05])


def _basket_lines(rng: np.random.Generator, cust: pd.DataFrame, prod: pd.DataFrame, group: np.ndarray,
                  x: np.ndarray, *, business: np.ndarray, vip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lines (order row, product row) drawn from each customer's usual basket, plus the odd
    extra product; duplicates are removed later."""
    n_cust, n_orders = len(cust), len(x)
    kind = cust["kind_code"].to_numpy()
    seg = cust["segment"].to_numpy()
    # Each customer's usual basket: a handful of consumables drawn by popularity (Gumbel top-k).
    pool = np.flatnonzero(prod["replenishment_days"].fillna(999).to_numpy() <= 60)
    extras = np.setdiff1d(np.arange(len(prod)), pool)
    w = prod["weight"].to_numpy()
    keys = np.log(w[pool])[None, :] - np.log(-np.log(rng.random((n_cust, len(pool)))))
    pref = pool[np.argsort(-keys, axis=1)[:, :7]]
    k_pref = np.where(kind == VIP, rng.integers(4, 8, n_cust),
                      np.where(seg == "small_business", rng.integers(3, 8, n_cust),
                               rng.integers(2, 6, n_cust)))

    lam = np.where(vip, 1.8, np.where(business, 1.5, 0.9))
    n_lines = np.minimum(1 + rng.poisson(lam), k_pref[group])
    o_idx, _, _ = _group_index(n_lines)
    slot = (rng.random(len(o_idx)) * k_pref[group[o_idx]]).astype("int64")
    p_idx = pref[group[o_idx], slot]
    extra = rng.random(n_orders) < np.where(vip, 0.10, 0.06)
    e_orders = np.flatnonzero(extra)
    e_prod = rng.choice(extras, size=len(e_orders), p=w[extras] / w[extras].sum())
    o_idx = np.r_[o_idx, e_orders]
    p_idx = np.r_[p_idx, e_prod]
    return o_idx, p_idx


def _incident_swaps(rng: np.random.Generator, prod: pd.DataFrame, x: np.ndarray, o_idx: np.ndarray,
                    p_idx: np.ndarray, horizon: int) -> np.ndarray:
    """Product rows after the leaking batch: for months afterwards many buy an alternative."""
    sku = prod["sku"].to_numpy()
    incident_x = horizon - INCIDENT_DAYS_AGO
    inc_p = int(np.flatnonzero(sku == INCIDENT_SKU)[0])
    alt = np.flatnonzero(np.isin(sku, INCIDENT_ALTERNATIVES))
    lx = x[o_idx]
    after = (p_idx == inc_p) & (lx >= incident_x + 10) & (lx < incident_x + 110)
    recovering = np.clip((lx - incident_x - 10) / 100.0, 0, 1)
    swap = after & (rng.random(len(p_idx)) < 0.65 * (1 - recovering) + 0.05)
    p_idx = np.where(swap, alt[rng.integers(0, len(alt), len(p_idx))], p_idx)
    return p_idx


def _offer_codes(rng: np.random.Generator, cust: pd.DataFrame, group: np.ndarray, x: np.ndarray,
                 start: date) -> np.ndarray:
    """Per order, an index into OFFER_CODES (0: none)."""
    n_orders = len(x)
    # Offer codes: a welcome code on some first orders, holiday and spring campaigns, a
    # come-back code after a long gap, and the odd refill voucher.
    first_of_customer = np.r_[True, np.diff(np.sort(group, kind="stable")) != 0]
    by_cust = np.argsort(group, kind="stable")
    is_first = np.zeros(n_orders, dtype=bool)
    is_first[by_cust[first_of_customer]] = True
    gap_days = np.zeros(n_orders)
    gx = x[by_cust]
    prev_gap = np.r_[0.0, np.diff(gx)]
    prev_gap[first_of_customer] = 0.0
    gap_days[by_cust] = prev_gap
    doy = _day_of_year(start, np.floor(x))
    r = rng.random(n_orders)
    code = np.select(
        [is_first & (r < 0.3),
         (doy >= 318) & (doy <= 358) & (r < 0.22),
         (doy >= 90) & (doy <= 120) & (r < 0.12),
         (gap_days > 2.2 * cust["cadence"].to_numpy()[group]) & (gap_days > 60) & (r < 0.35),
         r < 0.025],
        [1, 2, 3, 4, 5], 0)
    return code


def _orders(rng: np.random.Generator, cust: pd.DataFrame, prod: pd.DataFrame, horizon: int, start: date,
            first_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    clock = _effective_clock(start, horizon)
    group, x = _order_times(rng, cust, clock)
    t = np.round(x * DAY_S).astype("int64")  # seconds since the history's start
    order = np.lexsort((group, t))
    group, t, x = group[order], t[order], x[order]
    n_orders = len(t)
    kind = cust["kind_code"].to_numpy()
    seg = cust["segment"].to_numpy()
    business = (seg == "small_business")[group]
    vip = (kind == VIP)[group]

    o_idx, p_idx = _basket_lines(rng, cust, prod, group, x, business=business, vip=vip)
    p_idx = _incident_swaps(rng, prod, x, o_idx, p_idx, horizon)
    sku = prod["sku"].to_numpy()
    inc_p = int(np.flatnonzero(sku == INCIDENT_SKU)[0])
    # One line per product per order.
    key = o_idx * len(prod) + p_idx
    _, first_pos = np.unique(key, return_index=True)
    first_pos.sort()
    o_idx, p_idx = o_idx[first_pos], p_idx[first_pos]
    line_order = np.lexsort((p_idx, o_idx))
    o_idx, p_idx = o_idx[line_order], p_idx[line_order]
    n_lines_total = len(o_idx)

    b_line = business[o_idx]
    qty = np.where(b_line, 1 + rng.poisson(1.5, n_lines_total),
                   1 + (rng.random(n_lines_total) < 0.18) + (rng.random(n_lines_total) < 0.05))
    qty = np.where(vip[o_idx] & ~b_line, qty + (rng.random(n_lines_total) < 0.3), qty).astype("int64")

    code = _offer_codes(rng, cust, group, x, start)

    # Prices in cents: list price, about 7 % lower three years ago, less the offer.
    list_cents = np.round(prod["unit_price"].to_numpy() * 100)
    inflation = 1 - 0.07 * (horizon - x[o_idx]) / horizon
    cents = np.round(list_cents[p_idx] * inflation * (1 - OFFER_DISCOUNTS[code[o_idx]])).astype("int64")
    total_cents = np.bincount(o_idx, weights=qty * cents, minlength=n_orders).astype("int64")

    ids = np.arange(first_id, first_id + n_orders)
    orders = _frame({
        "id": ids,
        "external_id": _ext_ids("O", ids, 7),
        "customer_row": group,
        "customer_id": cust["id"].to_numpy()[group],
        "x": x,
        "t": t,
        "total_cents": total_cents,
        "offer_code": OFFER_CODES[code],
        "has_incident": np.zeros(n_orders, dtype=bool),
        "product_row": p_idx[np.searchsorted(o_idx, np.arange(n_orders))],
        "gadget_row": -1,
    })
    has_inc = np.zeros(n_orders, dtype=bool)
    has_inc[o_idx[p_idx == inc_p]] = True
    orders["has_incident"] = has_inc
    gadget = np.flatnonzero(np.char.find(prod["traits"].to_numpy().astype(str), "g") >= 0)
    g_lines = np.isin(p_idx, gadget)
    gadget_row = np.full(n_orders, -1)
    gadget_row[o_idx[g_lines]] = p_idx[g_lines]
    orders["gadget_row"] = gadget_row
    lines = _frame({
        "order_row": o_idx,
        "order_id": ids[o_idx],
        "product_row": p_idx,
        "sku": sku[p_idx].astype(object),
        "quantity": qty,
        "unit_cents": cents,
    })
    return orders, lines


# ----------------------------------------------------------------------------- refunds

REFUND_SHARE = 0.03  # of ordinary orders
INCIDENT_REFUND_SHARE = 0.35  # of orders with the leaking batch in the incident window
REFUND_REASONS = ("damaged in transit", "wrong item", "changed mind", "item missing")


def _refunds(rng: np.random.Generator, orders: pd.DataFrame, origin: np.datetime64, horizon: int,
             first_id: int) -> pd.DataFrame:
    """A few percent of orders refunded (more of the leaking batch's), in full or in part,
    2 to 21 days after the order and before today."""
    ox = orders["x"].to_numpy()
    incident_x = horizon - INCIDENT_DAYS_AGO
    incident = orders["has_incident"].to_numpy() & (ox >= incident_x) & (ox < incident_x + INCIDENT_WINDOW_DAYS)
    pick = rng.random(len(orders)) < np.where(incident, INCIDENT_REFUND_SHARE, REFUND_SHARE)
    o = orders[pick]
    delay = np.round(rng.uniform(2, 21, len(o)) * DAY_S).astype("int64")
    t = o["t"].to_numpy() + delay
    keep = t < horizon * DAY_S
    o, t = o[keep], t[keep]
    by_time = np.argsort(t, kind="stable")
    o, t = o.iloc[by_time], t[by_time]
    cents = o["total_cents"].to_numpy()
    full = rng.random(len(o)) < 0.7
    part = np.maximum(1, np.round(cents * rng.uniform(0.2, 0.6, len(o)))).astype("int64")
    amount = np.where(full, cents, part)
    inc = incident[pick][keep][by_time]
    reason = np.where(inc, "leaking bottle (batch LAU-101)",
                      np.array(REFUND_REASONS, dtype=object)[rng.integers(0, len(REFUND_REASONS), len(o))])
    ids = np.arange(first_id, first_id + len(o))
    frame = _frame({
        "id": ids,
        "external_id": pd.Series(_ext_ids("RF", ids, 7), dtype=object),
        "kind": np.full(len(o), "refund", dtype=object),
        "order_id": o["id"].to_numpy(),
        "order_ref": o["external_id"].to_numpy(),
        "customer_id": o["customer_id"].to_numpy(),
        "refunded_at": origin + t.astype("timedelta64[s]"),
        "amount_cents": amount.astype("int64"),  # whole cents (core.money)
        "reason": reason.astype(object),
    })
    return frame.reset_index(drop=True)
