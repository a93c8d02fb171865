"""Reading a file into its cells as text, or refusing it (the README's "Reading rules").

A plainly well-formed file (every line one record of the header's width) is read by pyarrow.csv
in several threads; anything else goes through the careful pandas read, which accounts for every
line and names the row of a stray quote or a row of the wrong width.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

from core.importing.formats import MAX_LISTED_PROBLEMS
from core.importing.problems import ImportFailed, Problem, _fail

DELIMITERS = (",", ";", "\t", "|")


_DELIMITER_WORDS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}


# Excel writes (and hides) a first line "sep=;" naming the delimiter; some tools quote it.
_SEP_HINT = re.compile(r'\s*"?sep=(.)"?[,;\t|]*\s*', re.IGNORECASE)


@dataclass
class ParsedFile:
    """The file's cells as text ('' for empty), before any checking.

    ``frame.index`` + 2 is the row number a spreadsheet shows (the header is row 1; a
    ``sep=`` hint line, hidden by Excel, is not counted).
    """

    filename: str
    frame: pd.DataFrame
    delimiter: str
    had_bom: bool
    sep_hint: bool = False
    # Rows a platform's layout leaves out (core.presets.LEAVE_OUT): reason -> their row numbers.
    left_out: dict[str, list[int]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The header's column names, stripped."""
        return list(self.frame.columns)


def _guess_delimiter(header: str) -> str:
    """The candidate that splits the header into the most cells (commas on a tie)."""
    best, best_n = ",", 1
    for d in DELIMITERS:
        try:
            n = len(next(csv.reader([header], delimiter=d)))
        except (csv.Error, StopIteration):
            continue
        if n > best_n:
            best, best_n = d, n
    return best


