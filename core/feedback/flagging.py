"""Flagging in bulk: sentiment, flag, reasons and severity for answers (the active flag model,
value of the customer), stored with one executemany or one PostgreSQL UPDATE per chunk."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from time import perf_counter
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import bindparam, func, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from core import money
from core.feedback.access import HAND_FLAG_SEVERITY, LABEL_NEGATIVE, VALUE_WINDOW_DAYS, _hand_reason
from db.models import Feedback, FeedbackModel, Order, utcnow

if TYPE_CHECKING:
    from core.flag_model import FlagModel

log = logging.getLogger(__name__)
_UPDATE_CHUNK = 20_000


# ---------------------------------------------------------------- flagging


def customer_values(*, session: Session, customer_ids: Iterable[int] | None = None,
                    now: datetime | None = None) -> pd.Series:
    """Each customer's revenue over the 12 months up to `now` (customer id -> amount)."""
    now = now or utcnow()
    stmt = (select(Order.customer_id, func.sum(Order.total_cents).label("value"))
            .where(Order.ordered_at > now - timedelta(days=VALUE_WINDOW_DAYS), Order.ordered_at <= now)
            .group_by(Order.customer_id))
    if customer_ids is not None:
        ids = sorted({int(i) for i in customer_ids if i is not None and not pd.isna(i)})
        if not ids:
            return pd.Series(dtype=float, name="value")
        stmt = stmt.where(col(Order.customer_id).in_(ids))
    frame = pd.read_sql(stmt, session.connection())
    # A weight for the flag's severity, in currency units from the stored whole cents.
    return pd.Series(money.units_array(frame["value"].astype("int64")), index=frame["customer_id"], name="value")


_model_cache: dict[int, FlagModel] = {}


def active_flag_model(*, session: Session) -> FlagModel | None:
    """The retrained model in use (the active FeedbackModel row), None for the shipped one.
    Read from `.npz` bytes with allow_pickle=False; cached by row id."""
    row = session.exec(select(FeedbackModel.id).where(col(FeedbackModel.active).is_(True))
                       .order_by(col(FeedbackModel.id).desc())).first()
    if row is None:
        return None
    if row not in _model_cache:
        params = session.exec(select(FeedbackModel.params).where(FeedbackModel.id == row)).one()
        from core.flag_model import FlagModel  # scikit-learn: imported when a model is needed

        _model_cache.clear()
        _model_cache[row] = FlagModel.from_bytes(params)
    return _model_cache[row]


