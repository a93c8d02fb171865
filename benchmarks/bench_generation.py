"""What the data generation costs: its triggers on a bulk insert, and checking it per read.

    python -m benchmarks.bench_generation                      # 1.5 M orders, SQLite and PostgreSQL
    python -m benchmarks.bench_generation --orders 200000 --backend sqlite

For each backend, two fresh databases at the newest schema, the same 100,000 customers, and
the same N order rows inserted through db.bulk.bulk_insert (as the importer and the demo
generator do): one with the orders table's generation triggers (as every database has them)
and, side by side in the same run, the bare anchor with those triggers dropped. Then the
cost of one generation check (what core.readcache does per kept read) and of a kept read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

from db import generation
from db.bulk import bulk_insert
from db.engine import get_engine, normalise_url
from db.migrate import upgrade_to_head
from db.models import Customer, Order

PG_ADMIN_URL = os.environ.get("HEARTH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _frames(customers: int, orders: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    cust = pd.DataFrame({"id": np.arange(1, customers + 1), "external_id": [f"C{i:07d}" for i in range(customers)],
                         "signup_date": date(2024, 1, 1)})
    start = np.datetime64("2024-01-01T00:00:00")
    seconds = rng.integers(0, 3 * 365 * 86400, orders).astype("timedelta64[s]")
    ords = pd.DataFrame({"external_id": [f"O{i:08d}" for i in range(orders)],
                         "customer_id": rng.integers(1, customers + 1, orders),
                         "ordered_at": pd.to_datetime(start + seconds),
                         "total_cents": rng.integers(500, 20000, orders)})
    return cust, ords


def _insert(url: str, cust: pd.DataFrame, ords: pd.DataFrame, *, triggers: bool, per_row: bool = False) -> float:
    """Seconds to bulk-insert ``ords``; ``per_row``: with SQLite's row triggers firing for each
    row (what a writer other than db.bulk pays), not moved once by generation.bulk_write."""
    import contextlib

    engine = get_engine(url)
    upgrade_to_head(engine)
    with engine.begin() as conn:
        if not triggers:
            for statement in generation.drop_statements(conn.dialect.name, ["orders"])[:-1]:
                conn.exec_driver_sql(statement)
        bulk_insert(conn, Customer.__table__, cust)
    saved = generation.bulk_write
    if per_row:
        generation.bulk_write = lambda _conn, _table: contextlib.nullcontext()  # type: ignore[assignment]
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        with engine.begin() as conn:
            bulk_insert(conn, Order.__table__, ords, rebuild_indexes=True)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        generation.bulk_write = saved
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM orders")).scalar()
        moved = dict(generation.read(conn, ["orders"]))["orders"]
    assert n == len(ords)
    label = "row triggers firing" if per_row else "with triggers" if triggers else "without triggers"
    # CPU seconds of this process too: SQLite works in-process, and on a shared machine the
    # wall time mostly measures the other jobs.
    print(f"    {label}: {seconds:.2f} s wall, {cpu:.2f} s CPU here "
          f"({len(ords) / seconds:,.0f} rows/s; orders generation {moved})", flush=True)
    return seconds


def _check_cost(url: str, reads: int = 2000) -> None:
    from sqlmodel import Session

    from core import kpis, readcache

    engine = get_engine(url)
    started = time.perf_counter()
    for _ in range(reads):
        with engine.connect() as conn:
            generation.read(conn)
    check = (time.perf_counter() - started) / reads
    with Session(engine) as session:
        kpis.compute_kpis(session=session, as_of=date(2026, 12, 31), horizon_days=90)  # computed and kept
    started = time.perf_counter()
    for _ in range(200):
        with Session(engine) as session:
            kpis.compute_kpis(session=session, as_of=date(2026, 12, 31), horizon_days=90)
    hit = (time.perf_counter() - started) / 200
    print(f"    one generation check {check * 1000:.2f} ms; a kept compute_kpis read {hit * 1000:.2f} ms "
          f"({readcache.stats()})", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_generation")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_500_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args(argv)
    cust, ords = _frames(args.customers, args.orders)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        print(f"{backend}: {args.orders:,} orders for {args.customers:,} customers", flush=True)
        if backend == "sqlite":
            workdir = Path(tempfile.mkdtemp(prefix="hearth-generation-"))
            try:
                with_t = _insert(f"sqlite:///{workdir / 'with.db'}", cust, ords, triggers=True)
                without = _insert(f"sqlite:///{workdir / 'without.db'}", cust, ords, triggers=False)
                per_row = _insert(f"sqlite:///{workdir / 'rows.db'}", cust, ords, triggers=True, per_row=True)
                print(f"  row triggers firing for every row would add {per_row - without:+.2f} s", flush=True)
                _check_cost(f"sqlite:///{workdir / 'with.db'}")
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        else:
            admin = create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
            names = [f"hearth_gen_{uuid.uuid4().hex[:8]}" for _ in range(2)]
            urls = [PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + n for n in names]
            try:
                with admin.connect() as conn:
                    for n in names:
                        conn.execute(text(f'CREATE DATABASE "{n}"'))
                with_t = _insert(urls[0], cust, ords, triggers=True)
                without = _insert(urls[1], cust, ords, triggers=False)
                _check_cost(urls[0])
            finally:
                for url in urls:
                    get_engine(url).dispose()
                with admin.connect() as conn:
                    for n in names:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'))
                admin.dispose()
        print(f"  the triggers add {with_t - without:+.2f} s ({(with_t / without - 1) * 100:+.0f} %)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
