"""Reading and checking an orders file (no database) against a bare pandas load of it.

    python -m benchmarks.read_check_speed --rows 1500000

Generates the same orders file as `benchmarks.import_speed` under /tmp (if not there yet),
then times, best of --repeat: `pandas.read_csv(path, dtype=str)`; `core.importing.read_csv_bytes`
(delimiter, sep= hint, every line accounted for); `check_cells` (every cell parsed and
checked). Prints seconds and the ratio of read + check to the bare load.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from benchmarks.import_speed import generate
from core.importing import check_cells, match_columns, read_csv_bytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--dir", default="/tmp/hearth-bench")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = Path(args.dir) / "bench-orders.csv"
    if not path.exists() or sum(1 for _ in path.open()) - 1 != args.rows:
        generate(args.rows, args.customers, Path(args.dir))
    data = path.read_bytes()
    best = {"bare": float("inf"), "read": float("inf"), "check": float("inf")}
    for _ in range(args.repeat):
        t = time.perf_counter()
        pd.read_csv(path, dtype=str, keep_default_na=False)
        best["bare"] = min(best["bare"], time.perf_counter() - t)
        t = time.perf_counter()
        parsed = read_csv_bytes(data, filename=path.name)
        best["read"] = min(best["read"], time.perf_counter() - t)
        match = match_columns(parsed.columns, "orders")
        t = time.perf_counter()
        _typed, problems = check_cells(parsed, "orders", match)
        best["check"] = min(best["check"], time.perf_counter() - t)
    print(f"{args.rows:,} order rows, best of {args.repeat}: bare pandas load {best['bare']:.2f} s; "
          f"read {best['read']:.2f} s; check {best['check']:.2f} s ({problems.total} problems); "
          f"read + check = {(best['read'] + best['check']) / best['bare']:.2f}x the bare load")


if __name__ == "__main__":
    main()
