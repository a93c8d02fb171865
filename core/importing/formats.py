"""The import formats: the columns of each kind, how a missing source id is derived, and how
a file's columns are matched to the fields (design.md, "Import formats")."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

log = logging.getLogger(__name__)


KINDS = ("customers", "orders", "refunds", "feedback", "loyalty", "tickets", "products")


MAX_LISTED_PROBLEMS = 20


# From this many new rows into a table that holds fewer, its indexes are dropped and built again.
REBUILD_INDEXES_FROM = 50_000


Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Col:
    """One column of an import format. ``kind`` is how its cells are read."""

    name: str
    # text, datetime, date, number, whole, money, flag, choice. A money cell is read with Decimal
    # and typed as whole cents (float64 holding integers, NaN when empty), core.money's rule:
    # "12.345" is 1235 (rounded to the cent, half away from zero).
    kind: str = "text"
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    below: str = ""  # said after "is below <minimum>": how to write the value instead


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
        Col("total", "money", required=True),
        Col("order_id", max_length=64),
        Col("sku", max_length=64),
        Col("quantity", "whole", minimum=1,
            below="an order's items have positive quantities; a return row's negative total (and refund_of, "
                  "the order it refunds) says it is a refund"),
        Col("unit_price", "money", minimum=0),
        Col("offer_code", max_length=40),
        # Refunds and cancellations as shops export them (see _import_orders).
        Col("status", max_length=40),
        Col("refunded_amount", "money", minimum=0),
        Col("refund_of", max_length=64),
        Col("refunded_at", "datetime"),
    ),
    "refunds": (
        Col("refunded_at", "datetime", required=True),
        Col("amount", "money", required=True),
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
        Col("unit_price", "money", minimum=0),
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
    # field -> the file columns whose names all read as it ("customer_id" and "Customer ID"),
    # none chosen by an override: which one holds the field is the person's to say.
    ambiguous: dict[str, list[str]] = field(default_factory=dict)

    def as_frame(self, kind: str) -> pd.DataFrame:
        """One row per field of ``kind``: field, required ("yes" or ""), the file column feeding it."""
        by_field = {v: k for k, v in self.mapping.items()}
        rows = [{"field": c.name, "required": "yes" if c.required else "",
                 "file column": by_field.get(c.name, "")} for c in FORMATS[kind]]
        return pd.DataFrame(rows)


def match_columns(columns: Iterable[str], kind: str, overrides: dict[str, str | None] | None = None
                  ) -> ColumnMatch:
    """Which file column feeds which field of ``kind``: names match ignoring case, spaces,
    underscores and hyphens (the first column feeds a field; the others that read as it are
    listed in ``ambiguous``, and the import refuses the file until one is chosen or the others
    are ignored); ``overrides`` (file column ->
    field, or None to ignore the column) win. Raises ValueError for an unknown kind or an
    override naming a field the kind does not have."""
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
    columns = list(columns)
    ambiguous: dict[str, list[str]] = {}
    chosen = {t: c for c, t in mapping.items()}
    for column in columns:
        target = by_norm.get(normalise_name(column))
        if (target and column not in mapping and column not in overrides and target in chosen
                and chosen[target] not in overrides):
            ambiguous.setdefault(target, [chosen[target]]).append(column)
    extra = [c for c in columns if c not in mapping]
    missing = [c.name for c in fmt if c.required and c.name not in fed]
    if kind == "feedback" and not ({"nps_score", "comment"} & fed):
        missing.append("nps_score or comment")
    unmatched = [c.name for c in fmt if not c.required and c.name not in fed]
    return ColumnMatch(mapping=mapping, extra=extra, missing_required=missing, unmatched_fields=unmatched,
                       ambiguous=ambiguous)


def _format(kind: str) -> tuple[Col, ...]:
    if kind not in FORMATS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    return FORMATS[kind]


_KIND_WORDS = {"text": "text", "datetime": "date or date and time", "date": "date", "number": "number",
               "money": "amount", "whole": "whole number", "flag": "yes/no", "choice": "one of"}


def format_table(kind: str) -> pd.DataFrame:
    """The columns of a kind's file, one row each: column, required (bool), contents (words).
    Raises ValueError for an unknown kind."""
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
