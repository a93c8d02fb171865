"""The columnar path (core.analytics): committed data read through ADBC into DuckDB gives the
hand-computed figures of tests/core/test_kpis.py's store, a committed write is seen at once
(also when the reads were started ahead), each as-of date's ledger is what its own entries
give, and oldest-first lots computed as running sums match a hand replay. SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update
from sqlmodel import Session

from core import loyalty
from core.analytics import ledger, source, sqlite_reader
from core.kpis import cohort_matrix, compute_kpis, kpi_trend, retention_extras, revenue_split
from core.loyalty import ledger as loyalty_ledger
from db.models import Order
from tests.core.test_kpis import store  # noqa: F401 - the hand-made store, as a fixture

D = date(2026, 6, 30)


@pytest.fixture
def committed(session, store, engine, monkeypatch):  # noqa: F811
    """The store committed, and a fresh session on it; counts the reads made through ADBC."""
    session.commit()
    calls: list[str] = []
    real = source._read_adbc

    def counting(driver: str, uri: str, sql: str):  # noqa: ANN202
        calls.append(sql.split(" FROM ")[-1])
        return real(driver, uri, sql)

    monkeypatch.setattr(source, "_read_adbc", counting)
    with Session(engine) as fresh:
        yield fresh, store, calls


def test_committed_store_read_as_columns_gives_the_hand_values(committed):
    s, _store, calls = committed
    assert not source.session_writing(s)
    k = compute_kpis(session=s, as_of=D)
    assert set(calls) >= {"customer", "orders", "refund"}  # read through ADBC, not the session
    # The same hand computation as tests/core/test_kpis.py::test_kpis_match_hand_computation.
    assert (k["customers"], k["active_customers"], k["orders"]) == (6, 3, 4)
    assert (k["gross_sales"], k["refunds"], k["revenue"]) == (63.75, 0.0, 63.75)
    assert k["retention_rate"] == pytest.approx(2 / 3) and k["repeat_purchase_rate"] == pytest.approx(3 / 5)
    assert k["loyalty_outstanding_points"] == 70 and k["redemption_rate"] == pytest.approx(30 / 150)
    x = retention_extras(session=s, as_of=D)
    assert (x["lapsed_customers"], x["reactivated_customers"]) == (3, 1)  # B C D; D (see test_kpis)
    assert x["tickets"] == 1  # A's on 2026-06-10; B's is before the window
    reads = len(calls)
    compute_kpis(session=s, as_of=D, segment="home")
    assert len(calls) == reads  # the same transaction reuses its reads


def test_cohorts_trend_and_revenue_mix_by_hand(committed):
    s, _store, _calls = committed
    cohorts = cohort_matrix(session=s, as_of=D, months=12).set_index("cohort")
    # First orders from 2025-07 on: D (2025-07-01, back in 2026-06: offset 11), A (2026-02,
    # back in 2026-05 and 2026-06: offsets 3, 4), B (2026-03), H (2026-04, both orders then).
    assert cohorts.loc["2025-07", "customers"] == 1 and cohorts.loc["2025-07", 11] == 1.0
    assert cohorts.loc["2026-02", 3] == 1.0 and cohorts.loc["2026-02", 4] == 1.0
    assert cohorts.loc["2026-02", 1] == 0.0 and np.isnan(cohorts.loc["2026-02", 5])  # not reached yet
    trend = kpi_trend(session=s, as_of=D, points=2, step_days=28)
    # At D: A D H active, orders 4 (as compute_kpis); at D - 28 = 2026-06-02, window
    # [2026-03-05, 2026-06-03): A (05-05), D (06-01), H (04-01, 04-02): 4 orders, 5 + 7 + 30 + 18.25.
    assert trend["active_customers"].tolist() == [3, 3]
    assert trend["orders"].tolist() == [4, 4]
    assert trend["gross_sales"].tolist() == [60.25, 63.75]
    split = revenue_split(session=s, as_of=D, months=12, horizon_days=60).set_index(["month", "kind"])
    # D's 2026-06-01 order comes 335 days after the previous one: reactivated; A's 2026-05-05 order
    # 84 days after its first: reactivated at H = 60; A's 2026-06-30 order 56 days later: returning.
    assert split.loc[("2026-06", "reactivated"), "gross_sales"] == 18.25
    assert split.loc[("2026-05", "reactivated"), "gross_sales"] == 30.0
    assert split.loc[("2026-06", "returning"), "gross_sales"] == 10.5


def _total_of_orders(s: Session) -> float:
    with source.engine_for(s, ["orders"]) as db:  # whole cents, summed exactly
        return int(db.execute("SELECT sum(total_cents) FROM orders").fetchone()[0]) / 100


def test_a_committed_update_is_seen_within_one_request(committed, engine):
    # The reads kept for a request (core.analytics.source) end when a write to a table they
    # hold commits. (The figures' own cache is issue 17's other part; this is the read path.)
    s, customers, calls = committed
    with source.request_scope():
        assert _total_of_orders(s) == 256.75  # A 60.50, B 40, C 15, D 30.25, G 99 (after D), H 12
        s.commit()
        assert _total_of_orders(s) == 256.75 and calls.count("orders") == 1  # kept for the request
        s.commit()
        with Session(engine) as writer:  # another session, as another screen would
            writer.execute(update(Order).where(Order.customer_id == customers["A"].id,
                                               Order.ordered_at == datetime(2026, 6, 30, 23, 30))
                           .values(total_cents=2050))
            writer.commit()
        assert _total_of_orders(s) == 266.75  # 256.75 - 10.50 + 20.50
        # Brought up to date by reading the one row written (core.analytics.changelog), not the table.
        assert calls.count("orders") == 1
        assert "data_change WHERE table_name = 'orders'" in calls[-2] and calls[-1].endswith("row_id IS NOT NULL)")


def _ns(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype="int64")


def test_oldest_first_lots_as_window_sums_by_hand():
    # Customer 0: lots of 100 (expires at 10), 50 (at 20), 30 (at 40), earned at 0, 1, 2; debits
    # 30 at 5 (from the first lot), 60 at 15 (the first lot expired with 70 at 10: 50 from the
    # second, 10 from the third). Cut at 30: the third lot keeps 20.
    # Customer 1: a lot of 10 expiring at 100, a debit of 15 at 5 (more than it held): nothing
    # expires and nothing remains.
    expired, remaining = ledger.fifo_fates(
        lot_c=_ns([0, 0, 0, 1]), lot_e=_ns([10, 20, 40, 100]), lot_a=_ns([100, 50, 30, 10]),
        deb_c=_ns([0, 0, 1]), deb_t=_ns([5, 15, 5]), deb_v=_ns([30, 60, 15]), cut=30)
    assert expired.tolist() == [70, 0, 0, 0]
    assert remaining.tolist() == [0, 0, 20, 0]
    expired, remaining = ledger.fifo_fates(
        lot_c=_ns([1]), lot_e=_ns([100]), lot_a=_ns([10]), deb_c=_ns([1]), deb_t=_ns([5]), deb_v=_ns([15]),
        cut=200)
    assert (expired.tolist(), remaining.tolist()) == ([0], [0])


def test_oldest_first_lots_of_a_customer_without_debits_between_two_with():
    # Debit bounds are searched once per customer and only for customers with a debit.
    # Customer 0: a lot of 100 expiring at 10, a debit of 30 at 5: 70 expire at 10.
    # Customer 1 (no debit): 40 expiring at 20 expire whole; 25 expiring at 50 remain at 30.
    # Customer 2: 60 expiring at 100, a debit of 10 at 25: 50 remain.
    expired, remaining = ledger.fifo_fates(
        lot_c=_ns([0, 1, 1, 2]), lot_e=_ns([10, 20, 50, 100]), lot_a=_ns([100, 40, 25, 60]),
        deb_c=_ns([0, 2]), deb_t=_ns([5, 25]), deb_v=_ns([30, 10]), cut=30)
    assert expired.tolist() == [70, 40, 0, 0]
    assert remaining.tolist() == [0, 0, 25, 50]
    expired, remaining = ledger.fifo_fates(
        lot_c=_ns([3, 3]), lot_e=_ns([10, 40]), lot_a=_ns([5, 7]), deb_c=_ns([]), deb_t=_ns([]),
        deb_v=_ns([]), cut=30)
    assert (expired.tolist(), remaining.tolist()) == ([5, 0], [0, 7])


def test_oldest_first_a_debit_at_the_expiry_instant_comes_after_it():
    # A debit at the instant a lot expires is not before it: the lot of 100 expiring at 10
    # expires whole, the debit of 30 at 10 finds the lot of 50 (expiring at 40): 20 remain.
    # Same figures with instants on a common step of 10**9, and with a far expiry (2**62 + 40)
    # that cannot be packed as (customer, instant) keys (instants ranked instead).
    for unit, last in ((1, 40), (10**9, 40 * 10**9), (1, 2**62 + 40)):
        expired, remaining = ledger.fifo_fates(
            lot_c=_ns([0, 0]), lot_e=_ns([10 * unit, last]), lot_a=_ns([100, 50]),
            deb_c=_ns([0]), deb_t=_ns([10 * unit]), deb_v=_ns([30]), cut=30 * unit)
        assert (expired.tolist(), remaining.tolist()) == ([100, 0], [0, 20])


def test_grouped_running_maximum_in_place_lifted_and_by_pandas():
    # Runs 0..2 of non-negative values: the lifted running maximum, and pandas' grouped cummax
    # when the lift would not fit in int64 (values near 2**61, three runs); both in place.
    starts, sizes = _ns([0, 3, 5]), _ns([3, 2, 4])
    for scale in (1, 2**61 // 9):
        values = _ns([3, 1, 5, 0, 2, 4, 4, 1, 9]) * scale
        before = values.copy()
        ledger._group_cummax(values, starts, sizes)
        assert (values // scale).tolist() == [3, 3, 5, 0, 2, 4, 4, 4, 9]
        assert values.tolist() == [max(before[a:b + 1]) for a, n in zip(starts, sizes, strict=True)
                                   for b in range(a, a + n)]


def test_oldest_first_lots_leave_their_inputs_as_they_were():
    args = {"lot_c": _ns([0, 0, 0, 1]), "lot_e": _ns([10, 20, 40, 100]), "lot_a": _ns([100, 50, 30, 10]),
            "deb_c": _ns([0, 0, 1]), "deb_t": _ns([5, 15, 5]), "deb_v": _ns([30, 60, 15])}
    copies = {k: v.copy() for k, v in args.items()}
    ledger.fifo_fates(**args, cut=30)
    assert all(np.array_equal(args[k], copies[k]) for k in args)


def test_a_write_after_reads_were_started_ahead_is_seen(committed, engine):
    # source.prefetch starts the reads in the background, keyed by the data generation of the
    # moment; a write committed after that moves the generation, so the next session reads anew.
    s, customers, calls = committed
    source.prefetch(s, ["orders"])
    s.commit()
    with Session(engine) as writer:
        writer.execute(update(Order).where(Order.customer_id == customers["A"].id,
                                           Order.ordered_at == datetime(2026, 6, 30, 23, 30)).values(total_cents=2050))
        writer.commit()
    with Session(engine) as fresh:
        assert _total_of_orders(fresh) == 266.75  # 256.75 - 10.50 + 20.50
    # The read started ahead, and one after the write: whole (when the read ahead was still
    # running), or of the rows written, from the change log (when it had finished and was kept).
    after = [c for c in calls if c.startswith("data_change WHERE table_name = 'orders'")]
    assert calls.count("orders") == 2 or (calls.count("orders") == 1 and after)


@pytest.mark.parametrize("as_of", [D, date(2026, 3, 31), date(2025, 12, 31)])
def test_each_date_s_ledger_is_what_its_own_entries_give(committed, as_of):
    # The ledger is read and normalised once (core.loyalty.normalised_ledger) and each date
    # selects its entries from it; the independent way reads only the entries before the date.
    s, _store, _calls = committed
    entries = loyalty.read_entries(session=s, before=loyalty_ledger._end_of(as_of), details=False,
                                   stored_expiries=False)
    expected = loyalty.customer_balances(entries, as_of=as_of)
    pd.testing.assert_frame_equal(loyalty.ledger_state(session=s, as_of=as_of).balances, expected)
    totals = loyalty.ledger_totals(session=s, as_of=as_of)
    pd.testing.assert_frame_equal(totals, expected[list(totals.columns)])


def test_the_sqlite_reader_hands_rows_over_and_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "small.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(2, "two"), (1, "one"), (3, "three")])
    removed: list[str] = []
    real_unlink = os.unlink
    me = threading.get_ident()  # not the disk copy's writer thread removing an older copy meanwhile
    monkeypatch.setattr(os, "unlink",
                        lambda p: (threading.get_ident() == me and removed.append(p), real_unlink(p))[1])
    table = sqlite_reader.read(f"file:{path}?mode=ro", "SELECT a, b FROM t ORDER BY a")
    assert table.column("a").to_pylist() == [1, 2, 3] and table.column("b").to_pylist() == ["one", "two", "three"]
    assert len(removed) == 1 and not os.path.exists(removed[0])  # the helper's file, mapped then removed
    with pytest.raises(sqlite_reader.ReadError, match="no such column"):
        sqlite_reader.read(f"file:{path}?mode=ro", "SELECT nope FROM t")


def test_ledger_columns_in_id_order_without_hearth_s_own_expiries(session, engine):
    # Four entries by hand: an earn, a programme expiry (kept), Hearth's own computed expiry (left
    # out) and a kind spelt "Redeem " (kept, read as an odd kind). The first entry is then
    # updated, which on PostgreSQL moves its row to the end of the table: the columns still
    # come in id order.
    from tests.factories import make_customer, make_loyalty

    c = make_customer(session, segment="home", region="north")
    earn = make_loyalty(session, c, datetime(2026, 1, 5, 10), "earn", 100)
    programme = make_loyalty(session, c, datetime(2026, 2, 1), "expire", -10, computed=False)
    make_loyalty(session, c, datetime(2026, 3, 1), "expire", -20, computed=True)
    odd = make_loyalty(session, c, datetime(2026, 3, 2), "Redeem ", -5)
    session.commit()
    session.execute(update(type(earn)).where(type(earn).id == earn.id).values(points=120))
    session.commit()
    with Session(engine) as fresh:
        cols = ledger.read_columns(session=fresh)
    assert cols["id"].tolist() == [earn.id, programme.id, odd.id]
    assert cols["points"].tolist() == [120, -10, -5]
    assert cols["kind_code"].tolist() == [0, 2, -1]  # earn, expire, not exactly a word
    assert cols["computed"].tolist() == [False, False, False]
    assert cols["occurred_at"].tolist() == [pd.Timestamp("2026-01-05 10:00").value, pd.Timestamp("2026-02-01").value,
                                            pd.Timestamp("2026-03-02").value]
    assert cols["odd_at"].tolist() == [2] and cols["odd_kind"].tolist() == ["Redeem "]


def test_reads_ahead_run_low_until_a_screen_waits_for_one(committed, engine, monkeypatch):
    # The reads started at app start (source.warm) run at a lower priority (nice + 10) so the
    # first screens keep the CPU; a screen that comes to wait for one of them raises it back.
    import os
    import threading
    import time

    if not hasattr(os, "getpriority"):
        pytest.skip("no per-thread priority here")
    s, _store, _calls = committed
    real = source._fetch
    release, threads = threading.Event(), {}

    def held_fetch(name, todo):  # noqa: ANN001, ANN202
        threads[name] = threading.get_native_id()
        release.wait(20)
        return real(name, todo)

    monkeypatch.setattr(source, "_fetch", held_fetch)
    source.forget_reads()
    base = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        assert source.warm(engine) == len(source.WARM_TABLES)
        started = [future for _gen, future in source._pending.values()]
        deadline = time.monotonic() + 20
        while "orders" not in threads and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.getpriority(os.PRIO_PROCESS, threads["orders"]) == base + source.AHEAD_NICENESS
        def wait_for_orders() -> None:
            with Session(engine) as other:
                source.read_table(other, "orders")

        waiter = threading.Thread(target=wait_for_orders)
        waiter.start()
        may_raise = os.geteuid() == 0
        while time.monotonic() < deadline:
            if os.getpriority(os.PRIO_PROCESS, threads["orders"]) == base or not may_raise:
                break
            time.sleep(0.01)
        expected = base if may_raise else base + source.AHEAD_NICENESS
        assert os.getpriority(os.PRIO_PROCESS, threads["orders"]) == expected
    finally:
        release.set()
    waiter.join(20)
    assert not waiter.is_alive()
    for future in started:  # every read ahead done before the database goes
        future.exception(timeout=20)
