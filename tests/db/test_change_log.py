"""The change log (db.generation, migration 0018) and reads brought up to date from it
(core.analytics.changelog): after a write, a process holding an older copy of a table reads only
the rows written since, and gets exactly what a whole read gives.

Expected ids and figures are written down from the rows each test writes; the "whole read" each
patched copy is compared with is a plain SQL query through SQLAlchemy, not the code under test.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core import kpis, loyalty, readcache
from core.analytics import changelog, diskcopy, source
from core.config import get_settings
from core.kpis import activity
from db import bulk, generation
from db.models import Customer, Order
from tests.factories import make_customer, make_loyalty, make_order

ROOT = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 6, 30).date()


def _state(engine: Engine, table: str) -> tuple[int, int, int]:
    with engine.connect() as conn:
        state = changelog.state_of(generation.read(conn, [table]))
    assert state is not None
    return state


def _changed(engine: Engine, table: str, old: tuple[int, int, int], what: str = "ids") -> list[int] | None:
    new = _state(engine, table)
    with engine.connect() as conn:
        rows = conn.execute(text(changelog.log_sql(table, old[1], new[1]))).all()
    log = pd.DataFrame(rows, columns=["n", "stamp", "row_id", "customer_id", "whole"], dtype="Int64")
    changes = changelog.changed_since(pa.Table.from_pandas(log, preserve_index=False), old, new)
    return None if changes is None else getattr(changes, what).tolist()


def _store(session: Session) -> dict[str, int]:
    a = make_customer(session, external_id="CL-A")
    b = make_customer(session, external_id="CL-B")
    o1 = make_order(session, a, datetime(2026, 6, 1, 10), 10.0, external_id="CL-O1")
    o2 = make_order(session, a, datetime(2026, 6, 20, 10), 20.0, external_id="CL-O2")
    o3 = make_order(session, b, datetime(2026, 6, 25, 10), 30.0, external_id="CL-O3")
    session.commit()
    return {"a": a.id, "b": b.id, "o1": o1.id, "o2": o2.id, "o3": o3.id}


def _orders_by_sql(engine: Engine) -> list[tuple[int, int, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT id, customer_id, total_cents FROM orders ORDER BY id"))]


def _orders_read(table) -> list[tuple[int, int, int]]:  # noqa: ANN001 - an Arrow table
    frame = table.to_pandas().sort_values("id")
    return list(zip(frame["id"].tolist(), frame["customer_id"].tolist(), frame["total_cents"].tolist(), strict=True))


def test_each_write_logs_the_ids_of_the_rows_it_touched(engine: Engine, session: Session) -> None:
    ids = _store(session)
    before = _state(engine, "orders")
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 4500 WHERE external_id = 'CL-O3'"))
        conn.execute(text("UPDATE orders SET total_cents = 1 WHERE external_id = 'no such order'"))
        conn.execute(text("DELETE FROM orders WHERE external_id = 'CL-O1'"))
    assert _changed(engine, "orders", before) == sorted([ids["o1"], ids["o3"]])
    assert _changed(engine, "orders", before, "customers") == sorted([ids["a"], ids["b"]])
    # An order moved to another customer: both customers changed.
    moved = _state(engine, "orders")
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET customer_id = :b WHERE external_id = 'CL-O2'"), {"b": ids["b"]})
    assert _changed(engine, "orders", moved) == [ids["o2"]]
    assert _changed(engine, "orders", moved, "customers") == sorted([ids["a"], ids["b"]])
    # Nothing written since: nothing to bring up to date.
    assert _changed(engine, "orders", _state(engine, "orders")) is None  # the same state: no patch
    # A small bulk insert (an import of a small file, db.bulk) names its rows too.
    small = _state(engine, "orders")
    frame = pd.DataFrame({"external_id": ["CL-S1", "CL-S2"], "customer_id": [ids["a"], ids["b"]],
                          "ordered_at": datetime(2026, 6, 29, 9), "total_cents": 999})
    with engine.begin() as conn:
        assert bulk.bulk_insert(conn, Order.__table__, frame) == 2
        new_ids = sorted(r[0] for r in conn.execute(text("SELECT id FROM orders WHERE external_id LIKE 'CL-S%'")))
    assert _changed(engine, "orders", small) == new_ids
    assert _changed(engine, "orders", small, "customers") == sorted([ids["a"], ids["b"]])
    # A rolled-back write logs nothing and moves nothing.
    middle = _state(engine, "orders")
    with engine.connect() as conn:
        conn.execute(text("DELETE FROM orders"))
        conn.rollback()
    assert _state(engine, "orders") == middle


def test_the_log_refuses_what_it_cannot_tell(engine: Engine, session: Session) -> None:
    ids = _store(session)
    before = _state(engine, "orders")
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 4500 WHERE external_id = 'CL-O3'"))
    assert _changed(engine, "orders", before) == [ids["o3"]]
    # Another state with the same counter (a restored backup, another database): its stamp differs.
    epoch, n, stamp = before
    assert _changed(engine, "orders", (epoch, n, stamp + 1)) is None
    assert _changed(engine, "orders", (epoch + 1, n, stamp)) is None
    # A bulk write of more than LOG_ROWS rows does not say which rows it touched.
    many = generation.LOG_ROWS + 1
    frame = pd.DataFrame({"external_id": [f"CL-B{i}" for i in range(many)], "customer_id": ids["a"],
                          "ordered_at": datetime(2026, 6, 29, 9), "total_cents": 999})
    with engine.begin() as conn:
        assert bulk.bulk_insert(conn, Order.__table__, frame) == many
    assert _changed(engine, "orders", before) is None
    # A trimmed log (the copy's own generation gone) cannot tell either.
    after_bulk = _state(engine, "orders")
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 5 WHERE external_id = 'CL-O2'"))
    assert _changed(engine, "orders", after_bulk) == [ids["o2"]]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM data_change WHERE table_name = 'orders' AND n = :n"), {"n": after_bulk[1]})
    assert _changed(engine, "orders", after_bulk) is None


def test_a_kept_read_is_brought_up_to_date_by_the_rows_written_since(
        engine: Engine, session: Session, caplog: pytest.LogCaptureFixture) -> None:
    ids = _store(session)
    source.forget_reads()
    with Session(engine) as s:
        assert kpis.compute_kpis(session=s, as_of=AS_OF, horizon_days=90)["revenue"] == 60.0
    make_order(session, session.get(Customer, ids["b"]), datetime(2026, 6, 28, 10), 7.0, external_id="CL-O4")
    session.commit()
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 4500 WHERE external_id = 'CL-O3'"))
        conn.execute(text("DELETE FROM orders WHERE external_id = 'CL-O1'"))
    with caplog.at_level(logging.INFO, logger="hearth.read"), Session(engine) as s:
        figures = kpis.compute_kpis(session=s, as_of=AS_OF, horizon_days=90)
        table = source.read_table(s, "orders")
    # 20.00 + 45.00 + 7.00: the update, the delete and the new order all show.
    assert (figures["orders"], figures["revenue"]) == (3, 72.0)
    assert _orders_read(table) == _orders_by_sql(engine)
    assert "orders brought up to date from the change log: 3 rows written since, 2 read" in caplog.text


def test_rows_an_insert_or_replace_removes_are_logged_too(
        engine: Engine, session: Session, caplog: pytest.LogCaptureFixture) -> None:
    # SQLite's INSERT OR REPLACE deletes the row it conflicts with without a DELETE trigger: the
    # copy kept CL-O2 (20.00) beside its replacement, 4 orders and 80.00 where there are 3 and
    # 60.00; replacing CL-O3 by its own id with another customer left B's figures as they were.
    if engine.dialect.name != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's; PostgreSQL's ON CONFLICT DO UPDATE fires the update trigger")
    ids = _store(session)
    source.forget_reads()
    with Session(engine) as s:
        assert kpis.compute_kpis(session=s, as_of=AS_OF, horizon_days=90)["revenue"] == 60.0
    with engine.begin() as conn:
        # The same order by its external id under a new row id, unchanged; CL-O3 by its own id,
        # moved to customer A and raised to 35.00.
        conn.execute(text("INSERT OR REPLACE INTO orders (external_id, customer_id, ordered_at, total_cents) "
                          "SELECT external_id, customer_id, ordered_at, total_cents FROM orders "
                          "WHERE external_id = 'CL-O2'"))
        conn.execute(text(f"REPLACE INTO orders (id, external_id, customer_id, ordered_at, total_cents) "
                          f"VALUES ({ids['o3']}, 'CL-O3', {ids['a']}, '2026-06-25 10:00:00', 3500)"))
    with caplog.at_level(logging.INFO, logger="hearth.read"), Session(engine) as s:
        figures = kpis.compute_kpis(session=s, as_of=AS_OF, horizon_days=90)
        table = source.read_table(s, "orders")
    # 10.00 + 20.00 + 35.00 in three orders, all A's: B is no longer active.
    assert (figures["orders"], figures["revenue"], figures["active_customers"]) == (3, 65.0, 1)
    assert _orders_read(table) == _orders_by_sql(engine)
    assert "orders brought up to date from the change log" in caplog.text


def test_the_ledger_read_leaves_hearths_computed_expiries_out_also_when_brought_up_to_date(
        engine: Engine, session: Session, caplog: pytest.LogCaptureFixture) -> None:
    # The shared read of the ledger holds every entry but Hearth's own computed expiries
    # (core.analytics.source.READS); rows written since a kept read are patched in under the same
    # condition: an entry that becomes a computed expiry leaves the read, one that stops being
    # one comes in.
    ids = _ledger_store(session)
    a = session.get(Customer, ids["a"])
    make_loyalty(session, a, datetime(2026, 6, 2, 10), "expire", -10, external_id="CL-X1", computed=True)
    make_loyalty(session, a, datetime(2026, 6, 3, 10), "expire", -20, external_id="CL-X2", computed=True)
    session.commit()
    source.forget_reads()

    def by_sql() -> list[str]:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text(
                "SELECT external_id FROM loyalty_entry WHERE NOT (kind = 'expire' AND computed) ORDER BY id"))]

    def read() -> list[str]:
        with Session(engine) as s:
            table = source.read_table(s, "loyalty_entry")
        with engine.connect() as conn:
            names = dict(conn.execute(text("SELECT id, external_id FROM loyalty_entry")).all())
        return [names[i] for i in sorted(table.column("id").to_pylist())]

    assert read() == by_sql() == ["CL-L1", "CL-L2", "CL-L3"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE loyalty_entry SET kind = 'expire', computed = true, points = -200 "
                          "WHERE external_id = 'CL-L3'"))
        conn.execute(text("UPDATE loyalty_entry SET computed = false WHERE external_id = 'CL-X2'"))
    with caplog.at_level(logging.INFO, logger="hearth.read"):
        assert read() == by_sql() == ["CL-L1", "CL-L2", "CL-X2"]
    assert "loyalty_entry brought up to date from the change log: 2 rows written since, 1 read" in caplog.text
    # The expiry job still sees the computed expiries (read apart): all of them, with the rest.
    with Session(engine) as s:
        everything = loyalty.read_entries(session=s, details=False)
        counted = loyalty.read_entries(session=s, details=False, stored_expiries=False)
    assert len(everything) == 5 and sorted(everything["points"]) == [-200, -20, -10, 500, 1000]
    assert sorted(counted["points"]) == [-20, 500, 1000]


def test_a_new_process_brings_the_disk_copy_up_to_date(db_url: str, engine: Engine, session: Session,
                                                        tmp_path: Path) -> None:
    _store(session)
    folder = tmp_path / "copies"
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s'); "
            "from core.__main__ import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "DATABASE_URL": db_url, "HEARTH_DISK_CACHE_DIR": str(folder), "HEARTH_ENV": "demo"}

    def run() -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-c", code, "kpis", "--json", "--as-of", "2026-06-30",
                               "--horizon-days", "90"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    assert '"revenue": 60.0' in run().stdout
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 4500 WHERE external_id = 'CL-O3'"))
    done = run()
    assert '"revenue": 75.0' in done.stdout  # 10 + 20 + 45
    assert "orders brought up to date from the change log: 1 rows written since, 1 read" in done.stderr


def _ledger_store(session: Session) -> dict[str, int]:
    """Orders 10.00 and 20.00 (A), 30.00 (B) in (D - 90, D]; A earns 1,000 points, B earns 500
    and redeems 200: 1,300 points outstanding, 13.00 at 0.01 a point."""
    ids = _store(session)
    a, b = session.get(Customer, ids["a"]), session.get(Customer, ids["b"])
    make_loyalty(session, a, datetime(2026, 6, 1, 10), "earn", 1000, expires_at=datetime(2027, 6, 1),
                 external_id="CL-L1")
    make_loyalty(session, b, datetime(2026, 6, 5, 10), "earn", 500, expires_at=datetime(2027, 6, 5),
                 external_id="CL-L2")
    make_loyalty(session, b, datetime(2026, 6, 10, 10), "redeem", -200, external_id="CL-L3")
    session.commit()
    return ids


def _figures(engine: Engine) -> tuple[dict, pa.Table, pd.DataFrame]:
    with Session(engine) as s:
        figures = kpis.compute_kpis(session=s, as_of=AS_OF, horizon_days=90)
        periods = activity.order_periods(session=s, as_of=AS_OF, horizon_days=90)
        totals = loyalty.ledger_totals(session=s, as_of=AS_OF)
    diskcopy.wait()
    return figures, periods, totals


def _by_customer(table: pa.Table) -> list[dict]:
    return table.to_pandas().sort_values("customer_id").to_dict("records")


@pytest.fixture
def disk_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Copies kept in a folder of the test's own (the settings read again), as between processes."""
    monkeypatch.setenv("HEARTH_DISK_CACHE_DIR", str(tmp_path / "copies"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_per_customer_figures_are_computed_again_only_for_the_customers_written(
        engine: Engine, session: Session, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        disk_copy: None) -> None:
    ids = _ledger_store(session)
    figures, _periods, _totals = _figures(engine)
    assert (figures["orders"], figures["revenue"], figures["loyalty_liability"]) == (3, 60.0, 13.0)

    c = make_customer(session, external_id="CL-C")
    make_order(session, c, datetime(2026, 6, 28, 10), 5.0, external_id="CL-O5")
    make_loyalty(session, c, datetime(2026, 6, 28, 10), "earn", 300, expires_at=datetime(2027, 6, 28),
                 external_id="CL-L4")
    session.commit()
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 4500 WHERE external_id = 'CL-O2'"))
        conn.execute(text("DELETE FROM loyalty_entry WHERE external_id = 'CL-L3'"))
    with caplog.at_level(logging.INFO, logger="hearth.read"):
        figures, periods, totals = _figures(engine)
    # 10 + 45 + 30 + 5 = 90.00 in four orders; 1,000 + 500 + 300 points outstanding = 18.00.
    assert (figures["orders"], figures["revenue"], figures["loyalty_liability"]) == (4, 90.0, 18.0)
    assert "order_periods brought up to date from the change log: 2 customers computed again" in caplog.text
    assert "ledger_totals brought up to date from the change log: 2 customers computed again" in caplog.text
    by_id = {r["customer_id"]: r for r in totals.to_dict("records")}
    assert {k: (v["earned"], v["redeemed"], v["balance"]) for k, v in by_id.items()} == {
        ids["a"]: (1000, 0, 1000), ids["b"]: (500, 0, 500), c.id: (300, 0, 300)}
    assert totals["customer_id"].is_monotonic_increasing

    # The same tables computed whole, with no copy to start from.
    monkeypatch.setenv("HEARTH_DISK_CACHE_DIR", "off")
    get_settings.cache_clear()
    readcache.clear()
    source.forget_reads()
    _figures_whole, periods_whole, totals_whole = _figures(engine)
    assert _figures_whole == figures
    assert _by_customer(periods) == _by_customer(periods_whole)
    assert totals.to_dict("records") == totals_whole.to_dict("records")
    get_settings.cache_clear()


def _summary(engine: Engine) -> loyalty.LedgerSummary:
    with Session(engine) as s:
        summary = loyalty.ledger_summary(session=s, as_of=AS_OF)
    diskcopy.wait()
    return summary


def test_the_loyalty_screens_balances_and_months_are_computed_again_only_for_the_members_written(
        engine: Engine, session: Session, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        disk_copy: None) -> None:
    ids = _ledger_store(session)
    # C earns 300 in March 2025 (expiring 1 Sep 2025) and redeems 100 in May: 200 expire in September.
    c = make_customer(session, external_id="CL-C")
    make_loyalty(session, c, datetime(2025, 3, 1, 10), "earn", 300, expires_at=datetime(2025, 9, 1),
                 external_id="CL-L5")
    make_loyalty(session, c, datetime(2025, 5, 10, 10), "redeem", -100, external_id="CL-L6")
    session.commit()
    before = _summary(engine)
    assert int(before.balances["balance"].sum()) == 1300
    assert before.monthly.set_index("month").loc["2025-09-01", "expired"] == 200

    # B's redemption of 200 taken back; C redeems 50 more in August 2025, so 150 expire.
    make_loyalty(session, c, datetime(2025, 8, 1, 10), "redeem", -50, external_id="CL-L7")
    session.commit()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM loyalty_entry WHERE external_id = 'CL-L3'"))
    readcache.clear()  # a new process: only the disk copy of the earlier generation is left
    source.forget_reads()
    with caplog.at_level(logging.INFO, logger="hearth.read"):
        after = _summary(engine)
    assert "ledger_balances brought up to date from the change log: 2 customers computed again" in caplog.text
    assert "ledger_months brought up to date from the change log: 2 customers computed again" in caplog.text
    rows = after.balances.set_index("customer_id")[["earned", "redeemed", "expired", "balance"]]
    assert {k: tuple(int(x) for x in v) for k, v in zip(rows.index, rows.to_numpy(), strict=True)} == {
        ids["a"]: (1000, 0, 0, 1000), ids["b"]: (500, 0, 0, 500), c.id: (300, 150, 150, 0)}
    monthly = after.monthly.set_index("month")
    assert len(monthly) == loyalty.SUMMARY_MONTHS and monthly.index[0] == pd.Timestamp("2024-07-01")
    flows = {m.strftime("%Y-%m"): (int(r["earned"]), int(r["redeemed"]), int(r["expired"]))
             for m, r in monthly.iterrows() if r["earned"] or r["redeemed"] or r["expired"]}
    assert flows == {"2025-03": (300, 0, 0), "2025-05": (0, 100, 0), "2025-08": (0, 50, 0),
                     "2025-09": (0, 0, 150), "2026-06": (1500, 0, 0)}
    assert monthly["outstanding_points"].tolist()[-1] == 1500
    assert monthly.loc["2025-12-01", "outstanding_points"] == 0

    # The same summary computed whole, with no copy to start from.
    monkeypatch.setenv("HEARTH_DISK_CACHE_DIR", "off")
    get_settings.cache_clear()
    readcache.clear()
    source.forget_reads()
    whole = _summary(engine)
    pd.testing.assert_frame_equal(after.balances, whole.balances)
    pd.testing.assert_frame_equal(after.monthly, whole.monthly)
    get_settings.cache_clear()


@pytest.mark.parametrize("gone", [[], [1], [1, 2, 3], [5, 9], [10], list(range(1, 201, 2)), [0, 999]])
def test_rows_written_are_replaced_and_every_other_row_kept_once(gone: list[int]) -> None:
    # ids 1..200 in two chunks (as a table brought up once already); ``gone`` rewritten or deleted.
    base = pa.concat_tables([pa.table({"id": pa.array(range(1, 101), pa.int64()), "v": pa.array([0] * 100)}),
                             pa.table({"id": pa.array(range(101, 201), pa.int64()), "v": pa.array([0] * 100)})])
    rewritten = [g for g in gone if 1 <= g <= 200][:1]  # the first one comes back with v = 7
    fresh = pa.table({"id": pa.array(rewritten, pa.int64()), "v": pa.array([7] * len(rewritten))})
    out = changelog.apply(base, pd.Series(gone, dtype="int64").to_numpy(), fresh).to_pandas()
    kept = [i for i in range(1, 201) if i not in gone]
    assert sorted(out["id"]) == sorted(kept + rewritten)  # each id once
    assert out.set_index("id")["v"].to_dict() == {**{i: 0 for i in kept}, **{i: 7 for i in rewritten}}
