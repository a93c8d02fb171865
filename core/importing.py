"""Bring your own data: CSV files of customers, orders, feedback, loyalty entries, tickets
and products (design.md, "Import formats").

The whole file is read and checked before anything is written. A file with any bad row
imports nothing; the error names the row (as a spreadsheet shows it: the header is row 1),
the column and the value of the first problems. A good file is written in one transaction,
keyed by the source system's ids, so the same file imported twice changes nothing and a
changed row updates its record.

Every step is set-based: the file is parsed and checked with vectorised pandas, existing
records are read once and compared in pandas, new records go through `db.bulk.bulk_insert`
and changed ones through one executemany UPDATE.

Records without a source id get a derived one (``auto-`` + the first 40 hex digits of a
SHA-1 of their content); see `derived_key_rule` for what goes into it per kind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv
from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from core import audit, consent
from core.email_address import email_problem
from db.bulk import bulk_insert
from db.models import (
    Customer,
    Feedback,
    LoyaltyEntry,
    Order,
    OrderLine,
    Product,
    Refund,
    SupportTicket,
    utcnow,
)

log = logging.getLogger(__name__)

KINDS = ("customers", "orders", "refunds", "feedback", "loyalty", "tickets", "products")
MAX_LISTED_PROBLEMS = 20
# From this many new rows into a table that holds fewer, its indexes are dropped and built again.
REBUILD_INDEXES_FROM = 50_000
Progress = Callable[[float, str], None]


# --------------------------------------------------------------------------------------------
# The formats


@dataclass(frozen=True)
class Col:
    """One column of an import format. ``kind`` is how its cells are read."""

    name: str
    kind: str = "text"  # text, datetime, date, number, whole, flag, choice
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


FORMATS: dict[str, tuple[Col, ...]] = {
    "customers": (
        Col("customer_id", required=True, max_length=64),
        Col("name", max_length=200),
        Col("email", max_length=254),
        Col("phone", max_length=40),
        Col("signup_date", "date"),
        Col("segment", max_length=40),
        Col("region", max_length=40),
        Col("owner", max_length=64),
        Col("email_opt_in", "flag"),
        Col("sms_opt_in", "flag"),
        Col("subscription_status", "choice", choices=("active", "paused", "cancelled")),
        # When the source system last recorded the consent choice (core.consent's import rule).
        Col("email_consent_at", "datetime"),
        Col("sms_consent_at", "datetime"),
    ),
    "orders": (
        Col("customer_id", required=True, max_length=64),
        Col("ordered_at", "datetime", required=True),
        Col("total", "number", required=True),
        Col("order_id", max_length=64),
        Col("sku", max_length=64),
        Col("quantity", "whole", minimum=1),
        Col("unit_price", "number", minimum=0),
        Col("offer_code", max_length=40),
        # Refunds and cancellations as shops export them (see _import_orders).
        Col("status", max_length=40),
        Col("refunded_amount", "number", minimum=0),
        Col("refund_of", max_length=64),
        Col("refunded_at", "datetime"),
    ),
    "refunds": (
        Col("refunded_at", "datetime", required=True),
        Col("amount", "number", required=True),
        Col("order_id", max_length=64),
        Col("customer_id", max_length=64),
        Col("refund_id", max_length=64),
        Col("reason", max_length=60),
    ),
    "feedback": (
        Col("submitted_at", "datetime", required=True),
        Col("nps_score", "whole", minimum=0, maximum=10),
        Col("comment"),
        Col("response_id", max_length=64),
        Col("customer_id", max_length=64),
        Col("channel", max_length=40),
    ),
    "loyalty": (
        Col("customer_id", required=True, max_length=64),
        Col("occurred_at", "datetime", required=True),
        Col("kind", "choice", required=True, choices=("earn", "redeem", "expire", "adjust", "reverse")),
        Col("points", "whole", required=True),
        Col("entry_id", max_length=64),
        Col("expires_at", "datetime"),
        Col("order_id", max_length=64),
    ),
    "tickets": (
        Col("customer_id", required=True, max_length=64),
        Col("opened_at", "datetime", required=True),
        Col("ticket_id", max_length=64),
        Col("closed_at", "datetime"),
        Col("topic", max_length=80),
        Col("status", "choice", choices=("open", "pending", "closed")),
    ),
    "products": (
        Col("sku", required=True, max_length=64),
        Col("name", required=True, max_length=200),
        Col("category", max_length=60),
        Col("replenishment_days", "whole", minimum=1),
        Col("unit_price", "number", minimum=0),
    ),
}


def _loyalty_synonyms() -> dict[str, str]:
    from core.loyalty import KIND_SYNONYMS

    return KIND_SYNONYMS


# Other words a file may use for a choice, by field (lower case, single spaces).
CHOICE_SYNONYMS: dict[str, dict[str, str]] = {"kind": _loyalty_synonyms()}

# The source id of each kind; a missing one is derived from the listed columns.
KEY_COLUMN = {"customers": "customer_id", "orders": "order_id", "refunds": "refund_id", "feedback": "response_id",
              "loyalty": "entry_id", "tickets": "ticket_id", "products": "sku"}
DERIVED_FROM = {
    "orders": ("customer_id", "ordered_at", "total", "offer_code", "lines (sku, quantity, unit_price)"),
    "refunds": ("order_id", "customer_id", "refunded_at", "amount"),
    "feedback": ("customer_id", "submitted_at", "channel", "nps_score", "comment"),
    "loyalty": ("customer_id", "occurred_at", "kind", "points", "expires_at", "order_id"),
    "tickets": ("customer_id", "opened_at", "topic"),
}


def derived_key_rule(kind: str) -> str:
    """How a record without a source id is keyed (for the README and the Data screen)."""
    if kind not in DERIVED_FROM:
        return f"{KEY_COLUMN[kind]} is required"
    parts = " + ".join(DERIVED_FROM[kind])
    return f"without {KEY_COLUMN[kind]}: 'auto-' + SHA-1 of {parts}"


# --------------------------------------------------------------------------------------------
# Problems


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
        return len({p.row for p in self.problems if p.row is not None})

    @property
    def summary(self) -> str:
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


# --------------------------------------------------------------------------------------------
# Reading the file


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

    @property
    def columns(self) -> list[str]:
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
    fast = _read_with_arrow(text, delimiter)
    header, frame = fast if fast is not None else _read_with_pandas(filename, text, delimiter, bool(hint))
    if len(set(header)) != len(header) or "" in header:
        dupes = sorted({c for c in header if header.count(c) > 1 or c == ""})
        raise _fail(filename, "the header row has empty or repeated column names: "
                              + ", ".join(repr(c) for c in dupes))
    frame.columns = header
    return ParsedFile(filename=filename, frame=frame, delimiter=delimiter, had_bom=had_bom,
                      sep_hint=bool(hint))


def _first_line(text: str) -> str:
    end = text.find("\n")
    return (text if end < 0 else text[:end]).rstrip("\r")


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
            io.BytesIO(raw),
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
        raise _fail(filename, _parser_detail(exc)) from None
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
        looks_like_rows = [ln for ln in inner if ln.count(delimiter) >= width - 1]
        if width >= 3 and looks_like_rows:
            column = str(frame.iat[0, c]).strip() if r else None
            raise ImportFailed(filename, [Problem(
                int(r) + 1, column or None, cell.split("\n")[0],
                f"opens a quote (\") that is not closed: the next {len(inner)} line"
                f"{'s' if len(inner) > 1 else ''} of the file, which look like rows of their own, "
                "were read into this one cell. Remove the stray quote or double it (\"\"), "
                "then import again")])


def _parser_detail(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()[-1]
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        return (f"line {m.group(2)} has {m.group(3)} cells, the header has {m.group(1)} "
                "(a cell with the separator in it that is not in quotes?)")
    m = re.search(r"EOF inside string starting at row (\d+)", msg)
    if m:
        return (f"row {int(m.group(1)) + 1} opens a quote (\") that is never closed, so the rest of the "
                "file would be read into one cell; remove the stray quote or double it (\"\")")
    return f"the file cannot be read as CSV ({msg})"


# --------------------------------------------------------------------------------------------
# Matching columns


def normalise_name(name: str) -> str:
    """Column names match without regard to case, spaces, underscores and hyphens."""
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


@dataclass
class ColumnMatch:
    """Which file column feeds which field of the format."""

    mapping: dict[str, str]  # file column -> field
    extra: list[str]  # file columns that feed nothing (ignored, reported)
    missing_required: list[str]  # required fields no column feeds
    unmatched_fields: list[str]  # optional fields no column feeds

    def as_frame(self, kind: str) -> pd.DataFrame:
        by_field = {v: k for k, v in self.mapping.items()}
        rows = [{"field": c.name, "required": "yes" if c.required else "",
                 "file column": by_field.get(c.name, "")} for c in FORMATS[kind]]
        return pd.DataFrame(rows)


def match_columns(columns: Iterable[str], kind: str, overrides: dict[str, str | None] | None = None
                  ) -> ColumnMatch:
    """Detect the mapping; ``overrides`` (file column -> field, or None to ignore) win."""
    fmt = _format(kind)
    by_norm = {normalise_name(c.name): c.name for c in fmt}
    mapping: dict[str, str] = {}
    overrides = overrides or {}
    for column in columns:
        if column in overrides:
            target = overrides[column]
            if target:
                if target not in {c.name for c in fmt}:
                    raise ValueError(f"{kind} has no field {target!r}")
                mapping[column] = target
            continue
        target = by_norm.get(normalise_name(column))
        if target and target not in mapping.values():
            mapping[column] = target
    # An explicit override takes a field away from a detected column.
    seen: dict[str, str] = {}
    for column, target in list(mapping.items()):
        if target in seen and column in overrides:
            del mapping[seen[target]]
        elif target in seen:
            del mapping[column]
            continue
        seen[target] = column
    fed = set(mapping.values())
    extra = [c for c in columns if c not in mapping]
    missing = [c.name for c in fmt if c.required and c.name not in fed]
    if kind == "feedback" and not ({"nps_score", "comment"} & fed):
        missing.append("nps_score or comment")
    unmatched = [c.name for c in fmt if not c.required and c.name not in fed]
    return ColumnMatch(mapping=mapping, extra=extra, missing_required=missing, unmatched_fields=unmatched)


def _format(kind: str) -> tuple[Col, ...]:
    if kind not in FORMATS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    return FORMATS[kind]


# --------------------------------------------------------------------------------------------
# Checking cells (vectorised)

# Dates before this are placeholders (1900-01-01, 1899-12-30: a spreadsheet's day zero,
# 1970-01-01: a clock's) for a shop's customers, orders and answers. Only the listed fields may
# lie in the future (up to FUTURE_DATES_UNTIL); the others may be at most two days ahead (time zones).
EARLIEST_DATE = pd.Timestamp("1990-01-01")
FUTURE_DATES_UNTIL = pd.Timestamp("2100-12-31")
FUTURE_DATE_FIELDS = frozenset({"expires_at"})
# Text fields holding ids: a cell like 6.52E+12 or 123.0 there is an id a spreadsheet mangled.
ID_FIELDS = frozenset({"customer_id", "order_id", "response_id", "entry_id", "ticket_id", "refund_of"})
_TRUE = {"true", "yes", "y", "1", "t", "x"}
_FALSE = {"false", "no", "n", "0", "f", ""}
_COMPACT_DATE = re.compile(r"\d{8}")


def _arrow_cells(values: pd.Series) -> pa.Array:
    """The cells as an arrow string array, empty ones as null."""
    arr = pa.array(values.astype(str))
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _arrow_datetimes(values: pd.Series) -> pd.Series | None:
    """The fast path of parse_datetimes: when every non-empty cell is an ISO 8601 date or date
    and time that arrow reads, all without a UTC offset or all with one, the same values pandas
    gives (nanoseconds, naive UTC); else None."""
    cells = _arrow_cells(values)
    for target in (pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
        try:
            parsed = pc.cast(cells, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        out = np.asarray(pc.fill_null(pc.cast(parsed, pa.int64()), 0)).view("datetime64[ns]").copy()
        out[np.asarray(pc.is_null(parsed))] = np.datetime64("NaT")
        return pd.Series(out, index=values.index, dtype="datetime64[ns]")
    return None


def parse_datetimes(values: pd.Series) -> pd.Series:
    """ISO 8601 (any offset, converted to naive UTC) or YYYYMMDD; NaT where unparseable."""
    fast = _arrow_datetimes(values)
    if fast is not None:
        return fast
    values = values.astype(str)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    compact = values.str.fullmatch(r"\d{8}")
    if compact.any():
        out[compact] = _in_ns_range(pd.to_datetime(values[compact], format="%Y%m%d", errors="coerce"))
    rest = ~compact
    if rest.any():
        # A lone date or a naive timestamp is taken as UTC; ISO8601 rejects "03/01/2025" and the like.
        parsed = pd.to_datetime(values[rest], format="ISO8601", errors="coerce", utc=True)
        out[rest] = _in_ns_range(parsed.dt.tz_convert(None))
    return out


def _in_ns_range(values: pd.Series) -> pd.Series:
    """NaT for dates nanosecond timestamps cannot hold (0001-01-01, 9999-12-31): pandas parses
    them at a coarser unit and would fail to convert."""
    ok = (values >= pd.Timestamp("1678-01-01")) & (values <= pd.Timestamp("2261-12-31"))
    return values.where(ok).astype("datetime64[ns]")


def _check_column(col: Col, raw: pd.Series) -> tuple[pd.Series, list[tuple[pd.Series, str]]]:
    """Typed values and (mask of bad non-empty cells, message) pairs."""
    empty = raw == ""
    if col.kind == "text":
        out = raw.where(~empty, None).astype(object)
        if col.name in ID_FIELDS:
            excel = raw.str.fullmatch(r"[0-9]+(?:[.,][0-9]+)?[eE]\+?[0-9]+|[0-9]+\.0+").to_numpy(dtype=bool)
            id_checks = [(excel, "looks like an id a spreadsheet turned into a number (scientific "
                                 "notation or a trailing .0), so the real id is lost; format the column "
                                 "as Text in the spreadsheet, or export the file from the shop again")]
        else:
            id_checks = []
        if not col.max_length:
            return out, id_checks
        too_long = ~empty & (raw.str.len() > col.max_length)
        return out, [(too_long, f"is longer than {col.max_length} characters"), *id_checks]
    if col.kind in ("datetime", "date"):
        parsed = parse_datetimes(raw)
        bad = ~empty & parsed.isna()
        if col.kind == "date":
            parsed = parsed.dt.normalize()
        # A well-formed date outside the range pandas holds (0001-01-01, 9999-12-31) is NaT too:
        # it is a placeholder, not a typo. Only the unparsed cells are looked at again.
        shaped = pd.Series(False, index=raw.index)
        if bad.any():
            cand = raw[bad]
            year = pd.to_numeric(cand.str.slice(0, 4).where(cand.str.match(r"\d{4}-?\d{2}-?\d{2}"), ""),
                                 errors="coerce")
            shaped[bad] = ((year < EARLIEST_DATE.year) | (year > FUTURE_DATES_UNTIL.year)).to_numpy(dtype=bool)
        latest = FUTURE_DATES_UNTIL if col.name in FUTURE_DATE_FIELDS else pd.Timestamp(utcnow()) \
            + pd.Timedelta(days=2)
        outside = ~empty & parsed.notna() & ((parsed < EARLIEST_DATE) | (parsed > latest))
        when = "2100-12-31" if col.name in FUTURE_DATE_FIELDS else "today"
        return parsed, [
            (bad & ~shaped, "is not a date (use ISO 8601 like 2025-03-01 or 2025-03-01T14:30:00, "
                            "or YYYYMMDD)"),
            (shaped | outside, f"is a placeholder or impossible date (dates from "
                               f"{EARLIEST_DATE:%Y-%m-%d} to {when} are accepted); leave the cell empty if "
                               "the date is not known"),
        ]
    if col.kind in ("number", "whole"):
        numbers = _numbers(raw, empty)
        bad = ~empty & ~np.isfinite(numbers.fillna(np.inf))
        checks = [(bad, "is not a number (use digits with a decimal point, like 12.50)")]
        if col.kind == "whole":
            checks.append((~empty & ~bad & (numbers != numbers.round()), "is not a whole number"))
        ok = ~empty & ~bad
        if col.minimum is not None and col.maximum is not None:
            checks.append((ok & ((numbers < col.minimum) | (numbers > col.maximum)),
                           f"is outside {col.minimum:g} to {col.maximum:g}"))
        elif col.minimum is not None:
            checks.append((ok & (numbers < col.minimum), f"is below {col.minimum:g}"))
        elif col.maximum is not None:
            checks.append((ok & (numbers > col.maximum), f"is above {col.maximum:g}"))
        return numbers, checks
    if col.kind == "flag":
        low = raw.str.lower()
        return low.isin(_TRUE), [(~low.isin(_TRUE | _FALSE), "is not yes/no (use true/false, yes/no or 1/0)")]
    if col.kind == "choice":
        low = raw.str.lower()
        if col.name in CHOICE_SYNONYMS:
            words = low.str.replace(r"[\s_\-]+", " ", regex=True).str.strip()
            low = words.map(CHOICE_SYNONYMS[col.name]).fillna(low)
        bad = ~empty & ~low.isin(col.choices)
        return low.where(~empty, None).astype(object), [(bad, f"is not one of {', '.join(col.choices)}")]
    raise AssertionError(col.kind)


def _numbers(raw: pd.Series, empty: pd.Series) -> pd.Series:
    """Cells as float64 (NaN for empty and unparseable ones); arrow's cast when every
    non-empty cell is a plain number, else pandas' to_numeric."""
    try:
        cast = pc.cast(_arrow_cells(raw), pa.float64())
        return pd.Series(np.asarray(pc.fill_null(cast, np.nan)), index=raw.index, dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(raw.where(~empty, None), errors="coerce").astype("float64")


class Problems(list):
    """Problems found so far; keeps the first ones per check and counts the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.uncounted = 0

    @property
    def total(self) -> int:
        return len(self) + self.uncounted

    def cells(self, rownum: np.ndarray, raw: pd.Series, mask: pd.Series | np.ndarray, column: str,
              message: str, *, show_value: bool = True) -> None:
        hits = np.flatnonzero(np.asarray(mask))
        if not len(hits):
            return
        keep = hits[:MAX_LISTED_PROBLEMS]
        self.uncounted += len(hits) - len(keep)
        values = raw.to_numpy()
        self.extend(Problem(int(rownum[i]), column, str(values[i]) if show_value else None, message)
                    for i in keep)


def check_cells(parsed: ParsedFile, kind: str, match: ColumnMatch) -> tuple[pd.DataFrame, Problems]:
    """Typed frame (one column per fed field, same index as the file) and every cell problem."""
    fmt = _format(kind)
    problems = Problems()
    by_field = {v: k for k, v in match.mapping.items()}
    typed = pd.DataFrame(index=parsed.frame.index)
    rownum = parsed.frame.index.to_numpy() + 2
    for col in fmt:
        if col.name not in by_field:
            continue
        raw = parsed.frame[by_field[col.name]].astype(str)
        values, checks = _check_column(col, raw)
        typed[col.name] = values
        for mask, message in checks:
            problems.cells(rownum, raw, mask, col.name, message)
        if col.required:
            problems.cells(rownum, raw, raw == "", col.name, "is required but empty", show_value=False)
    if kind == "feedback":
        none = pd.Series(True, index=typed.index)
        no_score = typed["nps_score"].isna() if "nps_score" in typed else none
        no_comment = typed["comment"].isna() if "comment" in typed else none
        problems.cells(rownum, parsed.frame.iloc[:, 0], no_score & no_comment, "nps_score",
                       "needs an nps_score or a comment; both are empty", show_value=False)
    if kind in DERIVED_FROM:
        _repeated_rows_without_key(parsed, kind, match, rownum, problems)
    return typed, problems


def _repeated_rows_without_key(parsed: ParsedFile, kind: str, match: ColumnMatch, rownum: np.ndarray,
                               problems: Problems) -> None:
    """Two identical rows without a source id are refused: one record listed twice, or two
    records that happen to look alike? Only the person who has the file can tell."""
    key = KEY_COLUMN[kind]
    key_col = {v: k for k, v in match.mapping.items()}.get(key)
    frame = parsed.frame
    no_key = np.ones(len(frame), dtype=bool) if key_col is None else (frame[key_col] == "").to_numpy()
    if not no_key.any() or not match.mapping:
        return
    sub = frame.loc[no_key, list(match.mapping)]
    hashes = pd.Series(pd.util.hash_pandas_object(sub, index=False).to_numpy(), index=sub.index)
    repeat = hashes.duplicated(keep="first").to_numpy()
    if not repeat.any():
        return
    rows = rownum[no_key]
    first = pd.Series(rows).groupby(hashes.to_numpy()).transform("first").to_numpy()
    hits = np.flatnonzero(repeat)
    problems.uncounted += max(len(hits) - MAX_LISTED_PROBLEMS, 0)
    problems.extend(Problem(int(rows[i]), key, None,
                            f"is empty and the row repeats row {int(first[i])} exactly: the same record "
                            f"listed twice, or two alike? Give each its {key}, or delete the copy")
                    for i in hits[:MAX_LISTED_PROBLEMS])


# --------------------------------------------------------------------------------------------
# Result


@dataclass
class ImportSummary:
    """What an import did (or, with dry_run, would do)."""

    kind: str
    filename: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    customers_created: int = 0
    lines: int = 0
    refunds_inserted: int = 0
    refunds_updated: int = 0
    refunds_unchanged: int = 0
    refunds_removed: int = 0
    cancellations: int = 0
    refunded_money: float = 0.0
    extra_columns: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    consent_conflicts: list[str] = field(default_factory=list)  # kept out by core.consent's rule
    consent_conflict_total: int = 0
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def counts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": self.rows, "inserted": self.inserted, "updated": self.updated,
                               "unchanged": self.unchanged, "skipped": self.skipped}
        if self.skipped_reasons:
            out["skipped_reasons"] = dict(self.skipped_reasons)
        if self.customers_created:
            out["customers_created"] = self.customers_created
        if self.kind == "orders":
            out["lines"] = self.lines
        if self.kind in ("orders", "refunds"):
            out["refunds"] = {"inserted": self.refunds_inserted, "updated": self.refunds_updated,
                              "unchanged": self.refunds_unchanged, "removed": self.refunds_removed,
                              "cancellations": self.cancellations, "refunded": self.refunded_money}
        if self.consent_conflict_total:
            out["consent_kept_out"] = self.consent_conflict_total
        return out

    def lines_of_text(self) -> list[str]:
        """The summary a person reads at the terminal or on the Data screen."""
        verb = "would be" if self.dry_run else "were"
        noun = "orders" if self.kind == "orders" else "records"
        out = [f"{self.filename}: {self.rows:,} rows of {self.kind}" + (" (dry run, nothing written)"
                                                                           if self.dry_run else "")]
        out.append(f"  {self.inserted:,} {noun} {verb} inserted, {self.updated:,} updated, "
                   f"{self.unchanged:,} unchanged, {self.skipped:,} rows skipped")
        for reason, n in self.skipped_reasons.items():
            out.append(f"    skipped {n:,}: {reason}")
        if self.kind == "orders":
            out.append(f"  {self.lines:,} order lines {verb} written")
        if self.kind == "orders" and (self.refunds_inserted or self.refunds_updated or self.refunds_unchanged
                                      or self.refunds_removed or self.cancellations):
            out.append(f"  refunds and cancellations, kept apart from the orders: {self.refunds_inserted:,} new "
                       f"refunds ({self.refunded_money:,.2f} refunded in the file), {self.cancellations:,} "
                       f"cancelled orders, {self.refunds_updated:,} updated, {self.refunds_unchanged:,} "
                       f"unchanged, {self.refunds_removed:,} removed")
        if self.customers_created:
            out.append(f"  {self.customers_created:,} unknown customer ids {verb} created as "
                       "minimal customers")
        if self.extra_columns:
            out.append(f"  ignored columns: {', '.join(self.extra_columns)}")
        if self.consent_conflict_total:
            out.append(f"  consent withdrawn in Hearth {verb} kept for {self.consent_conflict_total:,} "
                       "(the file says opted in):")
            out += [f"    {c}" for c in self.consent_conflicts]
            if self.consent_conflict_total > len(self.consent_conflicts):
                out.append(f"    … and {self.consent_conflict_total - len(self.consent_conflicts):,} more")
        out += [f"  {n}" for n in self.notes]
        return out


# --------------------------------------------------------------------------------------------
# Helpers for keys, comparison and writing


def _sha_keys(parts: list[pd.Series]) -> pd.Series:
    """'auto-' + SHA-1 of the '|'-joined canonical text of each row."""
    text = parts[0].astype(str)
    for p in parts[1:]:
        text = text + "|" + p.astype(str)
    digests = [hashlib.sha1(t.encode()).hexdigest()[:40] for t in text.to_numpy()]
    return pd.Series(["auto-" + d for d in digests], index=text.index, dtype=object)


def _canon(values: pd.Series, how: str) -> pd.Series:
    """Text form of a value for derived keys: stable across runs and machines."""
    if how == "datetime":
        return values.dt.strftime("%Y-%m-%dT%H:%M:%S").fillna("")
    if how == "number":
        return values.round(4).map(lambda v: "" if pd.isna(v) else f"{v:.4f}") if len(values) else values
    return values.fillna("").astype(str)


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality where two missing values are equal."""
    a_na, b_na = pd.isna(a).to_numpy(), pd.isna(b).to_numpy()
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) and not (
            pd.api.types.is_bool_dtype(a) or pd.api.types.is_bool_dtype(b)):
        av = a.astype("float64").to_numpy()
        bv = b.astype("float64").to_numpy()
        eq = np.isclose(np.nan_to_num(av), np.nan_to_num(bv), rtol=0, atol=1e-9)
    elif pd.api.types.is_datetime64_any_dtype(a) and pd.api.types.is_datetime64_any_dtype(b):
        eq = a.to_numpy(dtype="datetime64[ns]") == b.to_numpy(dtype="datetime64[ns]")
    else:
        eq = (a.astype(object).to_numpy() == b.astype(object).to_numpy())
    return (eq & ~a_na & ~b_na) | (a_na & b_na)


