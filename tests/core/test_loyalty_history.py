"""The ledger's whole history computed once, each as-of date read from it (core.loyalty.history).

The rules are causal: a lot's fate at its expiry instant depends only on the entries before
that instant (and the credits of that instant), so the lots of the whole ledger, cut at any
date, are the lots of that date. Pinned here on hand-built ledgers (every figure worked out by
hand in the comments) and, on random ledgers, against the point-by-point reference of
test_loyalty_properties and the per-date computation (compute_lots of the entries before the
cutoff).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import get_settings
from core.loyalty import KINDS, LedgerState, compute_lots, cutoff_for, normalise_entries, parse_tiers, point_flows
from core.loyalty import history as loyalty_history
from core.loyalty import ledger as loyalty_ledger
from core.loyalty.history import (
    _stable_argsort,
    build_history,
    expiry_events_as_of,
    lots_as_of,
    member_month_sums,
    member_sums,
    norm_before,
)
from core.loyalty.lots import _balances, _fifo_order, _member_sums, expiry_events
from tests.core.test_loyalty_properties import BASE, PROPERTY, Reference, _rows, ledgers


def _ns(at) -> int:
    return int(pd.Timestamp(at).value)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """(customer, occurred_at, kind, points, expires_at, computed) rows, ids 1.. in this order."""
    frame = pd.DataFrame(rows, columns=["customer_id", "occurred_at", "kind", "points", "expires_at", "computed"])
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="id")
    return frame


def _at(norm, as_of: date) -> pd.DataFrame:
    h = build_history(norm)
    return member_sums(h, _ns(cutoff_for(as_of)))


def _months(h, cut: int) -> pd.DataFrame:
    """Each member's flows per month (member_month_sums, nothing folded) summed by month: index
    Period "M", columns earned, redeemed, adjusted, reversed, expired."""
    per = member_month_sums(h, cut, 0)
    by = per.groupby("month")[["earned", "redeemed", "adjusted", "reversed", "expired"]].sum()
    by.index = pd.PeriodIndex.from_ordinals(by.index.to_numpy(dtype="int64"), freq="M").rename("month")
    return by


HAND = _frame([
    # 1: an expiry exactly at a cutoff, and an entry backdated (entered last, earned first).
    (1, datetime(2024, 1, 1), "earn", 100, datetime(2024, 3, 1), False),
    (1, datetime(2024, 2, 10), "redeem", -30, None, False),
    # 2: the programme's own expiry row: the member's points expire by the programme only.
    (2, datetime(2024, 1, 10), "earn", 400, None, False),
    (2, datetime(2024, 3, 10), "expire", -150, None, False),
    # 3: a promotion that expires before older points (out of earning order).
    (3, datetime(2024, 1, 1), "earn", 300, datetime(2024, 12, 1), False),
    (3, datetime(2024, 1, 5), "earn", 100, datetime(2024, 1, 20), False),
    (3, datetime(2024, 1, 10), "redeem", -50, None, False),
    (3, datetime(2024, 2, 1), "redeem", -120, None, False),
    # 4: a credit, an expiry and a redemption in the same instant (2024-06-01 00:00).
    (4, datetime(2024, 1, 1), "earn", 80, datetime(2024, 6, 1), False),
    (4, datetime(2024, 6, 1), "earn", 50, None, False),
    (4, datetime(2024, 6, 1), "redeem", -40, None, False),
    # 5: Hearth's own written expiry (computed) counts for nothing; the rule expires it.
    (5, datetime(2024, 1, 15), "earn", 60, None, False),
    (5, datetime(2025, 1, 15), "expire", -60, None, True),
    (1, datetime(2023, 12, 15), "earn", 50, datetime(2024, 12, 15), False),
])


def _figures(as_of: date) -> dict[int, tuple[int, int, int, int]]:
    out = _at(normalise_entries(HAND, expiry_months=12), as_of)
    return {int(c): (int(r.earned), int(r.redeemed), int(r.expired), int(r.balance)) for c, r in out.iterrows()}


def test_an_expiry_at_the_cutoff_counts_from_the_next_day_and_a_backdated_lot_is_used_first():
    # Customer 1: the backdated 50 (2023-12-15) is the oldest lot, so the redemption of 30
    # takes 30 of it and the 100 stays whole. The 100 expires at 2024-03-01 00:00: the cutoff of
    # 2024-02-29, so not yet then (120 left), and all 100 from 2024-03-01 on (20 left); the last
    # 20 expire at 2024-12-15 00:00.
    assert _figures(date(2024, 2, 29))[1] == (150, 30, 0, 120)
    assert _figures(date(2024, 3, 1))[1] == (150, 30, 100, 20)
    assert _figures(date(2024, 12, 14))[1] == (150, 30, 100, 20)
    assert _figures(date(2024, 12, 15))[1] == (150, 30, 120, 0)
    # Before the backdated entry's date only nothing; on it only the 50.
    assert 1 not in _figures(date(2023, 12, 14))
    assert _figures(date(2023, 12, 15))[1] == (50, 0, 0, 50)


def test_a_programme_expiry_row_is_the_only_expiry_of_its_member():
    # Customer 2: 400 earned; the programme expires 150 on 2024-03-10; Hearth's 12-month rule
    # does not expire the 250 left on 2025-01-10 (the programme decides), at any date.
    assert _figures(date(2024, 3, 9))[2] == (400, 0, 0, 400)
    assert _figures(date(2024, 3, 10))[2] == (400, 0, 150, 250)
    assert _figures(date(2025, 6, 1))[2] == (400, 0, 150, 250)
    # Also on a date before the row: the member's ledger holds one at some time.
    assert _figures(date(2025, 2, 1))[2][3] == 250


def test_an_out_of_order_expiry_keeps_to_the_oldest_points_first():
    # Customer 3: 300 (to 2024-12-01) then a promotion of 100 (to 2024-01-20). The redemption of
    # 50 on 01-10 takes the oldest points (300 -> 250); the promotion's 100 expire whole on
    # 01-20; 120 on 02-01 leave 130 of the 300, which expire on 2024-12-01.
    assert _figures(date(2024, 1, 19))[3] == (400, 50, 0, 350)
    assert _figures(date(2024, 1, 20))[3] == (400, 50, 100, 250)
    assert _figures(date(2024, 2, 1))[3] == (400, 170, 100, 130)
    assert _figures(date(2024, 12, 1))[3] == (400, 170, 230, 0)


def test_within_an_instant_credits_then_expiries_then_debits():
    # Customer 4, at 2024-06-01 00:00: the 50 is credited, the 80 expire, then the redemption
    # of 40 takes 40 of the 50 (it cannot use the 80 that expired at that very instant).
    assert _figures(date(2024, 5, 31))[4] == (80, 0, 0, 80)
    assert _figures(date(2024, 6, 1))[4] == (130, 40, 80, 10)
    # Hearth's own expire entry (computed) is not a debit: the rule's expiry of the 60 on
    # 2025-01-15 is, once.
    assert _figures(date(2025, 1, 14))[5] == (60, 0, 0, 60)
    assert _figures(date(2025, 1, 15))[5] == (60, 0, 60, 0)


def test_what_is_left_of_each_lot_as_of_a_date():
    norm = normalise_entries(HAND, expiry_months=12)
    h = build_history(norm)
    cut = _ns(cutoff_for(date(2024, 2, 15)))
    nd, members = norm_before(h, norm, cut)
    lots = lots_as_of(h, nd, members, cut).set_index("entry")
    # Customer 1: 50 backdated (20 left after 30 redeemed on 02-10), 100 whole. Customer 3: the
    # 300 has 130 left (50 and 120 redeemed), the promotion expired with its 100 on 01-20.
    assert lots.loc[14, ["expired", "remaining", "consumed"]].tolist() == [0, 20, 30]
    assert lots.loc[1, ["expired", "remaining", "consumed"]].tolist() == [0, 100, 0]
    assert lots.loc[5, ["expired", "remaining", "consumed"]].tolist() == [0, 130, 170]
    assert lots.loc[6, ["expired", "remaining", "consumed"]].tolist() == [100, 0, 0]
    # Entries after the cutoff are no lot yet (customer 4's 2024-06-01 earn).
    assert 10 not in lots.index


def _with_programme_rows(draw_rows: pd.DataFrame, rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    extra = pd.DataFrame([{"customer_id": c, "occurred_at": BASE + timedelta(days=d), "kind": "expire",
                           "points": -p, "expires_at": None, "computed": False} for c, d, p in rows])
    frame = draw_rows.assign(computed=False)
    frame = pd.concat([frame, extra], ignore_index=True) if len(extra) else frame.reset_index(drop=True)
    return frame.astype({"customer_id": "int64"})  # as read from a store (an empty draw is untyped)


@PROPERTY
@given(frame=ledgers(max_customers=4), cut_days=st.lists(st.integers(-2, 140), min_size=1, max_size=6),
       programme=st.lists(st.tuples(st.integers(1, 4), st.integers(0, 70), st.integers(1, 30)), max_size=3))
def test_every_date_from_the_history_equals_that_dates_own_computation(frame, cut_days, programme):
    frame = _with_programme_rows(frame, programme)
    if frame.empty:
        return  # no column types to compare (an empty store reads typed columns: see the dumps)
    norm = normalise_entries(frame, expiry_months=1)
    h = build_history(norm)
    for day in cut_days:
        as_of = (BASE + timedelta(days=day)).date()
        cut = cutoff_for(as_of)
        own = norm[norm["occurred_at"] < cut].copy()
        own["_pos"] = np.arange(len(own), dtype="int64")
        own["_c"] = pd.factorize(own["customer_id"])[0].astype("int64")
        own_lots = compute_lots(own, cutoff=cut)
        nd, members = norm_before(h, norm, _ns(cut))
        pd.testing.assert_frame_equal(nd, own)
        pd.testing.assert_frame_equal(lots_as_of(h, nd, members, _ns(cut)), own_lots)
        window = pd.Timestamp(as_of) - pd.DateOffset(months=12) + pd.Timedelta(days=1)
        pd.testing.assert_frame_equal(member_sums(h, _ns(cut), earned_from=_ns(window)),
                                      _member_sums(own, own_lots, as_of))
        pd.testing.assert_frame_equal(expiry_events_as_of(h, _ns(cut)), expiry_events(own_lots, cutoff=cut),
                                      check_index_type=False, check_dtype=False)
        if not programme:
            # And against the rule book read literally, point by point.
            sums = member_sums(h, _ns(cut))
            for customer in own["customer_id"].unique():
                ref = Reference(_rows(own, customer), cut.to_pydatetime()).run()
                expired = sum(lot["expired"] for lot in ref.lots)
                left = sum(lot["remaining"] for lot in ref.lots) - ref.debt
                assert (int(sums.loc[customer, "expired"]), int(sums.loc[customer, "balance"])) == (expired, left)


@PROPERTY
@given(frame=ledgers(max_customers=3), day=st.integers(-2, 140))
def test_months_from_the_history_are_the_flows_summed(frame, day):
    norm = normalise_entries(frame, expiry_months=1)
    h = build_history(norm)
    as_of = (BASE + timedelta(days=day)).date()
    cut = cutoff_for(as_of)
    own = norm[norm["occurred_at"] < cut]
    lots = compute_lots(own, cutoff=cut)
    # point_flows by hand: entries by their month, lot expiries by their expiry's month.
    months = {}
    for t, kind, credit, debit, pts in zip(own["occurred_at"], own["kind"], own["credit"], own["debit"],
                                           own["points"], strict=True):
        m = months.setdefault(pd.Period(t, "M"), [0, 0, 0, 0, 0])
        m[0] += credit if kind == "earn" else 0
        m[1] += debit if kind == "redeem" else 0
        m[2] += pts if kind == "adjust" else 0
    for t, x in zip(lots["expires_at"], lots["expired"], strict=True):
        if x and t < cut:
            months.setdefault(pd.Period(t, "M"), [0, 0, 0, 0, 0])[4] += x
    got = _months(h, _ns(cut))
    got = got[(got != 0).any(axis=1)]
    want = {p: v for p, v in months.items() if any(v)}
    assert {p: list(map(int, r)) for p, r in zip(got.index, got.to_numpy(), strict=True)} == want


@pytest.mark.parametrize("dense", [True, False], ids=["cells counted in place", "cells sorted"])
@PROPERTY
@given(frame=ledgers(max_customers=4), day=st.integers(-2, 140), shown=st.integers(1, 5))
def test_member_months_are_each_members_flows_by_month(dense, frame, day, shown):
    norm = normalise_entries(frame, expiry_months=1)
    h = build_history(norm)
    as_of = (BASE + timedelta(days=day)).date()
    cut = cutoff_for(as_of)
    first = pd.Period(as_of, "M").ordinal - shown + 1
    state = LedgerState(as_of=as_of, norm=norm[norm["occurred_at"] < cut],
                        lots=compute_lots(norm[norm["occurred_at"] < cut], cutoff=cut), balances=pd.DataFrame())
    # point_flows (one row per movement) by member and month, every month before the first
    # shown folded into the month before it.
    flows = point_flows(state)
    flows["month"] = np.maximum(flows["month"].map(lambda p: p.ordinal).astype("int64"), first - 1)
    names = ["earned", "redeemed", "adjusted", "reversed", "expired"]
    want = flows.groupby(["customer_id", "month"])[names].sum()
    want = {k: list(map(int, v)) for k, v in zip(want.index, want.to_numpy(), strict=True) if any(v)}
    kept = loyalty_history._DENSE_CELLS
    loyalty_history._DENSE_CELLS = kept if dense else 0
    try:
        got = member_month_sums(h, _ns(cut), first)
    finally:
        loyalty_history._DENSE_CELLS = kept
    assert list(got.columns) == ["customer_id", "month", *names]
    assert got["customer_id"].is_monotonic_increasing
    got = {(int(c), int(m)): list(map(int, v)) for c, m, *v in got.itertuples(index=False) if any(v)}
    assert got == want


@PROPERTY
@given(frame=ledgers(max_customers=4), day=st.integers(-2, 140), keep=st.sets(st.integers(1, 4)))
def test_some_members_state_from_their_own_entries_is_their_rows_of_the_whole(frame, day, keep):
    # What a write to the ledger recomputes (core.loyalty.ledger._per_member): the members
    # written, from their own entries only, must give exactly their rows of the whole ledger's.
    as_of = (BASE + timedelta(days=day)).date()
    whole_norm = normalise_entries(frame, expiry_months=1)
    whole = loyalty_ledger._state_of(build_history(whole_norm), whole_norm, as_of).balances
    own = frame[frame["customer_id"].isin(keep)]
    if own.empty:
        return
    some_norm = normalise_entries(own, expiry_months=1)
    some = loyalty_ledger._state_of(build_history(some_norm), some_norm, as_of).balances
    pd.testing.assert_frame_equal(_plain(some), _plain(whole[whole["customer_id"].isin(keep)]))


def _plain(balances: pd.DataFrame) -> pd.DataFrame:
    # pandas types the text and date columns by their values (str or object; object dates, or
    # datetime64 when every one is missing): the same values, one type.
    out = balances.reset_index(drop=True).astype({"tier": object})
    for name in ("next_expiry_date", "tier_drop_date"):
        out[name] = pd.to_datetime(out[name])
    return out


def test_fifo_order_is_the_three_key_lexsort():
    # The packed-key shortcut (rows in time order) and its fallbacks (a same-instant pair whose
    # later row expires first; rows not in time order) all give np.lexsort((le, lo, lc)).
    rng = np.random.default_rng(7)
    for trial in range(60):
        n = int(rng.integers(0, 40))
        lc = rng.integers(0, 5, n).astype("int64")
        lo = np.sort(rng.integers(0, 8, n)).astype("int64")
        le = lo + rng.integers(0, 3, n) * 10 if trial % 3 else lo + 5
        if trial % 4 == 0:
            lo = rng.permutation(lo)
        assert _fifo_order(lc, lo, le).tolist() == np.lexsort((le, lo, lc)).tolist()
    # By hand: member 1's two lots at instant 3 expire at 30 then 20: the second comes first.
    lc, lo, le = (np.array(v, dtype="int64") for v in ([1, 0, 1, 1], [1, 2, 3, 3], [50, 40, 30, 20]))
    assert _fifo_order(lc, lo, le).tolist() == [1, 0, 3, 2]


def test_stable_argsort_is_numpys_stable_argsort():
    # Packed keys (values on a common step) and the fallback (a span too wide to pack), with ties.
    rng = np.random.default_rng(11)
    for v in (rng.integers(0, 6, 50) * 86_400 * 10**9 + 10**18, rng.integers(-3, 3, 40),
              np.array([2**62, -(2**62), 5, 5, 2**62], dtype="int64"), np.zeros(0, dtype="int64")):
        v = np.asarray(v, dtype="int64")
        assert _stable_argsort(v).tolist() == np.argsort(v, kind="stable").tolist()
    assert _stable_argsort(np.array([30, 10, 30, 10], dtype="int64")).tolist() == [1, 3, 0, 2]


def _store_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """(the entries a store holding ``frame`` gives the shared computation, and them as
    core.analytics.ledger.read_columns gives them): every entry but those whose kind is exactly
    ``expire`` and computed; kinds not spelt exactly as one of KINDS are odd_kind."""
    kept = frame[~((frame["kind"] == "expire") & frame["computed"])]
    kinds = kept["kind"].to_numpy(dtype=object)
    code = pd.Index(KINDS).get_indexer(kinds).astype("int8")
    odd = np.flatnonzero(code < 0)
    when = {c: pd.to_datetime(kept[c]).to_numpy(dtype="datetime64[ns]") for c in ("occurred_at", "expires_at")}
    return kept, {"id": kept.index.to_numpy(dtype="int64"), "customer_id": kept["customer_id"].to_numpy(dtype="int64"),
                  "points": kept["points"].to_numpy(dtype="int64"), **when,
                  "computed": kept["computed"].to_numpy(dtype=bool), "kind_code": code, "odd_at": odd,
                  "odd_kind": kinds[odd]}


_ODD = {"earn": ["earn", " Earn", "earn", "earn"], "redeem": ["redeem", "REDEEM ", "redeem", "redeem"],
        "adjust": ["adjust", "reverse", " Reverse", "bonus"]}


@PROPERTY
@given(frame=ledgers(max_customers=4), cut_days=st.lists(st.integers(-2, 140), min_size=1, max_size=4),
       programme=st.lists(st.tuples(st.integers(1, 4), st.integers(0, 70), st.integers(1, 30)), max_size=3),
       odd=st.lists(st.integers(0, 3), min_size=60, max_size=60), computed=st.integers(0, 3))
def test_the_compact_shared_ledger_gives_every_figure_of_the_full_frame(frame, cut_days, programme, odd,
                                                                           computed):
    # The shared ledger kept in memory (core.loyalty.normalised_ledger: kinds categorical, no
    # expires_at or _pos, int32 _c) gives the history, each date's rows, lots, sums, months,
    # expiries, flows and balances of normalise_entries' full frame, odd kind spellings, unknown
    # kinds, reversals, the programme's rows and Hearth's computed expiries included; and the
    # sums and months are those of the date's own computation.
    frame = _with_programme_rows(frame, programme)
    if frame.empty:
        return
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="id")
    frame["kind"] = [_ODD.get(k, [k] * 4)[o] for k, o in zip(frame["kind"], odd, strict=False)]
    for c in range(1, computed + 1):  # Hearth's computed expiries, one spelt oddly (kept, not counted)
        frame.loc[len(frame) + 1] = [c, BASE + timedelta(days=30 * c), "expire" if c % 2 else "Expire", -3,
                                     None, True]
    kept, cols = _store_columns(frame)
    full = normalise_entries(kept, expiry_months=get_settings().points_expiry_months)
    compact = loyalty_ledger._normalised_columns(cols)
    assert isinstance(compact["kind"].dtype, pd.CategoricalDtype) and compact["_c"].dtype == "int32"
    assert "expires_at" not in compact.columns and "_pos" not in compact.columns
    hf, hc = build_history(full), build_history(compact)
    for day in cut_days:
        as_of = (BASE + timedelta(days=day)).date()
        cut = _ns(cutoff_for(as_of))
        window = _ns(pd.Timestamp(as_of) - pd.DateOffset(months=12) + pd.Timedelta(days=1))
        sums = member_sums(hc, cut, earned_from=window)
        pd.testing.assert_frame_equal(sums, member_sums(hf, cut, earned_from=window))
        pd.testing.assert_frame_equal(_months(hc, cut), _months(hf, cut))
        pd.testing.assert_frame_equal(expiry_events_as_of(hc, cut), expiry_events_as_of(hf, cut))
        nf, mf = norm_before(hf, full, cut)
        nc, mc = norm_before(hc, compact, cut)
        pd.testing.assert_frame_equal(nc.astype({"kind": nf["kind"].dtype}), nf.drop(columns="expires_at"))
        assert mc.tolist() == mf.tolist()
        lots = lots_as_of(hc, nc, mc, cut)
        pd.testing.assert_frame_equal(lots, lots_as_of(hf, nf, mf, cut))
        state_c, state_f = (LedgerState(as_of=as_of, norm=n, lots=lots, balances=pd.DataFrame()) for n in (nc, nf))
        flows = point_flows(state_c)
        pd.testing.assert_frame_equal(flows, point_flows(state_f))
        pd.testing.assert_frame_equal(sums, _own_figures(full, as_of))
        by_month = flows.groupby("month")[["earned", "redeemed", "adjusted", "reversed", "expired"]].sum()
        months = _months(hc, cut)
        assert months[(months != 0).any(axis=1)].to_dict() == by_month[(by_month != 0).any(axis=1)].to_dict()
        tiers = parse_tiers("Bronze:0,Silver:30,Gold:80")
        pd.testing.assert_frame_equal(_balances(nc, lots, sums.copy(), as_of, tiers),
                                      _balances(nf, lots, sums.copy(), as_of, tiers))


def _own_figures(norm: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """member_sums by the per-date computation (compute_lots of the entries before the cutoff)."""
    cut = cutoff_for(as_of)
    own = norm[norm["occurred_at"] < cut].copy()
    own["_pos"] = np.arange(len(own), dtype="int64")
    own["_c"] = pd.factorize(own["customer_id"])[0].astype("int64")
    return _member_sums(own, compute_lots(own, cutoff=cut), as_of)


def test_the_history_is_int32_where_it_fits_and_int64_beyond():
    small = build_history(normalise_entries(HAND, expiry_months=12))
    narrow = (small.e_key, small.e_v, small.lots["entry"], small.lots["points"], small.lots["expired"],
              small.lot_code, small.lot_s, small.x_c, small.x_v)
    assert all(a.dtype == "int32" for a in narrow)
    # 3e9 points (beyond int32) and ids beyond int32: kept as int64, every figure as per date.
    big = 3_000_000_000
    frame = _frame([
        (1, datetime(2024, 1, 1), "earn", big, datetime(2024, 6, 1), False),
        (1, datetime(2024, 2, 1), "redeem", -5, None, False),
        (2, datetime(2024, 1, 2), "earn", 10, None, False),
        (1, datetime(2024, 3, 1), "earn", 7, datetime(2024, 4, 1), False),
    ])
    frame.index = pd.Index([5_000_000_001, 5_000_000_002, 3, 4], name="id")
    norm = normalise_entries(frame, expiry_months=12)
    h = build_history(norm)
    assert h.e_v.dtype == h.lots["points"].dtype == h.lot_s.dtype == h.x_v.dtype == h.lots["entry"].dtype == "int64"
    for as_of in (date(2024, 1, 1), date(2024, 3, 1), date(2024, 4, 1), date(2024, 6, 1)):
        cut = _ns(cutoff_for(as_of))
        window = _ns(pd.Timestamp(as_of) - pd.DateOffset(months=12) + pd.Timedelta(days=1))
        pd.testing.assert_frame_equal(member_sums(h, cut, earned_from=window), _own_figures(norm, as_of))
        nd, members = norm_before(h, norm, cut)
        own = norm[norm["occurred_at"] < cutoff_for(as_of)]
        lots = lots_as_of(h, nd, members, cut)
        assert lots["entry"].dtype == "int64" and lots["points"].dtype == "int64"
        assert lots.set_index("entry")["points"].to_dict() == {
            e: p for e, p, c in zip(own.index, own["points"], own["credit"], strict=True) if c > 0}
    assert int(member_sums(h, _ns(cutoff_for(date(2024, 6, 1)))).loc[1, "expired"]) == big - 5 + 7


def test_sums_beyond_float64_s_whole_numbers_are_summed_as_integers():
    # 5 x 2**51 points: bincount's float64 sums would round; the history sums them as int64.
    frame = _frame([(1, datetime(2024, 1, d), "earn", 2**51, None, False) for d in range(1, 6)]
                   + [(1, datetime(2024, 1, 9), "redeem", -7, None, False)])
    norm = normalise_entries(frame, expiry_months=0)
    h = build_history(norm)
    assert not h.exact
    got = member_sums(h, _ns(cutoff_for(date(2024, 2, 1))))
    assert int(got.loc[1, "balance"]) == 5 * 2**51 - 7 and int(got.loc[1, "earned"]) == 5 * 2**51
    months = _months(h, _ns(cutoff_for(date(2024, 2, 1))))
    assert int(months["earned"].iloc[0]) == 5 * 2**51 and int(months["redeemed"].iloc[0]) == 7
