"""`python -m core kpis [--as-of YYYY-MM-DD] [--horizon-days N] [--json] [--weekly]`"""

from __future__ import annotations

import argparse
import json
from datetime import date

from core.config import get_settings, resolve_horizon
from core.kpis import KPI_INFO, compute_kpis, format_value, weekly_summary
from db.engine import get_engine, session_scope


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("kpis", help="print the retention KPIs at a date (design.md definitions)")
    p.add_argument("--as-of", type=_date, default=None, help="the date D (default: today, UTC)")
    p.add_argument("--horizon-days", type=int, default=None,
                   help="activity horizon H (default: HEARTH_HORIZON_DAYS, 90)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one flat JSON object with design.md's keys")
    out.add_argument("--weekly", action="store_true", help="the plain-text weekly summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from db.models import utcnow

    as_of = args.as_of or utcnow().date()
    horizon = resolve_horizon(args.horizon_days)
    if horizon < 1:
        raise ValueError("--horizon-days must be at least 1")
    # The URL is passed explicitly: get_engine() without one caches under the key None and
    # would keep an earlier DATABASE_URL within one process (tests, notebooks).
    with session_scope(get_engine(get_settings().database_url)) as session:
        if args.weekly:
            print(weekly_summary(session=session, as_of=as_of, horizon_days=horizon), end="")
            return 0
        kpis = compute_kpis(session=session, as_of=as_of, horizon_days=horizon)
    if args.json:
        print(json.dumps(kpis))
        return 0
    print(f"KPIs at {kpis['as_of']} over the trailing {kpis['horizon_days']} days")
    for key, info in KPI_INFO.items():
        print(f"  {info.label:<26}{format_value(info.kind, kpis[key]):>16}")
    return 0
