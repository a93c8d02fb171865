"""Import speed: generate a customers file and an orders file of N order rows under /tmp, then
time `import customers` and `import orders` (first run and a re-import) on one database.

    python -m benchmarks.import_speed --rows 1500000 --database-url sqlite:////tmp/bench.db

The files are written to /tmp and never committed. Prints rows per second.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlmodel import Session

from core.importing import import_csv
from db.engine import get_engine
from db.migrate import upgrade_to_head

SKUS = np.array([f"SKU-{i:03d}" for i in range(200)])


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


def timed_import(engine, kind: str, path: Path) -> tuple[float, str]:  # noqa: ANN001
    data = path.read_bytes()
    started, cpu = time.perf_counter(), time.process_time()
    with Session(engine) as session:
        summary = import_csv(session=session, kind=kind, data=data, filename=path.name, actor="benchmark")
    wall = time.perf_counter() - started
    # The machine may be shared: the importer's own CPU time says how much of the wall time was ours.
    return wall, f"{summary.lines_of_text()[1].strip()}; importer CPU {time.process_time() - cpu:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--dir", default="/tmp/hearth-bench")
    args = parser.parse_args()
    cpath, opath = Path(args.dir) / "bench-customers.csv", Path(args.dir) / "bench-orders.csv"
    if not opath.exists() or sum(1 for _ in opath.open()) - 1 != args.rows:
        t = time.perf_counter()
        cpath, opath = generate(args.rows, args.customers, Path(args.dir))
        print(f"generated {args.rows:,} order rows in {time.perf_counter() - t:.1f} s")
    engine = get_engine(args.database_url)
    upgrade_to_head(engine)
    print(engine.dialect.name)
    secs, what = timed_import(engine, "customers", cpath)
    rate = args.customers / secs
    print(f"customers: {args.customers:,} rows in {secs:.1f} s = {rate:,.0f} rows/s ({what})")
    for label in ("orders, first import", "orders, same file again"):
        secs, what = timed_import(engine, "orders", opath)
        print(f"{label}: {args.rows:,} rows in {secs:.1f} s = {args.rows / secs:,.0f} rows/s ({what})")


if __name__ == "__main__":
    main()
