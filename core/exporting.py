"""Exports: CSV files that a spreadsheet opens safely and that carry only what the role may see.

A text cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with a
single quote, so a spreadsheet shows it instead of running it as a formula (CSV injection).
Numbers are never touched: -12.5 stays a number.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from core import audit, money
from core import formatting as fmt
from core.health import CHURN_PERCENT_DECIMALS, HEALTH_DECIMALS
from core.roles import Role, may_see_personal_data
from db.models import Customer, Order, Refund, ScoreSnapshot

EXPORT_KINDS = ("accounts", "scores", "feedback", "loyalty")
PERSONAL_COLUMNS = ("name", "email", "phone", "comment")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# Columns that hold an amount of money, in any export; the file says their currency in a
# `currency` column (ISO 4217, HEARTH_CURRENCY), the numbers stay numbers a spreadsheet can add,
# written as decimal text with exactly two places from whole cents (core.money): "12.35".
MONEY_COLUMNS = ("revenue", "gross_sales", "refunds", "value_at_risk", "spend_365", "total", "liability",
                 "order_totals", "revenue_offer_codes", "balance_value", "expiring_value")


def with_currency(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a `currency` column (core.formatting.currency_code, e.g. "EUR") when it has
    a column of MONEY_COLUMNS and none yet; otherwise unchanged."""
    if "currency" in frame.columns or not any(c in frame.columns for c in MONEY_COLUMNS):
        return frame
    return frame.assign(currency=fmt.currency_code())


class ExportError(ValueError):
    """An export that cannot be made, with a reason a person can act on."""


def safe_cell(value: Any) -> Any:
    """A string that a spreadsheet could run as a formula gets a leading single quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`safe_cell` on every text column (vectorised); other columns are left as they are."""
    out = frame.copy()
    for column in out.columns:
        s = out[column]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            is_str = s.map(lambda v: isinstance(v, str)) if pd.api.types.is_object_dtype(s) else s.notna()
            text = s.where(is_str, "").astype(str)
            risky = is_str & text.str.startswith(_FORMULA_START)
            if risky.any():
                out[column] = s = s.astype(object).where(~risky, "'" + text)
                text = s.where(is_str, "").astype(str)
            # A bare carriage return is not quoted by the CSV writer (rows end in \n), and a
            # spreadsheet starts a new row at it, whose first cell could be a formula: written as
            # a line break inside the (then quoted) cell instead.
            has_cr = is_str & text.str.contains("\r", regex=False)
            if has_cr.any():
                fixed = text.str.replace("\r\n", "\n", regex=False).str.replace("\r", "\n", regex=False)
                out[column] = s.astype(object).where(~has_cr, fixed)
    out.columns = [safe_cell(str(c)) for c in out.columns]
    return out


