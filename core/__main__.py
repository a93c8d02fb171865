"""The command line: `python -m core COMMAND ...` (design.md, "Command line")."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from sqlalchemy.exc import DBAPIError

from core.commands import COMMANDS


class CommandError(Exception):
    """A failure with a one-line reason for the person at the terminal."""


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the arguments, only the command they name is imported (help and
    mistakes still see every command)."""
    parser = argparse.ArgumentParser(prog="python -m core", description="Hearth command line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    words = sys.argv[1:] if argv is None else argv
    first = next((w for w in words if not w.startswith("-")), None)
    chosen = [COMMANDS[first]] if first in COMMANDS else list(COMMANDS.values())
    for name in chosen:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `python -m core` with `argv` (default: the process's). Returns the exit code: the
    command's, 130 when interrupted, 1 with a one-line reason on stderr for any error (no traceback)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's contract is a one-line reason, not a traceback
        text = str(exc)
        missing_table = "no such table" in text or ('relation "' in text and "does not exist" in text)
        if isinstance(exc, DBAPIError) and missing_table:
            # A database older than this code (or empty): say what to do, not what broke.
            text = (f"the database is missing a table this version of Hearth needs ({text.splitlines()[0]}); "
                    "run `python -m core init` to create or migrate it")
        print(f"error: {text}", file=sys.stderr)
        logging.getLogger("core").debug("command failed", exc_info=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