def read_csv_bytes(data: bytes, *, filename: str = "file.csv") -> ParsedFile:
    """Decode (UTF-8, with or without BOM), find the delimiter, read every cell as text.

    Reading rules (the README's "Reading rules"):

    - a first line ``sep=X`` (Excel's hint) sets the delimiter and is not a row; otherwise the
      delimiter is the one of comma, semicolon, tab and vertical bar that splits the header
      into the most cells;
    - every record is accounted for: the number of records read plus the line breaks inside
      quoted cells must equal the number of lines in the file, and a quoted cell whose extra
      lines look like rows of their own (a quote opened and never closed) is refused, naming
      the row where the quote opens;
    - a row with more or fewer cells than the header is refused, naming the row.

    Raises ImportFailed with a message a person can act on for binary files, other
    encodings, a missing header, an unclosed quote or rows of the wrong width.
    """
    if not data.strip():
        raise _fail(filename, "the file is empty")
    head = data[:8192]
    if b"\x00" in head or head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise _fail(filename, "this is not a CSV text file (a spreadsheet or other binary file?); "
                              "save it as 'CSV UTF-8' and upload that")
    had_bom = data.startswith(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _fail(filename, f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                              "save it as 'CSV UTF-8'") from None
    first_line = _first_line(text)
    hint = _SEP_HINT.fullmatch(first_line)
    if hint:
        delimiter = hint.group(1)
        text = text[text.index("\n") + 1:] if "\n" in text else ""
        if not text.strip():
            raise _fail(filename, "the file has no header row (only the 'sep=' line)")
        first_line = _first_line(text)
    else:
        delimiter = _guess_delimiter(first_line)
    if hint:
        other = _guess_delimiter(first_line)
        if other != delimiter and len(next(csv.reader([first_line], delimiter=delimiter), [])) == 1:
            # Excel's hint contradicts the header: every column would be read into one.
            said, seen = (_DELIMITER_WORDS.get(d, repr(d)) for d in (delimiter, other))
            raise _fail(filename, f"the file's first line 'sep={delimiter}' says the columns are separated by "
                                  f"{said}, but the header row {first_line[:80]!r} is separated by {seen}: "
                                  "correct the sep= line or delete it")
    fast = _read_with_arrow(text, delimiter)
    header, frame = fast if fast is not None else _read_with_pandas(filename, text, delimiter, bool(hint))
    if '"' in text:
        _check_quotes_strictly(filename, text, delimiter, header)
    header, frame, positions = _without_blank_columns(header, frame)
    _check_header_names(filename, header, frame, positions)
    frame.columns = header
    return ParsedFile(filename=filename, frame=frame, delimiter=delimiter, had_bom=had_bom,
                      sep_hint=bool(hint))


def _column_letter(i: int) -> str:
    """A spreadsheet's name of the column at position ``i`` (0 -> A, 26 -> AA)."""
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def _without_blank_columns(header: list[str], frame: pd.DataFrame) -> tuple[list[str], pd.DataFrame, list[int]]:
    """The columns without a name and without a value in any row left out (Excel writes them
    for cells once formatted, as trailing ';;'): they hold nothing, so nothing is lost. Returns
    the header, the cells and the kept columns' positions in the file."""
    keep = [i for i, name in enumerate(header)
            if name != "" or frame.iloc[:, i].astype(str).str.strip().ne("").any()]
    if len(keep) == len(header):
        return header, frame, keep
    return [header[i] for i in keep], frame.iloc[:, keep], keep


def _check_header_names(filename: str, header: list[str], frame: pd.DataFrame, positions: list[int]) -> None:
    """Every column has a name of its own: else ImportFailed naming the columns by their letters,
    as a spreadsheet shows them (``positions``: each column's place in the file)."""
    problems = []
    for i, name in enumerate(header):
        if name == "":
            filled = frame.iloc[:, i].astype(str).str.strip()
            row = int(np.flatnonzero(filled.ne("").to_numpy())[0])
            problems.append(f"column {_column_letter(positions[i])} has no name in the header row but holds "
                            f"values (row {row + 2}: {filled.iloc[row][:40]!r}): name it or delete the column")
    for name in dict.fromkeys(c for c in header if c and header.count(c) > 1):
        where = " and ".join(_column_letter(positions[i]) for i, c in enumerate(header) if c == name)
        problems.append(f"the column name {name!r} is used twice (columns {where}): rename or delete one")
    if problems:
        raise _fail(filename, "; ".join(problems))


def _first_line(text: str) -> str:
    end = text.find("\n")
    return (text if end < 0 else text[:end]).rstrip("\r")



def _arrow_owned(raw: bytes) -> pa.Buffer:
    """A copy of ``raw`` in memory Arrow allocated, for Arrow's CSV reader: its reader threads
    let go of their input when they are done, and a Python object (io.BytesIO, or Python
    bytes behind an Arrow buffer) needs the interpreter lock to be let go. When that happened
    as a refused import's process was exiting, the thread was stopped inside Arrow's C++ and
    the exit aborted ("terminate called without an active exception", exit code 134: seen in
    about 1 run in 30 of a refused import under load). Arrow's own memory is let go without it.
    The copy costs one pass over the file's bytes."""
    buffer = pa.allocate_buffer(len(raw))
    np.frombuffer(buffer, dtype=np.uint8)[:] = np.frombuffer(raw, dtype=np.uint8)
    return buffer

def _read_with_arrow(text: str, delimiter: str) -> tuple[list[str], pd.DataFrame] | None:
    """The fast read (pyarrow.csv, several threads) of a file that is plainly well formed:
    every line one record with exactly the header's number of cells, at least two of them.

    Returns the stripped header and cells (str columns, row 0 = the first row under the
    header, all-empty rows dropped), or None for anything else (a row of another width, a
    blank line, a line break inside a quoted cell, a quote arrow cannot read): the careful
    pandas read then finds and names the problem, or reads the file as it is.
    """
    raw = text.encode()
    n_lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1)
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(_arrow_owned(raw)),
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                              ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(raw[:raw.find(b"\n")].count(
                    delimiter.encode()) + 64)},
                strings_can_be_null=False, quoted_strings_can_be_null=False, null_values=[]),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_columns < 2 or table.num_rows != n_lines or any(
            not pa.types.is_string(t) for t in table.schema.types):
        return None
    columns = [pc.utf8_trim_whitespace(table.column(i).combine_chunks()) for i in range(table.num_columns)]
    header = [str(c[0].as_py()) for c in columns]
    body = [c.slice(1) for c in columns]
    frame = pd.DataFrame({i: pd.Series(pd.array(c, dtype="str"), copy=False) for i, c in enumerate(body)})
    given = pc.not_equal(body[0], "")
    for c in body[1:]:
        given = pc.or_(given, pc.not_equal(c, ""))
    if not pc.all(given).as_py():
        frame = frame[given.to_numpy(zero_copy_only=False)]
    return header, frame