def _money_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric MONEY_COLUMNS as decimal text with two places, exact to the cent (after
    safe_frame: "-5.00" is a number, not a formula)."""
    out = frame
    for column in MONEY_COLUMNS:
        if column in out.columns and pd.api.types.is_numeric_dtype(out[column]):
            out = out.copy() if out is frame else out
            values = out[column]
            out[column] = values.map(lambda v: "" if pd.isna(v) else money.format(money.to_cents(float(v))))
    return out


def write_csv(frame: pd.DataFrame, path_or_buffer: str | Path | IO[str] | IO[bytes] | None = None
              ) -> bytes | None:
    """Write ``frame`` as UTF-8 CSV with formula-safe cells; without a target, return the bytes."""
    text = _money_text(safe_frame(frame)).to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S")
    if path_or_buffer is None:
        return text.encode("utf-8")
    if isinstance(path_or_buffer, str | Path):
        Path(path_or_buffer).write_text(text, encoding="utf-8", newline="")
        return None
    try:
        path_or_buffer.write(text)  # type: ignore[arg-type]
    except TypeError:
        path_or_buffer.write(text.encode("utf-8"))  # type: ignore[arg-type]
    return None


def personal_filter(frame: pd.DataFrame, roles: frozenset[Role] | set[Role]) -> pd.DataFrame:
    """Drop names, emails, phones and comments for roles that may not see personal data."""
    if may_see_personal_data(roles):
        return frame
    return frame.drop(columns=[c for c in PERSONAL_COLUMNS if c in frame.columns])


def _end_of(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time()) + timedelta(days=1)


def _fmt_date(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce").dt.strftime("%Y-%m-%d").astype(object).where(
        values.notna(), None)


def _fmt_datetime(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce").dt.strftime("%Y-%m-%d %H:%M:%S").astype(object).where(
        values.notna(), None)


def accounts_frame(*, session: Session, as_of: date | None = None) -> pd.DataFrame:
    """One row per customer with order aggregates up to the end of ``as_of`` (default: all).

    orders counts real orders; gross_sales is their totals, refunds the money refunded (by
    refund date) and revenue = gross_sales - refunds (design.md's definitions)."""
    o = Order.__table__
    r = Refund.__table__
    refunded = select(r.c.customer_id, func.sum(r.c.amount_cents).label("refunds")).where(r.c.kind == "refund")
    if as_of is not None:
        refunded = refunded.where(r.c.refunded_at < _end_of(as_of))
    refunded = refunded.group_by(r.c.customer_id).subquery()
    agg = select(o.c.customer_id, func.count().label("orders"), func.sum(o.c.total_cents).label("revenue"),
                 func.max(o.c.ordered_at).label("last_order_at"))
    if as_of is not None:
        agg = agg.where(o.c.ordered_at < _end_of(as_of))
    agg = agg.group_by(o.c.customer_id).subquery()
    c = Customer.__table__
    stmt = (select(c.c.external_id.label("customer_id"), c.c.name, c.c.email, c.c.phone, c.c.segment,
                   c.c.region, c.c.owner, c.c.signup_date, agg.c.orders, agg.c.revenue, agg.c.last_order_at,
                   c.c.subscription_status, c.c.email_opt_in, c.c.sms_opt_in, refunded.c.refunds)
            .select_from(c.outerjoin(agg, agg.c.customer_id == c.c.id)
                         .outerjoin(refunded, refunded.c.customer_id == c.c.id))
            .order_by(c.c.external_id))
    if as_of is not None:
        stmt = stmt.where(c.c.signup_date.is_(None) | (c.c.signup_date <= as_of)
                          | agg.c.orders.is_not(None))
    df = pd.read_sql(stmt, session.connection())
    df["orders"] = df["orders"].fillna(0).astype("int64")
    gross = df.pop("revenue").fillna(0).astype("int64")  # whole cents
    refunds = df["refunds"].fillna(0).astype("int64")
    df["gross_sales"] = money.units_array(gross)
    df["refunds"] = money.units_array(refunds)
    df["revenue"] = money.units_array(gross - refunds)
    df["signup_date"] = _fmt_date(df["signup_date"])
    df["last_order_at"] = _fmt_datetime(df["last_order_at"])
    email = df["email_opt_in"].fillna(False).astype(bool)
    sms = df["sms_opt_in"].fillna(False).astype(bool)
    df["email_opt_in"], df["sms_opt_in"] = email, sms
    df["consent"] = (email.map({True: "email", False: ""}) + (email & sms).map({True: "+", False: ""})
                     + sms.map({True: "sms", False: ""})).replace("", "none")
    cols = ["customer_id", "name", "email", "phone", "segment", "region", "owner", "signup_date", "orders",
            "revenue", "gross_sales", "refunds", "last_order_at", "subscription_status", "email_opt_in",
            "sms_opt_in", "consent"]
    return df[cols]


def _latest_as_of(session: Session, as_of: date | None) -> date | None:
    stmt = select(func.max(ScoreSnapshot.as_of))
    if as_of is not None:
        stmt = stmt.where(ScoreSnapshot.as_of <= as_of)
    return session.connection().execute(stmt).scalar_one()


def _top_drivers(raw: object, n: int = 3) -> str | None:
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return None
    try:
        drivers = json.loads(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(raw)
    if isinstance(drivers, list):
        return "; ".join(str(d.get("text", d) if isinstance(d, dict) else d) for d in drivers[:n])
    return str(drivers)


def scores_frame(*, session: Session, as_of: date | None = None) -> pd.DataFrame:
    """The newest score snapshot per customer (of the latest scoring date on or before ``as_of``)."""
    cols = ["customer_id", "as_of", "health_score", "band", "churn_probability", "value_at_risk",
            "top_drivers"]
    day = _latest_as_of(session, as_of)
    if day is None:
        return pd.DataFrame(columns=cols)
    s, c = ScoreSnapshot.__table__, Customer.__table__
    stmt = (select(c.c.external_id.label("customer_id"), s.c.as_of, s.c.health_score, s.c.band,
                   s.c.churn_probability, s.c.value_at_risk_cents, s.c.drivers)
            .join(c, c.c.id == s.c.customer_id).where(s.c.as_of == day).order_by(c.c.external_id))
    df = pd.read_sql(stmt, session.connection())
    df["as_of"] = _fmt_date(df["as_of"])
    # The screens' rounding (core.health): health whole, churn to 0.1 %; value at risk is stored
    # in whole currency units (as cents), written with two places like every amount.
    df["health_score"] = df["health_score"].round(HEALTH_DECIMALS).astype("Int64")
    df["churn_probability"] = df["churn_probability"].round(CHURN_PERCENT_DECIMALS + 2)
    df["value_at_risk"] = money.units_array(df.pop("value_at_risk_cents"))
    df["top_drivers"] = df["drivers"].map(_top_drivers)
    return df[cols]


def feedback_frame(*, session: Session, as_of: date | None = None,
                   roles: frozenset[Role] | set[Role] = frozenset({Role.ADMIN})) -> pd.DataFrame:
    """Every answer submitted up to the end of ``as_of`` (default: all), oldest first; the
    columns are the feedback area's (core.feedback.feedback_export_frame)."""
    from core.feedback import feedback_export_frame

    df = feedback_export_frame(session=session, roles=roles)
    if as_of is not None:
        df = df[pd.to_datetime(df["submitted_at"]) < _end_of(as_of)].reset_index(drop=True)
    df["submitted_at"] = _fmt_datetime(df["submitted_at"])
    if "sentiment" in df:
        df["sentiment"] = df["sentiment"].astype("float64").round(3)
    return df


def loyalty_frame(*, session: Session, as_of: date | None = None) -> pd.DataFrame:
    """Balances per customer from the loyalty area (core.loyalty.loyalty_export_frame)."""
    from core.loyalty import loyalty_export_frame

    return loyalty_export_frame(session=session, as_of=as_of)


_FRAMES: dict[str, Callable[..., pd.DataFrame]] = {
    "accounts": accounts_frame,
    "scores": scores_frame,
    "feedback": feedback_frame,
    "loyalty": loyalty_frame,
}


def export_frame(*, session: Session, kind: str, roles: frozenset[Role] | set[Role],
                 as_of: date | None = None) -> pd.DataFrame:
    """The export of ``kind`` with only the columns ``roles`` may see.

    Raises ExportError for an unknown `kind` (one of EXPORT_KINDS) or when no role is given.
    """
    if kind not in _FRAMES:
        raise ExportError(f"unknown export {kind!r}; use one of {', '.join(EXPORT_KINDS)}")
    if not roles:
        raise ExportError("no role given: exports are filtered by the caller's roles")
    if kind == "feedback":
        return with_currency(personal_filter(feedback_frame(session=session, as_of=as_of, roles=roles), roles))
    return with_currency(personal_filter(_FRAMES[kind](session=session, as_of=as_of), roles))


def export_csv(
    *,
    session: Session,
    kind: str,
    roles: frozenset[Role] | set[Role],
    actor: str,
    out: str | Path | IO[str] | IO[bytes] | None = None,
    as_of: date | None = None,
    filename: str | None = None,
) -> tuple[int, bytes | None]:
    """Write the export (to ``out``, or return its bytes) and add the audit entry to the session.

    Returns (rows, bytes or None). The caller commits (the audit entry goes with it).
    """
    frame = export_frame(session=session, kind=kind, roles=roles, as_of=as_of)
    data = write_csv(frame, out)
    name = filename or (str(out) if isinstance(out, str | Path) else f"{kind}.csv")
    audit.record(session=session, actor=actor, action=f"export.{kind}", record_type=kind,
                 detail={"file": name, "rows": len(frame), "columns": list(frame.columns),
                         "as_of": as_of.isoformat() if as_of else None,
                         "roles": sorted(str(r) for r in roles)})
    return len(frame), data


def audited_csv(*, session: Session, frame: pd.DataFrame, kind: str, actor: str,
                roles: frozenset[Role] | set[Role], filename: str) -> bytes:
    """``frame`` (already role-filtered by its reader) as formula-safe CSV bytes, with the audit
    entry every export has (``export.<kind>``: file, rows, columns). The caller commits.

    For exports of what a screen holds (a selection), so they follow the same two rules as
    the full exports: no cell a spreadsheet would run, and a record of who took what."""
    frame = with_currency(frame)
    data = write_csv(frame)
    audit.record(session=session, actor=actor, action=f"export.{kind}", record_type=kind,
                 detail={"file": filename, "rows": len(frame), "columns": [str(c) for c in frame.columns],
                         "roles": sorted(str(r) for r in roles)})
    return data


def export_bytes(*, session: Session, kind: str, roles: frozenset[Role] | set[Role], actor: str,
                 as_of: date | None = None) -> bytes:
    """The export as CSV bytes (for a download button), audited; the caller commits."""
    buffer = io.BytesIO()
    export_csv(session=session, kind=kind, roles=roles, actor=actor, out=buffer, as_of=as_of,
               filename=f"{kind}.csv")
    return buffer.getvalue()
