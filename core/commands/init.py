"""`python -m core init [--demo] [--customers N] [--seed S]`"""

from __future__ import annotations

import argparse
import time

from core.config import get_settings
from core.setup import DEFAULT_DEMO_CUSTOMERS, DEFAULT_DEMO_SEED, prepare_database
from db.engine import get_engine


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("init", help="create or migrate the database; --demo loads demo data")
    p.add_argument("--demo", action="store_true", help="create demo logins and, if empty, a demo store")
    p.add_argument("--customers", type=int, default=DEFAULT_DEMO_CUSTOMERS)
    p.add_argument("--seed", type=int, default=DEFAULT_DEMO_SEED)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.customers < 1:
        raise ValueError("--customers must be at least 1")
    started = time.perf_counter()
    settings = get_settings()
    engine = get_engine(settings.database_url)
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    result = prepare_database(engine=engine, demo=args.demo, customers=args.customers, seed=args.seed,
                              progress=lambda msg: print(f"  {msg}", flush=True))
    if result["demo_users_created"]:
        print(f"demo logins created: {', '.join(result['demo_users_created'])} (password hearth-demo)")
    if result["demo_data"]:
        counts = result["demo_data"]
        print("demo data: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    if args.demo and settings.is_production:
        print("warning: HEARTH_ENV=production refuses to start while a demo login is enabled; disable each "
              "(python -m core users disable NAME) or give it a new password (users set-password NAME)")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0
