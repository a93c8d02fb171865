"""The ledger computation: every lot's fate (expired, consumed, remaining; oldest points first),
per-customer balances and tiers, expiry events, and the entries a ledger must refuse."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from core.analytics import ledger as analytics_ledger
from core.formatting import count_of
from core.loyalty.rules import (
    _DAY,
    EXPIRING_WINDOW_DAYS,
    KINDS,
    NEVER,
    TIER_WINDOW_MONTHS,
    Tier,
    cutoff_for,
    normalise_entries,
    parse_tiers,
)


def _i8(values: pd.Series | np.ndarray) -> np.ndarray:
    """Nanoseconds since the epoch as int64 (NaT becomes the smallest int64)."""
    return np.asarray(values, dtype="datetime64[ns]").view("int64")


def _prefix_sum(
    right_c: np.ndarray, right_t: np.ndarray, right_v: np.ndarray,
    left_c: np.ndarray, left_t: np.ndarray, *, strict: bool,
) -> np.ndarray:
    """For each left row: the sum of ``right_v`` of the same customer code at ``right_t`` before
    (``strict``) or at-or-before ``left_t``. Codes are small non-negative ints, times int64."""
    out = np.zeros(len(left_t), dtype="int64")
    if len(left_t) == 0 or len(right_t) == 0:
        return out
    # Rank the times so that (code, time) packs into one int64 key without overflow.
    times, inverse = np.unique(np.concatenate([right_t, left_t]), return_inverse=True)
    span = np.int64(len(times) + 1)
    r_key = right_c.astype("int64") * span + inverse[: len(right_t)]
    l_key = left_c.astype("int64") * span + inverse[len(right_t):]
    order = np.argsort(r_key, kind="stable")
    r_key = r_key[order]
    prefix = np.concatenate([[0], np.cumsum(right_v[order], dtype="int64")])
    upto = np.searchsorted(r_key, l_key, side="left" if strict else "right")
    start = np.searchsorted(r_key, left_c.astype("int64") * span, side="left")
    return prefix[upto] - prefix[start]


def _group_starts(codes: np.ndarray) -> np.ndarray:
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    return first


def _group_cumsum(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sum within runs of equal codes (codes sorted)."""
    cs = np.cumsum(values, dtype="int64")
    first = _group_starts(codes)
    base = (cs - values)[first]
    return cs - np.repeat(base, np.diff(np.r_[np.flatnonzero(first), len(codes)]))


def _replay(lot_occ: list[int], lot_exp: list[int], lot_amt: list[int],
            deb_occ: list[int], deb_amt: list[int], cutoff: int) -> tuple[list[int], list[int]]:
    """One customer, event by event: (expired, remaining) per lot, lots in FIFO order and
    debits in time order. Within an instant: credits, then expiries, then debits."""
    n = len(lot_amt)
    remaining = [0] * n
    expired = [0] * n
    events = [(lot_occ[k], 0, k) for k in range(n)]
    events += [(lot_exp[k], 1, k) for k in range(n) if lot_exp[k] < cutoff]
    events += [(deb_occ[j], 2, j) for j in range(len(deb_amt))]
    events.sort()
    debt = 0
    head = 0  # lots before head are credited and empty: they never hold points again
    credited = [False] * n
    for _t, what, k in events:
        if what == 0:
            pay = min(debt, lot_amt[k])
            debt -= pay
            remaining[k] = lot_amt[k] - pay
            credited[k] = True
        elif what == 1:
            expired[k] = remaining[k]
            remaining[k] = 0
        else:
            need = deb_amt[k]
            while head < n and credited[head] and remaining[head] == 0:
                head += 1
            # Credited lots are a prefix (lots are in earning order); expired ones hold 0.
            i = head
            while need and i < n and credited[i]:
                take = min(need, remaining[i])
                remaining[i] -= take
                need -= take
                i += 1
            debt += need
    return expired, remaining


