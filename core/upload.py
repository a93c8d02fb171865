"""Limits on a file uploaded on the Data screen, checked before it is parsed.

Parsing holds every cell as a Python object, about twenty times the file's size, so the
app refuses what it could not check without crowding out every other visitor: more than
HEARTH_MAX_UPLOAD_MB, a header row wider than any import needs, more rows or cells than a
browser upload should carry, or a single line too long to be a row of a shop's export.
Each refusal says what was found, the limit and what to do (split the file, or import it
with `python -m core import`, which runs in its own process).
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

MAX_COLUMNS = 100  # the widest import uses about a dozen; extra columns are only reported
MAX_ROWS = 1_000_000
MAX_CELLS = 10_000_000
MAX_LINE_BYTES = 1024 * 1024  # one row (a long comment included) up to 1 MB
CLI_HINT = "Split the file, or import it with `python -m core import KIND FILE.csv` on the server."


class UploadRefused(ValueError):
    """A file refused before parsing, with a message naming what was found and the limit."""


def check_upload(data: bytes, *, filename: str, max_mb: int) -> None:
    """Raise UploadRefused if ``data`` (a whole uploaded file) exceeds a limit; else return.

    Checked without parsing: the size in bytes, the longest line (newline to newline, so a
    quoted line break inside a cell makes lines shorter, never longer), the number of columns
    in the header row (by each delimiter an import reads, comma, semicolon, tab, vertical bar
    or an Excel "sep=" line's, whichever gives more; the header is the line after such a hint) and the number of lines
    after it as an upper bound on rows, and rows times columns as cells.
    """
    size = len(data)
    if size > max_mb * 1024 * 1024:
        raise UploadRefused(f"{filename}: the file is {size / 1024 / 1024:,.0f} MB; the limit is {max_mb} MB "
                            f"(HEARTH_MAX_UPLOAD_MB). {CLI_HINT}")
    if not size:
        return
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
    ends = np.append(newlines, size)
    longest = int(np.max(np.diff(ends, prepend=-1))) - 1
    if longest > MAX_LINE_BYTES:
        line = int(np.argmax(np.diff(ends, prepend=-1))) + 1
        raise UploadRefused(f"{filename}: line {line:,} is {longest / 1024 / 1024:,.1f} MB long; a row may be "
                            f"at most {MAX_LINE_BYTES // 1024 // 1024} MB. Is this a CSV file with one record "
                            f"per line? {CLI_HINT}")
    header = data[: int(ends[0])].decode("utf-8-sig", errors="replace")
    delimiters = [",", ";", "\t", "|"]  # what core.importing.reading reads
    if header.strip().lower().startswith("sep=") and len(ends) > 1:
        # Excel's hint names the delimiter; the header is the next line.
        hinted = header.strip()[4:5]
        if hinted:
            delimiters.append(hinted)
        header = data[int(ends[0]) + 1: int(ends[1])].decode("utf-8", errors="replace")
    try:
        columns = max(len(next(csv.reader(io.StringIO(header), delimiter=d), [])) for d in delimiters)
    except csv.Error as exc:  # a header cell over the csv module's field limit (128 KB)
        raise UploadRefused(f"{filename}: the header row cannot be a header ({exc}): a column name is longer "
                            f"than any file's. Is the first line the header?") from None
    if columns > MAX_COLUMNS:
        raise UploadRefused(f"{filename}: the header row has {columns:,} columns; an import reads at most "
                            f"{MAX_COLUMNS} (each kind uses a dozen at most). Remove the columns Hearth does not use.")
    rows = len(newlines) - (1 if data.endswith(b"\n") else 0)
    if rows > MAX_ROWS:
        raise UploadRefused(f"{filename}: the file has {rows:,} rows; the Data screen takes at most "
                            f"{MAX_ROWS:,} per file. {CLI_HINT}")
    if rows * columns > MAX_CELLS:
        raise UploadRefused(f"{filename}: {rows:,} rows of {columns} columns are {rows * columns:,} cells; the "
                            f"Data screen takes at most {MAX_CELLS:,} per file. {CLI_HINT}")


def preview_frame(frame: pd.DataFrame, *, rows: int = 10, columns: int = 30, chars: int = 200) -> pd.DataFrame:
    """The first ``rows`` rows and ``columns`` columns of a parsed file, each text cell and
    column name cut to ``chars`` characters: what the preview sends to the browser, whatever
    the file holds (a 190 MB cell would otherwise go to the browser whole)."""
    head = frame.iloc[:rows, :columns].copy()

    def cut(value):  # noqa: ANN001, ANN202
        return value[:chars] + "…" if isinstance(value, str) and len(value) > chars else value

    head.columns = [cut(str(c)) for c in head.columns]
    return head.map(cut) if len(head.columns) else head
