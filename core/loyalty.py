"""Loyalty points: lots, oldest-first redemption, expiry, balances, tiers, liability.

The rules (design.md, "Definitions"), computed from the ledger entries alone:

- Every credit (an ``earn``, or an ``adjust`` or ``reverse`` with positive points) is a *lot*.
  It expires at its ``expires_at``; an empty ``expires_at`` means ``HEARTH_POINTS_EXPIRY_MONTHS``
  months after it was earned, and never when that setting is 0 (a programme without expiry; an
  ``expires_at`` before the earning time counts as the earning time).
- Every debit (a ``redeem``, an ``adjust`` or ``reverse`` with negative points, and an
  ``expire`` written by the loyalty programme itself) consumes the oldest unexpired lots first;
  "oldest" is the earning time (then the earlier expiry, then entry order). ``reverse`` is the
  points of a refunded order taken back.
- At its expiry instant a lot's unconsumed points expire. Within one instant, credits come
  first, then expiries, then debits: a redemption at the very instant a lot expires can no
  longer use it, a redemption at the instant points are earned can.
- "As of date D" is the state at the end of D: every event before D + 1 day, 00:00 (UTC).
- Stored ``expire`` entries marked ``computed`` are what Hearth's own rule wrote (the expiry
  job :func:`expire_points`, the demo): the computation ignores them and the job writes only
  what the computation says is missing. An ``expire`` entry from the programme's own file
  (``computed`` false) counts as written: its points are expired then, oldest first, so they
  neither expire again nor show as "about to expire". A member whose ledger holds such rows
  has their points expired by the programme only (an ``expires_at`` of their own still
  counts): programmes that write expiry rows mostly expire after months of inactivity, which
  Hearth's rule of months since earning would get wrong. A frame without a ``computed``
  column is taken as Hearth's own records (the old meaning).
- A debit larger than the balance at that moment is refused on entry
  (:func:`record_redemption`) and on import (:func:`ledger_problems`). Should a ledger hold one
  anyway, the shortfall is carried as a negative balance that the next credits pay off first,
  so ``balance = credited - debited - expired`` holds for every ledger.

Balance = earned + adjusted - reversed - redeemed - expired. Liability = outstanding points x
``HEARTH_POINT_VALUE``. Breakage = expired / earned; redemption rate = redeemed / earned
(both over all time up to the as-of date).

How it stays fast: when a customer's lots expire in the order they were earned (always true
with the default expiry), the consumed points form one prefix of the customer's lots on the
cumulative-points axis, so expiry is a running maximum: after lot k expires, the customer's
cumulative expired points are ``max(0, max_{j<=k} (S_j - D(e_j)))`` where ``S_j`` is the
cumulative credit up to lot j and ``D(e_j)`` the cumulative debits before lot j's expiry.
That is a grouped ``cummax`` over all customers at once. Customers whose lots expire out of
order (an imported promotion that expires before older points) are replayed event by event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, or_
from sqlmodel import Session, select

from core import audit
from core.analytics import ledger as analytics_ledger
from core.config import get_settings
from core.readcache import cached
from core.roles import require_personal_data
from db.models import Customer, LoyaltyEntry, Order

log = logging.getLogger(__name__)

KINDS = ("earn", "redeem", "expire", "adjust", "reverse")
# Words loyalty programmes use for the kinds, as an import reads them (lower case, spaces).
KIND_SYNONYMS: dict[str, str] = {
    "earn": "earn", "earned": "earn", "earning": "earn", "award": "earn", "awarded": "earn",
    "credit": "earn", "points earned": "earn", "purchase": "earn", "order": "earn",
    "redeem": "redeem", "redeemed": "redeem", "redemption": "redeem", "spend": "redeem", "spent": "redeem",
    "points redeemed": "redeem", "reward": "redeem",
    "expire": "expire", "expired": "expire", "expiry": "expire", "expiration": "expire",
    "points expired": "expire",
    "adjust": "adjust", "adjusted": "adjust", "adjustment": "adjust", "manual adjustment": "adjust",
    "admin adjustment": "adjust", "correction": "adjust",
    "reverse": "reverse", "reversal": "reverse", "reversed": "reverse", "refund": "reverse",
    "refunded": "reverse", "refund reversal": "reverse", "order refunded": "reverse", "clawback": "reverse",
}
# The instant a lot that never expires "expires" at (HEARTH_POINTS_EXPIRY_MONTHS=0).
NEVER = pd.Timestamp.max.floor("D")
REQUIRED_COLUMNS = ("customer_id", "occurred_at", "kind", "points")
EXPIRING_WINDOW_DAYS = 30
TIER_WINDOW_MONTHS = 12
_DAY = pd.Timedelta(days=1)


class LoyaltyError(ValueError):
    """A loyalty request that cannot be carried out, with a reason a user can act on."""


class InsufficientPoints(LoyaltyError):
    """A redemption (or negative adjustment) larger than the balance at that moment."""


# --------------------------------------------------------------------------------------------
# Tiers


@dataclass(frozen=True)
class Tier:
    name: str
    threshold: int  # points earned in the last 12 months needed for this tier


def parse_tiers(spec: str | None = None) -> list[Tier]:
    """Tiers from ``HEARTH_LOYALTY_TIERS`` ("Bronze:0,Silver:500,Gold:1500"), lowest first."""
    spec = get_settings().loyalty_tiers if spec is None else spec
    tiers: list[Tier] = []
    for part in spec.split(","):
        if not part.strip():
            continue
        name, sep, threshold = part.partition(":")
        if not sep or not name.strip():
            raise LoyaltyError(f"HEARTH_LOYALTY_TIERS: {part.strip()!r} is not Name:points")
        try:
            value = int(threshold.strip())
        except ValueError:
            raise LoyaltyError(f"HEARTH_LOYALTY_TIERS: {threshold.strip()!r} is not a whole number") from None
        tiers.append(Tier(name.strip(), value))
    if not tiers:
        raise LoyaltyError("HEARTH_LOYALTY_TIERS names no tier")
    tiers.sort(key=lambda t: t.threshold)
    if len({t.threshold for t in tiers}) != len(tiers):
        raise LoyaltyError("HEARTH_LOYALTY_TIERS: two tiers have the same threshold")
    return tiers


# --------------------------------------------------------------------------------------------
# Normalising a frame of entries


def cutoff_for(as_of: date) -> pd.Timestamp:
    """The first instant after ``as_of``: the state "as of D" holds every event before it."""
    return pd.Timestamp(datetime.combine(as_of, time())) + _DAY


def _to_ns(values: object) -> pd.Series:
    return pd.Series(pd.to_datetime(values), copy=False).astype("datetime64[ns]")


def normalise_entries(entries: pd.DataFrame, *, expiry_months: int | None = None) -> pd.DataFrame:
    """Typed copy of ``entries`` (same index) with the derived columns the computation needs.

    Adds ``exp`` (effective expiry of a credit; :data:`NEVER` when it never expires),
    ``credit`` and ``debit`` (non-negative point amounts), ``written_expiry`` (an ``expire``
    entry from the programme's own file: a debit) and ``_pos`` (the entry order used to break
    ties). ``expiry_months`` 0 means that lots without ``expires_at`` never expire. An optional
    ``by_programme`` column marks members whose programme writes their expiry rows (also
    after the entries given; :func:`read_entries` fills it): their lots expire only by their
    own ``expires_at`` and the programme's rows.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in entries.columns]
    if missing:
        raise LoyaltyError(f"loyalty entries lack the column(s): {', '.join(missing)}")
    if expiry_months is None:
        expiry_months = get_settings().points_expiry_months
    out = pd.DataFrame(index=entries.index)
    out["customer_id"] = entries["customer_id"].to_numpy()
    try:
        out["occurred_at"] = _to_ns(entries["occurred_at"]).to_numpy()
    except (ValueError, TypeError) as exc:
        raise LoyaltyError(f"occurred_at: {exc}") from None
    if out["occurred_at"].isna().any():
        raise LoyaltyError("occurred_at is empty in some loyalty entries")
    out["kind"] = entries["kind"].astype(str).str.strip().str.lower().to_numpy()
    points = pd.to_numeric(entries["points"], errors="coerce")
    if points.isna().any() or (points != points.round()).any():
        raise LoyaltyError("points must be whole numbers in every loyalty entry")
    out["points"] = points.astype("int64").to_numpy()
    if "expires_at" in entries.columns:
        expires = _to_ns(entries["expires_at"]).to_numpy()
    else:
        expires = np.full(len(entries), np.datetime64("NaT"), dtype="datetime64[ns]")
    out["expires_at"] = expires
    kind = out["kind"].to_numpy()
    pts = out["points"].to_numpy()
    if "computed" in entries.columns:
        computed = entries["computed"].fillna(False).astype(bool).to_numpy()
    else:
        computed = np.ones(len(entries), dtype=bool)
    written = (kind == "expire") & ~computed
    out["written_expiry"] = written
    occurred = out["occurred_at"]
    exp = out["expires_at"].copy()
    need_default = exp.isna().to_numpy() & (pts > 0)
    by_programme = (entries["by_programme"].fillna(False).astype(bool).to_numpy()
                    if "by_programme" in entries.columns else np.zeros(len(entries), dtype=bool))
    if written.any():
        by_programme = by_programme | out["customer_id"].isin(
            pd.unique(out["customer_id"].to_numpy()[written])).to_numpy()
    if by_programme.any():
        # A member whose programme writes their expiry rows has their points expired by the
        # programme only: Hearth's own rule would expire them a second time, or earlier than the
        # programme does (most expire after months of inactivity, not of age).
        exp[need_default & by_programme] = NEVER
        need_default &= ~by_programme
    if need_default.any():
        if expiry_months > 0:
            exp[need_default] = occurred[need_default] + pd.DateOffset(months=expiry_months)
        else:
            exp[need_default] = NEVER
    out["exp"] = exp.where(exp >= occurred, occurred)
    # An entry whose sign contradicts its kind (an earn below zero) counts for nothing here;
    # ledger_problems reports it.
    signed = (kind == "adjust") | (kind == "reverse")
    credits = ((kind == "earn") | signed) & (pts > 0)
    debits = (((kind == "redeem") | signed) & (pts < 0)) | (written & (pts < 0))
    out["credit"] = np.where(credits, pts, 0).astype("int64")
    out["debit"] = np.where(debits, -pts, 0).astype("int64")
    out["_pos"] = np.arange(len(out), dtype="int64")
    out["_c"] = pd.factorize(out["customer_id"])[0].astype("int64")
    return out


