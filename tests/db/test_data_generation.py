"""Figures kept between requests are never stale: every write, by any writer, moves the data
generation (database triggers, db.generation) that core.readcache keys them by.

Expected values are added up by hand from the rows each test writes, never by the code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from core import kpis, loyalty, readcache
from db import generation
from db.models import Customer
from tests.factories import make_customer, make_loyalty, make_order

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 6, 30)  # the window (D - 90, D] holds 2026-04-02 ... 2026-06-30


def _store(session: Session) -> dict[str, str]:
    """Two customers, three orders in the window (10 + 20 + 30 = 60.00) and one before it,
    and a ledger of 1,000 points earned. Returns the external ids used below."""
    a = make_customer(session, external_id="GEN-A")
    b = make_customer(session, external_id="GEN-B")
    make_order(session, a, datetime(2026, 6, 1, 10), 10.0, external_id="GEN-O1")
    make_order(session, a, datetime(2026, 6, 20, 10), 20.0, external_id="GEN-O2")
    make_order(session, b, datetime(2026, 6, 25, 10), 30.0, external_id="GEN-O3")
    make_order(session, b, datetime(2026, 1, 5, 10), 99.0, external_id="GEN-O0")  # before the window
    make_loyalty(session, a, datetime(2026, 6, 1, 10), "earn", 1000, expires_at=datetime(2027, 6, 1),
                 external_id="GEN-L1")
    session.commit()
    return {"a": str(a.id), "b": str(b.id)}


def _kpis(engine: Engine) -> dict:
    with Session(engine) as session:
        return kpis.compute_kpis(session=session, as_of=AS_OF, horizon_days=90)


def test_every_watched_table_has_its_counter_and_triggers(engine: Engine) -> None:
    with engine.connect() as conn:
        state = dict(generation.read(conn))
    assert set(state) == {generation.EPOCH, *generation.WATCHED, generation.STAMPS}
    assert len(state[generation.STAMPS]) == len(generation.WATCHED)
    tables = {t.name for t in SQLModel.metadata.sorted_tables}
    assert set(generation.WATCHED) <= tables
    assert "audit_log" not in generation.WATCHED  # every sign-in writes it: no figure reads it


def test_insert_update_delete_move_the_generation_and_a_rollback_does_not(engine: Engine) -> None:
    def orders_n() -> int:
        with engine.connect() as conn:
            return dict(generation.read(conn, ["orders"]))["orders"]

    with Session(engine) as session:
        _store(session)
    start = orders_n()
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = total_cents + 100 WHERE external_id = 'GEN-O1'"))
    after_update = orders_n()
    assert after_update > start
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM orders WHERE external_id = 'GEN-O0'"))
    after_delete = orders_n()
    assert after_delete > after_update
    with engine.connect() as conn:
        tx = conn.begin()
        conn.execute(text("DELETE FROM orders WHERE external_id = 'GEN-O1'"))
        tx.rollback()
    assert orders_n() == after_delete


def test_the_kpis_change_right_after_a_raw_update_and_delete(engine: Engine) -> None:
    with Session(engine) as session:
        _store(session)
    first = _kpis(engine)
    assert (first["orders"], first["revenue"]) == (3, 60.0)
    hits = readcache.stats()["hits"]
    assert _kpis(engine)["revenue"] == 60.0
    assert readcache.stats()["hits"] > hits  # the second read was served from memory

    # Outside any Hearth code path, as a psql session or another tool would.
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 4500 WHERE external_id = 'GEN-O3'"))
    assert (_kpis(engine)["orders"], _kpis(engine)["revenue"]) == (3, 75.0)  # 10 + 20 + 45
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM orders WHERE external_id = 'GEN-O2'"))
    assert (_kpis(engine)["orders"], _kpis(engine)["revenue"]) == (2, 55.0)  # 10 + 45
    with engine.begin() as conn:
        conn.execute(text("UPDATE customer SET segment = 'vip' WHERE external_id = 'GEN-A'"))
    with Session(engine) as session:
        vip = kpis.compute_kpis(session=session, as_of=AS_OF, horizon_days=90, segment="vip")
    assert (vip["orders"], vip["revenue"]) == (1, 10.0)


def test_a_restored_backup_written_differently_is_never_served_the_lost_figures(engine: Engine) -> None:
    with Session(engine) as session:
        _store(session)
    assert _kpis(engine)["revenue"] == 60.0  # 10 + 20 + 30
    with engine.connect() as conn:
        backup = conn.execute(text("SELECT table_name, n, stamp FROM data_generation")).all()
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 4500 WHERE external_id = 'GEN-O3'"))
    assert _kpis(engine)["revenue"] == 75.0  # 10 + 20 + 45, kept under the orders' next counter
    # The backup restored: its rows and its counters (a dump holds the data_generation table).
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 3000 WHERE external_id = 'GEN-O3'"))
        for name, n, stamp in backup:
            conn.execute(text("UPDATE data_generation SET n = :n, stamp = :s WHERE table_name = :t"),
                         {"n": n, "s": stamp, "t": name})
    assert _kpis(engine)["revenue"] == 60.0
    # Another write than before the restore: the same counter as the 45.00 state, other data.
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 5000 WHERE external_id = 'GEN-O3'"))
    assert _kpis(engine)["revenue"] == 80.0  # 10 + 20 + 50, not the 75.00 kept before the restore


def test_the_loyalty_liability_changes_right_after_a_raw_delete(engine: Engine) -> None:
    with Session(engine) as session:
        ids = _store(session)
        customer = session.get(Customer, int(ids["a"]))
        make_loyalty(session, customer, datetime(2026, 6, 10), "redeem", -200, external_id="GEN-R1")
        session.commit()
    assert _kpis(engine)["loyalty_liability"] == 8.0  # (1,000 - 200) points x 0.01
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM loyalty_entry WHERE external_id = 'GEN-R1'"))
    assert _kpis(engine)["loyalty_liability"] == 10.0


def test_reads_in_a_session_with_uncommitted_writes_are_not_kept(engine: Engine) -> None:
    with Session(engine) as session:
        _store(session)
    with Session(engine) as session:
        session.execute(text("UPDATE orders SET total_cents = 100000 WHERE external_id = 'GEN-O1'"))
        inside = kpis.compute_kpis(session=session, as_of=AS_OF, horizon_days=90)
        assert inside["revenue"] == 1050.0  # its own write
        session.rollback()
    assert _kpis(engine)["revenue"] == 60.0  # the rolled-back figure was not kept


@pytest.mark.postgres
def test_two_concurrent_redemptions_committed_out_of_id_order_both_show(db_url: str, engine: Engine) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")
    with Session(engine) as session:
        ids = _store(session)

    def redeemed() -> int:
        with Session(engine) as session:
            return loyalty.loyalty_kpis(session=session, as_of=AS_OF)["redeemed"]

    assert redeemed() == 0
    insert = text("INSERT INTO loyalty_entry (id, external_id, customer_id, occurred_at, kind, points, computed) "
                  "VALUES (COALESCE(:id, nextval(pg_get_serial_sequence('loyalty_entry', 'id'))), :x, :c, "
                  "'2026-06-15 12:00', 'redeem', :p, false) RETURNING id")
    # Writer A takes the lower id first but commits last; writer B commits in between.
    with engine.connect() as conn_a:
        tx_a = conn_a.begin()
        id_a = conn_a.execute(text("SELECT nextval(pg_get_serial_sequence('loyalty_entry', 'id'))")).scalar()
        with engine.begin() as conn_b:
            id_b = conn_b.execute(insert, {"id": None, "x": "GEN-RB", "c": int(ids["a"]), "p": -200}).scalar()
        assert id_a < id_b
        assert redeemed() == 200  # kept in memory now, under B's generation
        conn_a.execute(insert, {"id": id_a, "x": "GEN-RA", "c": int(ids["a"]), "p": -100})
        tx_a.commit()
    with engine.connect() as conn:  # the independent sum
        by_sql = -conn.execute(text("SELECT sum(points) FROM loyalty_entry WHERE kind = 'redeem'")).scalar()
    assert by_sql == 300
    assert redeemed() == 300


@pytest.mark.postgres
def test_two_writers_of_one_table_both_count_while_one_waits_for_the_other(db_url: str, engine: Engine) -> None:
    """The statement trigger's counter row is locked until commit: the second writer waits,
    then adds its own increment (no lost update)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")
    with Session(engine) as session:
        _store(session)
    with engine.connect() as conn:
        start = dict(generation.read(conn, ["orders"]))["orders"]
    done = threading.Event()

    def writer_b() -> None:
        with engine.begin() as conn_b:
            conn_b.execute(text("UPDATE orders SET total_cents = 2100 WHERE external_id = 'GEN-O2'"))
        done.set()

    with engine.connect() as conn_a:
        tx_a = conn_a.begin()
        conn_a.execute(text("UPDATE orders SET total_cents = 1100 WHERE external_id = 'GEN-O1'"))
        thread = threading.Thread(target=writer_b)
        thread.start()
        waited = not done.wait(0.5)  # B waits for A's counter row (asserted once A let go)
        tx_a.commit()
    thread.join(30)
    assert waited
    assert done.is_set()
    with engine.connect() as conn:
        assert dict(generation.read(conn, ["orders"]))["orders"] == start + 2
    assert _kpis(engine)["revenue"] == 62.0  # 11 + 21 + 30


