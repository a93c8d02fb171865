"""The loyalty rules as data: the entry kinds (and the words programmes use for them), the
expiry and tier settings, the errors, and the typed, normalised frame of ledger entries every
computation starts from (each credit's effective expiry, credits and debits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
import pandas as pd

from core import money
from core.config import get_settings

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


@dataclass(frozen=True)
class Tier:
    """A loyalty tier: its name and the points earned in the last TIER_WINDOW_MONTHS (12) months
    that reach it."""

    name: str
    threshold: int  # points earned in the last 12 months needed for this tier


def parse_tiers(spec: str | None = None) -> list[Tier]:
    """Tiers from ``HEARTH_LOYALTY_TIERS`` ("Bronze:0,Silver:500,Gold:1500"), lowest first.

    Raises LoyaltyError for a part that is not Name:points, a threshold that is not a whole
    number, a spec that names no tier, or two tiers with the same threshold."""
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
    ties). A lot without ``expires_at`` expires by Hearth's rule: the months of its own
    ``expiry_months`` column when the frame has one and it is filled (the rule in force when
    the entry was stored), else ``expiry_months`` (default the setting
    HEARTH_POINTS_EXPIRY_MONTHS); 0 months means never. An optional ``by_programme`` column
    marks members whose programme writes their expiry rows (also after the entries given;
    :func:`read_entries` fills it): their lots expire only by their own ``expires_at`` and the
    programme's rows. For a member whose every lot has its ``expires_at``, the programme's
    expire rows record those expiries and take nothing more.

    Raises LoyaltyError when a required column (customer_id, occurred_at, kind, points) is
    missing, an occurred_at is empty or not a time, or points or expiry_months are not whole
    numbers.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in entries.columns]
    if missing:
        raise LoyaltyError(f"loyalty entries lack the column(s): {', '.join(missing)}")
    if expiry_months is None:
        expiry_months = get_settings().points_expiry_months
    try:
        occurred = _to_ns(entries["occurred_at"]).to_numpy()
    except (ValueError, TypeError) as exc:
        raise LoyaltyError(f"occurred_at: {exc}") from None
    if np.isnat(occurred).any():
        raise LoyaltyError("occurred_at is empty in some loyalty entries")
    kind = clean_kinds(entries["kind"])
    points = pd.to_numeric(entries["points"], errors="coerce")
    if points.isna().any() or (points != points.round()).any():
        raise LoyaltyError("points must be whole numbers in every loyalty entry")
    if "expires_at" in entries.columns:
        expires = _to_ns(entries["expires_at"]).to_numpy()
    else:
        expires = np.full(len(entries), np.datetime64("NaT"), dtype="datetime64[ns]")
    if "computed" in entries.columns:
        computed = entries["computed"].fillna(False).astype(bool).to_numpy()
    else:
        computed = np.ones(len(entries), dtype=bool)
    by_programme = (entries["by_programme"].fillna(False).astype(bool).to_numpy()
                    if "by_programme" in entries.columns else np.zeros(len(entries), dtype=bool))
    return normalised_frame(
        entries.index, customer_id=entries["customer_id"].to_numpy(), occurred=occurred,
        kind=kind, kind_code=kind_codes(kind), points=points.astype("int64").to_numpy(), expires=expires,
        computed=computed, by_programme=by_programme, expiry_months=expiry_months,
        rule_months=rule_months_of(entries))


def rule_months_of(entries: pd.DataFrame) -> np.ndarray | None:
    """The ``expiry_months`` column of stored entries (Hearth's rule in force when each was
    stored, db.models.LoyaltyEntry) as int64, -1 where empty or below 0 (the setting now); None
    when the frame has no such column. Raises LoyaltyError for a value that is not a whole number."""
    if "expiry_months" not in entries.columns:
        return None
    months = pd.to_numeric(entries["expiry_months"], errors="coerce").fillna(-1)
    if (months != months.round()).any():
        raise LoyaltyError("expiry_months must be a whole number of months in every loyalty entry")
    return np.maximum(months.to_numpy(dtype="float64"), -1).astype("int64")


def clean_kinds(kinds: pd.Series) -> np.ndarray:
    """Entry kinds as the computation reads them: text, surrounding spaces dropped, lower case
    (object array)."""
    return kinds.astype(str).str.strip().str.lower().to_numpy()


def kind_codes(kind: np.ndarray) -> np.ndarray:
    """The position of each (cleaned) kind in :data:`KINDS`, -1 for any other word (int8)."""
    return pd.Index(KINDS).get_indexer(kind).astype("int8")


_EARN, _REDEEM, _EXPIRE, _ADJUST, _REVERSE = range(len(KINDS))


def normalised_frame(index: pd.Index, *, customer_id: np.ndarray, occurred: np.ndarray, kind: object,
                     kind_code: np.ndarray, points: np.ndarray, expires: np.ndarray, computed: np.ndarray,
                     by_programme: np.ndarray, expiry_months: int, rule_months: np.ndarray | None = None,
                     compact: bool = False) -> pd.DataFrame:
    """The frame :func:`normalise_entries` returns, from typed columns: ``occurred`` and
    ``expires`` datetime64[ns] (NaT: no expires_at), ``kind`` the cleaned kinds (any array
    a frame column takes), ``kind_code`` their :func:`kind_codes`, ``points`` int64,
    ``computed`` and ``by_programme`` booleans, ``rule_months`` (int, optional) the months of
    Hearth's expiry rule each entry was stored under (-1: ``expiry_months``, the setting now);
    the rules of normalise_entries.

    ``compact`` (the shared ledger kept in memory, core.loyalty.normalised_ledger): without the
    ``expires_at`` and ``_pos`` columns, which no computation reads from it (``exp`` is the
    effective expiry; core.loyalty.history.norm_before numbers the rows of each date), and
    ``_c`` as int32 when the member codes fit (they always do below 2**31 members)."""
    out = pd.DataFrame(index=index)
    out["customer_id"] = customer_id
    out["occurred_at"] = occurred
    out["kind"] = kind
    out["points"] = points
    if not compact:
        out["expires_at"] = expires
    pts = points
    written = (kind_code == _EXPIRE) & ~computed
    all_dated = np.zeros(len(pts), dtype=bool)
    if written.any():
        # The programme's own expire rows are debits for a member with a lot the file gave no
        # expires_at (points expired by the programme's rule, mostly inactivity). For a member
        # whose every lot carries its expires_at, a row first records the expiries of lots past
        # their dates (a lot expiring on 1 Sep and the programme's row of 1 Sep took the points
        # twice); only what it expires beyond them is a debit (points the programme expired
        # early, for inactivity: design.md, "count as written"). See _beyond_dated_expiries.
        lot = ((kind_code == _EARN) | (kind_code == _ADJUST) | (kind_code == _REVERSE)) & (pts > 0)
        undated = pd.unique(customer_id[lot & np.isnat(expires)])
        member_undated = pd.Series(customer_id, copy=False).isin(undated).to_numpy()
        all_dated = written & ~member_undated
        written &= member_undated
    exp = expires.copy()
    need_default = np.isnat(exp) & (pts > 0)
    if written.any():
        by_programme = by_programme | pd.Series(customer_id, copy=False).isin(
            pd.unique(customer_id[written])).to_numpy()
    never = NEVER.to_datetime64().astype("datetime64[ns]")
    if by_programme.any():
        # A member whose programme writes their expiry rows has their points expired by the
        # programme only: Hearth's own rule would expire them a second time, or earlier than the
        # programme does (most expire after months of inactivity, not of age).
        exp[need_default & by_programme] = never
        need_default &= ~by_programme
    if need_default.any():
        # The rule each lot was stored under (design.md: the rule in force when the points were
        # earned into Hearth), else the setting now.
        months = np.full(len(pts), expiry_months, dtype="int64")
        if rule_months is not None:
            months = np.where(rule_months >= 0, rule_months, months)
        for m in np.unique(months[need_default]).tolist():
            rows = need_default & (months == m)
            exp[rows] = ((pd.Series(occurred[rows]) + pd.DateOffset(months=m)).to_numpy(dtype="datetime64[ns]")
                         if m > 0 else never)
    out["exp"] = np.where(~np.isnat(exp) & (exp >= occurred), exp, occurred)
    # An entry whose sign contradicts its kind (an earn below zero) counts for nothing here;
    # ledger_problems reports it.
    signed = (kind_code == _ADJUST) | (kind_code == _REVERSE)
    credits = ((kind_code == _EARN) | signed) & (pts > 0)
    debits = (((kind_code == _REDEEM) | signed) & (pts < 0)) | (written & (pts < 0))
    out["credit"] = np.where(credits, pts, 0).astype("int64", copy=False)
    debit = np.where(debits, -pts, 0).astype("int64", copy=False)
    all_dated &= pts < 0
    if all_dated.any():
        beyond = _beyond_dated_expiries(customer_id, occurred, out["exp"].to_numpy(), out["credit"].to_numpy(),
                                        debit, all_dated, -pts)
        debit = np.where(all_dated, beyond, debit)
        written = written | (all_dated & (beyond > 0))
    out["written_expiry"] = written
    out["debit"] = debit
    codes = pd.factorize(customer_id)[0]
    if not compact:
        out["_pos"] = np.arange(len(out), dtype="int64")
    narrow = compact and (len(codes) == 0 or int(codes.max()) <= np.iinfo("int32").max)
    out["_c"] = codes.astype("int32" if narrow else "int64")
    return out


def _beyond_dated_expiries(customer_id: np.ndarray, occurred: np.ndarray, exp: np.ndarray, credit: np.ndarray,
                           debit: np.ndarray, rows: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """For the programme's expire rows ``rows`` of members whose every lot has its expires_at:
    the points each expires beyond the lots already past their dates (int64, 0 elsewhere).

    Each such member's ledger is replayed in time order (within an instant: credits, then lot
    expiries, then debits and expire rows, in row order; lots oldest first). A lot past its
    date leaves what it still held to be recorded; an expire row records that first, and only
    the rest takes points from the lots still held, as a debit. So a row repeating a lot's own
    expiry (on its date or days later) costs nothing more, and a row expiring points early (for
    inactivity) takes them then. Members are few (files with dated lots and expiry rows), so a
    plain loop is enough."""
    out = np.zeros(len(rows), dtype="int64")
    members = pd.unique(customer_id[rows])
    mine = np.flatnonzero(pd.Series(customer_id, copy=False).isin(members).to_numpy())
    occ = occurred.astype("datetime64[ns]").view("int64")
    ex = exp.astype("datetime64[ns]").view("int64")
    by_member: dict[object, list[int]] = {}
    for i in mine.tolist():
        by_member.setdefault(customer_id[i], []).append(i)
    for idx in by_member.values():
        lots = sorted((i for i in idx if credit[i] > 0), key=lambda i: (occ[i], ex[i], i))
        events = [(occ[i], 0, i) for i in lots] + [(ex[i], 1, i) for i in lots]
        events += [(occ[i], 2, i) for i in idx if debit[i] > 0 or rows[i]]
        events.sort()
        held = {i: 0 for i in lots}
        unrecorded = 0  # points of lots past their dates that no expire row recorded yet
        debt = 0
        for _t, what, i in events:
            if what == 0:
                pay = min(debt, int(credit[i]))
                debt -= pay
                held[i] = int(credit[i]) - pay
            elif what == 1:
                unrecorded += held[i]
                held[i] = 0
            else:
                need = int(amount[i]) if rows[i] else int(debit[i])
                if rows[i]:
                    recorded = min(need, unrecorded)
                    unrecorded -= recorded
                    need -= recorded
                    out[i] = need
                for k in lots:
                    if not need:
                        break
                    take = min(need, held[k])
                    held[k] -= take
                    need -= take
                debt += need
    return out


def points_value_cents(points: int) -> int:
    """What ``points`` are worth: points x the configured point value (HEARTH_POINT_VALUE), in
    whole cents rounded half up by core.money (design.md: liability = outstanding points x
    point value). 1,250 points at 0.01 -> 1250 cents."""
    return money.times(int(points), get_settings().point_value)