# --------------------------------------------------------------------------------------------
# The computation


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
    cut = np.iinfo("int64").max if cutoff is None else int(_i8(np.array([pd.Timestamp(cutoff)]))[0])
    occ_all = _i8(norm["occurred_at"])
    codes_all = norm["_c"].to_numpy()
    before = occ_all < cut
    credit = norm["credit"].to_numpy()
    debit = norm["debit"].to_numpy()

    lm = before & (credit > 0)
    lc, lo, le, la = codes_all[lm], occ_all[lm], _i8(norm["exp"])[lm], credit[lm]
    order = np.lexsort((le, lo, lc))  # stable, and rows are in entry order: ties keep it
    lc, lo, le, la = lc[order], lo[order], le[order], la[order]
    entry = norm.index.to_numpy()[lm][order]

    dm = before & (debit > 0)
    dc, dt, dv = codes_all[dm], occ_all[dm], debit[dm]
    d_order = np.lexsort((dt, dc))
    dc, dt, dv = dc[d_order], dt[d_order], dv[d_order]

    n_codes = int(codes_all.max()) + 1 if len(codes_all) else 0
    out_of_order = np.zeros(len(lc), dtype=bool)
    out_of_order[1:] = (lc[1:] == lc[:-1]) & (le[1:] < le[:-1])
    slow_code = np.zeros(n_codes, dtype=bool)
    slow_code[lc if force_replay else lc[out_of_order]] = True
    slow = slow_code[lc]

    expired = np.zeros(len(lc), dtype="int64")
    remaining = np.zeros(len(lc), dtype="int64")

    fast = ~slow
    if fast.any():
        # Oldest-first matching as window sums and an ASOF join in DuckDB (core.analytics.ledger).
        f = np.flatnonzero(fast)
        fd = ~slow_code[dc]
        expired[f], remaining[f] = analytics_ledger.fifo_fates(
            lot_c=lc[f], lot_e=le[f], lot_a=la[f], deb_c=dc[fd], deb_t=dt[fd], deb_v=dv[fd], cut=cut)

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
    return pd.DataFrame({
        "customer_id": customer_ids,
        "entry": entry,
        "occurred_at": lo.view("datetime64[ns]"),
        "expires_at": le.view("datetime64[ns]"),
        "points": la,
        "expired": expired,
        "remaining": remaining,
        "consumed": la - expired - remaining,
        "_c": lc,
    })


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
    out = _member_sums(seen, lots, as_of)
    live = lots[lots["remaining"] > 0]
    soon = live[live["expires_at"] < cut + pd.Timedelta(days=EXPIRING_WINDOW_DAYS)]
    out["expiring_points"] = soon.groupby("customer_id")["remaining"].sum().reindex(out.index).fillna(0)
    out["expiring_points"] = out["expiring_points"].astype("int64")
    # The date of the instant the next lot expires (at midnight: gone from that date on).
    next_exp = live[live["expires_at"] < NEVER].groupby("customer_id")["expires_at"].min().reindex(out.index)
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
    w = seen[(seen["kind"] == "earn") & (seen["credit"] > 0)
             & (seen["occurred_at"] >= _earned_window_start(as_of) + _DAY)]
    w = w[w["customer_id"].isin(out.index[can_drop])]
    if w.empty:
        return result.dt.date
    w = pd.DataFrame({"c": w["customer_id"].to_numpy(), "d": w["occurred_at"].dt.normalize().to_numpy(),
                      "v": w["credit"].to_numpy()}).sort_values(["c", "d"], kind="stable")
    total = out["earned_12m"].reindex(w["c"]).to_numpy()
    left = total - w.groupby("c", sort=False)["v"].cumsum().to_numpy()
    w = w[left < floor.reindex(w["c"]).to_numpy()]
    first = w.groupby("c", sort=False)["d"].first()
    result.loc[first.index] = _leaves_window(first).to_numpy()
    return result.dt.date


