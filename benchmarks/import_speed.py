"""Import speed against a bare pandas load of the same file, on one or more databases.

    python -m benchmarks.import_speed --rows 1500000 \
        --database-url sqlite:////tmp/bench.db --database-url postgresql://postgres@127.0.0.1/bench

Generates a customers file and an orders file of N order rows under --dir (never committed),
then, per database, in one run:

1. the anchor, "bare pandas load": ``pd.read_csv(file)`` + ``DataFrame.to_sql`` into a fresh
   table of the same database (pandas defaults: ``chunksize=None``, ``method=None``, i.e. one
   executemany of plain INSERTs through SQLAlchemy), dropped afterwards;
2. ``pd.read_csv(file)`` alone;
3. Hearth's import of the orders file (read, every check, write, one transaction) into the
   database after its customers were imported, and the ratio of 3 to 1 (the goal: <= 1.5).

A re-import of the same file (everything unchanged) is timed too with ``--again``; with
``--repeat N`` the anchor and the import run N times in turns and the best of each counts.
Prints wall seconds and the process's own CPU seconds (on a shared machine the CPU ratio says
how much of the difference is ours; SQLite runs in the process, PostgreSQL's server does not).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlmodel import Session

from core.importing import import_csv
from db.engine import get_engine
from db.migrate import upgrade_to_head

SKUS = np.array([f"SKU-{i:03d}" for i in range(200)])
BARE_TABLE = "bench_bare_orders"


def generate(rows: int, customers: int, out_dir: Path, seed: int = 3) -> tuple[Path, Path]:
    """About 1.5 lines per order; the header columns repeat on every line row."""
    rng = np.random.default_rng(seed)
    cust = pd.DataFrame({
        "customer_id": [f"C{i:07d}" for i in range(customers)],
        "name": [f"Customer {i}" for i in range(customers)],
        "email": [f"c{i}@example.com" for i in range(customers)],
        "signup_date": pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 900, customers), "D"),
        "email_opt_in": rng.integers(0, 2, customers).astype(bool),
    })
    cust["signup_date"] = cust["signup_date"].dt.strftime("%Y-%m-%d")
    lines_per_order = rng.choice([1, 2], size=rows, p=[0.5, 0.5])
    order_of_row = np.repeat(np.arange(rows), lines_per_order)[:rows]
    n_orders = int(order_of_row.max()) + 1
    order_customer = rng.integers(0, customers, n_orders)
    order_time = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 86400, n_orders), "s")
    qty = rng.integers(1, 4, rows)
    price = np.round(rng.uniform(2, 30, rows), 2)
    line_total = pd.Series(qty * price).groupby(order_of_row).sum().round(2).to_numpy()
    orders = pd.DataFrame({
        "order_id": [f"O{i:08d}" for i in order_of_row],
        "customer_id": cust["customer_id"].to_numpy()[order_customer[order_of_row]],
        "ordered_at": order_time[order_of_row].strftime("%Y-%m-%dT%H:%M:%S"),
        "total": line_total[order_of_row],
        "sku": SKUS[rng.integers(0, len(SKUS), rows)],
        "quantity": qty,
        "unit_price": price,
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    cpath, opath = out_dir / "bench-customers.csv", out_dir / "bench-orders.csv"
    cust.to_csv(cpath, index=False)
    orders.to_csv(opath, index=False)
    return cpath, opath


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def bare_load(engine, path: Path) -> Clock:  # noqa: ANN001
    """The anchor: pd.read_csv + to_sql (pandas defaults) into a fresh table, then dropped."""
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {BARE_TABLE}"))
    with Clock() as clock:
        frame = pd.read_csv(path)
        with engine.begin() as conn:
            frame.to_sql(BARE_TABLE, conn, index=False, if_exists="fail")
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {BARE_TABLE}"))
    return clock


def timed_import(engine, kind: str, path: Path) -> tuple[Clock, str]:  # noqa: ANN001
    data = path.read_bytes()
    with Clock() as clock, Session(engine) as session:
        summary = import_csv(session=session, kind=kind, data=data, filename=path.name, actor="benchmark")
    return clock, summary.lines_of_text()[1].strip()


def empty_orders(engine) -> None:  # noqa: ANN001
    """A database without orders, so each run imports them the same way (into empty tables)."""
    with engine.begin() as conn:
        for table in ("order_line", "refund", "loyalty_entry", "orders"):
            conn.execute(text(f"DELETE FROM {table}"))


def run(url: str, rows: int, customers: int, cpath: Path, opath: Path, again: bool, repeat: int) -> None:
    """Best of ``repeat`` for the anchor and the import, taken in turns (the machine may be shared)."""
    engine = get_engine(url)
    upgrade_to_head(engine)
    empty_orders(engine)
    name = engine.dialect.name
    clock, what = timed_import(engine, "customers", cpath)
    print(f"[{name}] customers (setup): {customers:,} rows in {clock.wall:.1f} s ({what})", flush=True)
    bare: Clock | None = None
    hearth: Clock | None = None
    for _ in range(repeat):
        b = bare_load(engine, opath)
        bare = b if bare is None or b.wall < bare.wall else bare
        empty_orders(engine)
        h, what = timed_import(engine, "orders", opath)
        hearth = h if hearth is None or h.wall < hearth.wall else hearth
    assert bare is not None and hearth is not None
    with Clock() as read:
        pd.read_csv(opath)
    best = f"best of {repeat}, " if repeat > 1 else ""
    print(f"[{name}] bare pandas load (pd.read_csv + to_sql, chunksize=None, method=None): {rows:,} rows "
          f"in {bare.wall:.1f} s ({best}CPU {bare.cpu:.1f} s)")
    print(f"[{name}] pd.read_csv alone: {read.wall:.1f} s (CPU {read.cpu:.1f} s)")
    print(f"[{name}] Hearth import of orders: {rows:,} rows in {hearth.wall:.1f} s ({best}CPU {hearth.cpu:.1f} s) "
          f"= {hearth.wall / bare.wall:.2f}x the bare pandas load (goal <= 1.5x; CPU {hearth.cpu / bare.cpu:.2f}x); "
          f"{what}", flush=True)
    if again:
        clock, what = timed_import(engine, "orders", opath)
        print(f"[{name}] same file again: {clock.wall:.1f} s = {clock.wall / bare.wall:.2f}x; {what}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", action="append", required=True)
    parser.add_argument("--dir", default="/tmp/hearth-bench")
    parser.add_argument("--again", action="store_true", help="also time a re-import of the same file")
    parser.add_argument("--repeat", type=int, default=1, help="best of N for the anchor and the import")
    args = parser.parse_args()
    cpath, opath = Path(args.dir) / "bench-customers.csv", Path(args.dir) / "bench-orders.csv"
    if not opath.exists() or sum(1 for _ in opath.open()) - 1 != args.rows:
        with Clock() as clock:
            cpath, opath = generate(args.rows, args.customers, Path(args.dir))
        print(f"generated {args.rows:,} order rows in {clock.wall:.1f} s")
    for url in args.database_url:
        run(url, args.rows, args.customers, cpath, opath, args.again, args.repeat)


if __name__ == "__main__":
    main()
