"""One module per command of `python -m core`. Each defines `register(subparsers)` and sets
`func` on its parser; `func(args) -> int` prints what it did and returns the exit code."""

COMMAND_MODULES = [
    "core.commands.init",
    "core.commands.users",
    "core.commands.kpis",
    "core.commands.data_import",
    "core.commands.data_export",
    "core.commands.loyalty",
    "core.commands.outreach",
    "core.commands.feedback",
    "core.commands.score",
]