# --------------------------------------------------------------------------------------------
# Checks and the expiry schedule


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
    kind, an earn with points not above zero, a redeem with points not below zero.
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
            msg = (f"{what} of {int(v[i])} points is larger than the balance of "
                   f"{max(int(balance[i]), 0)} points at that moment")
            problems.append((int(pos[row]), norm.index[row], msg))
    problems.sort(key=lambda p: p[0])
    return [(label, msg) for _pos, label, msg in problems]


# --------------------------------------------------------------------------------------------
# Reading from the database


def _end_of(as_of: date) -> datetime:
    return datetime.combine(as_of, time()) + timedelta(days=1)


def read_entries(*, session: Session, before: datetime | None = None, customer_id: int | None = None,
                 details: bool = True, stored_expiries: bool = True) -> pd.DataFrame:
    """The ledger entries, by id: optionally only those before an instant or of one customer;
    without ``details`` no external_id and order_ref; without ``stored_expiries`` no ``expire``
    entries that Hearth computed itself (the computation does not need them; the programme's
    own expiry entries stay). The whole ledger is read as columns (core.analytics.ledger)."""
    if customer_id is None and not details:
        return analytics_ledger.read_entries(session=session, before=before, stored_expiries=stored_expiries)
    cols = [LoyaltyEntry.id, LoyaltyEntry.customer_id, LoyaltyEntry.occurred_at, LoyaltyEntry.kind,
            LoyaltyEntry.points, LoyaltyEntry.expires_at, LoyaltyEntry.computed]
    if details:
        cols += [LoyaltyEntry.external_id, LoyaltyEntry.order_ref]
    stmt = select(*cols).order_by(LoyaltyEntry.id)
    if before is not None:
        stmt = stmt.where(LoyaltyEntry.occurred_at < before)
    if customer_id is not None:
        stmt = stmt.where(LoyaltyEntry.customer_id == customer_id)
    if not stored_expiries:
        stmt = stmt.where(or_(LoyaltyEntry.kind != "expire", LoyaltyEntry.computed.is_(False)))
    result = session.connection().execute(stmt)
    try:
        # The DB-API rows, without SQLAlchemy's per-value conversion: a million SQLite timestamps
        # parse far faster as one vectorised pandas call than one datetime at a time.
        frame = pd.DataFrame.from_records(result.cursor.fetchall(), columns=list(result.keys()),
                                          coerce_float=False)
    finally:
        result.close()
    for col in ("occurred_at", "expires_at"):
        frame[col] = pd.Series(pd.to_datetime(frame[col], format="ISO8601"), index=frame.index).astype(
            "datetime64[ns]")
    frame["points"] = frame["points"].astype("int64")
    frame["customer_id"] = frame["customer_id"].astype("int64")
    frame["id"] = frame["id"].astype("int64")
    frame["computed"] = frame["computed"].fillna(False).astype(bool)
    # Members with the programme's own expiry rows at any time, so a view of an earlier date
    # does not expire by Hearth's rule what the programme kept (see normalise_entries).
    members = select(LoyaltyEntry.customer_id).where(
        LoyaltyEntry.kind == "expire", LoyaltyEntry.computed.is_(False)).distinct()
    if customer_id is not None:
        members = members.where(LoyaltyEntry.customer_id == customer_id)
    programme = {int(x) for x in session.connection().execute(members).scalars()}
    frame["by_programme"] = frame["customer_id"].isin(programme) if programme else False
    return frame.set_index("id")