def _read_with_pandas(filename: str, text: str, delimiter: str, hint: bool) -> tuple[list[str], pd.DataFrame]:
    """The careful read: every record accounted for, problems named (see read_csv_bytes)."""
    try:
        # header=None: a row with more cells than the header is an error, not a silent index.
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            na_filter=False, skip_blank_lines=False, quoting=csv.QUOTE_MINIMAL, header=None)
    except pd.errors.ParserError as exc:
        if '"' in text:
            # A row too wide is often a quote opened and never closed on a row above it, whose
            # cell ran on until the next quote: name that quote rather than the separator.
            header = [c.strip() for c in next(csv.reader([_first_line(text)], delimiter=delimiter), [])]
            _check_quotes_strictly(filename, text, delimiter, header, row_too_wide=True)
        raise ImportFailed(filename, [_parser_problem(exc, text, delimiter)]) from None
    except pd.errors.EmptyDataError:
        raise _fail(filename, "the file has no header row") from None
    header = [str(c).strip() for c in frame.iloc[0].fillna("")]
    if frame.shape[1] == 1 and not hint:
        # One column in the header, but the rows below all hold one separator: a guess on the
        # header alone would read every row into one cell.
        sample = frame.iloc[1:21, 0].astype(str)
        sample = sample[sample.str.strip() != ""]
        for d in DELIMITERS:
            if len(sample) and sample.str.contains(d, regex=False).all():
                raise _fail(filename, f"the header row has one column but the rows below are separated by "
                                      f"{_DELIMITER_WORDS[d]}; give the header the same separators "
                                      f"(or add a first line sep={d})")
    _account_for_every_line(filename, text, frame, delimiter)
    frame = frame.iloc[1:].fillna("")
    frame.index = frame.index - 1
    if len(set(header)) == len(header) and "" not in header and len(frame.columns):
        frame = frame.apply(lambda s: s.str.strip())
        # Blank lines are dropped but keep their place, so row numbers stay those a spreadsheet shows.
        frame = frame[(frame != "").any(axis=1)]
    return header, frame


