"""`python -m core precompute [--as-of YYYY-MM-DD] [--forget]`"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime

from core import precomputed
from core.config import get_settings
from db.engine import get_engine, session_scope


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "precompute",
        help="compute the day's Overview, loyalty balances and lifetime value ahead of the first visitor")
    p.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                   help="the date the screens open on (default: today, UTC)")
    p.add_argument("--forget", action="store_true",
                   help="drop every stored result first (they are recomputed on use anyway)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    engine = get_engine(get_settings().database_url)
    as_of = args.as_of or datetime.now(UTC).date()
    print(f"database: {engine.url.render_as_string(hide_password=True)}; as of {as_of}")
    if args.forget:
        with session_scope(engine) as session:
            print(f"forgot {precomputed.forget(session):,} stored results")
    started = time.perf_counter()
    precomputed.warm_up(engine=engine, as_of=as_of, progress=lambda msg: print(f"  {msg}", flush=True))
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0