@dataclass
class LedgerState:
    """Everything computed for one as-of date, so a screen computes it once."""

    as_of: date
    norm: pd.DataFrame
    lots: pd.DataFrame
    balances: pd.DataFrame


@dataclass(frozen=True)
class _Shared:
    """A frame core.readcache hands out as it is kept, not copied (a million-row copy per call):
    its only reader, :func:`_norm_before`, selects from it and never changes it."""

    frame: pd.DataFrame

    def __deepcopy__(self, _memo: dict) -> _Shared:
        return self


@cached(tables=("loyalty_entry",))
def _normalised(*, session: Session) -> _Shared:
    return _Shared(normalise_entries(read_entries(session=session, details=False, stored_expiries=False)))


def normalised_ledger(*, session: Session) -> pd.DataFrame:
    """Every entry the computation uses (all but the ``expire`` entries Hearth computed itself),
    through :func:`normalise_entries`: read and normalised once per data generation of the
    ledger and the settings (core.readcache), whatever the as-of dates asked for. The frame is
    shared: select from it, do not change it."""
    return _normalised(session=session).frame


def _norm_before(norm: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """The normalised entries before ``cut``, as :func:`normalise_entries` gives them for the
    entries before ``cut`` alone (entry order and customer codes counted within them)."""
    out = norm[norm["occurred_at"] < cut].copy()
    out["_pos"] = np.arange(len(out), dtype="int64")
    out["_c"] = pd.factorize(out["customer_id"])[0].astype("int64")
    return out


def ledger_state(*, session: Session, as_of: date) -> LedgerState:
    """The whole computation for one as-of date, from the stored entries (about a second at
    the reference size once the ledger is read, see :func:`normalised_ledger`); readers use
    :func:`ledger_summary`, which remembers its results."""
    norm = _norm_before(normalised_ledger(session=session), cutoff_for(as_of))
    lots = compute_lots(norm, cutoff=cutoff_for(as_of))
    balances = customer_balances(norm, as_of=as_of, norm=norm, lots=lots)
    return LedgerState(as_of=as_of, norm=norm, lots=lots, balances=balances)


@cached(tables=("loyalty_entry",))
def ledger_totals(*, session: Session, as_of: date) -> pd.DataFrame:
    """Per member as of the end of ``as_of``: customer_id, earned, redeemed, adjusted, reversed,
    expired, balance (points), the columns of :func:`customer_balances` the KPIs read, without
    tiers, expiry dates or monthly flows (about half the work of :func:`ledger_summary`; kept per
    data generation of the ledger)."""
    cut = cutoff_for(as_of)
    norm = _norm_before(normalised_ledger(session=session), cut)
    out = _member_sums(norm, compute_lots(norm, cutoff=cut), as_of)
    cols = ["customer_id", "earned", "redeemed", "adjusted", "reversed", "expired", "balance"]
    return out.reset_index()[cols]


SUMMARY_MONTHS = 24


@dataclass
class LedgerSummary:
    """What the screens, the KPIs and exports read of the ledger for one as-of date: every
    member's balances, the last 24 months' flows and the customer count for enrolment."""

    as_of: date
    balances: pd.DataFrame
    monthly: pd.DataFrame
    customers: int


@cached(tables=("customer", "orders", "loyalty_entry"))
def ledger_summary(*, session: Session, as_of: date) -> LedgerSummary:
    """:func:`ledger_state` reduced to what readers need, computed once per as-of date and
    data generation of the ledger (core.readcache)."""
    state = ledger_state(session=session, as_of=as_of)
    return LedgerSummary(as_of=as_of, balances=state.balances,
                         monthly=summary_by_month(state, months=SUMMARY_MONTHS),
                         customers=_customer_count(session=session, as_of=as_of))


def _ratio(num: float, den: float) -> float | None:
    return None if not den else float(num) / float(den)


def _customer_count(*, session: Session, as_of: date) -> int:
    """Customers who signed up, ordered or had loyalty activity on or before ``as_of``."""
    end = _end_of(as_of)
    signed_up = select(func.count()).select_from(Customer).where(Customer.signup_date <= as_of)
    # Only the few without a signup date by then need the (indexed) look at their history.
    ordered = select(Order.id).where(Order.customer_id == Customer.id, Order.ordered_at < end).exists()
    loyal = select(LoyaltyEntry.id).where(LoyaltyEntry.customer_id == Customer.id,
                                          LoyaltyEntry.occurred_at < end).exists()
    others = select(func.count()).select_from(Customer).where(
        or_(Customer.signup_date.is_(None), Customer.signup_date > as_of), or_(ordered, loyal))
    return int(session.exec(signed_up).one()) + int(session.exec(others).one())


def kpis_from_state(state: LedgerSummary, *, customers: int) -> dict:
    b = state.balances
    earned = int(b["earned"].sum())
    redeemed = int(b["redeemed"].sum())
    expired = int(b["expired"].sum())
    outstanding = int(b["balance"].sum())
    members = int(len(b))
    return {
        "as_of": state.as_of.isoformat(),
        "outstanding_points": outstanding,
        "liability": round(outstanding * get_settings().point_value, 2),
        "redemption_rate": _ratio(redeemed, earned),
        "breakage": _ratio(expired, earned),
        "enrolment_rate": _ratio(members, customers),
        "earned": earned,
        "redeemed": redeemed,
        "expired": expired,
        "adjusted": int(b["adjusted"].sum()),
        "reversed": int(b["reversed"].sum()) if "reversed" in b else 0,
        "members": members,
        "customers": customers,
    }


def loyalty_kpis(*, session: Session, as_of: date) -> dict:
    """Loyalty figures as of the end of ``as_of`` (all time up to it).

    outstanding_points (sum of balances), liability (x HEARTH_POINT_VALUE, rounded to cents),
    redemption_rate (redeemed / earned), breakage (expired / earned), enrolment_rate
    (customers with any loyalty activity / customers who signed up, ordered or had loyalty
    activity by then), earned, redeemed, expired, adjusted (net), members, customers.
    Rates are None when their denominator is zero.
    """
    summary = ledger_summary(session=session, as_of=as_of)
    return kpis_from_state(summary, customers=summary.customers)


def _today() -> date:
    return datetime.now(UTC).date()


def loyalty_export_frame(*, session: Session, as_of: date | None = None) -> pd.DataFrame:
    """Per customer with loyalty activity: customer_id (external id), balance, expiring_points,
    next_expiry_date, tier, lifetime_earned, lifetime_redeemed, as of the end of ``as_of``
    (default: today, UTC)."""
    as_of = as_of or _today()
    b = ledger_summary(session=session, as_of=as_of).balances
    ids = pd.read_sql(select(Customer.id, Customer.external_id), session.connection())
    ext = ids.set_index("id")["external_id"]
    out = pd.DataFrame({
        "customer_id": b["customer_id"].map(ext).to_numpy(),
        "balance": b["balance"].to_numpy(),
        "expiring_points": b["expiring_points"].to_numpy(),
        "next_expiry_date": b["next_expiry_date"].to_numpy(),
        "tier": b["tier"].to_numpy(),
        "lifetime_earned": b["earned"].to_numpy(),
        "lifetime_redeemed": b["redeemed"].to_numpy(),
    })
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def customer_balance(*, session: Session, customer_id: int, as_of: date | None = None) -> dict:
    """One customer's figures (a row of :func:`customer_balances`) as a dict; zeros if none."""
    as_of = as_of or _today()
    entries = read_entries(session=session, before=_end_of(as_of), customer_id=customer_id, details=False)
    b = customer_balances(entries, as_of=as_of)
    if b.empty:
        tiers = parse_tiers()
        return {"customer_id": customer_id, "earned": 0, "redeemed": 0, "adjusted": 0, "reversed": 0, "expired": 0,
                "balance": 0, "expiring_points": 0, "next_expiry_date": None, "earned_12m": 0,
                "tier": tiers[0].name if tiers[0].threshold <= 0 else None, "tier_drop_date": None}
    row = b.iloc[0].to_dict()
    for key in ("earned", "redeemed", "adjusted", "reversed", "expired", "balance", "expiring_points", "earned_12m"):
        row[key] = int(row[key])
    for key in ("next_expiry_date", "tier_drop_date"):
        if pd.isna(row[key]):
            row[key] = None
    return row


def customer_ledger(*, session: Session, customer_id: int, as_of: date | None = None) -> pd.DataFrame:
    """One customer's ledger up to the end of ``as_of`` with a running balance.

    Earn, redeem, adjust and reverse entries and the programme's own expiries as stored;
    expiries by Hearth's rule as computed from the lots (one row per
    expiry instant; ``recorded`` says whether the expiry job has written it). Columns:
    occurred_at, kind, points, expires_at, order_ref, entry_id, recorded, balance.
    """
    as_of = as_of or _today()
    cut = cutoff_for(as_of)
    entries = read_entries(session=session, before=_end_of(as_of), customer_id=customer_id)
    cols = ["occurred_at", "kind", "points", "expires_at", "order_ref", "entry_id", "recorded", "balance"]
    if entries.empty:
        return pd.DataFrame(columns=cols)
    norm = normalise_entries(entries)
    lots = compute_lots(norm, cutoff=cut)
    ev = expiry_events(lots, cutoff=cut)
    own = entries["computed"] if "computed" in entries else pd.Series(True, index=entries.index)
    stored = entries[(entries["kind"] == "expire") & own]
    recorded_total = int(-stored["points"].sum())
    ev = ev.sort_values("at")
    matched = np.minimum(ev["points"].to_numpy(), np.maximum(0, recorded_total - (
        ev["points"].cumsum().to_numpy() - ev["points"].to_numpy())))
    rows = entries[(entries["kind"] != "expire") | ~own]
    ledger = pd.DataFrame({
        "occurred_at": rows["occurred_at"].to_numpy(),
        "kind": rows["kind"].to_numpy(),
        "points": rows["points"].to_numpy(),
        "expires_at": norm.loc[rows.index, "exp"].where((norm.loc[rows.index, "credit"] > 0)
                                                        & (norm.loc[rows.index, "exp"] < NEVER)).to_numpy(),
        "order_ref": rows["order_ref"].to_numpy(),
        "entry_id": rows["external_id"].to_numpy(),
        "recorded": True,
        "_order": np.where(norm.loc[rows.index, "credit"] > 0, 0, 2),
        "_pos": norm.loc[rows.index, "_pos"].to_numpy(),
    })
    expiries = pd.DataFrame({
        "occurred_at": ev["at"].to_numpy(), "kind": "expire", "points": -ev["points"].to_numpy(),
        "expires_at": pd.NaT, "order_ref": None, "entry_id": None,
        "recorded": matched == ev["points"].to_numpy(), "_order": 1, "_pos": 0,
    })
    frames = [f for f in (ledger, expiries) if not f.empty]
    both = pd.concat(frames, ignore_index=True).sort_values(["occurred_at", "_order", "_pos"], kind="stable")
    both["balance"] = both["points"].cumsum()
    return both[cols].reset_index(drop=True)


def monthly_summary(*, session: Session, as_of: date, months: int = 24) -> pd.DataFrame:
    """Per calendar month up to ``as_of`` (the last one partial): earned, redeemed, expired,
    adjusted in the month, and outstanding_points and liability at its end. Aggregates only."""
    if months <= SUMMARY_MONTHS:
        # The carried-in balance makes the last n months of the 24 the same as n months alone.
        return ledger_summary(session=session, as_of=as_of).monthly.tail(months).reset_index(drop=True)
    return summary_by_month(ledger_state(session=session, as_of=as_of), months=months)


FLOW_COLUMNS = ("earned", "redeemed", "adjusted", "reversed", "expired")


def point_flows(state: LedgerState) -> pd.DataFrame:
    """Every movement of points seen by ``state.as_of`` (before its cutoff), one row each.

    Columns: customer_id (Customer.id), month (pandas Period "M" of when it happened), and the
    points it moved, each row non-zero in one column: earned (an earn entry's credit), redeemed
    (a redemption's debit), adjusted (an adjustment, signed), reversed (points taken back by a
    reversal, positive), expired (a written expiry entry's debit, or a lot's expired points at its
    expiry date). This is the one definition of the monthly flows: :func:`summary_by_month` sums
    it by month, :func:`member_flows` by member.
    """
    norm, lots = state.norm, state.lots
    cut = cutoff_for(state.as_of)
    seen = norm[(norm["occurred_at"] < cut) & ((norm["kind"] != "expire") | norm["written_expiry"])]
    ev = lots[(lots["expired"] > 0) & (lots["expires_at"] < cut)]
    flows = pd.concat([
        pd.DataFrame({"customer_id": seen["customer_id"].to_numpy(), "t": seen["occurred_at"].to_numpy(),
                      "earned": np.where(seen["kind"] == "earn", seen["credit"], 0),
                      "redeemed": np.where(seen["kind"] == "redeem", seen["debit"], 0),
                      "adjusted": np.where(seen["kind"] == "adjust", seen["points"], 0),
                      "reversed": np.where(seen["kind"] == "reverse", -seen["points"], 0),
                      "expired": np.where(seen["written_expiry"], seen["debit"], 0)}),
        pd.DataFrame({"customer_id": ev["customer_id"].to_numpy(), "t": ev["expires_at"].to_numpy(), "earned": 0,
                      "redeemed": 0, "adjusted": 0, "reversed": 0, "expired": ev["expired"].to_numpy()}),
    ], ignore_index=True)
    flows["month"] = flows["t"].dt.to_period("M")
    return flows[["customer_id", "month", *FLOW_COLUMNS]]


def member_flows(state: LedgerState, *, month: date, kind: str) -> pd.DataFrame:
    """The members behind one bar of "Earned, redeemed and expired by month": those with points of
    ``kind`` ("earned", "redeemed" or "expired") in the calendar month of ``month``, by
    :func:`point_flows` (the same rows :func:`summary_by_month` sums, so the points add up to the bar).

    Columns: customer_id (Customer.id), points (of that kind in that month, > 0); most points first,
    then by customer id. Raises LoyaltyError for another ``kind``.
    """
    if kind not in ("earned", "redeemed", "expired"):
        raise LoyaltyError(f"no flow {kind!r}: choose earned, redeemed or expired")
    flows = point_flows(state)
    flows = flows[(flows["month"] == pd.Period(month, "M")) & (flows[kind] != 0)]
    out = flows.groupby("customer_id", as_index=False)[kind].sum().rename(columns={kind: "points"})
    out["points"] = out["points"].astype("int64")
    out = out[out["points"] > 0]
    return out.sort_values(["points", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def summary_by_month(state: LedgerState, *, months: int = 24) -> pd.DataFrame:
    """Per calendar month, the last ``months`` up to ``state.as_of``: :func:`point_flows` summed
    (earned, redeemed, adjusted, reversed, expired, in points) with outstanding_points and
    liability (money, point value from the settings) at the month's end."""
    flows = point_flows(state)
    last = pd.Period(state.as_of, "M")
    all_months = pd.period_range(end=last, periods=months, freq="M")
    by = flows.groupby("month")[["earned", "redeemed", "adjusted", "reversed", "expired"]].sum()
    start = all_months[0]
    carried = by[by.index < start]
    base = int((carried["earned"] + carried["adjusted"] - carried["reversed"] - carried["redeemed"]
                - carried["expired"]).sum())
    by = by.reindex(all_months, fill_value=0).astype("int64")
    net = by["earned"] + by["adjusted"] - by["reversed"] - by["redeemed"] - by["expired"]
    by["outstanding_points"] = base + net.cumsum()
    by["liability"] = (by["outstanding_points"] * get_settings().point_value).round(2)
    by.index = by.index.to_timestamp()
    return by.rename_axis("month").reset_index()


def tier_mix(balances: pd.DataFrame) -> pd.DataFrame:
    """Members per tier (tier, customers), tiers lowest first."""
    order = [t.name for t in parse_tiers()]
    counts = balances["tier"].value_counts()
    return pd.DataFrame({"tier": order, "customers": [int(counts.get(n, 0)) for n in order]})


# --------------------------------------------------------------------------------------------
# Writes


def record_redemption(*, session: Session, customer_id: int, points: int, at: datetime, actor: str,
                      order_ref: str | None = None) -> LoyaltyEntry:
    """Add a redemption of ``points`` (a positive number) at ``at``; refuses one larger than
    the balance at that moment, and a redemption dated before the customer's later entries that
    would leave any later debit uncovered. Flushes; the caller commits."""
    points = int(points)
    if points <= 0:
        raise LoyaltyError("a redemption must be of at least 1 point")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise LoyaltyError(f"no customer with id {customer_id}")
    # Lock the customer's row so two redemptions at once cannot both pass the check.
    if session.get_bind().dialect.name != "sqlite":
        session.exec(select(Customer.id).where(Customer.id == customer_id).with_for_update()).one()
    entries = read_entries(session=session, customer_id=customer_id)
    proposal = pd.DataFrame([{"external_id": None, "customer_id": customer_id,
                              "occurred_at": pd.Timestamp(at), "kind": "redeem", "points": -points,
                              "expires_at": pd.NaT, "order_ref": order_ref}], index=["new"])
    both = pd.concat([entries, proposal]) if not entries.empty else proposal
    before = {label for label, _ in ledger_problems(entries)} if not entries.empty else set()
    new_problems = [(label, msg) for label, msg in ledger_problems(both) if label not in before]
    if new_problems:
        label, msg = new_problems[0]
        if label == "new":
            raise InsufficientPoints(f"customer {customer.external_id}: {msg}")
        raise InsufficientPoints(
            f"customer {customer.external_id}: a redemption of {points} points on {at:%Y-%m-%d} would leave "
            f"a later entry uncovered ({msg})")
    entry = LoyaltyEntry(
        external_id=f"RDM-{customer_id}-{pd.Timestamp(at):%Y%m%d%H%M%S%f}-{len(entries)}",
        customer_id=customer_id, occurred_at=at, kind="redeem", points=-points, order_ref=order_ref,
    )
    session.add(entry)
    session.flush()
    audit.record(session=session, actor=actor, action="loyalty.redeem", record_type="loyalty_entry",
                 record_id=entry.id, customer_id=customer_id,
                 detail={"points": points, "order_ref": order_ref})
    return entry


def missing_expiries(entries: pd.DataFrame, *, as_of: date) -> pd.DataFrame:
    """Expiries up to the end of ``as_of`` that no stored ``expire`` entry records yet.

    Per customer, stored expire points (before the cutoff) are matched against the computed
    expiry events oldest first; what is left unmatched is returned (customer_id, at, points).
    """
    cut = cutoff_for(as_of)
    norm = normalise_entries(entries)
    lots = compute_lots(norm, cutoff=cut)
    ev = expiry_events(lots, cutoff=cut)
    if ev.empty:
        return ev.assign(recorded_before=pd.Series(dtype="int64"))
    stored = norm[(norm["kind"] == "expire") & ~norm["written_expiry"] & (norm["occurred_at"] < cut)]
    recorded = (-stored.groupby("customer_id")["points"].sum()).reindex(ev["customer_id"]).fillna(0)
    recorded = recorded.to_numpy().astype("int64")
    ev = ev.sort_values(["customer_id", "at"], kind="stable")
    cum = ev.groupby("customer_id", sort=False)["points"].cumsum().to_numpy()
    pts = ev["points"].to_numpy()
    unmatched = np.minimum(pts, np.maximum(0, cum - recorded))
    out = ev.assign(points=unmatched, recorded_before=recorded)
    return out[out["points"] > 0].reset_index(drop=True)


def expire_points(*, session: Session, as_of: date, actor: str = "system") -> int:
    """Write the ``expire`` entries that the computation says are due by the end of ``as_of``
    and that are not written yet; returns how many were written. A second run writes none."""
    entries = read_entries(session=session, before=_end_of(as_of), details=False)
    if entries.empty:
        return 0
    todo = missing_expiries(entries, as_of=as_of)
    if todo.empty:
        return 0
    rows = [
        {
            "external_id": f"EXP-{int(c)}-{pd.Timestamp(t):%Y%m%d%H%M%S}-{int(r)}",
            "customer_id": int(c), "occurred_at": pd.Timestamp(t).to_pydatetime(), "kind": "expire",
            "points": -int(p), "expires_at": None, "order_ref": None, "computed": True,
        }
        for c, t, p, r in zip(todo["customer_id"], todo["at"], todo["points"], todo["recorded_before"],
                              strict=True)
    ]
    from db.bulk import bulk_insert

    bulk_insert(session.connection(), LoyaltyEntry.__table__, rows)
    audit.record(session=session, actor=actor, action="loyalty.expire", record_type="loyalty_entry",
                 detail={"as_of": as_of.isoformat(), "entries": len(rows),
                         "points": int(todo["points"].sum()),
                         "customers": int(todo["customer_id"].nunique())})
    log.info("wrote %d expire entries as of %s", len(rows), as_of)
    return len(rows)


# --------------------------------------------------------------------------------------------
# What the Loyalty screen reads


def loyalty_overview(*, session: Session, as_of: date, months: int = 24) -> dict:
    """Aggregates only, for every role that may open the screen: ``kpis`` (as
    :func:`loyalty_kpis`), ``monthly`` (:func:`monthly_summary`) and ``tiers`` (members per tier)."""
    summary = ledger_summary(session=session, as_of=as_of)
    return {
        "kpis": kpis_from_state(summary, customers=summary.customers),
        "monthly": monthly_summary(session=session, as_of=as_of, months=months),
        "tiers": tier_mix(summary.balances),
    }


def member_balances(*, session: Session, as_of: date, roles) -> pd.DataFrame:  # noqa: ANN001
    """Every member's figures with who they are, for managers and admins.

    Columns: id (Customer.id), customer (external id), name, email, owner, tier, balance,
    expiring_points, next_expiry_date, earned_12m, tier_drop_date, earned, redeemed, expired.
    Raises NotAllowed for a role that may not see personal data.
    """
    require_personal_data(roles)
    b = ledger_summary(session=session, as_of=as_of).balances
    people = pd.read_sql(
        select(Customer.id, Customer.external_id, Customer.name, Customer.email, Customer.owner),
        session.connection(),
    ).set_index("id")
    out = b.rename(columns={"customer_id": "id"}).join(people, on="id")
    out = out.rename(columns={"external_id": "customer"})
    cols = ["id", "customer", "name", "email", "owner", "tier", "balance", "expiring_points", "next_expiry_date",
            "earned_12m", "tier_drop_date", "earned", "redeemed", "expired"]
    return out[cols].sort_values(["balance", "customer"], ascending=[False, True], kind="stable").reset_index(
        drop=True)


def customer_by_external_id(*, session: Session, external_id: str) -> Customer | None:
    return session.exec(select(Customer).where(Customer.external_id == external_id.strip())).first()


@cached(tables=("loyalty_entry",))
def pending_expiries(*, session: Session, as_of: date) -> dict:
    """What :func:`expire_points` would write for ``as_of``: entries, points, customers
    (kept per data generation of the ledger, see core.readcache)."""
    entries = read_entries(session=session, before=_end_of(as_of), details=False)
    todo = missing_expiries(entries, as_of=as_of) if not entries.empty else pd.DataFrame(
        {"customer_id": [], "points": []})
    return {"entries": int(len(todo)), "points": int(todo["points"].sum()),
            "customers": int(todo["customer_id"].nunique())}
