"""Hearth's benchmark at the reference size (design.md: 100,000 customers, 1.5 M orders).

    python -m benchmarks.run                         # SQLite and, if it answers, PostgreSQL
    python -m benchmarks.run --customers 2000 --backend sqlite

Builds the demo store in a temporary database, times the command-line work (init, score,
kpis (from cold: each command is a fresh process, nothing is stored ahead), importing every
order into an empty database) and every screen (AppTest, as admin: first visit with empty
process caches, revisit, one filter change, and first visit again from cold), records the
app's peak memory, and prints a table with the goal beside each figure. It never fails on a
slow figure: it reports it (marked '!').
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("HEARTH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

GOALS = {  # figure -> (goal, unit); every goal is "at most"; None: reported, no goal
    "init --demo": (180.0, "s"),
    "score": (60.0, "s"),
    "kpis": (5.0, "s"),
    "import orders": (120.0, "s"),
    "screen first visit": (2.0, "s"),
    "screen revisit": (0.5, "s"),
    "screen filter change": (0.5, "s"),
    "screen, cold again": (None, "s"),
    "app peak memory": (2048.0, "MB"),
}

@dataclass
class Run:
    backend: str
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    screens: dict[str, dict] = field(default_factory=dict)


def _timed(cmd: list[str], env: dict[str, str], label: str) -> tuple[float, str]:
    """Run a command in its own process; return (wall seconds, stdout)."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return seconds, proc.stdout


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "core", *args]


def _backend_urls(backend: str, workdir: Path) -> tuple[str, str, callable]:
    """(store URL, empty import-target URL, cleanup)"""
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", f"sqlite:///{workdir / 'import.db'}", lambda: None
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")
    names = [f"hearth_bench_{uuid.uuid4().hex[:8]}", f"hearth_bench_{uuid.uuid4().hex[:8]}"]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]

    def cleanup() -> None:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{base}/{names[0]}", f"{base}/{names[1]}", cleanup


def _export_orders_csv(url: str, path: Path) -> int:
    """Every order of the store as an import file (one row per order), streamed in chunks."""
    import pandas as pd
    from sqlalchemy import text

    from db.engine import get_engine

    engine = get_engine(url)
    query = text("SELECT o.external_id AS order_id, c.external_id AS customer_id, o.ordered_at, "
                 "o.total_cents / 100.0 AS total, "
                 "o.offer_code FROM orders o JOIN customer c ON c.id = o.customer_id ORDER BY o.id")
    rows = 0
    with engine.connect() as conn, path.open("w", newline="") as fh:
        for i, chunk in enumerate(pd.read_sql(query, conn, chunksize=200_000)):
            chunk.to_csv(fh, index=False, header=(i == 0))
            rows += len(chunk)
    engine.dispose()
    return rows


