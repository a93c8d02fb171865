"""`python -m core tasks generate [--as-of YYYY-MM-DD]`"""

from __future__ import annotations

import argparse
from datetime import date

from core.config import get_settings
from core.tasks import generate_tasks
from db.engine import get_engine, session_scope


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tasks", help="the account team's tasks")
    sub = p.add_subparsers(dest="tasks_command", required=True)
    g = sub.add_parser("generate", help="run the task rules (after `score`): one task per new signal")
    g.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                   help="use the data and scores on or before this date (default: today, UTC)")
    g.set_defaults(func=run_generate)
    d = sub.add_parser("digest", help="email each account manager and support lead their weekly digest "
                                      "(once per week)")
    d.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                   help="the week ending on this date (default: today, UTC)")
    d.set_defaults(func=run_digest)


def run_generate(args: argparse.Namespace) -> int:
    engine = get_engine(get_settings().database_url)
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    with session_scope(engine) as session:
        report = generate_tasks(session=session, as_of=args.as_of)
    print(report.summary())
    return 0


def run_digest(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from core.digest import send_weekly_digests

    engine = get_engine(get_settings().database_url)
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    with session_scope(engine) as session:
        result = send_weekly_digests(session=session, as_of=args.as_of or datetime.now(UTC).date())
    for username, outcome in result.items():
        print(f"  {username}: {outcome}")
    print(f"weekly digest: {sum(1 for v in result.values() if v == 'sent')} sent")
    return 0