REPLICA = textwrap.dedent("""
    import json, sys
    from datetime import date
    from sqlalchemy import text
    from sqlmodel import Session
    from core import kpis
    from db.engine import get_engine

    engine = get_engine(sys.argv[1])
    for line in sys.stdin:
        command = line.split()
        if command[0] == "write":
            with engine.begin() as conn:
                conn.execute(text("UPDATE orders SET total_cents = :t WHERE external_id = :x"),
                             {"t": round(float(command[2]) * 100), "x": command[1]})
        with Session(engine) as session:
            figure = kpis.compute_kpis(session=session, as_of=date(2026, 6, 30), horizon_days=90)
        print(json.dumps({"revenue": figure["revenue"], "orders": figure["orders"]}), flush=True)
""")


def test_two_replicas_on_one_database_never_disagree_after_a_write(db_url: str, engine: Engine) -> None:
    """This process and a second Python process, each with its own kept figures, read the same
    database; whoever writes, both show the new figure on their next read."""
    with Session(engine) as session:
        _store(session)
    replica = subprocess.Popen([sys.executable, "-c", REPLICA, db_url], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)

    def ask(line: str) -> dict:
        replica.stdin.write(line + "\n")
        replica.stdin.flush()
        return json.loads(replica.stdout.readline())

    def here() -> dict:
        figure = _kpis(engine)
        return {"revenue": figure["revenue"], "orders": figure["orders"]}

    try:
        assert here() == ask("read") == {"revenue": 60.0, "orders": 3}  # both keep it now
        with engine.begin() as conn:  # a write by this replica
            conn.execute(text("UPDATE orders SET total_cents = 3500 WHERE external_id = 'GEN-O3'"))
        assert ask("read") == here() == {"revenue": 65.0, "orders": 3}
        assert ask("write GEN-O1 15") == {"revenue": 70.0, "orders": 3}  # a write by the other one
        assert here() == {"revenue": 70.0, "orders": 3}
    finally:
        replica.stdin.close()
        replica.wait(60)
    assert replica.returncode == 0


