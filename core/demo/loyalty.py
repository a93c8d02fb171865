"""Demo loyalty entries: points earned on orders, goodwill adjustments, redemptions and expiries."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.config import get_settings
from core.demo.arrays import _add_months, _ext_ids, _frame, _group_index
from core.demo.story import DAY_S, LOYALTY_MEMBER, NEVER_DEMO, REDEEM_CHANCE
from core.loyalty import missing_expiries


def _loyalty(rng: np.random.Generator, cust: pd.DataFrame, orders: pd.DataFrame, feedback: pd.DataFrame,
             origin: np.datetime64, horizon: int, first_id: int) -> pd.DataFrame:
    """Earn on orders, goodwill after incident complaints, redemptions chosen so they never
    exceed the balance at that moment, and the expiries that core.loyalty computes from them."""
    ev = _credits(rng, cust, orders, feedback, horizon)
    if len(ev["t"]) == 0:
        return pd.DataFrame(columns=["id", "external_id", "customer_id", "occurred_at", "kind", "points",
                                     "expires_at", "order_ref", "computed", "expiry_months"])
    occurred = origin + ev["t"].astype("timedelta64[s]")
    # Hearth's one expiry setting (core.loyalty reads the same): 0 means points never expire.
    months = get_settings().points_expiry_months
    if months > 0:
        expires = _add_months(occurred, months)
    else:
        expires = np.full(len(occurred), np.datetime64(NEVER_DEMO, "s"))
    debit = _redemptions(rng, cust, ev, (expires - origin).astype("int64"))
    debit_t = ev["t"] + 60  # a redemption is booked a minute after the order that earned with it

    cust_ids = cust["id"].to_numpy()
    red = debit > 0
    frame = _frame({
        "customer_id": np.r_[cust_ids[ev["cust"]], cust_ids[ev["cust"][red]]],
        "t": np.r_[ev["t"], debit_t[red]],
        "kind": np.r_[np.where(ev["order"], "earn", "adjust").astype(object),
                      np.full(red.sum(), "redeem", dtype=object)],
        "points": np.r_[ev["pts"], -debit[red]],
        "expires_at": np.r_[expires if months > 0 else np.full(len(expires), np.datetime64("NaT", "s")),
                            np.full(red.sum(), np.datetime64("NaT", "s"))],
        "order_ref": np.r_[ev["ref"], ev["ref"][red]],
    })
    frame = pd.concat([frame, _expiries(frame, origin, horizon)], ignore_index=True)
    # Expiries follow from Hearth's own rule: records of it, not debits (core.loyalty).
    frame["computed"] = frame["kind"].to_numpy() == "expire"
    # Stored under the rule in force (db.models.LoyaltyEntry.expiry_months).
    frame["expiry_months"] = months
    frame = frame.sort_values(["t", "customer_id"], kind="stable").reset_index(drop=True)
    ids = np.arange(first_id, first_id + len(frame))
    frame.insert(0, "id", ids)
    frame.insert(1, "external_id", pd.Series(_ext_ids("L", ids, 7), dtype=object))
    frame["occurred_at"] = origin + frame["t"].to_numpy().astype("timedelta64[s]")
    return frame.drop(columns="t")


def _credits(rng: np.random.Generator, cust: pd.DataFrame, orders: pd.DataFrame, feedback: pd.DataFrame,
             horizon: int) -> dict[str, np.ndarray]:
    """The members' credits sorted by customer and time: points earned on each order (1 per
    currency unit) and 200 goodwill points after an incident complaint. Keys: cust (customer
    row), t (seconds since the history's start), pts, order (earned on an order), ref (order)."""
    member = rng.random(len(cust)) < LOYALTY_MEMBER[cust["kind_code"].to_numpy()]
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

    ev = {"cust": np.r_[o_cust, g_cust], "t": np.r_[o_t, g_t],
          "pts": np.r_[earn_pts, np.full(len(g_t), 200, dtype="int64")],
          "order": np.r_[np.ones(len(o_t), dtype=bool), np.zeros(len(g_t), dtype=bool)],
          "ref": np.r_[o_ref, np.full(len(g_t), None, dtype=object)]}
    srt = np.lexsort((ev["t"], ev["cust"]))
    return {k: v[srt] for k, v in ev.items()}


def _redemptions(rng: np.random.Generator, cust: pd.DataFrame, ev: dict[str, np.ndarray],
                 e_t: np.ndarray) -> np.ndarray:
    """Points redeemed a minute after each credit (0: none): only after an order, by the
    customer kind's REDEEM_CHANCE, at least 200 points available, a share rounded to 50.

    "Available" is a floor of the balance that needs no oldest-first bookkeeping: the credits
    not expired at that moment minus every redemption made since the oldest of them was
    earned (a redemption before it could only use points that have expired since). Whatever
    order core.loyalty uses points in, the balance is at least that, so no redemption can
    exceed it. `e_t` is each credit's expiry in seconds since the history's start."""
    grp = np.unique(ev["cust"], return_inverse=True)[1]
    counts = np.bincount(grp)
    _, _, g0 = _group_index(counts)
    big = np.int64(10) ** 10
    debit_t = ev["t"] + 60
    # Credits of the customer's lots that expired at or before each redemption's moment.
    x_glob = np.searchsorted(grp * big + e_t, grp * big + debit_t, side="right")
    s_cum = np.cumsum(ev["pts"])
    base = (s_cum[g0] - ev["pts"][g0])[grp]
    expired_credit = np.where(x_glob > g0[grp], s_cum[np.maximum(x_glob - 1, 0)] - base, 0)
    unexpired = s_cum - base - expired_credit
    # The first redemption that could have used a lot still unexpired: at or after its earning.
    oldest = np.minimum(x_glob, np.arange(len(grp)))
    since = np.searchsorted(grp * big + debit_t, grp * big + ev["t"][oldest], side="left")

    redeem_chance = REDEEM_CHANCE[cust["kind_code"].to_numpy()[ev["cust"][g0]]]
    debit = np.zeros(len(ev["t"]), dtype="int64")
    spent = np.zeros(len(counts), dtype="int64")
    cum_debit = np.zeros(len(ev["t"]), dtype="int64")
    u_redeem = rng.random(len(ev["t"]))
    u_share = rng.uniform(0.3, 1.0, len(ev["t"]))
    for k in range(int(counts.max())):
        act = np.flatnonzero(counts > k)
        idx = g0[act] + k
        first = since[idx]
        before = np.where(first > g0[act], cum_debit[np.maximum(first - 1, 0)], 0)
        available = unexpired[idx] - (spent[act] - before)
        want = ev["order"][idx] & (available >= 200) & (u_redeem[idx] < redeem_chance[act])
        amount = np.where(want, np.maximum(100, (available * u_share[idx] // 50).astype("int64") * 50), 0)
        amount = np.minimum(amount, np.maximum(available, 0))
        debit[idx] = amount
        spent[act] += amount
        cum_debit[idx] = spent[act]
    return debit


def _expiries(frame: pd.DataFrame, origin: np.datetime64, horizon: int) -> pd.DataFrame:
    """The `expire` rows for the credits and redemptions in `frame` (columns customer_id, t,
    kind, points, expires_at, order_ref) up to the end of the history's last day, as
    core.loyalty's one rule computes them (oldest unexpired points used first)."""
    today = (origin + np.timedelta64(horizon, "D")).astype("datetime64[D]").item()
    entries = frame.assign(occurred_at=origin + frame["t"].to_numpy().astype("timedelta64[s]"))
    due = missing_expiries(entries, as_of=today)
    t = (due["at"].to_numpy().astype("datetime64[s]") - origin).astype("int64")
    return _frame({
        "customer_id": due["customer_id"].to_numpy(),
        "t": t,
        "kind": np.full(len(due), "expire", dtype=object),
        "points": -due["points"].to_numpy().astype("int64"),
        "expires_at": np.full(len(due), np.datetime64("NaT", "s")),
        "order_ref": np.full(len(due), None, dtype=object),
    })