def _fifo_order(lc: np.ndarray, lo: np.ndarray, le: np.ndarray) -> np.ndarray:
    """np.lexsort((le, lo, lc)): the lots' FIFO order (stable: ties keep entry order).

    When the rows already run in time order (``lo`` nondecreasing, as the whole ledger read by
    time does), a stable sort by member is that order unless some member has two lots of the
    same instant with the later row expiring first; the stable sort by member is one sort of
    packed (member, row) keys, about ten times cheaper than the three-key lexsort, and is
    checked before it is used (else the lexsort)."""
    n = len(lc)
    if n == 0 or bool((lo[1:] < lo[:-1]).any()) or int(lc.max()) >= (1 << 62) // n or int(lc.min()) < 0:
        return np.lexsort((le, lo, lc))
    order = np.sort(lc * n + np.arange(n, dtype="int64")) % n
    c, o, e = lc[order], lo[order], le[order]
    if bool(((c[1:] == c[:-1]) & (o[1:] == o[:-1]) & (e[1:] < e[:-1])).any()):
        return np.lexsort((le, lo, lc))
    return order


def compute_lots(norm: pd.DataFrame, *, cutoff: pd.Timestamp | None = None,
                 force_replay: bool = False) -> pd.DataFrame:
    """Every lot credited before ``cutoff`` with what happened to it by then.

    ``norm`` comes from :func:`normalise_entries`. Columns, lots in FIFO order per customer:
    customer_id, entry (the entry's label), occurred_at, expires_at (effective), points,
    expired (points that expired before ``cutoff``), remaining (unexpired and unconsumed at
    ``cutoff``), consumed (by redemptions and negative adjustments). Without ``cutoff``, every
    lot is followed to its expiry with the entries known, so ``expired`` of a future lot is
    what will expire if nothing else happens. ``force_replay`` replays every customer event by
    event (to test the fast path against it).
    """
    return pd.DataFrame(lot_columns(norm, cutoff=cutoff, force_replay=force_replay))


def lot_columns(norm: pd.DataFrame, *, cutoff: pd.Timestamp | None = None,
                force_replay: bool = False) -> dict[str, np.ndarray]:
    """:func:`compute_lots` as numpy columns (name -> array), without building the frame."""
    cut = np.iinfo("int64").max if cutoff is None else int(_i8(np.array([pd.Timestamp(cutoff)]))[0])
    occ_all = _i8(norm["occurred_at"])
    codes_all = norm["_c"].to_numpy()
    before = occ_all < cut
    credit = norm["credit"].to_numpy()
    debit = norm["debit"].to_numpy()

    lm = before & (credit > 0)
    # Codes as int64 (the shared ledger keeps them as int32): _fifo_order packs them with positions.
    lc, lo, le, la = codes_all[lm].astype("int64", copy=False), occ_all[lm], _i8(norm["exp"])[lm], credit[lm]
    order = _fifo_order(lc, lo, le)
    # One column at a time, so that each unordered copy is let go before the next is ordered
    # (a tuple assignment holds all of them twice at once: 200 MB more at 1,000,000 customers,
    # at the app's peak).
    lc = lc[order]
    lo = lo[order]
    le = le[order]
    la = la[order]
    entry = norm.index.to_numpy()[lm][order]

    dm = before & (debit > 0)
    dc, dt, dv = codes_all[dm].astype("int64", copy=False), occ_all[dm], debit[dm]
    d_order = np.lexsort((dt, dc))
    dc = dc[d_order]
    dt = dt[d_order]
    dv = dv[d_order]
    del d_order, dm

    n_codes = int(codes_all.max()) + 1 if len(codes_all) else 0
    out_of_order = np.zeros(len(lc), dtype=bool)
    out_of_order[1:] = (lc[1:] == lc[:-1]) & (le[1:] < le[:-1])
    slow_code = np.zeros(n_codes, dtype=bool)
    slow_code[lc if force_replay else lc[out_of_order]] = True
    slow = slow_code[lc]

    if slow.all():
        expired = np.zeros(len(lc), dtype="int64")
        remaining = np.zeros(len(lc), dtype="int64")
    else:
        # Oldest-first matching as running sums (core.analytics.ledger.fifo_fates) of every member
        # at once, without copies of the lots: members are independent there, and the lots of the
        # members replayed below are overwritten.
        expired, remaining = analytics_ledger.fifo_fates(lot_c=lc, lot_e=le, lot_a=la, deb_c=dc, deb_t=dt,
                                                         deb_v=dv, cut=cut)

    if slow.any():
        s_idx = np.flatnonzero(slow)
        s_codes = lc[s_idx]
        lot_bounds = np.flatnonzero(_group_starts(s_codes))
        lot_bounds = np.r_[lot_bounds, len(s_idx)]
        sd = np.flatnonzero(slow_code[dc])
        d_codes = dc[sd]
        occ_l, exp_l, amt_l = lo[s_idx].tolist(), le[s_idx].tolist(), la[s_idx].tolist()
        d_occ_l, d_amt_l = dt[sd].tolist(), dv[sd].tolist()
        d_lo = np.searchsorted(d_codes, s_codes[lot_bounds[:-1]], side="left")
        d_hi = np.searchsorted(d_codes, s_codes[lot_bounds[:-1]], side="right")
        for g in range(len(lot_bounds) - 1):
            a, b = lot_bounds[g], lot_bounds[g + 1]
            x, y = d_lo[g], d_hi[g]
            e, r = _replay(occ_l[a:b], exp_l[a:b], amt_l[a:b], d_occ_l[x:y], d_amt_l[x:y], cut)
            expired[s_idx[a:b]] = e
            remaining[s_idx[a:b]] = r

    customer_ids = norm["customer_id"].to_numpy()[lm][order]
    return {
        "customer_id": customer_ids,
        "entry": entry,
        "occurred_at": lo.view("datetime64[ns]"),
        "expires_at": le.view("datetime64[ns]"),
        "points": la,
        "expired": expired,
        "remaining": remaining,
        "consumed": la - expired - remaining,
        "_c": lc,
    }