def test_a_bulk_insert_moves_the_generation_and_leaves_every_trigger_in_place(engine: Engine) -> None:
    import pandas as pd

    from db.bulk import bulk_insert
    from db.models import Order

    with Session(engine) as session:
        ids = _store(session)
    _kpis(engine)  # kept
    with engine.connect() as conn:
        before = dict(generation.read(conn, ["orders"]))["orders"]
    rows = pd.DataFrame({"external_id": ["GEN-B1", "GEN-B2"], "customer_id": [int(ids["a"])] * 2,
                         "ordered_at": [datetime(2026, 6, 2), datetime(2026, 6, 3)], "total_cents": [100, 200]})
    with engine.begin() as conn:
        bulk_insert(conn, Order.__table__, rows)
    with engine.connect() as conn:
        assert dict(generation.read(conn, ["orders"]))["orders"] > before
    assert (_kpis(engine)["orders"], _kpis(engine)["revenue"]) == (5, 63.0)  # 60 + 1 + 2
    with engine.begin() as conn:  # the row triggers are back for every other writer
        conn.execute(text("UPDATE orders SET total_cents = 400 WHERE external_id = 'GEN-B2'"))
    assert _kpis(engine)["revenue"] == 65.0
    with engine.connect() as conn:  # a failed bulk write rolls back and leaves them too
        tx = conn.begin()
        with pytest.raises(Exception):  # noqa: B017 - the duplicate key, whatever the driver calls it
            bulk_insert(conn, Order.__table__, rows)
        tx.rollback()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM orders WHERE external_id = 'GEN-B1'"))
    assert _kpis(engine)["revenue"] == 64.0


def test_the_migration_goes_down_to_the_precomputed_table_and_up_again(engine: Engine) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from db.migrate import alembic_config, is_at_head, upgrade_to_head

    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0011_tasks")
        tables = set(inspect(engine).get_table_names())
        assert "precomputed_result" in tables and "data_generation" not in tables
        with engine.begin() as conn:  # writes work without the counters (no trigger is left)
            # Raw SQL: the schema of 0011 still has the float `total` (0013 made it whole cents).
            conn.execute(text("INSERT INTO customer (id, external_id, email_opt_in, sms_opt_in, created_at, "
                              "updated_at) VALUES (1, 'GEN-A', false, false, '2026-01-01', '2026-01-01')"))
            conn.execute(text("INSERT INTO orders (external_id, customer_id, ordered_at, total) "
                              "VALUES ('GEN-O0', 1, '2026-01-05 10:00:00', 99.0)"))
    finally:
        upgrade_to_head(engine)
    assert is_at_head(engine)
    tables = set(inspect(engine).get_table_names())
    assert "precomputed_result" not in tables and "data_generation" in tables
    with engine.connect() as conn:
        before = dict(generation.read(conn, ["orders"]))["orders"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT total_cents FROM orders WHERE external_id = 'GEN-O0'")).scalar() == 9900
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM orders WHERE external_id = 'GEN-O0'"))
    with engine.connect() as conn:
        assert dict(generation.read(conn, ["orders"]))["orders"] > before
