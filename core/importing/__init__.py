"""Bring your own data: CSV files of customers, orders, feedback, loyalty entries, tickets
and products (design.md, "Import formats").

The whole file is read and checked before anything is written. A file with any bad row
imports nothing; the error names the row (as a spreadsheet shows it: the header is row 1),
the column and the value of the first problems. A good file is written in one transaction,
keyed by the source system's ids, so the same file imported twice changes nothing and a
changed row updates its record.

Every step is set-based: the file is read by pyarrow.csv (or, when irregular, the careful
pandas read) and checked with vectorised arrow/pandas; existing records are read once and
compared in pandas; new records go through `db.bulk.bulk_insert` (executemany in one
transaction on SQLite, COPY on PostgreSQL) and changed ones through one executemany UPDATE.

Records without a source id get a derived one (``auto-`` + the first 40 hex digits of a
SHA-1 of their content); see `derived_key_rule` for what goes into it per kind.

The modules, by concern: `formats` (columns of each kind, matching a file's columns),
`problems` (a bad cell, the refusal), `reading` (file -> cells), `checks` (cells -> typed
values), `summary`, `store` (keys, comparison, writing), `records` (customers, products,
tickets, feedback, loyalty), `orders`, `refunds`. This module is the entry point.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from core import audit, money
from core import formatting as fmt
from core.config import get_settings
from core.importing.checks import (
    EARLIEST_DATE,
    FUTURE_DATE_FIELDS,
    FUTURE_DATES_UNTIL,
    ID_FIELDS,
    check_cells,
    check_currency,
    parse_datetimes,
)
from core.importing.formats import (
    CHOICE_SYNONYMS,
    DERIVED_FROM,
    FORMATS,
    KEY_COLUMN,
    KINDS,
    MAX_LISTED_PROBLEMS,
    REBUILD_INDEXES_FROM,
    Col,
    ColumnMatch,
    Progress,
    _format,
    derived_key_rule,
    format_table,
    mapping_choices,
    match_columns,
    normalise_name,
)
from core.importing.orders import _import_orders
from core.importing.problems import ImportFailed, Problem, Problems, _fail, _in_file_words, _refuse
from core.importing.reading import DELIMITERS, ParsedFile, _column_letter, read_csv_bytes
from core.importing.records import (
    _import_customers,
    _import_feedback,
    _import_loyalty,
    _import_products,
    _import_tickets,
)
from core.importing.refunds import (
    CANCELLED_STATUSES,
    PARTLY_REFUNDED_STATUSES,
    REFUND_COLUMNS,
    REFUNDED_STATUSES,
    _import_refunds,
)
from core.importing.store import _address_keyed_customers, _Context, _read
from core.importing.summary import ImportSummary
from db.models import Customer

__all__ = [
    'CANCELLED_STATUSES', 'CHOICE_SYNONYMS', 'Col', 'ColumnMatch', 'DELIMITERS', 'DERIVED_FROM',
    'EARLIEST_DATE', 'FORMATS', 'FUTURE_DATES_UNTIL', 'FUTURE_DATE_FIELDS', 'ID_FIELDS', 'ImportFailed',
    'ImportSummary', 'KEY_COLUMN', 'KINDS', 'MAX_LISTED_PROBLEMS', 'PARTLY_REFUNDED_STATUSES', 'ParsedFile',
    'Problem', 'Problems', 'Progress', 'REBUILD_INDEXES_FROM', 'REFUNDED_STATUSES', 'REFUND_COLUMNS',
    'check_cells', 'check_csv', 'derived_key_rule', 'format_table', 'import_csv', 'mapping_choices',
    'match_columns', 'normalise_name', 'parse_datetimes', 'read_csv_bytes', 'read_with_preset',
]


_IMPORTERS: dict[str, Callable[[_Context, Problems], None]] = {
    "customers": _import_customers,
    "orders": _import_orders,
    "refunds": _import_refunds,
    "feedback": _import_feedback,
    "loyalty": _import_loyalty,
    "tickets": _import_tickets,
    "products": _import_products,
}


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


def _without_customerless_orders(parsed: ParsedFile, summary: ImportSummary, source: dict[str, str]
                                 ) -> ParsedFile:
    """A shop platform's orders export (a preset) holds sales with no customer: a point-of-sale
    sale or a guest checkout that left neither an email address nor a phone number. Hearth keeps
    orders per customer, so such an order cannot be held; instead of refusing the whole file (the
    shop cannot mend it), every row of those orders is left out and the summary names the
    orders, their rows and their sales, which are then missing from Hearth's orders and revenue.
    Rows keep their own row numbers. Raises ImportFailed when no order in the file has a customer."""
    frame = parsed.frame
    if "customer_id" not in frame or "order_id" not in frame:
        return parsed
    nobody = frame["customer_id"].astype(str).str.strip() == ""
    if not nobody.any():
        return parsed
    orders = frame.loc[nobody, "order_id"].astype(str)
    left_out = frame["order_id"].astype(str).isin(set(orders[orders != ""])) | nobody
    if left_out.all():
        raise _fail(parsed.filename, f"no order in the file names its customer (the column "
                                     f"{source.get('customer_id', 'customer_id')} and the phone are empty on every "
                                     "row): Hearth keeps orders per customer, so there is nothing it can import")
    firsts = frame[left_out].drop_duplicates("order_id")
    cents, unread = 0, 0
    for text in firsts.get("total", pd.Series(dtype=str)):
        try:
            cents += money.from_text(str(text).replace(",", "."))
        except ValueError:
            unread += 1
    names = firsts["order_id"].astype(str).tolist()
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10:,} more" if len(names) > 10 else "")
    rows = (frame.index[left_out] + 2).tolist()
    rows_shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
    total = f"{money.format(cents)} {get_settings().currency}" + (
        f" and {unread} total(s) that could not be read" if unread else "")
    reason = (f"{fmt.count_of(len(names), 'order')} with no customer: neither an email address nor a phone "
              f"number, as a point-of-sale sale or a guest checkout (rows {rows_shown}; {shown}). Hearth keeps "
              f"orders per customer, so they were left out: their sales, {total}, are not in Hearth's "
              "orders and revenue")
    summary.skipped += int(left_out.sum())
    summary.skipped_reasons[reason] = int(left_out.sum())
    return ParsedFile(filename=parsed.filename, frame=frame[~left_out], delimiter=parsed.delimiter,
                      had_bom=parsed.had_bom, sep_hint=parsed.sep_hint, left_out=parsed.left_out)


def _customer_ids_for_emails(conn: Connection, values: pd.Series) -> pd.Series:
    """Email addresses -> the external id of the one stored customer with that address (case
    ignored), or of the customer an earlier such file created with that address as its id; an
    address no customer has becomes a new customer's id, in lower case (``Ana@Example.com`` and
    ``ana@example.com`` are one person)."""
    has_at = values.str.contains("@", regex=False)
    if not has_at.any():
        return values
    t = Customer.__table__
    known = _read(conn, select(t.c.external_id, t.c.email).where(t.c.email.is_not(None)))
    known["email"] = known["email"].astype(str).str.strip().str.lower()
    known = known.drop_duplicates("email", keep=False)
    lookup = pd.Series(known["external_id"].astype(str).to_numpy(), index=known["email"].to_numpy())
    keyed = _address_keyed_customers(conn)["external_id"].astype(str)
    keyed = keyed[~keyed.index.isin(lookup.index)]
    lookup = pd.concat([lookup, keyed])
    address = values.str.strip().str.lower()
    found = address.map(lookup).where(lambda f: f.notna(), address)
    return values.where(~has_at, found).astype(str)


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
    if match.ambiguous:
        letters = {c: _column_letter(i) for i, c in enumerate(parsed.columns)}

        def named(cols: list[str]) -> str:
            return " and ".join(f"{c!r} ({letters.get(c, '?')})" for c in cols)

        raise _fail(filename, "; ".join(
            f"the columns {named(cols)} read as one field, {field}: delete all but one, or choose which one "
            "feeds it (the Data screen's column choice)" for field, cols in match.ambiguous.items()))
    summary = ImportSummary(kind=kind, filename=filename, rows=len(parsed.frame), dry_run=dry_run,
                            extra_columns=match.extra, mapping=dict(match.mapping))
    for reason, rows in parsed.left_out.items():
        shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
        summary.skipped += len(rows)
        summary.skipped_reasons[f"{reason}: left out (rows {shown})"] = len(rows)
    if parsed.frame.empty:
        if parsed.left_out:
            raise _fail(filename, "every row is left out: " + "; ".join(parsed.left_out))
        raise _fail(filename, "the file has a header but no rows")
    if kind in ("orders", "refunds"):
        check_currency(parsed)
    if preset and kind == "orders":
        parsed = _without_customerless_orders(parsed, summary, source)
    progress(0.05, f"checking {len(parsed.frame):,} rows")
    if preset:
        from core.presets import PRESETS

        summary.notes.append(f"read as {PRESETS[preset].title} (preset {preset})")
    typed, problems = check_cells(parsed, kind, match)
    ctx = _Context(conn=session.connection(), typed=typed, rownum=pd.Series(parsed.frame.index + 2,
                                                                            index=parsed.frame.index),
                   summary=summary, write=not dry_run, progress=progress, actor=actor)
    if problems:
        _check_the_other_rows(ctx, kind, problems)
        raise _refuse(filename, _in_file_words(problems, source))
    _IMPORTERS[kind](ctx, problems)
    if problems:
        raise _refuse(filename, _in_file_words(problems, source))
    if kind == "feedback" and not dry_run:
        _score_feedback(session, summary)
    return summary


# The kinds whose record checks (a key repeated with other values, a redemption larger than the
# balance, an email that cannot be right, a ticket closed before it opened) can run on part of a
# file. Orders and refunds are checked per order, across rows, so a part could mislead.
_CHECKED_BESIDE_BAD_CELLS = frozenset({"customers", "products", "tickets", "feedback", "loyalty"})


def _check_the_other_rows(ctx: _Context, kind: str, problems: Problems) -> None:
    """With bad cells in the file, the record checks still run, without writing, on the rows
    of the customers none of whose rows has a bad cell (a customer's ledger read without one
    of its rows would give a wrong balance), so one refusal lists both kinds of problem
    instead of the second kind only after the first is mended. Adds to ``problems``."""
    if kind not in _CHECKED_BESIDE_BAD_CELLS:
        return
    bad = ctx.rownum.isin(problems.rows).to_numpy(dtype=bool, copy=True)
    if "customer_id" in ctx.typed and kind != "customers":
        owner = ctx.typed["customer_id"]
        bad |= owner.isin(set(owner[bad].dropna())).to_numpy()
    if bad.all():
        return
    keep = ~bad
    rest = _Context(conn=ctx.conn, typed=ctx.typed[keep], rownum=ctx.rownum[keep],
                    summary=ImportSummary(kind=kind, filename=ctx.summary.filename, rows=int(keep.sum()),
                                          dry_run=True),
                    write=False, progress=lambda _f, _m: None, actor=ctx.actor)
    found = Problems()
    try:
        _IMPORTERS[kind](rest, found)
    except ImportFailed as exc:  # a check that refuses at once
        found.extend(exc.problems)
        found.uncounted += exc.total - len(exc.problems)
    problems.extend(found)
    problems.uncounted += found.uncounted


def _score_feedback(session: Session, summary: ImportSummary) -> None:
    """New and changed answers get sentiment and flags (core.feedback, the feedback area)."""
    try:
        from core.feedback import flag_unscored
    except ImportError:
        summary.notes.append("sentiment and flags not computed yet: core.feedback.flag_unscored is not "
                             "available in this build")
        return
    flag_unscored(session=session)
