"""Problems: a bad cell or row, named by spreadsheet row (the header is row 1), column and
value; and ImportFailed, the refusal that lands nothing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.importing.formats import MAX_LISTED_PROBLEMS


@dataclass(frozen=True)
class Problem:
    """One bad cell or row. ``row`` is the spreadsheet row number (header = row 1)."""

    row: int | None
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = ", ".join(([f"row {self.row}"] if self.row is not None else [])
                          + ([f"column {self.column}"] if self.column else []))
        value = "" if self.value is None else f"{_show(self.value)} "
        return f"{where}: {value}{self.message}" if where else f"{value}{self.message}"


def _show(value: str, width: int = 40) -> str:
    value = str(value)
    return repr(value if len(value) <= width else value[: width - 1] + "…")


class ImportFailed(ValueError):
    """The file was refused; nothing was imported. ``problems`` lists the first ones."""

    def __init__(self, filename: str, problems: list[Problem], total: int | None = None) -> None:
        self.filename = filename
        self.total = len(problems) if total is None else total
        self.problems = problems[:MAX_LISTED_PROBLEMS]
        super().__init__(self.summary)

    @property
    def bad_rows(self) -> int:
        """How many distinct rows the listed problems name."""
        return len({p.row for p in self.problems if p.row is not None})

    @property
    def summary(self) -> str:
        """One line: the file, how many problems, and that nothing was imported."""
        if self.total == 1 and self.problems and self.problems[0].row is None:
            return f"{self.filename}: {self.problems[0]}; nothing was imported"
        shown = f" (first {len(self.problems)} listed)" if self.total > len(self.problems) else ""
        noun = "problem" if self.total == 1 else "problems"
        return f"{self.filename}: {self.total} {noun}{shown}; nothing was imported"

    def __str__(self) -> str:
        lines = [self.summary]
        if not (self.total == 1 and self.problems and self.problems[0].row is None):
            lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)

    def table(self) -> pd.DataFrame:
        """The listed problems as a table (row, column, value, problem)."""
        return pd.DataFrame(
            [{"row": p.row, "column": p.column, "value": p.value, "problem": p.message}
             for p in self.problems],
            columns=["row", "column", "value", "problem"],
        )


def _fail(filename: str, message: str) -> ImportFailed:
    return ImportFailed(filename, [Problem(None, None, None, message)])


class Problems(list):
    """Problems found so far; keeps the first ones per check and counts the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.uncounted = 0
        self.rows: set[int] = set()  # every row a cell problem named, listed or only counted

    @property
    def total(self) -> int:
        """Listed plus counted-only problems."""
        return len(self) + self.uncounted

    def cells(self, rownum: np.ndarray, raw: pd.Series, mask: pd.Series | np.ndarray, column: str,
              message: str, *, show_value: bool = True) -> None:
        """A problem for each position where ``mask`` is true: row ``rownum[i]``, ``column``,
        the cell ``raw[i]`` as text (made text only for the rows listed), ``message``."""
        hits = np.flatnonzero(np.asarray(mask))
        if not len(hits):
            return
        keep = hits[:MAX_LISTED_PROBLEMS]
        self.uncounted += len(hits) - len(keep)
        self.rows.update(int(r) for r in np.asarray(rownum)[hits])
        values = raw.to_numpy()
        self.extend(Problem(int(rownum[i]), column, str(values[i]) if show_value else None, message)
                    for i in keep)


def _in_file_words(problems: Problems, source: dict[str, str]) -> Problems:
    """Problems name the file's own column when a preset renamed it."""
    if not source:
        return problems
    out = Problems()
    out.uncounted = problems.uncounted
    out.rows = problems.rows
    out.extend(Problem(p.row, f"{source[p.column]} ({p.column})" if p.column in source else p.column,
                       p.value, p.message) for p in problems)
    return out


def _refuse(filename: str, problems: Problems) -> ImportFailed:
    ordered = sorted(problems, key=lambda p: (p.row is None, p.row or 0))
    return ImportFailed(filename, ordered, total=problems.total)
