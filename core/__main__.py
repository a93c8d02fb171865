"""The command line: `python -m core COMMAND ...` (design.md, "Command line")."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from core.commands import COMMAND_MODULES


class CommandError(Exception):
    """A failure with a one-line reason for the person at the terminal."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Hearth command line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's contract is a one-line reason, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        logging.getLogger("core").debug("command failed", exc_info=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