def _as_db(values: pd.Series, kind: str) -> pd.Series:
    """Bring an existing column read from the database to the file's typed form."""
    if kind in ("datetime", "date"):
        out = pd.to_datetime(values, errors="coerce").astype("datetime64[ns]")
        return out.dt.normalize() if kind == "date" else out
    if kind in ("number", "whole"):
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if kind == "flag":
        return values.fillna(False).astype(bool)
    return values.astype(object).where(values.notna(), None)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None)
    return out.to_dict("records")


def _update_rows(conn: Connection, table: Table, frame: pd.DataFrame, columns: list[str]) -> None:
    """One executemany UPDATE ... WHERE id = ? for the changed records."""
    if frame.empty or not columns:
        return
    stmt = (update(table).where(table.c.id == bindparam("_pk"))
            .values({c: bindparam(f"v_{c}") for c in columns}))
    body = frame[["id", *columns]].rename(columns={"id": "_pk", **{c: f"v_{c}" for c in columns}})
    recs = _records(body)
    for start in range(0, len(recs), 20_000):
        conn.execute(stmt, recs[start:start + 20_000])


def _max_id(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())


def _isin(values: pd.Series, candidates: Iterable[Any]) -> pd.Series:
    """`values.isin(candidates)` through object hashing: pandas' Arrow-backed str isin is slow."""
    cand = candidates.to_numpy(dtype=object) if isinstance(candidates, pd.Series | pd.Index) else \
        np.asarray(list(candidates), dtype=object)
    return pd.Series(values.to_numpy(dtype=object), index=values.index, dtype=object).isin(cand)


