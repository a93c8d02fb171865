"""Demo loyalty entries: points earned on orders, goodwill adjustments, redemptions and expiries."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.config import get_settings
from core.demo.arrays import _add_months, _ext_ids, _frame, _group_index
from core.demo.story import DAY_S, LOYALTY_MEMBER, NEVER_DEMO, REDEEM_CHANCE


def _loyalty(rng: np.random.Generator, cust: pd.DataFrame, orders: pd.DataFrame, feedback: pd.DataFrame,
             origin: np.datetime64, horizon: int, first_id: int) -> pd.DataFrame:
    """Earn on orders, goodwill after incident complaints, redemptions chosen so they never
    exceed the balance at that moment, and the expiries that follow from oldest-first use."""
    kind = cust["kind_code"].to_numpy()
    member = rng.random(len(cust)) < LOYALTY_MEMBER[kind]
    id_to_row = pd.Series(np.arange(len(cust)), index=cust["id"].to_numpy())

    orow = orders["customer_row"].to_numpy()
    om = member[orow]
    earn_pts = np.floor(orders["total_cents"].to_numpy()[om] / 100).astype("int64")
    o_t = orders["t"].to_numpy()[om]
    o_ref = orders["external_id"].to_numpy()[om]
    o_cust = orow[om]
    # Goodwill for members who complained about the leaking batch.
    inc = feedback[feedback["incident"] & feedback["customer_id"].notna()]
    g_cust = id_to_row.reindex(inc["customer_id"].astype("int64").to_numpy()).to_numpy()
    g_keep = member[g_cust]
    g_cust = g_cust[g_keep]
    g_t = np.round((inc["x"].to_numpy()[g_keep] + rng.uniform(0.5, 3, g_keep.sum())) * DAY_S).astype("int64")
    g_ok = g_t < horizon * DAY_S
    g_cust, g_t = g_cust[g_ok], g_t[g_ok]

    ev_cust = np.r_[o_cust, g_cust]
    ev_t = np.r_[o_t, g_t]
    ev_pts = np.r_[earn_pts, np.full(len(g_t), 200, dtype="int64")]
    ev_order = np.r_[np.ones(len(o_t), dtype=bool), np.zeros(len(g_t), dtype=bool)]
    ev_ref = np.r_[o_ref, np.full(len(g_t), None, dtype=object)]
    srt = np.lexsort((ev_t, ev_cust))
    ev_cust, ev_t, ev_pts, ev_order, ev_ref = ev_cust[srt], ev_t[srt], ev_pts[srt], ev_order[srt], ev_ref[srt]
    n_ev = len(ev_t)
    if n_ev == 0:
        return pd.DataFrame(columns=["id", "external_id", "customer_id", "occurred_at", "kind", "points",
                                     "expires_at", "order_ref", "computed"])
    _, grp = np.unique(ev_cust, return_inverse=True)
    counts = np.bincount(grp)
    _, within, g0 = _group_index(counts)

    occurred = origin + ev_t.astype("timedelta64[s]")
    # Hearth's one expiry setting (core.loyalty reads the same): 0 means points never expire.
    months = get_settings().points_expiry_months
    if months > 0:
        expires = _add_months(occurred, months)
    else:
        expires = np.full(len(occurred), np.datetime64(NEVER_DEMO, "s"))
    e_t = (expires - origin).astype("int64")
    debit_t = ev_t + 60  # a redemption is booked a minute after the order that earned with it
    big = np.int64(10) ** 10
    debit_key = grp * big + debit_t
    exp_key = grp * big + e_t
    # Debits strictly before each lot's expiry; lots expired at or before each debit.
    q_glob = np.searchsorted(debit_key, grp * big + e_t, side="left")
    x_glob = np.searchsorted(exp_key, debit_key, side="right")
    s_cum = np.cumsum(ev_pts)
    s_at = s_cum - (s_cum[g0] - ev_pts[g0])[grp]  # credits so far within the customer

    n_grp = len(counts)
    redeem_chance = REDEEM_CHANCE[kind[ev_cust[g0]]]
    cum_debit = np.zeros(n_ev, dtype="int64")
    debit = np.zeros(n_ev, dtype="int64")
    spent = np.zeros(n_grp, dtype="int64")
    peak = np.zeros(n_grp, dtype="int64")  # running max of (credits to lot j - debits before its expiry)
    jp = g0.copy()  # next lot to expire, as a global index
    u_redeem = rng.random(n_ev)
    u_share = rng.uniform(0.3, 1.0, n_ev)

    def debits_before_expiry(j: np.ndarray) -> np.ndarray:
        q = q_glob[j]
        has = q > g0[grp[j]]
        return np.where(has, cum_debit[np.maximum(q - 1, 0)], 0)

    for k in range(int(counts.max())):
        act = np.flatnonzero(counts > k)
        idx = g0[act] + k
        target = x_glob[idx]
        need = jp[act] < target
        while need.any():
            a = act[need]
            j = jp[a]
            peak[a] = np.maximum(peak[a], s_at[j] - debits_before_expiry(j))
            jp[a] += 1
            need = jp[act] < target
        balance = s_at[idx] - spent[act] - np.maximum(peak[act], 0)
        want = ev_order[idx] & (balance >= 200) & (u_redeem[idx] < redeem_chance[act])
        amount = np.where(want, np.maximum(100, (balance * u_share[idx] // 50).astype("int64") * 50), 0)
        amount = np.minimum(amount, np.maximum(balance, 0))
        debit[idx] = amount
        spent[act] += amount
        cum_debit[idx] = spent[act]

    # Every lot that expired by the end of today: what was left of it then.
    cutoff = (horizon + 1) * DAY_S
    d_exp = debits_before_expiry(np.arange(n_ev))
    lapsed = e_t < cutoff
    val = np.where(lapsed, s_at - d_exp, np.iinfo("int64").min)
    e_cum = np.maximum(pd.Series(val).groupby(grp, sort=False).cummax().to_numpy(), 0)
    prev = np.r_[0, e_cum[:-1]]
    prev[g0] = 0
    expired = np.where(lapsed, e_cum - prev, 0)

    cust_ids = cust["id"].to_numpy()
    earn_kind = np.where(ev_order, "earn", "adjust").astype(object)
    red = debit > 0
    ex = expired > 0
    frame = _frame({
        "customer_id": np.r_[cust_ids[ev_cust], cust_ids[ev_cust[red]], cust_ids[ev_cust[ex]]],
        "t": np.r_[ev_t, debit_t[red], e_t[ex]],
        "kind": np.r_[earn_kind, np.full(red.sum(), "redeem", dtype=object), np.full(ex.sum(), "expire",
                                                                                   dtype=object)],
        "points": np.r_[ev_pts, -debit[red], -expired[ex]],
        "expires_at": np.r_[expires if months > 0 else np.full(len(expires), np.datetime64("NaT", "s")),
                            np.full(red.sum() + ex.sum(), np.datetime64("NaT", "s"))],
        "order_ref": np.r_[ev_ref, ev_ref[red], np.full(ex.sum(), None, dtype=object)],
    })
    # Expiries follow from Hearth's own rule: records of it, not debits (core.loyalty).
    frame["computed"] = frame["kind"].to_numpy() == "expire"
    frame = frame.sort_values(["t", "customer_id"], kind="stable").reset_index(drop=True)
    ids = np.arange(first_id, first_id + len(frame))
    frame.insert(0, "id", ids)
    frame.insert(1, "external_id", pd.Series(_ext_ids("L", ids, 7), dtype=object))
    frame["occurred_at"] = origin + frame["t"].to_numpy().astype("timedelta64[s]")
    return frame.drop(columns="t")
