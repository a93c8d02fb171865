"""Time `score_all` at the reference size and print where the time goes.

    python -m core init --demo --customers 100000      # with DATABASE_URL=sqlite:////tmp/hearth-100k.db
    python benchmarks/bench_scoring.py --db sqlite:////tmp/hearth-100k.db

Prints wall-clock and CPU seconds at each step (on a shared machine the CPU figure is the
one that says what an idle machine would take) and the backtest summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.commands.score import summary_lines  # noqa: E402
from core.scoring import score_all  # noqa: E402
from db.engine import get_engine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, help="database URL of a store to score")
    parser.add_argument("--horizon-days", type=int, default=90)
    args = parser.parse_args()
    wall, cpu = time.perf_counter(), time.process_time()

    def progress(_fraction: float, message: str) -> None:
        print(f"wall {time.perf_counter() - wall:6.1f} s  cpu {time.process_time() - cpu:6.1f} s  {message}",
              flush=True)

    info = score_all(engine=get_engine(args.db), horizon_days=args.horizon_days, progress=progress)
    for line in summary_lines(info):
        print(line)
    print(f"total: wall {time.perf_counter() - wall:.1f} s, cpu {time.process_time() - cpu:.1f} s "
          f"for {info['n_customers']:,} customers")


if __name__ == "__main__":
    main()