def _read(conn: Connection, stmt) -> pd.DataFrame:  # noqa: ANN001
    return pd.read_sql(stmt, conn)


def _intify(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    for c in columns:
        if c in frame:
            frame[c] = frame[c].astype("Int64")
    return frame


@dataclass
class _Plan:
    """What a kind's import will write, computed before writing."""

    new: pd.DataFrame
    changed: pd.DataFrame
    update_columns: list[str]
    unchanged: int


def _plan(incoming: pd.DataFrame, existing: pd.DataFrame, key: str, compare: dict[str, str]) -> _Plan:
    """Split incoming records (column `key` + compared columns) into new, changed and unchanged.

    ``existing`` has id, `key` and the compared columns as read from the database;
    ``compare`` maps column -> kind for bringing the database values to the file's form.
    """
    cols = list(compare)
    if existing.empty:
        return _Plan(new=incoming, changed=incoming.iloc[0:0].assign(id=pd.Series(dtype="int64")),
                     update_columns=cols, unchanged=0)
    ex = existing[["id", key, *cols]].copy()
    for c, k in compare.items():
        ex[c] = _as_db(ex[c], k)
    merged = incoming.merge(ex, on=key, how="left", suffixes=("", "__db"), indicator=True)
    is_new = (merged["_merge"] == "left_only").to_numpy()
    differs = np.zeros(len(merged), dtype=bool)
    for c in cols:
        differs |= ~_same(merged[c], merged[f"{c}__db"])
    keep = [key, *[c for c in incoming.columns if c != key]]
    new = merged.loc[is_new, keep]
    changed = merged.loc[~is_new & differs, ["id", *keep]]
    changed["id"] = changed["id"].astype("int64")
    return _Plan(new=new, changed=changed, update_columns=cols, unchanged=int((~is_new & ~differs).sum()))


# --------------------------------------------------------------------------------------------
# Customers referenced by other kinds


def _resolve_customers(conn: Connection, external_ids: pd.Series, *, write: bool
                       ) -> tuple[pd.Series, int]:
    """Internal ids for external customer ids (same index); unknown ids become minimal customers.

    Without ``write`` the unknown ids get negative placeholder ids and nothing is created.
    Each distinct id is looked up once (a file repeats its customers).
    """
    table = Customer.__table__
    codes, uniques = pd.factorize(external_ids.to_numpy(dtype=object))
    known = _read(conn, select(table.c.id, table.c.external_id))
    lookup = pd.Series(known["id"].to_numpy(), index=known["external_id"].astype(str).to_numpy(dtype=object))
    wanted = pd.Series(uniques, dtype=object)
    found = wanted.map(lookup)
    unknown = pd.Index(wanted[found.isna().to_numpy()].to_numpy(), dtype=object)
    if len(unknown):
        if write:
            now = utcnow()
            before = _max_id(conn, table)
            bulk_insert(conn, table, pd.DataFrame({
                "external_id": unknown.to_numpy(), "email_opt_in": False, "sms_opt_in": False,
                "created_at": now, "updated_at": now}))
            fresh = _read(conn, select(table.c.id, table.c.external_id).where(table.c.id > before))
            fresh = fresh[_isin(fresh["external_id"], unknown)]
            extra = pd.Series(fresh["id"].to_numpy(), index=fresh["external_id"].to_numpy(dtype=object))
        else:
            extra = pd.Series(-np.arange(1, len(unknown) + 1), index=unknown.to_numpy())
        found = found.fillna(wanted.map(extra))
    per_unique = found.to_numpy(dtype="float64")
    ids = np.where(codes >= 0, per_unique[np.maximum(codes, 0)] if len(per_unique) else np.nan, np.nan)
    out = pd.Series(ids, index=external_ids.index)
    return (out.astype("int64") if len(out) and not out.isna().any() else out), len(unknown)


# --------------------------------------------------------------------------------------------
# The kinds


@dataclass
class _Context:
    conn: Connection
    typed: pd.DataFrame
    rownum: pd.Series  # spreadsheet row number per typed row
    summary: ImportSummary
    write: bool
    progress: Progress
    actor: str | None = None  # who imports (the logged-in user, or "cli"): kept on consent changes


def _dedupe(ctx: _Context, key: str, problems: Problems) -> pd.DataFrame:
    """Rows repeating an earlier key: an exact copy is skipped; a different row is a problem."""
    t = ctx.typed
    dup = t.duplicated(key, keep="first").to_numpy()
    if not dup.any():
        return t
    copy = t.astype(str).duplicated(keep="first").to_numpy()
    conflict = dup & ~copy
    first_row = ctx.rownum.groupby(t[key].to_numpy()).transform("first").to_numpy()
    keys = t[key].astype(str).to_numpy()
    hits = np.flatnonzero(conflict)
    problems.uncounted += max(len(hits) - MAX_LISTED_PROBLEMS, 0)
    for i in hits[:MAX_LISTED_PROBLEMS]:
        problems.append(Problem(int(ctx.rownum.iloc[i]), key, keys[i],
                                f"appears again with different values (first at row {int(first_row[i])})"))
    skipped = int((dup & copy).sum())
    if skipped:
        _skip(ctx.summary, f"repeats an earlier row with the same {key}", skipped)
    return t[~dup]


def _skip(summary: ImportSummary, reason: str, n: int) -> None:
    summary.skipped += n
    summary.skipped_reasons[reason] = summary.skipped_reasons.get(reason, 0) + n


def _to_db_types(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Dates as date objects, whole numbers as integers: what the columns expect."""
    frame = frame.copy()
    for c, k in kinds.items():
        if c not in frame:
            continue
        if k == "date":
            frame[c] = pd.Series([None if pd.isna(v) else v.date() for v in frame[c]], index=frame.index,
                                 dtype=object)
        elif k == "whole":
            frame[c] = frame[c].astype("Int64")
    return frame


def _generic(ctx: _Context, *, table: Table, key_field: str, db_columns: dict[str, str],
             field_kinds: dict[str, str], problems: Problems,
             defaults: dict[str, Callable[[pd.DataFrame], Any]] | None = None,
             derive: list[tuple[str, str]] | None = None, customer_field: str | None = None,
             extra_checks: Callable[[pd.DataFrame, _Context, Problems], None] | None = None,
             on_change: dict[str, Callable[[], Any]] | None = None) -> None:
    """Import one record per row, keyed by the file field ``key_field``.

    Only the columns the file has are compared and written: a file without an email column
    leaves stored emails alone.
    """
    t = ctx.typed
    if derive is not None:
        given = (t[key_field] if key_field in t else pd.Series(None, index=t.index)).astype(object)
        missing = given.isna().to_numpy()
        if missing.any():
            parts = [_canon(t[f], how) if f in t else pd.Series("", index=t.index) for f, how in derive]
            given = given.copy()
            given[missing] = _sha_keys([p[missing] for p in parts]).to_numpy()
        ctx.typed = t = t.assign(**{key_field: given})
    t = _dedupe(ctx, key_field, problems)
    if not problems and extra_checks:
        extra_checks(t, ctx, problems)
    if problems:
        return
    fed = [f for f in t.columns if f in db_columns]
    incoming = pd.DataFrame({db_columns[f]: t[f] for f in fed}, index=t.index)
    compare = {db_columns[f]: field_kinds[f] for f in fed if f != key_field}
    if customer_field and customer_field in t:
        ids, created = _resolve_customers(ctx.conn, t[customer_field], write=ctx.write)
        incoming["customer_id"] = ids.astype("float64")
        compare["customer_id"] = "whole"
        ctx.summary.customers_created += created
    key = db_columns[key_field]
    cols = [key, *compare]
    existing = _read(ctx.conn, select(*[table.c[c] for c in ["id", *cols]]))
    plan = _plan(incoming[cols], existing, key, compare)
    ctx.summary.inserted += len(plan.new)
    ctx.summary.updated += len(plan.changed)
    ctx.summary.unchanged += plan.unchanged
    if not ctx.write:
        return
    ctx.progress(0.5, f"writing {len(plan.new):,} new and {len(plan.changed):,} changed records")
    new = _to_db_types(plan.new, compare)
    for c, make in (defaults or {}).items():
        value = make(new)
        new[c] = value if c not in new else new[c].where(new[c].notna(), value)
    total = max(len(new), 1)
    bulk_insert(ctx.conn, table, new,
                progress=lambda n: ctx.progress(0.5 + 0.4 * n / total, f"inserted {n:,} records"))
    changed = _to_db_types(plan.changed, compare)
    update_cols = list(plan.update_columns)
    for c, make in (on_change or {}).items():
        changed[c] = make()
        update_cols.append(c)
    _update_rows(ctx.conn, table, changed, update_cols)


def _kinds_of(kind: str) -> dict[str, str]:
    return {c.name: c.kind for c in FORMATS[kind]}


def _now(_frame: pd.DataFrame | None = None) -> Any:
    return utcnow()


def _check_emails(frame: pd.DataFrame, ctx: _Context, problems: Problems) -> None:
    """Each email cell is one valid address (core.email_address); a bad one refuses the file."""
    if "email" not in frame:
        return
    given = frame["email"].dropna()
    bad = {i: why for i, address in given.items() if (why := email_problem(str(address))) is not None}
    rows = ctx.rownum.loc[list(bad)]
    problems.uncounted += max(len(bad) - MAX_LISTED_PROBLEMS, 0)
    for i in list(bad)[:MAX_LISTED_PROBLEMS]:
        problems.append(Problem(int(rows.loc[i]), "email", str(given.loc[i]),
                                f"is not a valid email address: {bad[i]}"))


def _import_customers(ctx: _Context, problems: Problems) -> None:
    kinds = _kinds_of("customers")
    # Consent a withdrawal in Hearth holds back is stored as withdrawn (core.consent's rule).
    plan = consent.reconcile_import(ctx.conn, ctx.typed, max_listed=MAX_LISTED_PROBLEMS)
    if plan.kept:
        ctx.typed = ctx.typed.assign(**plan.kept)
    ctx.summary.consent_conflicts = plan.conflicts
    ctx.summary.consent_conflict_total = plan.conflict_total
    before = consent.snapshot(ctx.conn) if plan.kept and ctx.write else None
    _generic(ctx, table=Customer.__table__, key_field="customer_id",
             db_columns={f: f for f in kinds if not f.endswith("_consent_at")} | {"customer_id": "external_id"},
             field_kinds=kinds, problems=problems, extra_checks=_check_emails,
             defaults={"email_opt_in": lambda f: False, "sms_opt_in": lambda f: False, "created_at": _now,
                       "updated_at": _now},
             on_change={"updated_at": _now})
    if before is not None and not problems:
        consent.record_import(ctx.conn, ctx.typed, before, filename=ctx.summary.filename, by=ctx.actor)


def _import_products(ctx: _Context, problems: Problems) -> None:
    kinds = _kinds_of("products")
    _generic(ctx, table=Product.__table__, key_field="sku", db_columns={f: f for f in kinds},
             field_kinds=kinds, problems=problems)


def _ticket_status(frame: pd.DataFrame) -> pd.Series:
    """A ticket without a status is closed when it has closed_at, else open."""
    closed = frame["closed_at"].notna() if "closed_at" in frame else pd.Series(False, index=frame.index)
    return pd.Series(np.where(closed, "closed", "open"), index=frame.index, dtype=object)


def _import_tickets(ctx: _Context, problems: Problems) -> None:
    kinds = _kinds_of("tickets")

    def closed_after_opened(frame: pd.DataFrame, ctx_: _Context, probs: Problems) -> None:
        if "closed_at" in frame:
            bad = (frame["closed_at"].notna() & (frame["closed_at"] < frame["opened_at"])).to_numpy()
            probs.cells(ctx_.rownum.loc[frame.index].to_numpy(), frame["closed_at"].astype(str), bad,
                        "closed_at", "is before opened_at")

    if "status" in ctx.typed and ctx.typed["status"].isna().any():
        t = ctx.typed
        ctx.typed = t.assign(status=t["status"].where(t["status"].notna(), _ticket_status(t)))
    _generic(ctx, table=SupportTicket.__table__, key_field="ticket_id",
             db_columns={f: f for f in kinds} | {"ticket_id": "external_id"}, field_kinds=kinds,
             problems=problems, defaults={"status": _ticket_status},
             derive=[("customer_id", "text"), ("opened_at", "datetime"), ("topic", "text")],
             customer_field="customer_id", extra_checks=closed_after_opened)


def _import_feedback(ctx: _Context, problems: Problems) -> None:
    kinds = _kinds_of("feedback")
    # A changed answer is scored again by core.feedback.flag_unscored after the import.
    rescore = {"sentiment": lambda: None, "flagged": lambda: False, "flag_reasons": lambda: None,
               "severity": lambda: None}
    _generic(ctx, table=Feedback.__table__, key_field="response_id",
             db_columns={f: f for f in kinds} | {"response_id": "external_id"}, field_kinds=kinds,
             problems=problems, defaults={"flagged": lambda f: False, "state": lambda f: "new"},
             derive=[("customer_id", "text"), ("submitted_at", "datetime"), ("channel", "text"),
                     ("nps_score", "number"), ("comment", "text")],
             customer_field="customer_id", on_change=rescore)


def _import_loyalty(ctx: _Context, problems: Problems) -> None:
    """Every entry counts as written: also the programme's own expire rows (``computed`` false,
    see core.loyalty) and reversals of refunded orders."""
    kinds = _kinds_of("loyalty") | {"computed": "flag"}
    ctx.typed = ctx.typed.assign(computed=False)
    _generic(ctx, table=LoyaltyEntry.__table__, key_field="entry_id",
             db_columns={f: f for f in kinds} | {"entry_id": "external_id", "order_id": "order_ref"},
             field_kinds=kinds, problems=problems,
             derive=[("customer_id", "text"), ("occurred_at", "datetime"), ("kind", "text"),
                     ("points", "number"), ("expires_at", "datetime"), ("order_id", "text")],
             customer_field="customer_id", extra_checks=_check_ledger)


def _check_ledger(frame: pd.DataFrame, ctx: _Context, problems: Problems) -> None:
    """A redemption larger than the balance at that moment is a bad row (core.loyalty's rule)."""
    try:
        from core.loyalty import ledger_problems
    except ImportError:
        ctx.summary.notes.append("loyalty balances not checked: core.loyalty.ledger_problems is not "
                                 "available in this build")
        return
    table = LoyaltyEntry.__table__
    customers = _read(ctx.conn, select(Customer.__table__.c.id, Customer.__table__.c.external_id))
    ext_to_id = dict(zip(customers["external_id"].astype(str), customers["id"], strict=True))
    affected_ids = {ext_to_id[c] for c in frame["customer_id"].unique() if c in ext_to_id}
    existing = _read(ctx.conn, select(table.c.id, table.c.external_id, table.c.customer_id,
                                      table.c.occurred_at, table.c.kind, table.c.points, table.c.expires_at,
                                      table.c.computed))
    existing = existing[existing["customer_id"].isin(affected_ids)
                        & ~_isin(existing["external_id"], frame["entry_id"])]
    id_to_ext = {v: k for k, v in ext_to_id.items()}
    old = pd.DataFrame({
        "customer_id": existing["customer_id"].map(id_to_ext).to_numpy(),
        "occurred_at": pd.to_datetime(existing["occurred_at"]).to_numpy(),
        "kind": existing["kind"].to_numpy(), "points": existing["points"].to_numpy(),
        "expires_at": pd.to_datetime(existing["expires_at"]).to_numpy(),
        "computed": existing["computed"].fillna(False).astype(bool).to_numpy(),
    }, index=[("db", str(x)) for x in existing["external_id"]])
    new = pd.DataFrame({
        "customer_id": frame["customer_id"].to_numpy(), "occurred_at": frame["occurred_at"].to_numpy(),
        "kind": frame["kind"].to_numpy(), "points": frame["points"].astype("int64").to_numpy(),
        "expires_at": (frame["expires_at"] if "expires_at" in frame
                       else pd.Series(pd.NaT, index=frame.index)).to_numpy(),
        "computed": False,
    }, index=[("file", int(r)) for r in ctx.rownum.loc[frame.index]])
    entries = pd.concat([old, new]) if len(old) else new
    entries = entries.iloc[np.argsort(entries["occurred_at"].to_numpy(), kind="stable")]
    values = dict(zip(new.index, frame["points"].to_numpy(), strict=True))
    for label, message in ledger_problems(entries):
        source, ref = label
        if source == "file":
            problems.append(Problem(ref, "points", str(int(values[label])), message))
        else:
            problems.append(Problem(None, "points", None, f"existing entry {ref}: {message} once this file "
                                                          "is applied"))


def _order_positions(order_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the number of its order (0, 1, ... in order of first appearance); per order,
    the position of its first row (increasing)."""
    codes, uniques = pd.factorize(order_ids.to_numpy(dtype=object))
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return codes, first


def _derive_order_ids(t: pd.DataFrame, has_lines: bool) -> None:
    """Rows without an order_id: rows with the same customer, time, total and offer code form
    one order, keyed by a SHA-1 of those and its sorted lines (in place)."""
    missing = t["order_id"].isna()
    if not missing.any():
        return
    sub = t[missing]
    header = [_canon(sub["customer_id"], "text"), _canon(sub["ordered_at"], "datetime"),
              _canon(sub["total"], "number"), _canon(sub["offer_code"], "text")]
    group = header[0] + "|" + header[1] + "|" + header[2] + "|" + header[3]
    if has_lines:
        line = (_canon(sub["sku"], "text") + ":"
                + _canon(sub.get("quantity", pd.Series(1.0, index=sub.index)).fillna(1.0), "number")
                + ":" + _canon(sub.get("unit_price", pd.Series(np.nan, index=sub.index)), "number"))
        lines_text = (pd.DataFrame({"g": group, "l": line}).sort_values(["g", "l"])
                      .groupby("g", sort=False)["l"].agg(",".join))
        group_text = group + "|" + group.map(lines_text)
    else:
        group_text = group
    t.loc[missing, "order_id"] = _sha_keys([group_text])


def _differs_from_order(problems: Problems, t: pd.DataFrame, column: str, reference: pd.Series,
                        mask: np.ndarray, rownum: np.ndarray, first_row: np.ndarray) -> None:
    """A problem for each row (where ``mask``) whose ``column`` differs from its order's value."""
    bad = np.flatnonzero(mask)
    if not len(bad):
        return
    problems.uncounted += max(len(bad) - MAX_LISTED_PROBLEMS, 0)
    values, order_ids = t[column].to_numpy(), t["order_id"].to_numpy()
    problems.extend(Problem(int(rownum[i]), column, str(values[i]),
                            f"differs from the other rows of order {order_ids[i]} "
                            f"(first at row {int(first_row[i])})") for i in bad[:MAX_LISTED_PROBLEMS])


def _check_order_rows(ctx: _Context, t: pd.DataFrame, problems: Problems
                      ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Every row of one order must agree on the order's own fields; the refund columns, often
    filled on an order's first row only, must agree where given (and then fill the others).
    Returns ``t`` with the refund columns filled, and _order_positions of its order ids."""
    codes, first = _order_positions(t["order_id"])
    first_of_row = first[codes]
    rownum = ctx.rownum.to_numpy()
    first_row = rownum[first_of_row]
    for column in ("customer_id", "ordered_at", "total", "offer_code"):
        values = t[column]
        missing = values.isna().to_numpy()
        if missing.all():
            continue
        if missing.any():  # the first value given, as groupby's "first" takes it
            ref = t.groupby("order_id", sort=False)[column].transform("first")
        else:
            ref = pd.Series(values.to_numpy()[first_of_row], index=t.index)
        _differs_from_order(problems, t, column, ref, ~_same(values, ref), rownum, first_row)
    refund_cols = [c for c in ("status", "refunded_amount", "refund_of", "refunded_at") if c in t]
    if refund_cols:
        given = t.groupby("order_id", sort=False)[refund_cols].transform("first")
        for column in refund_cols:
            mask = t[column].notna().to_numpy() & ~_same(t[column], given[column])
            _differs_from_order(problems, t, column, given[column], mask, rownum, first_row)
        t = t.assign(**{c: given[c] for c in refund_cols})
    return t, codes, first


def _order_lines(ctx: _Context, t: pd.DataFrame, codes: np.ndarray, first: np.ndarray
                 ) -> tuple[pd.DataFrame | None, np.ndarray]:
    """The file's order lines (order_id, sku, quantity, unit_price) and each line's order
    number; rows that only repeat an order are counted as skipped."""
    header = np.zeros(len(t), dtype=bool)
    header[first] = True
    if "sku" not in t:
        lines, line_codes = None, np.array([], dtype=np.int64)
        skipped_rows = int((~header).sum())
    else:
        has_sku = t["sku"].notna().to_numpy()
        lines = t.loc[has_sku, ["order_id", "sku"]].copy()
        line_codes = codes[has_sku]
        quantity = t["quantity"] if "quantity" in t else pd.Series(1.0, index=t.index)
        unit_price = t["unit_price"] if "unit_price" in t else pd.Series(np.nan, index=t.index)
        lines["quantity"] = quantity.to_numpy()[has_sku]
        lines["quantity"] = lines["quantity"].fillna(1.0)
        lines["unit_price"] = unit_price.to_numpy()[has_sku]
        if lines["unit_price"].isna().any():
            prices = _read(ctx.conn, select(Product.__table__.c.sku, Product.__table__.c.unit_price))
            known = pd.Series(prices["unit_price"].to_numpy(), index=prices["sku"].astype(str).to_numpy())
            lines["unit_price"] = lines["unit_price"].fillna(lines["sku"].map(known)).fillna(0.0)
        skipped_rows = int((~header & ~has_sku).sum())
    if skipped_rows:
        _skip(ctx.summary, "repeats an order given on an earlier row, with no line of its own", skipped_rows)
    return lines, line_codes


def _changed_lines(ctx: _Context, incoming: pd.DataFrame, existing: pd.DataFrame, lines: pd.DataFrame
                   ) -> np.ndarray:
    """Ids of stored orders whose stored lines differ from the file's (multiset hash)."""
    matched = incoming.merge(existing[["id", "external_id"]], on="external_id")
    if not len(matched):
        return np.array([], dtype="int64")
    line_table = OrderLine.__table__
    stored = _read(ctx.conn, select(line_table.c.order_id, line_table.c.sku, line_table.c.quantity,
                                    line_table.c.unit_price))
    stored = stored[stored["order_id"].isin(matched["id"])]
    file_lines = lines.merge(matched[["id", "external_id"]], left_on="order_id", right_on="external_id")
    sig_db = _line_signature(stored["order_id"], stored)
    sig_file = _line_signature(file_lines["id"], file_lines)
    ids = pd.Index(matched["id"])
    db_sig = sig_db.reindex(ids, fill_value=0).to_numpy()
    file_sig = sig_file.reindex(ids, fill_value=0).to_numpy()
    return ids[db_sig != file_sig].to_numpy(dtype="int64")


@dataclass
class _OrderPlan:
    incoming: pd.DataFrame  # one row per order of the file, in order of first appearance
    is_new: np.ndarray  # per incoming order
    changed: pd.DataFrame  # id + the compared columns of stored orders to update
    compare: list[str]
    lines: pd.DataFrame | None
    line_codes: np.ndarray  # per line, its order's position in incoming
    relined: np.ndarray  # per incoming order: its stored lines are replaced
    relined_ids: np.ndarray  # stored ids of those orders
    relined_db_ids: np.ndarray  # the same, in the order of incoming's relined orders
    cancelled_stored: pd.DataFrame
    refund_plan: _RefundPlan
    existing_count: int


def _import_orders(ctx: _Context, problems: Problems) -> None:
    """Orders and their lines, one order per order_id (rows of one order are its lines);
    refund and cancellation rows become refunds (see _refunds_in_orders)."""
    t = ctx.typed
    for name in ("order_id", "offer_code"):
        if name not in t:
            t[name] = pd.Series(None, index=t.index, dtype=object)
    _derive_order_ids(t, "sku" in t)
    t, codes, first = _check_order_rows(ctx, t, problems)
    if problems:
        return
    refunds, real = _refunds_in_orders(t.iloc[first], ctx.rownum, problems)
    if problems:
        return
    if not real.all():
        # Refund and cancellation rows are kept as refunds: their lines are no order's lines.
        t = t[real.to_numpy()[codes]]
        codes, first = _order_positions(t["order_id"])
    plan = _plan_orders(ctx, t, codes, first, refunds, problems)
    if problems or plan is None:
        return
    if not ctx.write:
        return
    _write_orders(ctx, plan)


def _plan_orders(ctx: _Context, t: pd.DataFrame, codes: np.ndarray, first: np.ndarray,
                 refunds: pd.DataFrame, problems: Problems) -> _OrderPlan | None:
    """Compare the file's orders with the stored ones; count what will change."""
    orders = t.iloc[first]
    lines, line_codes = _order_lines(ctx, t, codes, first)
    ctx.progress(0.2, f"{len(orders):,} orders checked; matching customers")
    ids, created = _resolve_customers(ctx.conn, orders["customer_id"], write=ctx.write)
    ctx.summary.customers_created += created
    incoming = pd.DataFrame({"external_id": orders["order_id"].to_numpy(dtype=object),
                             "customer_id": ids.to_numpy(), "ordered_at": orders["ordered_at"].to_numpy(),
                             "total": orders["total"].to_numpy(),
                             "offer_code": orders["offer_code"].to_numpy()})
    compare = {"customer_id": "whole", "ordered_at": "datetime", "total": "number"}
    if "offer_code" in ctx.summary.mapping.values():
        compare["offer_code"] = "text"
    table = Order.__table__
    existing = _read(ctx.conn, select(table.c.id, table.c.external_id, table.c.customer_id,
                                      table.c.ordered_at, table.c.total, table.c.offer_code))
    ctx.progress(0.3, "comparing with the orders already stored")
    plan = _plan(incoming[["external_id", *compare]], existing, "external_id", compare)
    changed = plan.changed
    is_new = np.ones(len(incoming), dtype=bool) if existing.empty else \
        _isin(incoming["external_id"], plan.new["external_id"]).to_numpy()
    relined_ids = np.array([], dtype="int64")
    if lines is not None and not existing.empty:
        relined_ids = _changed_lines(ctx, incoming, existing, lines)
        extra = existing[existing["id"].isin(relined_ids) & ~existing["id"].isin(changed["id"])]
        if len(extra):
            add = incoming[_isin(incoming["external_id"], extra["external_id"])].merge(
                extra[["id", "external_id"]], on="external_id")[["id", "external_id", *compare]]
            changed = pd.concat([changed, add], ignore_index=True)
    relined_stored = existing[existing["id"].isin(relined_ids)]
    relined = _isin(incoming["external_id"], relined_stored["external_id"]).to_numpy()
    relined_db_ids = pd.Series(relined_stored["id"].to_numpy(), index=relined_stored["external_id"].astype(str)
                               ).reindex(incoming["external_id"][relined].astype(str)).to_numpy(dtype="int64")
    cancelled_stored = _cancelled_orders_stored(refunds, existing)
    file_orders = pd.DataFrame({"external_id": incoming["external_id"].to_numpy(),
                                "customer_ext": orders["customer_id"].to_numpy(),
                                "total": incoming["total"].to_numpy()})
    has_refund_cols = any(c in t for c in ("status", "refunded_amount", "refund_of", "refunded_at"))
    refund_plan = _plan_refunds(ctx, refunds, problems, file_orders=file_orders, stored_orders=existing,
                                replace_derived=orders["order_id"] if has_refund_cols else None)
    if problems:
        return None
    if len(cancelled_stored):
        ctx.summary.notes.append(f"{len(cancelled_stored):,} orders stored before are cancelled in this file: "
                                 "they leave the orders and are kept as cancellations")
    ctx.summary.inserted += int(is_new.sum())
    ctx.summary.updated += len(changed)
    ctx.summary.unchanged += len(incoming) - int(is_new.sum()) - len(changed)
    ctx.summary.lines += int((is_new | relined)[line_codes].sum())
    return _OrderPlan(incoming=incoming, is_new=is_new, changed=changed, compare=list(compare), lines=lines,
                      line_codes=line_codes, relined=relined, relined_ids=relined_ids, relined_db_ids=relined_db_ids,
                      cancelled_stored=cancelled_stored, refund_plan=refund_plan, existing_count=len(existing))


def _write_orders(ctx: _Context, plan: _OrderPlan) -> None:
    """Insert new orders (ids given here, so lines need no read-back), update changed ones,
    replace the lines of orders whose lines changed, then write the refunds."""
    table, line_table = Order.__table__, OrderLine.__table__
    before = _max_id(ctx.conn, table)
    new = plan.incoming[plan.is_new]
    new_ids = before + 1 + np.arange(len(new), dtype=np.int64)
    new.insert(0, "id", new_ids)
    n_lines = 0 if plan.lines is None else len(plan.lines)
    total = max(len(new) + n_lines, 1)
    # Into a table this file outgrows, dropping and re-creating the indexes is faster (db.bulk).
    rebuild = len(new) >= max(REBUILD_INDEXES_FROM, plan.existing_count)
    bulk_insert(ctx.conn, table, new, rebuild_indexes=rebuild,
                progress=lambda n: ctx.progress(0.35 + 0.3 * n / total, f"inserted {n:,} orders"))
    upd = plan.changed.copy()
    upd["customer_id"] = upd["customer_id"].astype("int64")
    _update_rows(ctx.conn, table, upd, [c for c in plan.compare if c != "customer_id"] + ["customer_id"])
    _remove_orders(ctx, plan.cancelled_stored)
    if plan.lines is not None:
        for start in range(0, len(plan.relined_ids), 5_000):
            chunk = [int(x) for x in plan.relined_ids[start:start + 5_000]]
            ctx.conn.execute(delete(line_table).where(line_table.c.order_id.in_(chunk)))
        db_id = np.full(len(plan.incoming), -1, dtype=np.int64)
        db_id[plan.is_new] = new_ids
        db_id[plan.relined] = plan.relined_db_ids
        line_ids = db_id[plan.line_codes]
        keep = line_ids >= 0
        lines = plan.lines
        out = pd.DataFrame({"order_id": line_ids[keep], "sku": lines["sku"].to_numpy()[keep],
                            "quantity": lines["quantity"].to_numpy()[keep].astype("int64"),
                            "unit_price": lines["unit_price"].to_numpy()[keep].astype("float64")})
        n_out = max(len(out), 1)
        bulk_insert(ctx.conn, line_table, out, rebuild_indexes=rebuild and len(out) >= REBUILD_INDEXES_FROM,
                    progress=lambda n: ctx.progress(0.65 + 0.3 * n / n_out, f"inserted {n:,} order lines"))
    _write_refunds(ctx, plan.refund_plan)



# --------------------------------------------------------------------------------------------
# Refunds and cancellations (design.md: they are kept as refunds, never as orders)

# Order statuses, normalised to lower case with single underscores. Any other status (paid,
# completed, processing, pending, fulfilled, shipped, on_hold, ...) is an ordinary order.
CANCELLED_STATUSES = frozenset({"cancelled", "canceled", "voided", "void", "cancel", "failed"})
REFUNDED_STATUSES = frozenset({"refunded", "fully_refunded", "refund", "returned"})
PARTLY_REFUNDED_STATUSES = frozenset({"partially_refunded", "partial_refund", "partly_refunded",
                                      "partially_returned"})
REFUND_COLUMNS = ["external_id", "kind", "order_ref", "customer_ext", "refunded_at", "amount", "reason", "row"]


def _status_words(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "").astype(str).str.lower().str.strip() \
        .str.replace(r"[\s\-_]+", "_", regex=True)


def _cents(values: pd.Series | np.ndarray) -> np.ndarray:
    """Money rounded to the cent (what is stored and summed)."""
    return np.round(np.asarray(values, dtype="float64"), 2) + 0.0


def _refund_key(order_ids: pd.Series) -> pd.Series:
    """The key of the refund a status or refunded_amount gives an order: ``refund-of-<order_id>``,
    or a derived key where that would be longer than 64 characters."""
    key = "refund-of-" + order_ids.astype(str)
    long = key.str.len() > 64
    if long.any():
        key = key.copy()
        key[long] = _sha_keys([key[long]]).to_numpy()
    return key


def _refunds_in_orders(heads: pd.DataFrame, rownum: pd.Series, problems: Problems
                       ) -> tuple[pd.DataFrame, pd.Series]:
    """The refunds and cancellations an orders file holds, and which of its orders are real.

    One row per order (its first row). A negative total is a refund of ``-total`` (of the
    order named in refund_of, else unlinked but kept with its customer and date). A status of
    cancelled, canceled, voided or failed makes the order a cancellation: not an order, kept
    as a cancellation of its total. Every other order is real; it also gets a refund (linked to
    it) of refunded_amount when that is above 0, else of its whole total when its status is
    refunded. A refund is dated refunded_at when given, else at the row's ordered_at.
    """
    none = pd.Series(None, index=heads.index, dtype=object)
    status = _status_words(heads["status"]) if "status" in heads else pd.Series("", index=heads.index)
    refunded = heads["refunded_amount"] if "refunded_amount" in heads else pd.Series(np.nan, index=heads.index)
    refund_of = heads["refund_of"].astype(object) if "refund_of" in heads else none
    when = heads["refunded_at"] if "refunded_at" in heads else pd.Series(pd.NaT, index=heads.index)
    when = when.where(when.notna(), heads["ordered_at"])
    total = heads["total"].astype("float64")
    rows = rownum.loc[heads.index]
    negative = (total < 0).to_numpy()
    cancelled = status.isin(CANCELLED_STATUSES).to_numpy() & ~negative
    real = ~negative & ~cancelled
    over = real & (refunded > total + 0.005).to_numpy()
    problems.cells(rows.to_numpy(), refunded, over, "refunded_amount",
                   "is more than the order's total")
    linked_to_self = refund_of.notna().to_numpy() & ~negative
    problems.cells(rows.to_numpy(), refund_of, linked_to_self, "refund_of",
                   "names an order to refund, but this row's total is not negative "
                   "(a refund row has a negative total)")
    by_status = status.isin(REFUNDED_STATUSES).to_numpy()
    amount = np.where(refunded.fillna(0).to_numpy() > 0, refunded.fillna(0).to_numpy(),
                      np.where(by_status, total.to_numpy(), 0.0))
    gets_refund = real & (amount > 0)
    parts = []
    if negative.any():
        parts.append(pd.DataFrame({
            "external_id": heads["order_id"][negative].astype(str), "kind": "refund",
            "order_ref": refund_of[negative], "customer_ext": heads["customer_id"][negative],
            "refunded_at": when[negative], "amount": -total[negative], "reason": "negative total",
            "row": rows[negative]}))
    if cancelled.any():
        parts.append(pd.DataFrame({
            "external_id": heads["order_id"][cancelled].astype(str), "kind": "cancellation",
            "order_ref": heads["order_id"][cancelled].astype(str),
            "customer_ext": heads["customer_id"][cancelled], "refunded_at": when[cancelled],
            "amount": total[cancelled], "reason": "status " + status[cancelled], "row": rows[cancelled]}))
    if gets_refund.any():
        reason = np.where(status[gets_refund] != "", "status " + status[gets_refund], "refunded_amount")
        parts.append(pd.DataFrame({
            "external_id": _refund_key(heads["order_id"][gets_refund]), "kind": "refund",
            "order_ref": heads["order_id"][gets_refund].astype(str),
            "customer_ext": heads["customer_id"][gets_refund], "refunded_at": when[gets_refund],
            "amount": amount[gets_refund], "reason": reason, "row": rows[gets_refund]}))
    partly = real & status.isin(PARTLY_REFUNDED_STATUSES).to_numpy() & ~gets_refund
    if partly.any():
        problems.cells(rows.to_numpy(), status, partly, "status",
                       "says the order was partly refunded, but refunded_amount is empty: give the amount "
                       "refunded (or import the shop's refunds file)")
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REFUND_COLUMNS)
    out["amount"] = _cents(out["amount"])
    return out[REFUND_COLUMNS], pd.Series(real, index=heads.index)


def _cancelled_orders_stored(refunds: pd.DataFrame, existing: pd.DataFrame) -> pd.DataFrame:
    """Stored orders (id, external_id) that this file cancels."""
    if refunds.empty or existing.empty:
        return existing.iloc[0:0][["id", "external_id"]]
    keys = refunds.loc[refunds["kind"] == "cancellation", "external_id"]
    return existing.loc[_isin(existing["external_id"].astype(str), keys), ["id", "external_id"]]


def _remove_orders(ctx: _Context, gone: pd.DataFrame) -> None:
    """Orders a later file cancels leave the orders with their lines and status refunds."""
    if gone.empty:
        return
    ids = [int(x) for x in gone["id"]]
    r, ln, o = Refund.__table__, OrderLine.__table__, Order.__table__
    for start in range(0, len(ids), 5_000):
        chunk = ids[start:start + 5_000]
        ctx.conn.execute(update(r).where(r.c.order_id.in_(chunk)).values(order_id=None))
        ctx.conn.execute(delete(ln).where(ln.c.order_id.in_(chunk)))
        ctx.conn.execute(delete(o).where(o.c.id.in_(chunk)))
    keys = _refund_key(gone["external_id"].astype(str)).tolist()
    for start in range(0, len(keys), 5_000):
        ctx.conn.execute(delete(r).where(r.c.external_id.in_(keys[start:start + 5_000])))


@dataclass
class _RefundPlan:
    incoming: pd.DataFrame  # external_id, kind, order_ref, customer_id, refunded_at, amount, reason
    new: pd.DataFrame
    changed: pd.DataFrame
    compare: list[str]
    stale: list[int]  # stored refunds this file replaces (an order no longer refunded or cancelled)


def _plan_refunds(ctx: _Context, refunds: pd.DataFrame, problems: Problems, *, file_orders: pd.DataFrame,
                  stored_orders: pd.DataFrame, replace_derived: pd.Series | None) -> _RefundPlan:
    """Check the refunds against their orders and compare them with the stored ones.

    ``file_orders``: the file's real orders (external_id, customer_ext, total);
    ``stored_orders``: orders already stored (id, external_id, customer_id, total).
    ``replace_derived``: the order ids of an orders file with status or refund columns, whose
    stored status refunds and cancellations the file now decides.
    A refund that names an order of another customer, or refunds that add up to more than
    their order's total, are problems.
    """
    r = Refund.__table__
    if refunds.empty and replace_derived is None:
        empty = pd.DataFrame(columns=["external_id", "kind", "order_ref", "customer_id", "refunded_at",
                                      "amount", "reason"])
        return _RefundPlan(incoming=empty, new=empty, changed=empty, compare=[], stale=[])
    ids, created = _resolve_customers(ctx.conn, refunds["customer_ext"], write=ctx.write)
    ctx.summary.customers_created += created
    people = _read(ctx.conn, select(Customer.__table__.c.id, Customer.__table__.c.external_id))
    ext = pd.Series(people["external_id"].astype(str).to_numpy(), index=people["id"].to_numpy())
    totals = pd.concat([
        pd.DataFrame({"key": stored_orders["external_id"].astype(str).to_numpy(),
                      "cust": stored_orders["customer_id"].map(ext).to_numpy(dtype=object),
                      "total": stored_orders["total"].astype("float64").to_numpy()}),
        pd.DataFrame({"key": file_orders["external_id"].astype(str).to_numpy(),
                      "cust": file_orders["customer_ext"].astype(str).to_numpy(dtype=object),
                      "total": file_orders["total"].astype("float64").to_numpy()}),
    ]).drop_duplicates("key", keep="last").set_index("key")
    incoming = pd.DataFrame({
        "external_id": refunds["external_id"].astype(str).to_numpy(),
        "kind": refunds["kind"].to_numpy(), "order_ref": refunds["order_ref"].astype(object).to_numpy(),
        "customer_id": ids.astype("float64").to_numpy(),
        "refunded_at": pd.to_datetime(refunds["refunded_at"]).astype("datetime64[ns]").to_numpy(),
        "amount": refunds["amount"].astype("float64").to_numpy(),
        "reason": refunds["reason"].astype(object).to_numpy()})
    row = refunds["row"].to_numpy()
    is_refund = (incoming["kind"] == "refund").to_numpy()
    ref = incoming["order_ref"].where(pd.Series(is_refund)).astype(object)
    known = _isin(ref.fillna(""), totals.index).to_numpy() & ref.notna().to_numpy()
    order_cust = ref.map(totals["cust"]).to_numpy(dtype=object)
    other = known & (order_cust != refunds["customer_ext"].astype(str).to_numpy(dtype=object))
    for i in np.flatnonzero(other)[:MAX_LISTED_PROBLEMS]:
        problems.append(Problem(int(row[i]), "customer_id", str(refunds["customer_ext"].iloc[i]),
                                f"is not the customer of order {ref.iloc[i]}, which this refund names"))
    existing = _read(ctx.conn, select(r.c.id, r.c.external_id, r.c.kind, r.c.order_ref, r.c.customer_id,
                                      r.c.refunded_at, r.c.amount, r.c.reason))
    # Refunds of one order, stored and in this file, may not add up to more than its total.
    others = existing[(existing["kind"] == "refund") & existing["order_ref"].notna()
                      & ~_isin(existing["external_id"].astype(str), incoming["external_id"])]
    linked = pd.concat([pd.Series(others["amount"].to_numpy(), index=others["order_ref"].astype(str).to_numpy()),
                        pd.Series(incoming["amount"].to_numpy()[known], index=ref[known].astype(str).to_numpy())])
    sums = linked.groupby(level=0).sum()
    too_much = sums[sums > totals["total"].reindex(sums.index).fillna(np.inf) + 0.005]
    for key, value in too_much.items():
        hits = np.flatnonzero(known & (ref.astype(str).to_numpy() == key))
        if len(hits):
            problems.append(Problem(int(row[hits[0]]), "total" if ctx.summary.kind == "orders" else "amount",
                                    f"{incoming['amount'].iloc[hits[0]]:.2f}",
                                    f"refunds of order {key} add up to {value:.2f}, more than its total of "
                                    f"{totals.loc[key, 'total']:.2f}"))
    compare = {"kind": "text", "order_ref": "text", "customer_id": "whole", "refunded_at": "datetime",
               "amount": "number", "reason": "text"}
    plan = _plan(incoming, existing, "external_id", compare)
    stale: list[int] = []
    if replace_derived is not None and not existing.empty:
        decided = pd.concat([_refund_key(replace_derived.astype(str)), replace_derived.astype(str)])
        gone = existing[_isin(existing["external_id"].astype(str), decided)
                        & ~_isin(existing["external_id"].astype(str), incoming["external_id"])]
        stale = [int(x) for x in gone["id"]]
    ctx.summary.refunds_inserted += int((plan.new["kind"] == "refund").sum())
    ctx.summary.cancellations += int((incoming["kind"] == "cancellation").sum())
    ctx.summary.refunds_updated += len(plan.changed)
    ctx.summary.refunds_unchanged += plan.unchanged
    ctx.summary.refunds_removed += len(stale)
    ctx.summary.refunded_money = round(ctx.summary.refunded_money + float(incoming.loc[is_refund, "amount"].sum()), 2)
    return _RefundPlan(incoming=incoming, new=plan.new, changed=plan.changed, compare=list(compare), stale=stale)


def _write_refunds(ctx: _Context, plan: _RefundPlan) -> None:
    """Insert and update the planned refunds, each linked to its stored order where there is one."""
    r, o = Refund.__table__, Order.__table__
    if plan.stale:
        for start in range(0, len(plan.stale), 5_000):
            ctx.conn.execute(delete(r).where(r.c.id.in_(plan.stale[start:start + 5_000])))
    if plan.new.empty and plan.changed.empty:
        return
    refs = pd.concat([plan.new["order_ref"], plan.changed["order_ref"]]).dropna().astype(str).unique().tolist()
    link: dict[str, int] = {}
    for start in range(0, len(refs), 5_000):
        link.update({str(k): int(v) for k, v in ctx.conn.execute(
            select(o.c.external_id, o.c.id).where(o.c.external_id.in_(refs[start:start + 5_000])))})

    def prepared(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        refund = (out["kind"] == "refund").to_numpy()
        out["order_id"] = pd.Series([link.get(str(k)) if ok and k is not None else None
                                     for k, ok in zip(out["order_ref"], refund, strict=True)],
                                    index=out.index, dtype=object)
        out["customer_id"] = out["customer_id"].astype("int64")
        return out

    bulk_insert(ctx.conn, r, prepared(plan.new))
    _update_rows(ctx.conn, r, prepared(plan.changed), [*plan.compare, "order_id"])


def _import_refunds(ctx: _Context, problems: Problems) -> None:
    """A shop's separate refunds file: one refund per row, linked to the stored order it names.

    amount is the money given back (a negative amount counts as its absolute value; 0 is a
    problem). The customer is the named order's, or customer_id for a refund of an order
    Hearth does not have (kept unlinked); a row with neither is a problem.
    """
    t = ctx.typed
    for name in ("order_id", "customer_id", "refund_id", "reason"):
        if name not in t:
            t[name] = pd.Series(None, index=t.index, dtype=object)
    missing = t["refund_id"].isna().to_numpy()
    if missing.any():
        keys = _sha_keys([_canon(t[f], how)[missing] for f, how in (
            ("order_id", "text"), ("customer_id", "text"), ("refunded_at", "datetime"), ("amount", "number"))])
        t.loc[missing, "refund_id"] = keys.to_numpy()
    ctx.typed = t
    t = _dedupe(ctx, "refund_id", problems)
    rows = ctx.rownum.loc[t.index].to_numpy()
    problems.cells(rows, t["amount"].astype(str), (t["amount"] == 0).to_numpy(), "amount",
                   "is 0: a refund gives money back")
    o, c = Order.__table__, Customer.__table__
    stored = _read(ctx.conn, select(o.c.id, o.c.external_id, o.c.customer_id, o.c.total))
    people = _read(ctx.conn, select(c.c.id, c.c.external_id))
    ext = pd.Series(people["external_id"].to_numpy(), index=people["id"].to_numpy())
    order_cust = pd.Series(stored["customer_id"].to_numpy(), index=stored["external_id"].astype(str).to_numpy())
    named = t["order_id"].astype(object)
    owner = named.map(lambda k: order_cust.get(str(k)) if k is not None and k == k else None)
    owner_ext = owner.map(lambda i: None if i is None or i != i else ext.get(int(i)))
    customer = t["customer_id"].astype(object).where(t["customer_id"].notna(), owner_ext)
    problems.cells(rows, named.astype(str), (customer.isna() & named.notna()).to_numpy(), "order_id",
                   "is not an order Hearth has; import the orders first, or give the customer_id")
    problems.cells(rows, named.astype(str), (customer.isna() & named.isna()).to_numpy(), "order_id",
                   "is empty and so is customer_id: say whose refund it is")
    if problems:
        return
    unlinked = int((named.notna() & owner.isna()).sum())
    if unlinked:
        ctx.summary.notes.append(f"{unlinked:,} refunds name an order Hearth does not have; kept with their "
                                 "customer, unlinked")
    refunds = pd.DataFrame({
        "external_id": t["refund_id"].astype(str).to_numpy(), "kind": "refund",
        "order_ref": named.to_numpy(), "customer_ext": customer.to_numpy(),
        "refunded_at": t["refunded_at"].to_numpy(), "amount": _cents(t["amount"].abs()),
        "reason": t["reason"].where(t["reason"].notna(), "refunds file").to_numpy(), "row": rows})
    plan = _plan_refunds(ctx, refunds, problems, file_orders=pd.DataFrame(columns=["external_id", "customer_ext",
                                                                                    "total"]),
                         stored_orders=stored, replace_derived=None)
    ctx.summary.inserted += len(plan.new)
    ctx.summary.updated += len(plan.changed)
    ctx.summary.unchanged += len(plan.incoming) - len(plan.new) - len(plan.changed)
    if problems or not ctx.write:
        return
    _write_refunds(ctx, plan)


def _line_signature(order_ids: pd.Series, lines: pd.DataFrame) -> pd.Series:
    """Order id -> an order-independent hash of its lines (sku, quantity, unit price)."""
    if lines.empty:
        return pd.Series(dtype="uint64")
    canon = pd.DataFrame({
        "sku": lines["sku"].astype(str).to_numpy(),
        "q": pd.to_numeric(lines["quantity"]).astype("float64").round(4).to_numpy(),
        "p": pd.to_numeric(lines["unit_price"]).astype("float64").round(4).to_numpy(),
    })
    h = pd.util.hash_pandas_object(canon, index=False).to_numpy()
    return pd.Series(h, index=order_ids.to_numpy(), dtype="uint64").groupby(level=0).sum()


_IMPORTERS: dict[str, Callable[[_Context, Problems], None]] = {
    "customers": _import_customers,
    "orders": _import_orders,
    "refunds": _import_refunds,
    "feedback": _import_feedback,
    "loyalty": _import_loyalty,
    "tickets": _import_tickets,
    "products": _import_products,
}


# --------------------------------------------------------------------------------------------
# The entry point


def import_csv(
    *,
    session: Session,
    kind: str,
    data: bytes,
    filename: str,
    actor: str,
    dry_run: bool = False,
    mapping: dict[str, str | None] | None = None,
    progress: Progress | None = None,
    preset: str | None = None,
) -> ImportSummary:
    """Check the whole file, then write it in one transaction (commits) or, with ``dry_run``,
    report what would change and write nothing.

    ``mapping`` overrides the detected column mapping (file column -> field, None to ignore).
    ``preset`` reads a platform's export layout first (core.presets, e.g. "shopify_orders").
    Raises ImportFailed (nothing written) when the file cannot be read or has bad rows; the
    refusal itself is recorded in the audit log.
    """
    started = time.perf_counter()
    say = progress or (lambda _f, _m: None)
    _format(kind)
    try:
        summary = _run(session=session, kind=kind, data=data, filename=filename, dry_run=dry_run,
                       mapping=mapping, progress=say, preset=preset, actor=actor)
    except ImportFailed as exc:
        session.rollback()
        if not dry_run:
            audit.record(session=session, actor=actor, action=f"import.{kind}.rejected", record_type=kind,
                         detail={"file": filename, "problems": exc.total,
                                 "first": [str(p) for p in exc.problems[:5]]})
            session.commit()
        raise
    except BaseException:
        session.rollback()
        raise
    summary.seconds = time.perf_counter() - started
    if dry_run:
        session.rollback()
    else:
        audit.record(session=session, actor=actor, action=f"import.{kind}", record_type=kind,
                     detail={"file": filename, **summary.counts(), "seconds": round(summary.seconds, 2)})
        session.commit()
    say(1.0, "done")
    return summary


def check_csv(*, session: Session, kind: str, data: bytes, filename: str,
              mapping: dict[str, str | None] | None = None, preset: str | None = None) -> ImportSummary:
    """A dry run: what the file would change. Raises ImportFailed when it would be refused."""
    return import_csv(session=session, kind=kind, data=data, filename=filename, actor="-", dry_run=True,
                      mapping=mapping, preset=preset)


def read_with_preset(data: bytes, *, filename: str, kind: str, preset: str | None,
                     session: Session | None = None) -> tuple[ParsedFile, dict[str, str]]:
    """Read the file and, with a preset, bring it into the kind's columns; with ``session``, an
    email address in customer_id becomes the id of the customer stored with that address.
    Returns the file and, per field, the file column it came from (empty without a preset)."""
    parsed = read_csv_bytes(data, filename=filename)
    if not preset:
        return parsed, {}
    from core.presets import PRESETS, apply_preset

    parsed, source = apply_preset(parsed, preset, kind)
    if session is not None and PRESETS[preset].key_by_email and "customer_id" in parsed.frame:
        parsed.frame["customer_id"] = _customer_ids_for_emails(session.connection(), parsed.frame["customer_id"])
    return parsed, source


def _customer_ids_for_emails(conn: Connection, values: pd.Series) -> pd.Series:
    """Email addresses -> the external id of the one stored customer with that address (case
    ignored); an address no single customer has is kept and becomes a new customer's id."""
    has_at = values.str.contains("@", regex=False)
    if not has_at.any():
        return values
    t = Customer.__table__
    known = _read(conn, select(t.c.external_id, t.c.email).where(t.c.email.is_not(None)))
    known["email"] = known["email"].astype(str).str.strip().str.lower()
    known = known.drop_duplicates("email", keep=False)
    lookup = pd.Series(known["external_id"].astype(str).to_numpy(), index=known["email"].to_numpy())
    found = values.str.lower().map(lookup)
    return values.where(~has_at | found.isna(), found).astype(str)


def _in_file_words(problems: Problems, source: dict[str, str]) -> Problems:
    """Problems name the file's own column when a preset renamed it."""
    if not source:
        return problems
    out = Problems()
    out.uncounted = problems.uncounted
    out.extend(Problem(p.row, f"{source[p.column]} ({p.column})" if p.column in source else p.column,
                       p.value, p.message) for p in problems)
    return out


def _run(*, session: Session, kind: str, data: bytes, filename: str, dry_run: bool,
         mapping: dict[str, str | None] | None, progress: Progress, preset: str | None = None,
         actor: str | None = None) -> ImportSummary:
    progress(0.0, "reading the file")
    parsed, source = read_with_preset(data, filename=filename, kind=kind, preset=preset, session=session)
    match = match_columns(parsed.columns, kind, mapping)
    if match.missing_required:
        cols = ", ".join(match.missing_required)
        found = ", ".join(parsed.columns) or "none"
        raise _fail(filename, f"required column(s) missing: {cols} (the file has: {found})")
    summary = ImportSummary(kind=kind, filename=filename, rows=len(parsed.frame), dry_run=dry_run,
                            extra_columns=match.extra, mapping=dict(match.mapping))
    if parsed.frame.empty:
        raise _fail(filename, "the file has a header but no rows")
    progress(0.05, f"checking {len(parsed.frame):,} rows")
    if preset:
        from core.presets import PRESETS

        summary.notes.append(f"read as {PRESETS[preset].title} (preset {preset})")
    typed, problems = check_cells(parsed, kind, match)
    if problems:
        raise _refuse(filename, _in_file_words(problems, source))
    ctx = _Context(conn=session.connection(), typed=typed, rownum=pd.Series(parsed.frame.index + 2,
                                                                            index=parsed.frame.index),
                   summary=summary, write=not dry_run, progress=progress, actor=actor)
    _IMPORTERS[kind](ctx, problems)
    if problems:
        raise _refuse(filename, _in_file_words(problems, source))
    if kind == "feedback" and not dry_run:
        _score_feedback(session, summary)
    return summary


def _score_feedback(session: Session, summary: ImportSummary) -> None:
    """New and changed answers get sentiment and flags (core.feedback, the feedback area)."""
    try:
        from core.feedback import flag_unscored
    except ImportError:
        summary.notes.append("sentiment and flags not computed yet: core.feedback.flag_unscored is not "
                             "available in this build")
        return
    flag_unscored(session=session)


def _refuse(filename: str, problems: Problems) -> ImportFailed:
    ordered = sorted(problems, key=lambda p: (p.row is None, p.row or 0))
    return ImportFailed(filename, ordered, total=problems.total)


# --------------------------------------------------------------------------------------------
# For the Data screen

_KIND_WORDS = {"text": "text", "datetime": "date or date and time", "date": "date", "number": "number",
               "whole": "whole number", "flag": "yes/no", "choice": "one of"}


def format_table(kind: str) -> pd.DataFrame:
    """The columns of a kind's file: name, required, what goes in it."""
    rows = []
    for c in _format(kind):
        what = _KIND_WORDS[c.kind] + (f" {', '.join(c.choices)}" if c.choices else "")
        if c.minimum is not None and c.maximum is not None:
            what += f" {c.minimum:g} to {c.maximum:g}"
        rows.append({"column": c.name, "required": c.required, "contents": what})
    if kind == "feedback":
        rows[1]["contents"] += " (nps_score or comment is required)"
    return pd.DataFrame(rows)


def mapping_choices(kind: str) -> list[str]:
    """Field names a file column can be mapped to on the Data screen."""
    return [c.name for c in _format(kind)]
