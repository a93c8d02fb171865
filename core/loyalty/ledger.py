"""Reading the ledger and what follows from it for one as-of date: the stored entries, the
whole computation (LedgerState), and the monthly point flows (earned, redeemed, adjusted,
reversed, expired) per month and per member, and members per tier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import or_
from sqlmodel import Session, select

from core import money, readcache
from core.analytics import changelog, diskcopy, source
from core.analytics import ledger as analytics_ledger
from core.config import get_settings
from core.loyalty.history import (
    LedgerHistory,
    build_history,
    history_arrays,
    history_from_arrays,
    lots_as_of,
    member_month_sums,
    member_sums,
    norm_before,
)
from core.loyalty.lots import _balances, _earned_window_start, _i8
from core.loyalty.rules import (
    _DAY,
    KINDS,
    LoyaltyError,
    clean_kinds,
    cutoff_for,
    kind_codes,
    normalise_entries,
    normalised_frame,
    parse_tiers,
    points_value_cents,
)
from core.readcache import cached
from db.models import LoyaltyEntry


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
            LoyaltyEntry.points, LoyaltyEntry.expires_at, LoyaltyEntry.computed, LoyaltyEntry.expiry_months]
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
    frame["expiry_months"] = pd.to_numeric(frame["expiry_months"]).fillna(-1).astype("int64")
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


def _disk_slot(session: Session, what: str) -> tuple[str, str] | None:
    """Where ``what`` (computed from the ledger's entries and the settings) is kept on this
    machine's disk (core.analytics.diskcopy), by the entries' data generation and the settings."""
    state = source.disk_key(session, "loyalty_entry")
    return None if state is None else diskcopy.slot(what, state[0], "loyalty_entry",
                                                     (state[1], readcache.settings_key()))


@cached(tables=("loyalty_entry",), shared=True)
def _normalised(*, session: Session) -> pd.DataFrame:
    # Kept on disk too: at 1,000,000 customers reading and normalising the 10.7 M entries took
    # 3 to 4 s of the Loyalty screen's first load in a new process.
    # A frame with text kept as Python objects (read through the session) is not kept.
    return diskcopy.kept_arrays(_disk_slot(session, "normalised_ledger"), lambda: _normalised_read(session=session),
                                diskcopy.frame_arrays, diskcopy.frame_from_arrays)


def _normalised_read(*, session: Session) -> pd.DataFrame:
    cols = analytics_ledger.read_columns(session=session)
    if cols is None:
        return normalise_entries(read_entries(session=session, details=False, stored_expiries=False))
    if readcache.fits(cols):
        # The normalised frame (about the columns' size) will be kept, and nothing else reads the
        # raw entries: let them go now rather than after (377 MB at 1,000,000 customers, held
        # through the normalisation and the history's build: the app's peak). A frame that
        # turns out not to fit is computed again from a new read, as before.
        source.release(session, "loyalty_entry")
    return _normalised_columns(cols)


def _normalised_columns(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """normalise_entries(read_entries(details=False, stored_expiries=False)) from the columns of
    core.analytics.ledger.read_columns: the kinds as small codes (only the rare kinds not spelt
    exactly as earn, redeem, ... cleaned in Python), and no by_programme column: a member with
    one of the programme's own expire entries is found by normalise_entries' rules anyway.
    Kept in memory, so compact (normalised_frame's ``compact``): ``kind`` a categorical of the
    cleaned words, no ``expires_at`` or ``_pos``, ``_c`` int32."""
    code = cols["kind_code"].copy()
    words = list(KINDS)
    if len(cols["odd_at"]):
        cleaned = clean_kinds(pd.Series(cols["odd_kind"], dtype=object))
        odd_code = kind_codes(cleaned).astype("int64")
        other = odd_code < 0
        extra, extra_code = np.unique(cleaned[other].astype(str), return_inverse=True)
        words += extra.tolist()
        odd_code[other] = len(KINDS) + extra_code
        code[cols["odd_at"]] = np.where(other, -1, odd_code).astype("int8")
        full = cols["kind_code"].astype("int32")
        full[cols["odd_at"]] = odd_code
    else:
        full = code.astype("int32")
    # The kinds as a categorical (one byte a row, not a string): every reader compares them
    # with words (== "earn", != "expire"), which a categorical answers alike.
    kind = pd.Categorical.from_codes(full, categories=pd.Index(words, dtype="str"))
    return normalised_frame(
        pd.Index(cols["id"], name="id"), customer_id=cols["customer_id"], occurred=cols["occurred_at"],
        kind=kind, kind_code=code, points=cols["points"], expires=cols["expires_at"],
        computed=cols["computed"], by_programme=np.zeros(len(code), dtype=bool),
        expiry_months=get_settings().points_expiry_months, rule_months=cols.get("expiry_months"), compact=True)


def normalised_ledger(*, session: Session) -> pd.DataFrame:
    """Every entry the computation uses (all but the ``expire`` entries Hearth computed itself),
    through :func:`normalise_entries`: read and normalised once per data generation of the
    ledger and the settings (core.readcache), whatever the as-of dates asked for. The frame is
    shared: select from it, do not change it. Read from the stored columns it is compact
    (:func:`_normalised_columns`: ``kind`` categorical, no ``expires_at`` or ``_pos``, ``_c``
    int32); :func:`core.loyalty.history.norm_before` gives each date's rows their ``_pos`` and
    int64 ``_c``. Once it is kept, the raw read of the entries is let go
    (core.analytics.source.release): nothing else reads it in a screen's run."""
    frame = _normalised(session=session)
    if readcache.fits(frame):
        source.release(session, "loyalty_entry")
    return frame


def ledger_kept(*, session: Session) -> bool:
    """Whether the normalised ledger of the current data generation is kept in memory, so its
    entries need no read (a reader deciding what to read ahead asks this first)."""
    return bool(_normalised.kept(session=session))


@cached(tables=("loyalty_entry",), shared=True)
def _history(*, session: Session) -> LedgerHistory:
    # Kept on this machine's disk too, by the same key (core.analytics.diskcopy): a new process
    # at 1,000,000 customers reads it back in well under a second instead of reading the
    # 10.7 M entries (9 s) and building it (5 s).
    return diskcopy.kept_arrays(_disk_slot(session, "ledger_history"),
                                lambda: build_history(normalised_ledger(session=session)), history_arrays,
                                history_from_arrays)


def ledger_history(*, session: Session) -> LedgerHistory:
    """The whole ledger's lots and sums (core.loyalty.history), computed once per data generation
    of the ledger and the settings, from :func:`normalised_ledger`; every as-of date's state is
    read from it. Shared: do not change it."""
    return _history(session=session)


def _ns(at: pd.Timestamp) -> int:
    return int(_i8(np.array([pd.Timestamp(at)]))[0])


def ledger_state(*, session: Session, as_of: date) -> LedgerState:
    """The whole computation for one as-of date, from the stored entries: the entries before
    its cutoff, their lots (as compute_lots gives them) and :func:`customer_balances`, read from
    :func:`ledger_history` (computed once per data generation) by filters and sums; readers use
    :func:`ledger_summary`, which remembers its results."""
    return _state_of(ledger_history(session=session), normalised_ledger(session=session), as_of)


def _state_of(h: LedgerHistory, norm: pd.DataFrame, as_of: date) -> LedgerState:
    """:func:`ledger_state` of the normalised entries ``norm`` (the whole ledger, or some members'
    own entries: every figure of a member depends on that member's entries only) and their
    history ``h``."""
    cut = cutoff_for(as_of)
    norm_d, members = norm_before(h, norm, _ns(cut))
    lots = lots_as_of(h, norm_d, members, _ns(cut))
    sums = member_sums(h, _ns(cut), earned_from=_ns(_earned_window_start(as_of) + _DAY))
    balances = _balances(norm_d, lots, sums, as_of, parse_tiers())
    return LedgerState(as_of=as_of, norm=norm_d, lots=lots, balances=balances)


FLOW_COLUMNS = ("earned", "redeemed", "adjusted", "reversed", "expired")
_TOTALS = ["customer_id", "earned", "redeemed", "adjusted", "reversed", "expired", "balance"]
_POINTS = pa.int64()
# The columns and types of what is kept per member (an empty or all-missing column keeps them).
_TOTALS_SCHEMA = pa.schema([(c, _POINTS) for c in _TOTALS])
_BALANCES_SCHEMA = pa.schema([
    *((c, _POINTS) for c in _TOTALS), ("expiring_points", _POINTS), ("next_expiry_date", pa.date32()),
    ("earned_12m", _POINTS), ("tier", pa.string()), ("tier_drop_date", pa.date32())])
_MONTHS_SCHEMA = pa.schema([("customer_id", _POINTS), ("month", pa.int32()),
                            *((c, _POINTS) for c in FLOW_COLUMNS)])


def _per_member(session: Session, what: str, key: tuple, schema: pa.Schema,
                whole: Callable[[], pd.DataFrame],
                some: Callable[[pd.DataFrame, LedgerHistory], pd.DataFrame], *, by_customer: bool = True) -> pa.Table:
    """A table of per-member rows (column customer_id, ``schema``), kept per data generation of
    the ledger and ``key`` in memory and on this machine's disk; after a write to the ledger a
    copy of an earlier generation is brought up to date by computing again only the members the
    change log names (core.analytics.source.kept_per_customer): ``some(norm, history)`` of their
    own entries, normalised and their history built as for the whole ledger (each member's lots,
    expiries and sums depend on that member's entries only: core.loyalty.history), without the
    whole ledger's history. Otherwise ``whole()``. Sorted by customer_id when ``by_customer``
    (a copy when rows were brought up to date: left out for a table only summed)."""

    def compute(members: np.ndarray | None) -> pa.Table:
        if members is not None:
            cols = analytics_ledger.columns_of(
                changelog.of_customers(source.read_table(session, "loyalty_entry"), members))
            if cols is not None:  # else the entries need the general path (analytics_ledger.read_columns)
                if not len(cols["id"]):
                    return schema.empty_table()
                norm = _normalised_columns(cols)
                return pa.Table.from_pandas(some(norm, build_history(norm)), schema=schema, preserve_index=False)
        out = whole()
        if members is not None:
            out = out[out["customer_id"].isin(members)]
        return pa.Table.from_pandas(out, schema=schema, preserve_index=False)

    table = source.kept_per_customer(session, "loyalty_entry", what, key, compute)
    ids = table.column("customer_id").to_numpy()
    if by_customer and len(ids) > 1 and not (ids[1:] >= ids[:-1]).all():
        table = table.take(np.argsort(ids, kind="stable"))
    return table


@cached(tables=("loyalty_entry",))
def ledger_totals(*, session: Session, as_of: date) -> pd.DataFrame:
    """Per member as of the end of ``as_of``: customer_id, earned, redeemed, adjusted, reversed,
    expired, balance (points), the columns of :func:`customer_balances` the KPIs read, without
    tiers, expiry dates or monthly flows: a filter and grouped sums over :func:`ledger_history`
    (tens of milliseconds per date once the history is computed; kept per data generation of
    the ledger and the settings, in memory and on this machine's disk). After a write to the
    ledger only the members written are computed again, from their own entries (:func:`_per_member`).
    Sorted by customer_id."""
    cut = _ns(cutoff_for(as_of))
    return _per_member(
        session, "ledger_totals", (as_of.isoformat(), readcache.settings_key()), _TOTALS_SCHEMA,
        lambda: member_sums(ledger_history(session=session), cut).reset_index()[_TOTALS],
        lambda _norm, h: member_sums(h, cut).reset_index()[_TOTALS]).to_pandas()


@cached(tables=("loyalty_entry",))
def ledger_balances(*, session: Session, as_of: date) -> pd.DataFrame:
    """:func:`ledger_state`'s balances at ``as_of`` (core.loyalty.lots.customer_balances: one row
    per member, sorted by customer_id), kept per data generation of the ledger and the settings
    in memory and on this machine's disk; after a write to the ledger only the members written
    are computed again, from their own entries (:func:`_per_member`): at 1,000,000 customers a
    small import no longer makes the Loyalty screen wait for the whole ledger's history (7 to 9 s)."""
    table = _per_member(
        session, "ledger_balances", (as_of.isoformat(), readcache.settings_key()), _BALANCES_SCHEMA,
        lambda: ledger_state(session=session, as_of=as_of).balances,
        lambda norm, h: _state_of(h, norm, as_of).balances)
    return diskcopy.table_frame(table)


@cached(tables=("loyalty_entry",))
def monthly_as_of(*, session: Session, as_of: date, months: int = 24) -> pd.DataFrame:
    """:func:`summary_by_month` of :func:`ledger_state` for ``as_of``, from each member's flows
    per month (core.loyalty.history.member_month_sums, the months before the ``months`` shown
    carried in as one row per member), kept per data generation of the ledger and the settings
    in memory and on this machine's disk; after a write to the ledger only the members written
    are computed again (:func:`_per_member`). Raises ValueError for ``months`` < 1."""
    if months < 1:
        raise ValueError("the monthly summary needs at least one month")
    cut = _ns(cutoff_for(as_of))
    first = pd.Period(as_of, "M").ordinal - months + 1
    table = _per_member(
        session, "ledger_months", (as_of.isoformat(), months, readcache.settings_key()), _MONTHS_SCHEMA,
        lambda: member_month_sums(ledger_history(session=session), cut, first),
        lambda _norm, h: member_month_sums(h, cut, first), by_customer=False)
    # Summed by month as integers (exact) by Arrow, over the kept columns as they are (no copy of
    # 5.6 M rows at 1,000,000 customers); a month without flows is reindexed in by _monthly_table.
    sums = table.group_by("month").aggregate([(name, "sum") for name in FLOW_COLUMNS]).sort_by("month")
    by = pd.DataFrame({name: sums.column(f"{name}_sum").to_numpy() for name in FLOW_COLUMNS},
                      index=pd.PeriodIndex.from_ordinals(sums.column("month").to_numpy().astype("int64"),
                                                         freq="M").rename("month"))
    return _monthly_table(by, as_of, months)



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
    by = point_flows(state).groupby("month")[list(FLOW_COLUMNS)].sum()
    return _monthly_table(by, state.as_of, months)


def _monthly_table(by: pd.DataFrame, as_of: date, months: int) -> pd.DataFrame:
    """:func:`summary_by_month` from the flows summed per month (``by``, index Period "M")."""
    last = pd.Period(as_of, "M")
    all_months = pd.period_range(end=last, periods=months, freq="M")
    start = all_months[0]
    carried = by[by.index < start]
    base = int((carried["earned"] + carried["adjusted"] - carried["reversed"] - carried["redeemed"]
                - carried["expired"]).sum())
    by = by.reindex(all_months, fill_value=0).astype("int64")
    net = by["earned"] + by["adjusted"] - by["reversed"] - by["redeemed"] - by["expired"]
    by["outstanding_points"] = base + net.cumsum()
    by["liability"] = [money.to_units(points_value_cents(p)) for p in by["outstanding_points"]]
    by.index = by.index.to_timestamp()
    return by.rename_axis("month").reset_index()


def tier_mix(balances: pd.DataFrame) -> pd.DataFrame:
    """Members per tier (tier, customers), tiers lowest first."""
    order = [t.name for t in parse_tiers()]
    counts = balances["tier"].value_counts()
    return pd.DataFrame({"tier": order, "customers": [int(counts.get(n, 0)) for n in order]})