def bench_backend(backend: str, customers: int, seed: int, screens: bool, cold: bool = True) -> Run:
    run = Run(backend)
    workdir = Path(tempfile.mkdtemp(prefix=f"hearth-bench-{backend}-"))
    store_url, import_url, cleanup = _backend_urls(backend, workdir)
    env = {**os.environ, "DATABASE_URL": store_url, "HEARTH_ENV": "demo",
           "HEARTH_COOKIE_KEY": "bench-" + "k" * 40, "HEARTH_OUTBOX_DIR": str(workdir / "outbox"),
           "HEARTH_SECRETS_FILE": "/nonexistent", "HEARTH_DISK_CACHE_DIR": "off"}  # from cold: no disk copy
    try:
        print(f"[{backend}] building the demo store of {customers:,} customers…", flush=True)
        run.figures["init --demo"] = _timed(_cli(["init", "--demo", "--customers", str(customers), "--seed",
                                                  str(seed)]), env, "init")[0]
        print(f"[{backend}] init {run.figures['init --demo']:.1f} s; scoring…", flush=True)
        run.figures["score"] = _timed(_cli(["score"]), env, "score")[0]
        # From cold: a fresh process keeps nothing, and nothing is stored in the database.
        seconds, out = _timed(_cli(["kpis", "--json"]), env, "kpis")
        run.figures["kpis"] = seconds
        try:
            kpis = json.loads(out.strip().splitlines()[-1])
            run.notes.append(f"{kpis.get('customers'):,} customers, {kpis.get('orders'):,} orders in the last "
                             f"{kpis.get('horizon_days')} days")
        except (ValueError, IndexError, TypeError):
            pass
        csv_path = workdir / "orders.csv"
        rows = _export_orders_csv(store_url, csv_path)
        print(f"[{backend}] importing {rows:,} order rows into an empty database…", flush=True)
        import_env = {**env, "DATABASE_URL": import_url}
        _timed(_cli(["init"]), import_env, "init (import target)")
        seconds = _timed(_cli(["import", "orders", str(csv_path)]), import_env, "import")[0]
        run.figures["import orders"] = seconds
        run.notes.append(f"import: {rows:,} rows, {rows / seconds:,.0f} rows/s")
        if screens:
            print(f"[{backend}] timing every screen…", flush=True)
            out = _timed([sys.executable, "-m", "benchmarks.screens", *(["--cold"] if cold else [])], env,
                         "screens")[1]
            data = json.loads(out.strip().splitlines()[-1])
            run.screens = data["screens"]
            for figure, key in (("screen first visit", "first_s"), ("screen revisit", "revisit_s"),
                                ("screen filter change", "filter_s"), ("screen, cold again", "cold_s")):
                values = [s[key] for s in run.screens.values() if s[key] is not None]
                if values:
                    run.figures[figure] = max(values)
            run.figures["app peak memory"] = data["peak_rss_mb"]
    finally:
        cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    return run


def _pg_answers() -> bool:
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
                               connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


def print_table(runs: list[Run], customers: int) -> None:
    print()
    print(f"Hearth benchmark, {date.today().isoformat()}, {customers:,} customers, "
          f"{os.cpu_count()} cores, {platform.platform()}")
    header = f"| {'figure':<27} | " + " | ".join(f"{r.backend:>12}" for r in runs) + " | goal |"
    print(header)
    print("|" + "---|" * (len(runs) + 2))
    for name, (goal, unit) in GOALS.items():
        cells = []
        for r in runs:
            v = r.figures.get(name)
            over = goal is not None and v is not None and v > goal
            cells.append(f"{'n/a':>12}" if v is None else f"{v:>8.2f} {unit:<2}{' !' if over else ''}")
        print(f"| {name:<27} | " + " | ".join(cells) + f" | {'–' if goal is None else f'≤ {goal:g} {unit}'} |")

    def cell(v: float | None) -> str:
        return f"{'–':>7}" if v is None else f"{v:>7.2f}"

    for r in runs:
        if r.screens:
            print(f"\n{r.backend} screens, seconds (first visit, revisit, filter change, cold again; "
                  "largest table shown, rows):")
            for screen, s in r.screens.items():
                err = f"  ERROR {s['error']}" if s["error"] else ""
                print(f"  {screen:<10} {cell(s['first_s'])} {cell(s['revisit_s'])} {cell(s['filter_s'])} "
                      f"{cell(s['cold_s'])}  {s['max_table_rows']:>6}{err}")
        for note in r.notes:
            print(f"{r.backend}: {note}")
    print("\n'!' marks a figure over its goal.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--no-screens", action="store_true", help="skip the AppTest screen timings")
    parser.add_argument("--no-cold", action="store_true",
                        help="skip timing each screen again from cold")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not _pg_answers():
        print(f"PostgreSQL at {PG_ADMIN_URL} does not answer; measuring SQLite only")
        backends.remove("postgresql")
    runs = [bench_backend(b, args.customers, args.seed, not args.no_screens, not args.no_cold) for b in backends]
    print_table(runs, args.customers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