def _delimiters_per_line(text: str, delimiter: str, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Per line: how many delimiters it holds, and whether it is blank. numpy over the bytes
    (the delimiters are ASCII; a multi-byte one falls back to pandas string counting)."""
    if len(delimiter.encode()) != 1:
        lines = pd.Series(text.split("\n")[:n_lines], dtype="str").str.rstrip("\r")
        return lines.str.count(re.escape(delimiter)).to_numpy(), (lines.str.len() == 0).to_numpy()
    buf = np.frombuffer(text.encode(), dtype=np.uint8)
    breaks = np.flatnonzero(buf == 10)
    line_of = np.searchsorted(breaks, np.flatnonzero(buf == ord(delimiter)))
    counts = np.bincount(line_of, minlength=n_lines)[:n_lines]
    starts = np.concatenate(([0], breaks + 1))[:n_lines]
    ends = np.concatenate((breaks, [len(buf)]))[:n_lines]
    length = ends - starts
    cr = (length > 0) & (buf[np.maximum(ends - 1, 0)] == 13)
    return counts, (length - cr) == 0


def _account_for_every_line(filename: str, text: str, frame: pd.DataFrame, delimiter: str) -> None:
    """Refuse a file whose records do not account for its lines, or whose rows are short.

    ``frame`` is the raw read (header as record 0). Costs one vectorised count per line; the
    cells are only searched for line breaks when the file has fewer records than lines.
    """
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    records = len(frame)
    width = frame.shape[1]
    words = _DELIMITER_WORDS.get(delimiter, repr(delimiter))
    if records == n_lines:
        if width < 2:
            return
        # Every line is one record: a line with fewer delimiters than the header has fewer cells.
        # pandas pads a short row with empty cells, so only rows whose last cell is empty can be
        # short; the others are not looked at again.
        maybe = (frame.iloc[:, -1].astype(str) == "").to_numpy(dtype=bool, copy=True)
        maybe[0] = False
        if not maybe.any():
            return
        counts, blank = _delimiters_per_line(text, delimiter, n_lines)
        short = maybe & (counts < width - 1) & ~blank
        hits = np.flatnonzero(short)
        if len(hits):
            # A line of spaces only is blank too (looked at on this rare path only).
            lines = text.split("\n")
            hits = np.array([i for i in hits if lines[i].strip()], dtype=np.int64)
        if len(hits):
            problems = [Problem(int(i) + 1, None, None,
                                f"has {int(counts[i]) + 1} cell{'s' if counts[i] else ''}, the header has "
                                f"{width} (cells are separated by {words}; is a cell missing, or does this "
                                "row use another separator?)") for i in hits[:MAX_LISTED_PROBLEMS]]
            raise ImportFailed(filename, problems, total=len(hits))
        return
    # Fewer records than lines: the difference must be line breaks inside quoted cells.
    cells = frame.astype(str)
    breaks = cells.apply(lambda s: s.str.count("\n"))
    if records + int(breaks.to_numpy().sum()) != n_lines:
        raise _fail(filename, f"the file has {n_lines - 1:,} lines of data but only {records - 1:,} rows "
                              "could be read from them; check for quotes that are not closed")
    rows, cols = np.nonzero(breaks.to_numpy() > 0)
    for r, c in zip(rows, cols, strict=True):
        cell = str(cells.iat[r, c])
        inner = cell.split("\n")[1:]
        # A line inside a cell that has as many separators as a whole row is a row of its own
        # (too weak a sign with fewer than three columns, where one comma would do).
        looks_like_rows = [ln for ln in inner if ln.count(delimiter) >= width - 1
                           and _shaped_like_a_row(ln, frame, delimiter)]
        if width >= 3 and looks_like_rows:
            column = str(frame.iat[0, c]).strip() if r else None
            raise ImportFailed(filename, [Problem(
                int(r) + 1, column or None, cell.split("\n")[0],
                f"opens a quote (\") that is not closed: the next {len(inner)} line"
                f"{'s' if len(inner) > 1 else ''} of the file, which look like rows of their own, "
                "were read into this one cell. Remove the stray quote or double it (\"\"), "
                "then import again")])


def _check_quotes_strictly(filename: str, text: str, delimiter: str, header: list[str], *,
                           row_too_wide: bool = False) -> None:
    """Read a file with quotes once more with Python's csv reader in strict mode (C; 0.7 s for
    31 MB of quoted cells), which both fast readers are not, and refuse what they let through:
    a quote opened on the last line and never closed (`...,3,"Broken on arrival`), and a cell
    that starts with a quote and goes on after it closes (`"Sturdy" my foot`: the quotes would
    be lost). With ``row_too_wide`` (the careful read found a row with too many cells), a quoted
    cell that runs over a line break into text after the next quote is a quote never closed on
    its own line, named as such. Other problems are the other readers' to name."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    row, line = 1, 1  # the spreadsheet row (a record) and the file's line the next record starts on
    try:
        for _record in reader:
            row, line = row + 1, reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise ImportFailed(filename, [_open_quote_problem(
                text, delimiter, row, line, "opens a quote (\") that is never closed: the file ends inside "
                                            "this cell; close the quote, or remove it or double it (\"\")")]
                               ) from None
        if "expected after" not in str(exc):
            return
        lines = text.split("\n")
        segment = "\n".join(lines[line - 1:max(reader.line_num, line)])
        d = re.escape(delimiter)
        m = re.search(f'(?:^|(?<=[{d}\n]))"[^"]*(?:""[^"]*)*"(?=[^{d}\r\n"])', segment)
        if m is None:
            return
        if row_too_wide and "\n" in m.group(0):
            raise ImportFailed(filename, [_open_quote_problem(
                text, delimiter, row, line, "opens a quote (\") that is not closed on its line: the cell ran on "
                                            "into the next line, up to the next quote; close the quote, or "
                                            "remove it or double it (\"\")")]) from None
        before = segment[segment.rfind("\n", 0, m.start()) + 1:m.start()]  # the row's cells before it
        index = len(next(csv.reader([before], delimiter=delimiter), [])) - 1 if before else 0
        name = header[index] if 0 <= index < len(header) else None
        raw = segment[m.start():].split("\n", 1)[0].split(delimiter, 1)[0]
        raise ImportFailed(filename, [Problem(row, name or None, raw,
                                              "has text after its closing quote, so the quotes would be lost "
                                              "(read as Sturdy my foot): put the whole cell in quotes and "
                                              "double the quotes inside it (\"\"\"Sturdy\"\" my foot\"), or "
                                              "remove them")]) from None


