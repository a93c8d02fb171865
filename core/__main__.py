"""The command line: `python -m core COMMAND ...` (design.md, "Command line")."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from core.commands import COMMANDS

# Commands whose work starts with columnar reads of these tables (core.analytics.source): the
# reads start in the background before the command's own imports (pandas, the KPI modules),
# so a fresh process reads while it imports. Reads only, nothing computed ahead.
READS_AHEAD: dict[str, tuple[str, ...]] = {"kpis": ("orders", "loyalty_entry", "feedback", "customer", "refund")}


class CommandError(Exception):
    """A failure with a one-line reason for the person at the terminal."""


def _command(argv: list[str] | None) -> str | None:
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), None)


def read_ahead(tables: tuple[str, ...]) -> None:
    """Start the SQLite reader processes (for a SQLite file) and then the columnar reads of
    ``tables`` in the background (core.analytics.source.warm). Best effort: any failure is left
    to the command itself to meet and report."""
    try:
        from core.config import get_settings

        url = get_settings().database_url
        from core.analytics import sqlite_reader

        if sqlite_reader.is_sqlite_file(url):
            sqlite_reader.start()  # the helpers boot while this process imports
        from core.analytics import source
        from db.engine import get_engine

        source.warm(get_engine(url), tables)
    except Exception:  # noqa: BLE001 - the command reads for itself and says what is wrong
        logging.getLogger("core").debug("reading ahead failed", exc_info=True)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the arguments, only the command they name is imported (help and
    mistakes still see every command)."""
    parser = argparse.ArgumentParser(prog="python -m core", description="Hearth command line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    first = _command(argv)
    chosen = [COMMANDS[first]] if first in COMMANDS else list(COMMANDS.values())
    for name in chosen:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `python -m core` with `argv` (default: the process's). Returns the exit code: the
    command's, 130 when interrupted, 1 with a one-line reason on stderr for any error (no traceback)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command = _command(argv)
    if command in READS_AHEAD and not {"-h", "--help"} & set(sys.argv[1:] if argv is None else argv):
        read_ahead(READS_AHEAD[command])
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's contract is a one-line reason, not a traceback
        text = str(exc)
        from sqlalchemy.exc import DBAPIError

        older = "no such table" in text or "no such column" in text or (
            ('relation "' in text or 'column "' in text) and "does not exist" in text)
        # The database's error through SQLAlchemy or through the columnar reads (ADBC, and the
        # SQLite reader's own ReadError).
        from_database = isinstance(exc, DBAPIError) or type(exc).__module__.startswith(
            ("adbc_driver", "core.analytics"))
        if from_database and older:
            # A database older than this code (or empty): say what to do, not what broke.
            text = (f"the database is missing a table or column this version of Hearth needs "
                    f"({text.splitlines()[0]}); run `python -m core init` to create or migrate it")
        print(f"error: {text}", file=sys.stderr)
        logging.getLogger("core").debug("command failed", exc_info=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