def _earned_window_start(as_of: date) -> pd.Timestamp:
    """Earnings on dates after this one count toward the tier as of ``as_of``."""
    return pd.Timestamp(as_of) - pd.DateOffset(months=TIER_WINDOW_MONTHS)


def _leaves_window(dates: pd.Series) -> pd.Series:
    """For earnings on these dates: the first as-of date whose tier window no longer holds them."""
    cand = dates + pd.DateOffset(months=TIER_WINDOW_MONTHS)
    back = cand - pd.DateOffset(months=TIER_WINDOW_MONTHS)
    return cand.where(back >= dates, cand + _DAY)


def customer_balances(
    entries: pd.DataFrame, *, as_of: date, expiry_months: int | None = None,
    tiers: list[Tier] | None = None, norm: pd.DataFrame | None = None,
    lots: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer with loyalty activity up to ``as_of``.

    Columns: customer_id, earned, redeemed, adjusted (net), reversed (points of refunded
    orders taken back, net), expired (by Hearth's rule and as the programme wrote it), balance,
    expiring_points
    (remaining points of lots that expire within the 30 days after ``as_of``),
    next_expiry_date, earned_12m, tier, tier_drop_date (the first date on which, with no new
    earning, the customer falls to a lower tier; empty in the lowest tier).
    """
    tiers = parse_tiers() if tiers is None else tiers
    cut = cutoff_for(as_of)
    if norm is None:
        norm = normalise_entries(entries, expiry_months=expiry_months)
    if lots is None:
        lots = compute_lots(norm, cutoff=cut)
    seen = norm[norm["occurred_at"] < cut]
    return _balances(seen, lots, _member_sums(seen, lots, as_of), as_of, tiers)


def _balances(seen: pd.DataFrame, lots: pd.DataFrame, out: pd.DataFrame, as_of: date,
              tiers: list[Tier]) -> pd.DataFrame:
    """:func:`customer_balances` from the normalised entries before the cutoff (``seen``), their
    lots and their :func:`_member_sums` (``out``)."""
    cut = cutoff_for(as_of)
    # Masks and the three columns needed, not filtered copies of every column of the lots.
    remaining, expires = lots["remaining"], lots["expires_at"]
    member = lots["customer_id"].to_numpy()
    live = (remaining > 0).to_numpy()
    soon = live & (expires < cut + pd.Timedelta(days=EXPIRING_WINDOW_DAYS)).to_numpy()
    out["expiring_points"] = remaining[soon].groupby(member[soon]).sum().reindex(out.index).fillna(0)
    out["expiring_points"] = out["expiring_points"].astype("int64")
    # The date of the instant the next lot expires (at midnight: gone from that date on).
    dated = live & (expires < NEVER).to_numpy()
    next_exp = expires[dated].groupby(member[dated]).min().reindex(out.index)
    out["next_expiry_date"] = next_exp.dt.date
    thresholds = np.array([t.threshold for t in tiers])
    names = np.array([t.name for t in tiers], dtype=object)
    level = np.searchsorted(thresholds, out["earned_12m"].to_numpy(), side="right") - 1
    out["tier"] = np.where(level >= 0, names[np.maximum(level, 0)], None)
    out["tier_drop_date"] = _tier_drop_dates(seen, as_of, out, level, thresholds)
    out = out.drop(columns=["credit", "debit"]).reset_index()
    cols = ["customer_id", "earned", "redeemed", "adjusted", "reversed", "expired", "balance", "expiring_points",
            "next_expiry_date", "earned_12m", "tier", "tier_drop_date"]
    return out[cols]


def _member_sums(seen: pd.DataFrame, lots: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per customer (index customer_id, sorted) of the normalised entries ``seen`` and their
    ``lots``: earned, redeemed, adjusted, reversed, credit, debit, earned_12m, expired (by Hearth's
    rule and as the programme wrote it) and balance; the sums :func:`customer_balances` and
    :func:`ledger_totals` share."""
    kind = seen["kind"]
    pts = seen["points"]
    g = pd.DataFrame({
        "customer_id": seen["customer_id"].to_numpy(),
        "earned": np.where(kind == "earn", seen["credit"], 0),
        "redeemed": np.where(kind == "redeem", seen["debit"], 0),
        "adjusted": np.where(kind == "adjust", pts, 0),
        "reversed": np.where(kind == "reverse", -pts, 0),
        "written_expired": np.where(seen["written_expiry"], seen["debit"], 0),
        "credit": seen["credit"].to_numpy(),
        "debit": seen["debit"].to_numpy(),
        "earned_12m": np.where(
            (kind == "earn") & (seen["occurred_at"] >= _earned_window_start(as_of) + _DAY), seen["credit"], 0
        ),
        "active": ((kind != "expire") | seen["written_expiry"]).to_numpy(),
    })
    g = g[g["active"]]
    out = g.groupby("customer_id", sort=True)[
        ["earned", "redeemed", "adjusted", "reversed", "written_expired", "credit", "debit", "earned_12m"]
    ].sum()
    lot_sums = lots.groupby("customer_id")[["expired"]].sum()
    out = out.join(lot_sums).fillna({"expired": 0})
    out["expired"] = out["expired"].astype("int64")
    out["balance"] = out["credit"] - out["debit"] - out["expired"]
    out["expired"] = out["expired"] + out.pop("written_expired").astype("int64")
    return out


def _tier_drop_dates(seen: pd.DataFrame, as_of: date, out: pd.DataFrame, level: np.ndarray,
                     thresholds: np.ndarray) -> pd.Series:
    result = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    can_drop = (level >= 1) | ((level == 0) & (thresholds[0] > 0))
    if not can_drop.any():
        return result.dt.date
    floor = pd.Series(np.where(level >= 0, thresholds[np.maximum(level, 0)], 0), index=out.index)
    # The three columns of the earn rows in the window, not a filtered copy of every column.
    rows = ((seen["kind"] == "earn") & (seen["credit"] > 0)
            & (seen["occurred_at"] >= _earned_window_start(as_of) + _DAY)).to_numpy()
    c = seen["customer_id"].to_numpy()[rows]
    rows = np.flatnonzero(rows)[np.isin(c, out.index[can_drop].to_numpy())]
    if not len(rows):
        return result.dt.date
    w = pd.DataFrame({"c": seen["customer_id"].to_numpy()[rows],
                      "d": seen["occurred_at"].iloc[rows].dt.normalize().to_numpy(),
                      "v": seen["credit"].to_numpy()[rows]}).sort_values(["c", "d"], kind="stable")
    total = out["earned_12m"].reindex(w["c"]).to_numpy()
    left = total - w.groupby("c", sort=False)["v"].cumsum().to_numpy()
    w = w[left < floor.reindex(w["c"]).to_numpy()]
    first = w.groupby("c", sort=False)["d"].first()
    result.loc[first.index] = _leaves_window(first).to_numpy()
    return result.dt.date


def expiry_events(lots: pd.DataFrame, *, cutoff: pd.Timestamp | None = None) -> pd.DataFrame:
    """Expired points per customer and expiry instant (customer_id, at, points), before ``cutoff``."""
    x = lots[lots["expired"] > 0]
    if cutoff is not None:
        x = x[x["expires_at"] < cutoff]
    ev = x.groupby(["customer_id", "expires_at"], sort=True)["expired"].sum().reset_index()
    return ev.rename(columns={"expires_at": "at", "expired": "points"})


def ledger_problems(entries: pd.DataFrame, *, expiry_months: int | None = None) -> list[tuple[object, str]]:
    """(row label, message) for each entry the ledger must refuse, in entry order.

    A redemption or negative adjustment larger than the customer's balance at that moment
    (after the credits and expiries of that instant and the debits before it), an unknown
    kind, an earn with points not above zero, a redeem with points not below zero, an expire or
    a reverse with points above zero.
    """
    if entries.empty:
        return []
    norm = normalise_entries(entries, expiry_months=expiry_months)
    problems: list[tuple[int, object, str]] = []
    kind = norm["kind"]
    pts = norm["points"]
    for mask, msg in (
        (~kind.isin(KINDS), "kind must be one of " + ", ".join(KINDS)),
        ((kind == "earn") & (pts <= 0), "an earn must have positive points"),
        ((kind == "redeem") & (pts >= 0), "a redeem must have negative points"),
        ((kind == "expire") & (pts > 0), "an expire must have negative points"),
        # Points of a refunded order taken back: a positive one added them instead.
        ((kind == "reverse") & (pts > 0), "a reverse (points of a refunded order taken back) must have "
                                          "negative points (points given back, as for a cancelled "
                                          "redemption, are kind adjust)"),
    ):
        for label, pos in zip(norm.index[mask], norm["_pos"][mask], strict=True):
            problems.append((int(pos), label, msg))
    lots = compute_lots(norm)
    codes = norm["_c"].to_numpy()
    occ = _i8(norm["occurred_at"])
    credit = norm["credit"].to_numpy()
    debit = norm["debit"].to_numpy()
    pos = norm["_pos"].to_numpy()
    idx = np.flatnonzero(debit > 0)
    if len(idx):
        idx = idx[np.lexsort((occ[idx], codes[idx]))]  # stable: same-instant debits in entry order
        c, t, v = codes[idx], occ[idx], debit[idx]
        debits_before = _group_cumsum(c, v) - v
        cm = credit > 0
        credits = _prefix_sum(codes[cm], occ[cm], credit[cm], c, t, strict=False)
        lx = lots[lots["expired"] > 0]
        expired = _prefix_sum(lx["_c"].to_numpy(), _i8(lx["expires_at"]), lx["expired"].to_numpy(), c, t,
                              strict=False)
        balance = credits - debits_before - expired
        kinds = norm["kind"].to_numpy()
        words = {"redeem": "redemption", "adjust": "negative adjustment", "reverse": "reversal",
                 "expire": "expiry"}
        for i in np.flatnonzero(v > balance):
            row = idx[i]
            what = words.get(kinds[row], kinds[row])
            msg = (f"{what} of {count_of(int(v[i]), 'point')} is larger than the balance of "
                   f"{count_of(max(int(balance[i]), 0), 'point')} at that moment")
            if expired[i] > 0:
                # Say so: Hearth's expiry rule may have taken points the programme still counts.
                msg += (f", after {count_of(int(expired[i]), 'point')} expired (on a lot's expires_at, "
                        "else by Hearth's expiry rule when the lot was stored, HEARTH_POINTS_EXPIRY_MONTHS: "
                        "if the programme's rule differs, set it to that rule, or to 0 if its points never "
                        "expire, before the lots are imported)")
            problems.append((int(pos[row]), norm.index[row], msg))
    problems.sort(key=lambda p: p[0])
    return [(label, msg) for _pos, label, msg in problems]
