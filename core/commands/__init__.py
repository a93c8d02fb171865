"""One module per command of `python -m core`. Each defines `register(subparsers)` and sets
`func` on its parser; `func(args) -> int` prints what it did and returns the exit code."""

# command name -> module; `python -m core kpis` imports only core.commands.kpis, because
# importing every command (scikit-learn, scipy, VADER) costs seconds a cron job need not pay.
COMMANDS = {
    "init": "core.commands.init",
    "users": "core.commands.users",
    "kpis": "core.commands.kpis",
    "import": "core.commands.data_import",
    "export": "core.commands.data_export",
    "loyalty": "core.commands.loyalty",
    "outreach": "core.commands.outreach",
    "feedback": "core.commands.feedback",
    "score": "core.commands.score",
    "tasks": "core.commands.tasks",
}
