"""`python -m core import KIND FILE.csv [--dry-run] [--preset NAME] [--by USERNAME]`"""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlmodel import Session

from core.commands.actors import acting_user
from core.config import get_settings
from core.importing import KINDS, ImportFailed, import_csv, read_csv_bytes
from core.presets import PRESETS, detect_preset
from core.roles import Role
from db.engine import get_engine


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import", help="import a CSV file of one kind (all rows or none)")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("file", type=Path)
    p.add_argument("--dry-run", action="store_true", help="check the file and say what would change")
    p.add_argument("--preset", choices=sorted(PRESETS), help="read a platform's export layout "
                                                             "(default: detected from the header when clear)")
    p.add_argument("--by", metavar="USERNAME", help="the staff user (an admin) doing the import; "
                                                    "recorded in the audit log (default: cli)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise FileNotFoundError(f"no such file: {args.file}")
    engine = get_engine(get_settings().database_url)
    with Session(engine, expire_on_commit=False) as session:
        actor, roles = acting_user(session=session, username=args.by)
        if Role.ADMIN not in roles:
            raise PermissionError(f"{actor} may not import data: the admin role is needed")
        # A refused file raises ImportFailed: its text is the one-line summary and the listed
        # problems, which core.__main__ prints before exiting 1.
        data = args.file.read_bytes()
        preset = args.preset
        if preset is None:
            try:
                preset = detect_preset(read_csv_bytes(data, filename=args.file.name).columns, args.kind)
            except ImportFailed:
                pass  # a file that cannot be read: import_csv refuses it below and audits the refusal
        summary = import_csv(session=session, kind=args.kind, data=data, filename=args.file.name, actor=actor,
                             dry_run=args.dry_run, preset=preset)
    for line in summary.lines_of_text():
        print(line)
    print(f"done in {summary.seconds:.1f} s")
    return 0
