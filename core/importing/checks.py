"""Checking every cell, vectorised: dates (ISO 8601 or YYYYMMDD, placeholders refused), numbers,
whole numbers, yes/no flags, choices, lengths and ids a spreadsheet mangled. Arrow casts the
columns whose every cell is plain; pandas parses the rest.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core import money
from core.config import get_settings
from core.importing.formats import (
    CHOICE_SYNONYMS,
    DERIVED_FROM,
    KEY_COLUMN,
    MAX_LISTED_PROBLEMS,
    Col,
    ColumnMatch,
    _format,
    normalise_name,
)
from core.importing.problems import ImportFailed, Problem, Problems
from core.importing.reading import ParsedFile
from db.models import (
    utcnow,
)

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
    """Text cells -> datetime64[ns] Series (same index), naive UTC.

    Accepts ISO 8601 (a date, or a date and time with or without seconds, fraction and UTC
    offset; an offset is converted to UTC, no offset is taken as UTC) and YYYYMMDD. NaT for
    empty and unparseable cells and for dates nanosecond timestamps cannot hold (0001-01-01,
    9999-12-31). Never raises on bad cells; check_cells turns NaT into named problems."""
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
    if col.kind in ("number", "whole", "money"):
        # Money as whole cents (core.money), so the limits below are in cents too.
        numbers = _money_cents(raw, empty) if col.kind == "money" else _numbers(raw, empty)
        scale = 100 if col.kind == "money" else 1
        bad = ~empty & ~np.isfinite(numbers.fillna(np.inf))
        if col.kind != "whole":
            hint = "digits with a decimal point, like 12.50"
        elif col.minimum is not None and col.maximum is not None:
            hint = f"a whole number from {col.minimum:g} to {col.maximum:g}"
        else:
            hint = "digits only, like 120"
        checks = [(bad, f"is not a number (use {hint})")]
        if col.kind == "whole":
            checks.append((~empty & ~bad & (numbers != numbers.round()), "is not a whole number"))
        ok = ~empty & ~bad
        if col.minimum is not None and col.maximum is not None:
            checks.append((ok & ((numbers < col.minimum * scale) | (numbers > col.maximum * scale)),
                           f"is outside {col.minimum:g} to {col.maximum:g}"))
        elif col.minimum is not None:
            checks.append((ok & (numbers < col.minimum * scale),
                           f"is below {col.minimum:g}" + (f" ({col.below})" if col.below else "")))
        elif col.maximum is not None:
            checks.append((ok & (numbers > col.maximum * scale), f"is above {col.maximum:g}"))
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


def _money_cents(raw: pd.Series, empty: pd.Series) -> pd.Series:
    """Amounts as whole cents (float64 holding integers; NaN for empty and unreadable cells),
    read as decimals, never as binary floats, and rounded to the cent half away from zero
    (core.money's one rule: "12.345" -> 1235, "-0.005" -> -1). Arrow's decimal cast when every
    non-empty cell is a plain decimal with at most 12 places, else core.money.from_text per cell."""
    try:
        dec = pc.cast(_arrow_cells(raw), pa.decimal128(38, 12))
        at_cent = pc.cast(pc.round(dec, ndigits=2, round_mode="half_towards_infinity"), pa.decimal128(30, 2))
        cents = pc.cast(pc.multiply(at_cent, pa.scalar(100, pa.decimal128(3, 0))), pa.int64())
        return pd.Series(np.asarray(pc.fill_null(pc.cast(cents, pa.float64()), np.nan)), index=raw.index,
                         dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        def one(cell: str) -> float:
            try:
                return float(money.from_text(cell))
            except ValueError:
                return np.nan
        return pd.Series([np.nan if e else one(c) for c, e in zip(raw, empty, strict=True)], index=raw.index,
                         dtype="float64")


# A decimal comma, with dots between thousands or not: "12,50", "-3,5", "1.234,56".
_DECIMAL_COMMA = r"-?(?:\d{1,3}(?:\.\d{3})+|\d+),\d+"


def decimal_commas(raw: pd.Series) -> pd.Series:
    """Amounts of a file separated by semicolons, as Excel saves CSV where a comma is the decimal
    mark (German, French, Spanish, Italian, Dutch settings): "1.234,56" is read as 1234.56 and
    "12,50" as 12.50 (they were refused as "not a number"). A comma cannot separate columns
    there, so it can only be the decimal mark. Other cells are left as written ("1.234" alone
    stays refused as a thousands separator: it could be a decimal point)."""
    comma = raw.str.strip().str.fullmatch(_DECIMAL_COMMA)
    if not comma.any():
        return raw
    fixed = raw.str.strip().str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return raw.where(~comma, fixed)


def _refund_row_naming_its_order(parsed: ParsedFile, by_field: dict[str, str]) -> np.ndarray:
    """Rows of an orders file with a negative total and a refund_of: refund records, which a
    shop may export without the customer (WooCommerce's carry no billing details); the order
    they name says whose they are (core.importing.orders fills it in, or says it cannot)."""
    if "total" not in by_field or "refund_of" not in by_field:
        return np.zeros(len(parsed.frame), dtype=bool)
    total = parsed.frame[by_field["total"]].astype(str).str.strip()
    named = parsed.frame[by_field["refund_of"]].astype(str).str.strip()
    return (total.str.startswith("-") & (named != "")).to_numpy()


# A file's currency column (Shopify "Currency", WooCommerce "order_currency", a plain "currency").
_CURRENCY_COLUMNS = ("Currency", "order_currency", "currency")


def check_currency(parsed: ParsedFile) -> None:
    """Every amount is in HEARTH_CURRENCY: a file whose currency column names another currency is
    refused, naming the rows (17.00 EUR and 90.00 GBP were added up as 107.00 EUR). An empty cell
    (Shopify's line rows after an order's first) is the order's. Raises ImportFailed."""
    names = {normalise_name(c): c for c in parsed.columns}
    real = next((names[normalise_name(c)] for c in _CURRENCY_COLUMNS if normalise_name(c) in names), None)
    if real is None:
        return
    ours = get_settings().currency.strip().upper()
    given = parsed.frame[real].astype(str).str.strip().str.upper()
    other = given[(given != "") & (given != ours)]
    if other.empty:
        return
    raise ImportFailed(parsed.filename, [
        Problem(int(i) + 2, real, str(parsed.frame[real].loc[i]),
                f"is not the shop's currency, {ours} (HEARTH_CURRENCY): amounts in two currencies cannot be "
                "added up; convert them, or keep this shop's orders in its own Hearth")
        for i in other.index[:MAX_LISTED_PROBLEMS]])


def check_cells(parsed: ParsedFile, kind: str, match: ColumnMatch) -> tuple[pd.DataFrame, Problems]:
    """Check every cell of ``parsed`` as the fields of ``kind`` (columns mapped by ``match``).

    Returns the typed frame (one column per fed field, same index as ``parsed.frame``: text as
    object/None, dates as datetime64[ns] naive UTC, numbers as float64, flags as bool) and
    the problems found (the first MAX_LISTED_PROBLEMS per check listed, the rest counted).
    Raises ValueError for an unknown kind."""
    fmt = _format(kind)
    problems = Problems()
    by_field = {v: k for k, v in match.mapping.items()}
    typed = pd.DataFrame(index=parsed.frame.index)
    rownum = parsed.frame.index.to_numpy() + 2
    for col in fmt:
        if col.name not in by_field:
            continue
        raw = parsed.frame[by_field[col.name]].astype(str)
        read = decimal_commas(raw) if col.kind == "money" and parsed.delimiter == ";" else raw
        values, checks = _check_column(col, read)
        if col.kind == "money" and parsed.delimiter == ";":
            # Semicolons separate the columns where a comma is the decimal mark: "1.234" there
            # is one thousand two hundred and thirty-four, written with a dot between thousands.
            checks.append((raw.str.fullmatch(r"-?\d{1,3}(?:\.\d{3})+").to_numpy(dtype=bool),
                           "looks like a thousands separator, not a decimal point (the file is separated "
                           "by semicolons, as where a comma is the decimal mark): write 1234 or 1234.00"))
        if kind == "orders" and col.name == "quantity" and "total" in by_field:
            # A return row (negative total) may list its items with negative quantities, as many
            # shops export a return: it is kept as a refund, and its lines are no order's lines.
            returned = parsed.frame[by_field["total"]].astype(str).str.strip().str.startswith("-").to_numpy()
            checks = [(np.asarray(mask, dtype=bool) & ~returned, message) for mask, message in checks]
        typed[col.name] = values
        for mask, message in checks:
            problems.cells(rownum, raw, mask, col.name, message)
        if col.required:
            empty_cell = (raw == "").to_numpy().copy()
            if kind == "orders" and col.name == "customer_id":
                empty_cell &= ~_refund_row_naming_its_order(parsed, by_field)
            problems.cells(rownum, raw, empty_cell, col.name, "is required but empty", show_value=False)
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
    problems.rows.update(int(r) for r in rows[hits])
    problems.extend(Problem(int(rows[i]), key, None,
                            f"is empty and the row repeats row {int(first[i])} exactly: the same record "
                            f"listed twice, or two alike? Give each its {key}, or delete the copy")
                    for i in hits[:MAX_LISTED_PROBLEMS])