def _open_quote_problem(text: str, delimiter: str, row: int, line: int, message: str) -> Problem:
    """A quote never closed, named by spreadsheet ``row``, with the column and the start of the
    cell it opens, read off the file's ``line`` (1-based) where that row starts."""
    lines = text.split("\n")
    cells = next(csv.reader([lines[line - 1]], delimiter=delimiter), []) if line <= len(lines) else []
    header = next(csv.reader([lines[0]], delimiter=delimiter), [])
    column = header[len(cells) - 1].strip() if cells and len(cells) <= len(header) else None
    return Problem(row, column or None, cells[-1] if cells else None, message)


def _record_start_line(text: str, delimiter: str, record: int) -> int:
    """The file's line (1-based) on which record ``record`` (0 = the header) starts."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    line = 1
    for i, _cells in enumerate(reader):
        if i + 1 == record:
            return reader.line_num + 1
        line = reader.line_num + 1
    return line


def _shape(cell: str) -> str:
    """A cell's shape: runs of digits as 9, runs of letters as a ("2025-03-04T09:00:00Z" ->
    "9-9-9a9:9:9a", "R4" -> "a9", "Great value" -> "a a")."""
    return re.sub(r"[^\W\d_]+", "a", re.sub(r"\d+", "9", cell.strip()))


def _shaped_like_a_row(line: str, frame: pd.DataFrame, delimiter: str) -> bool:
    """Whether a line inside a quoted cell is shaped like the file's rows: read as a row, most
    of its cells have a shape their column has in the rows above and below (up to 200 rows
    looked at; a column with more than 20 shapes, free text, is not judged). A comment whose
    second line happens to hold as many commas as a row ("late, broken, dirty, wet, smelly,
    and rude driver") is not shaped like "R4,C4,2025-03-04T09:00:00Z,web,9,Great value"."""
    cells = next(csv.reader([line], delimiter=delimiter), [])
    if len(cells) != frame.shape[1]:
        return False
    sample = frame.iloc[1:201].astype(str)
    judged = matched = 0
    for c, cell in enumerate(cells):
        shapes = set(sample.iloc[:, c].map(_shape))
        if len(shapes) > 20:
            continue
        judged += 1
        matched += _shape(cell) in shapes
    return judged > 0 and 2 * matched > judged


def _parser_problem(exc: Exception, text: str, delimiter: str) -> Problem:
    """The pandas parser's refusal in a spreadsheet's words: the row, and for a quote that is
    never closed the column and the start of the cell it opens."""
    msg = str(exc).strip().splitlines()[-1]
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        return Problem(int(m.group(2)), None, None,
                       f"has {m.group(3)} cells, the header has {m.group(1)} (a cell with the separator "
                       "in it that is not in quotes?)")
    m = re.search(r"EOF inside string starting at row (\d+)", msg)
    if m:
        record = int(m.group(1))  # 0 = the header
        # The row's line read on its own: the quote opens its last cell.
        return _open_quote_problem(text, delimiter, record + 1, _record_start_line(text, delimiter, record),
                                   "opens a quote (\") that is never closed, so the rest of the file would be "
                                   "read into one cell; remove the stray quote or double it (\"\")")
    return Problem(None, None, None, f"the file cannot be read as CSV ({msg})")
