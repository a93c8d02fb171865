"""Helpers shared by the kinds: derived keys, comparing file records with stored ones, resolving
customer ids, and writing (new records through db.bulk.bulk_insert, changed ones through one
executemany UPDATE).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.engine import Connection

from core.email_address import email_problem
from core.importing.formats import MAX_LISTED_PROBLEMS, Progress
from core.importing.problems import Problem, Problems
from core.importing.summary import ImportSummary
from db.bulk import bulk_insert
from db.models import (
    Customer,
    utcnow,
)


def _sha_keys(parts: list[pd.Series]) -> pd.Series:
    """'auto-' + SHA-1 of the '|'-joined canonical text of each row."""
    text = parts[0].astype(str)
    for p in parts[1:]:
        text = text + "|" + p.astype(str)
    digests = [hashlib.sha1(t.encode()).hexdigest()[:40] for t in text.to_numpy()]
    return pd.Series(["auto-" + d for d in digests], index=text.index, dtype=object)


def _canon(values: pd.Series, how: str) -> pd.Series:
    """Text form of a value for derived keys: stable across runs and machines. ``money`` is an
    amount typed in whole cents, hashed in currency units as it was before cents (so keys derived
    then still match)."""
    if how == "money":
        values, how = values / 100, "number"
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
    if kind in ("number", "whole", "money"):
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


def _address_keyed_customers(conn: Connection) -> pd.DataFrame:
    """The customers stored with an email address as their id (a platform's file keyed by email
    met them before any customers file: _resolve_customers): id and external_id, indexed by the
    address in lower case; an address two of them share is left out (no one record to take)."""
    table = Customer.__table__
    keyed = _read(conn, select(table.c.id, table.c.external_id).where(table.c.external_id.contains("@")))
    keyed.index = pd.Index(keyed["external_id"].astype(str).str.strip().str.lower().to_numpy())
    return keyed[~keyed.index.duplicated(keep=False)]


def _resolve_customers(conn: Connection, external_ids: pd.Series, *, write: bool,
                       placeholders: dict[str, int] | None = None) -> tuple[pd.Series, int]:
    """Internal ids for external customer ids (same index); unknown ids become minimal customers.

    Without ``write`` the unknown ids get negative placeholder ids and nothing is created;
    ``placeholders`` (external id -> placeholder) carries them from one call to the next, so a
    dry run that meets a new customer twice (an order and its refund) counts it once.
    Returns the ids and how many customers this call creates (or would create).
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
            # A customer met by email address (a platform's file keyed by email) keeps it as its
            # email too, so a customers file naming the address finds it (_adopt_email_keyed).
            ext = pd.Series(unknown.to_numpy(), dtype=object).astype(str)
            email = ext.where(ext.map(lambda v: "@" in v and email_problem(v) is None), None)
            bulk_insert(conn, table, pd.DataFrame({
                "external_id": unknown.to_numpy(), "email": email.to_numpy(), "email_opt_in": False,
                "sms_opt_in": False, "created_at": now, "updated_at": now}))
            fresh = _read(conn, select(table.c.id, table.c.external_id).where(table.c.id > before))
            fresh = fresh[_isin(fresh["external_id"], unknown)]
            extra = pd.Series(fresh["id"].to_numpy(), index=fresh["external_id"].to_numpy(dtype=object))
        else:
            pending = {} if placeholders is None else placeholders
            seen = np.array([k in pending for k in unknown], dtype=bool)
            fresh_keys = unknown[~seen]
            start = len(pending)
            pending.update(zip(fresh_keys, (-np.arange(start + 1, start + len(fresh_keys) + 1)).tolist(), strict=True))
            extra = pd.Series([pending[k] for k in unknown], index=unknown.to_numpy(), dtype="int64")
            unknown = fresh_keys
        found = found.fillna(wanted.map(extra))
    per_unique = found.to_numpy(dtype="float64")
    ids = np.where(codes >= 0, per_unique[np.maximum(codes, 0)] if len(per_unique) else np.nan, np.nan)
    out = pd.Series(ids, index=external_ids.index)
    return (out.astype("int64") if len(out) and not out.isna().any() else out), len(unknown)


@dataclass
class _Context:
    conn: Connection
    typed: pd.DataFrame
    rownum: pd.Series  # spreadsheet row number per typed row
    summary: ImportSummary
    write: bool
    progress: Progress
    actor: str | None = None  # who imports (the logged-in user, or "cli"): kept on consent changes
    placeholders: dict[str, int] = field(default_factory=dict)  # dry run: customers it would create

    def resolve_customers(self, external_ids: pd.Series) -> pd.Series:
        """Internal ids for the file's customer ids (see _resolve_customers); counts the new ones."""
        ids, created = _resolve_customers(self.conn, external_ids, write=self.write,
                                          placeholders=self.placeholders)
        self.summary.customers_created += created
        return ids


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
        elif k in ("whole", "money"):  # money: whole cents (core.money)
            frame[c] = frame[c].astype("Int64")
    return frame