def flag_frame(*, session: Session, frame: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """The same scoring as `flag_unscored`, for answers not stored yet: `frame` has
    customer_id (Customer.id or None), nps_score and comment; returns it with sentiment,
    flagged, flag_reasons and severity filled. Bulk writers (the demo generator) insert
    these columns with the rows, which saves rewriting 300,000 rows afterwards.

    Raises ValueError naming a column the frame lacks.
    """
    for column in ("customer_id", "nps_score", "comment"):
        if column not in frame.columns:
            raise ValueError(f"flag_frame needs a {column!r} column")
    values = customer_values(session=session, now=now)
    value = frame["customer_id"].map(values).fillna(0.0)
    from core.sentiment import assess_frame  # the model's imports: only when answers are scored

    assessed = assess_frame(frame.assign(_value=value), customer_value="_value",
                            model=active_flag_model(session=session))
    out = frame.copy()
    out["sentiment"] = assessed["sentiment"].astype(float)
    out["flagged"] = assessed["flagged"].astype(bool)
    out["flag_reasons"] = pd.Series([r if isinstance(r, str) else None for r in assessed["flag_reasons"]],
                                    index=frame.index, dtype=object)
    out["severity"] = assessed["severity"].astype(float)
    out["language"] = pd.Series(assessed["language"].to_numpy(), index=frame.index, dtype=object)
    out["needs_read"] = assessed["needs_read"].astype(bool)
    return out


def flag_unscored(*, session: Session, now: datetime | None = None, processes: int = 1,
                  timings: dict[str, float] | None = None) -> int:
    """Fill sentiment, flagged, flag_reasons and severity for every answer whose sentiment is
    empty, in bulk; returns how many. Commits with the caller's session.

    Severity uses the customer's revenue over the 12 months up to `now`. An answer without a
    comment gets sentiment 0.0 (neutral), so it is not picked up again. The comment's language
    and whether it needs a person's read are stored with the flag. An answer the team labelled
    negative (confirmed, or flagged by hand) stays flagged, whatever the model says now.
    `processes` > 1 reads many distinct comments in a pool of processes (see
    core.sentiment.judge_distinct; command lines only). `timings`, when given, gets the wall
    seconds of the stages: "read", "language", "judge" (see core.sentiment.assess_frame), "write".
    """
    timings = {} if timings is None else timings
    started = perf_counter()
    conn = session.connection()
    stmt = select(Feedback.id, Feedback.customer_id, Feedback.nps_score, Feedback.comment, Feedback.label,
                  Feedback.labelled_by).where(col(Feedback.sentiment).is_(None))
    frame = pd.read_sql(stmt, conn)
    if frame.empty:
        return 0
    values = customer_values(session=session, now=now)
    frame["value"] = frame["customer_id"].map(values).fillna(0.0)
    timings["read"] = perf_counter() - started
    from core.sentiment import assess_frame  # the model's imports: only when answers are scored

    assessed = assess_frame(frame, customer_value="value", model=active_flag_model(session=session),
                            processes=processes, timings=timings)
    started = perf_counter()
    reasons = [r if isinstance(r, str) else None for r in assessed["flag_reasons"]]
    flagged = assessed["flagged"].astype(bool).tolist()
    severity = assessed["severity"].astype(float).tolist()
    for i, (label, by) in enumerate(zip(frame["label"], frame["labelled_by"], strict=True)):
        if label == LABEL_NEGATIVE and not flagged[i]:
            flagged[i] = True
            reasons[i] = _hand_reason(reasons[i], by)
            severity[i] = max(severity[i], HAND_FLAG_SEVERITY)
    # Plain lists: pandas 3 would turn the missing reasons into NaN.
    out: dict[str, list] = {
        "id": frame["id"].astype(int).tolist(),
        "sentiment": assessed["sentiment"].astype(float).tolist(),
        "flagged": flagged,
        "flag_reasons": reasons,
        "severity": severity,
        "language": [v if isinstance(v, str) else None for v in assessed["language"]],
        "needs_read": assessed["needs_read"].astype(bool).tolist(),
    }
    if conn.dialect.name == "postgresql":
        _update_pg(conn, out)
    else:
        _update_executemany(conn, out)
    timings["write"] = perf_counter() - started
    log.info("flagged %s of %s new feedback answers", int(assessed["flagged"].sum()), len(out["id"]))
    return len(out["id"])


def _update_executemany(conn, out: dict[str, list]) -> None:  # noqa: ANN001 - a Connection
    table = Feedback.__table__
    stmt = (update(table).where(table.c.id == bindparam("b_id"))
            .values(sentiment=bindparam("b_sentiment"), flagged=bindparam("b_flagged"),
                    flag_reasons=bindparam("b_reasons"), severity=bindparam("b_severity"),
                    language=bindparam("b_language"), needs_read=bindparam("b_needs_read")))
    records = [{"b_id": i, "b_sentiment": s, "b_flagged": f, "b_reasons": r, "b_severity": v, "b_language": lang,
                "b_needs_read": nr}
               for i, s, f, r, v, lang, nr in zip(out["id"], out["sentiment"], out["flagged"],
                                                  out["flag_reasons"], out["severity"], out["language"],
                                                  out["needs_read"], strict=True)]
    for start in range(0, len(records), _UPDATE_CHUNK):
        conn.execute(stmt, records[start : start + _UPDATE_CHUNK])


# PostgreSQL: the new values are copied (COPY, the fast bulk path) into a temporary table, then
# one UPDATE joins it (a third faster than binding them as arrays; executemany of an UPDATE is a
# round trip per row there).
_PG_TEMP = """
    CREATE TEMPORARY TABLE IF NOT EXISTS flag_out (
        id integer, sentiment double precision, flagged boolean, flag_reasons text,
        severity double precision, language varchar(8), needs_read boolean) ON COMMIT DELETE ROWS
"""
_PG_UPDATE = """
    UPDATE feedback AS f
    SET sentiment = v.sentiment, flagged = v.flagged, flag_reasons = v.flag_reasons, severity = v.severity,
        language = v.language, needs_read = v.needs_read
    FROM flag_out AS v
    WHERE f.id = v.id
"""
_PG_COLUMNS = ("id", "sentiment", "flagged", "flag_reasons", "severity", "language", "needs_read")


def _update_pg(conn, out: dict[str, list]) -> None:  # noqa: ANN001 - a Connection
    dbapi = conn.dialect.dbapi
    with conn.connection.driver_connection.cursor() as cursor:
        try:
            cursor.execute(_PG_TEMP)
            cursor.execute("TRUNCATE flag_out")
            with cursor.copy(f"COPY flag_out ({', '.join(_PG_COLUMNS)}) FROM STDIN") as copy:
                for row in zip(*(out[c] for c in _PG_COLUMNS), strict=True):
                    copy.write_row(row)
            cursor.execute("ANALYZE flag_out")
            cursor.execute(_PG_UPDATE)
        except dbapi.Error as exc:  # the same exception classes as any SQLAlchemy statement
            raise DBAPIError.instance(_PG_UPDATE, None, exc, dbapi.Error, dialect=conn.dialect) from exc


def reflag(*, session: Session, now: datetime | None = None, processes: int = 1) -> int:
    """Recompute sentiment, flag, reasons and severity of every answer (after the rules or the
    customers' values changed). Triage state, notes and assignees stay as they are."""
    session.execute(update(Feedback.__table__).values(sentiment=None))
    return flag_unscored(session=session, now=now, processes=processes)
