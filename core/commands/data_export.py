"""`python -m core export KIND --out FILE.csv [--as-of YYYY-MM-DD] [--by USERNAME]`"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from sqlmodel import Session

from core.commands.actors import acting_user
from core.config import get_settings
from core.exporting import EXPORT_KINDS, ExportError, export_csv
from core.scores import latest_as_of
from db.engine import get_engine


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export accounts, scores, feedback or loyalty as CSV")
    p.add_argument("kind", choices=EXPORT_KINDS)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--as-of", type=date.fromisoformat, metavar="YYYY-MM-DD")
    p.add_argument("--by", metavar="USERNAME", help="export as this staff user: only the columns their "
                                                    "roles may see (default: cli, all columns)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.out.parent and not args.out.parent.exists():
        raise FileNotFoundError(f"no such folder: {args.out.parent}")
    with Session(get_engine(get_settings().database_url), expire_on_commit=False) as session:
        actor, roles = acting_user(session=session, username=args.by)
        if args.kind == "scores" and latest_as_of(session=session, on_or_before=args.as_of) is None:
            # A header alone looked like success: say there is nothing scored by then.
            raise ExportError(f"no scoring run on or before {args.as_of}: run python -m core score --as-of "
                              f"{args.as_of}" if args.as_of else "no scoring run yet: run python -m core score")
        rows, _ = export_csv(session=session, kind=args.kind, roles=roles, actor=actor, out=args.out,
                             as_of=args.as_of, filename=args.out.name)
        session.commit()
    print(f"exported {rows:,} {args.kind} rows to {args.out}")
    return 0
