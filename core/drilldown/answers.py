"""The survey answers behind the NPS counts and charts: the promoters/passives/detractors counts and
bars and the trend points of the NPS screen, the Overview's "NPS by month" and the detractor themes
heatmap. Answers carry comments (personal data); each list has an aggregate-safe twin counting the
same answers by segment, region and channel."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, func, or_, select
from sqlmodel import Session, col

from core import kpis
from core.config import resolve_horizon
from core.drilldown.labels import NPS_TILE_DRILL  # noqa: F401 - its name here, as before
from core.drilldown.people import _add_months, _month_start, _roles
from core.feedback import NPS_SPLITS as SPLIT_COLUMNS
from core.nps import DETRACTOR_MAX, PROMOTER_MIN
from core.roles import require_personal_data
from db.models import Customer, Feedback, Order, OrderLine, Product

NPS_GROUPS: dict[str, tuple[int, int]] = {
    "promoters": (PROMOTER_MIN, 10),
    "passives": (DETRACTOR_MAX + 1, PROMOTER_MIN - 1),
    "detractors": (0, DETRACTOR_MAX),
}

NPS_ANSWER_COLUMNS = ["answer_id", "customer_id", "customer", "score", "submitted_at", "channel", "comment"]


# The splits of the NPS screen's trend (core.feedback.nps_counts' `by`), and the label
# core.nps.nps_by_period gives a missing segment, region or channel.
NPS_SPLITS = (*SPLIT_COLUMNS, "category")
SPLIT_MISSING = "unknown"


def _split_condition(split: tuple[str, str], bought: tuple[datetime, datetime]) -> ColumnElement:
    """The answers of one line of the split trend, as core.feedback.nps_counts groups them:
    segment/region/channel equal to the value (SPLIT_MISSING: also a missing one, and for segment
    and region an answer no customer matched); category: the customer bought a product of that
    category in `bought` ([since, until] of nps_counts, the screen's whole window)."""
    by, value = split
    if by == "category":
        cats = (select(Order.customer_id).join(OrderLine, OrderLine.order_id == Order.id)
                .join(Product, Product.sku == OrderLine.sku)
                .where(Order.ordered_at >= bought[0], Order.ordered_at <= bought[1], Product.category == value))
        return col(Feedback.customer_id).in_(cats)
    if by not in SPLIT_COLUMNS:
        raise ValueError(f"no NPS split {by!r}: choose one of {', '.join(NPS_SPLITS)}")
    column = col(SPLIT_COLUMNS[by])
    return or_(column == value, column.is_(None)) if value == SPLIT_MISSING else column == value


def _group_stmt(group: str | None, since: datetime, until: datetime, columns: list[Any],  # noqa: ANN202
                split: tuple[str, str] | None = None, bought: tuple[datetime, datetime] | None = None):
    """Answers with a score in [since, until], in one NPS group (None: every scored answer, 0-10),
    in one line of the split trend if `split` is given."""
    if group is not None and group not in NPS_GROUPS:
        raise ValueError(f"no NPS group {group!r}: choose one of {', '.join(NPS_GROUPS)}")
    low, high = (0, 10) if group is None else NPS_GROUPS[group]
    score = col(Feedback.nps_score)
    stmt = (select(*columns).select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .where(score.is_not(None), score >= low, score <= high,
                   Feedback.submitted_at >= since, Feedback.submitted_at <= until))
    return stmt if split is None else stmt.where(_split_condition(split, bought or (since, until)))


def period_window(period_start: date | datetime, freq: str, since: datetime, until: datetime) -> tuple[datetime,
                                                                                                        datetime]:
    """[start, end] (both inclusive) of one bar of the NPS screen: the week from Monday ("W") or
    the calendar month ("M") starting `period_start`, as core.nps.nps_by_period groups them,
    clipped to the screen's window [since, until]. Raises ValueError for another `freq`."""
    if freq not in ("W", "M"):
        raise ValueError(f"freq must be 'W' or 'M', not {freq!r}")
    start = pd.Timestamp(period_start).normalize()
    nxt = start + (pd.DateOffset(weeks=1) if freq == "W" else pd.DateOffset(months=1))
    end = (nxt - pd.Timedelta(microseconds=1)).to_pydatetime()
    return max(start.to_pydatetime(), since), min(end, until)


def nps_answers(*, session: Session, roles: Iterable[Any], group: str | None, since: datetime,
                until: datetime, split: tuple[str, str] | None = None,
                bought: tuple[datetime, datetime] | None = None) -> pd.DataFrame:
    """The answers behind the NPS screen's promoters, passives or detractors count of the window
    [since, until] (core.feedback.nps_window, the same bounds as core.feedback.nps_counts);
    `group` None: every answer with a score (0-10), the answers behind a point of the NPS trend
    (core.nps.nps_by_period's "responses" of that period, with `period_window`'s bounds).

    `split` (by, value), e.g. ("segment", "home"): only the answers of that line of the trend split
    by segment, region, channel or category (NPS_SPLITS; value "unknown" also takes a missing
    segment, region or channel, as the trend labels it). For "category", `bought` is the window in
    which the customer bought the category: the screen's whole [since, until] (the trend's rule),
    not the period's; default [since, until].

    Columns (NPS_ANSWER_COLUMNS): answer_id (Feedback.id), customer_id (Customer.id or missing
    for an answer no customer matched), customer (external id), score (0-10), submitted_at,
    channel, comment (the customer's own words: plain text, never Markdown); newest first.

    Raises core.roles.NotAllowed for a role that may not read comments (exec: use
    nps_breakdown) and ValueError for a group not in NPS_GROUPS or a split not in NPS_SPLITS."""
    require_personal_data(_roles(roles))
    stmt = _group_stmt(group, since, until, [
        Feedback.id.label("answer_id"), Feedback.customer_id, Customer.external_id.label("customer"),
        Feedback.nps_score.label("score"), Feedback.submitted_at, Feedback.channel, Feedback.comment,
    ], split, bought).order_by(col(Feedback.submitted_at).desc(), col(Feedback.id).desc())
    out = pd.read_sql(stmt, session.connection())
    out["score"] = out["score"].astype("int64")
    out["customer_id"] = out["customer_id"].astype("Int64")
    return out.reindex(columns=NPS_ANSWER_COLUMNS)


def nps_breakdown(*, session: Session, group: str | None, since: datetime, until: datetime,
                  split: tuple[str, str] | None = None,
                  bought: tuple[datetime, datetime] | None = None) -> pd.DataFrame:
    """The answers behind one NPS group count (`group` None: every scored answer, a point of the
    NPS trend; `split` and `bought`: one line of the split trend, as in :func:`nps_answers`) as
    aggregates only (any role): columns segment,
    region, channel ("(none)" where missing, e.g. an answer no customer matched), answers; most
    answers first. The answers column adds up to the count. Raises ValueError for an unknown
    group or split."""
    keys = [Customer.segment.label("segment"), Customer.region.label("region"), Feedback.channel.label("channel")]
    stmt = _group_stmt(group, since, until, [*keys, func.count().label("answers")], split, bought).group_by(*keys)
    out = pd.read_sql(stmt, session.connection())
    out[["segment", "region", "channel"]] = out[["segment", "region", "channel"]].fillna("(none)")
    out = out.groupby(["segment", "region", "channel"], as_index=False)["answers"].sum()
    out["answers"] = out["answers"].astype("int64")
    return out.sort_values(["answers", "segment", "region", "channel"],
                           ascending=[False, True, True, True]).reset_index(drop=True)


def _answer_rows(session: Session, start: datetime, end: datetime, segment: str | None, region: str | None,
                 owner: str | None) -> pd.DataFrame:
    """Answers with a score submitted in [start, end), under the filter (core.kpis' NPS rows: with
    a filter, answers no customer matched drop out); newest first."""
    stmt = (select(Feedback.id.label("answer_id"), Feedback.customer_id, Customer.external_id.label("customer"),
                   Feedback.nps_score.label("score"), Feedback.submitted_at, Feedback.channel, Feedback.comment)
            .select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .where(col(Feedback.nps_score).is_not(None), Feedback.submitted_at >= start, Feedback.submitted_at < end)
            .order_by(col(Feedback.submitted_at).desc(), col(Feedback.id).desc()))
    conds = kpis.customer_conditions(segment, region, owner)
    rows = pd.read_sql(kpis.filtered(stmt, Feedback.customer_id, conds) if conds else stmt, session.connection())
    rows["score"] = rows["score"].astype("int64")
    rows["customer_id"] = rows["customer_id"].astype("Int64")
    return rows.reindex(columns=NPS_ANSWER_COLUMNS)


def _month_answer_rows(session: Session, month: str, as_of: date, segment: str | None, region: str | None,
                       owner: str | None) -> pd.DataFrame:
    """Answers with a score submitted in calendar month `month` up to the end of D, under the
    filter (core.kpis.nps_trend's rows)."""
    start = _month_start(month)
    end = min(_add_months(start, 1), kpis.day_start(as_of + timedelta(days=1)))
    return _answer_rows(session, start, end, segment, region, owner)


def period_answers(*, session: Session, roles: Iterable[Any], as_of: date, horizon_days: int | None = None,
                   segment: str | None = None, region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The answers behind the Overview's NPS tile: answers with a score (0-10) submitted in
    (D - H, D] (core.kpis.window_bounds, D = `as_of`, H = `horizon_days`), under the
    segment/region/owner filter (then answers no customer matched drop out, as in core.kpis).

    Columns (NPS_ANSWER_COLUMNS); newest first; the row count is the tile's "NPS answers".
    Raises core.roles.NotAllowed for a role that may not read comments (exec:
    period_answer_breakdown) and core.kpis.KpiError for a horizon under a day."""
    horizon_days = resolve_horizon(horizon_days)
    require_personal_data(_roles(roles))
    start, end = kpis.window_bounds(as_of, horizon_days)
    return _answer_rows(session, start, end, segment, region, owner)


def period_answer_breakdown(*, session: Session, as_of: date, horizon_days: int | None = None,
                            segment: str | None = None, region: str | None = None,
                            owner: str | None = None) -> pd.DataFrame:
    """The answers behind the Overview's NPS tile as aggregates only (any role): segment, region,
    channel ("(none)" where missing), answers; most first; the answers add up to the tile's
    "NPS answers". Raises core.kpis.KpiError for a horizon under a day."""
    horizon_days = resolve_horizon(horizon_days)
    start, end = kpis.window_bounds(as_of, horizon_days)
    return _answers_by_segment_region_channel(session, _answer_rows(session, start, end, segment, region, owner))


def month_answers(*, session: Session, roles: Iterable[Any], month: str, as_of: date, segment: str | None = None,
                  region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The answers behind one point of the Overview's "NPS by month" (core.kpis.nps_trend):
    answers with a score (0-10) submitted in calendar month `month` ("YYYY-MM") up to the end of
    D = `as_of`, under the segment/region/owner filter.

    Columns (NPS_ANSWER_COLUMNS); newest first; the row count is the point's answers. Raises
    core.roles.NotAllowed for a role that may not read comments (exec: month_answer_breakdown)
    and core.kpis.KpiError for a month that is not YYYY-MM."""
    require_personal_data(_roles(roles))
    return _month_answer_rows(session, month, as_of, segment, region, owner)


def _answers_by_segment_region_channel(session: Session, rows: pd.DataFrame) -> pd.DataFrame:
    """Answers (rows with answer_id, customer_id, channel) counted by segment, region and
    channel ("(none)" where missing), most first: the aggregate-safe view of any answer list."""
    if rows.empty:
        return pd.DataFrame(columns=["segment", "region", "channel", "answers"])
    c = Customer.__table__.c
    seg = pd.read_sql(select(c.id, c.segment, c.region), session.connection()).set_index("id")
    keyed = rows.join(seg, on="customer_id").fillna({"segment": "(none)", "region": "(none)"})
    keyed["channel"] = keyed["channel"].fillna("(none)")
    out = keyed.groupby(["segment", "region", "channel"], as_index=False).agg(answers=("answer_id", "size"))
    out["answers"] = out["answers"].astype("int64")
    return out.sort_values(["answers", "segment", "region", "channel"],
                           ascending=[False, True, True, True]).reset_index(drop=True)


def month_answer_breakdown(*, session: Session, month: str, as_of: date, segment: str | None = None,
                           region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The answers of one point of "NPS by month" as aggregates only (any role): segment, region,
    channel ("(none)" where missing), answers; most first; the answers add up to the point's.
    Raises core.kpis.KpiError for a month that is not YYYY-MM."""
    rows = _month_answer_rows(session, month, as_of, segment, region, owner)
    return _answers_by_segment_region_channel(session, rows)


def theme_answers(*, session: Session, roles: Iterable[Any], theme: str, month: str,
                  now: datetime) -> pd.DataFrame:
    """The detractor answers behind one cell of the NPS screen's "Detractor mentions per month"
    (core.feedback.detractor_themes): answers scored 0-6 submitted in calendar month `month`
    ("YYYY-MM", up to `now`) whose flag reasons name `theme`.

    Columns (NPS_ANSWER_COLUMNS); newest first; the row count is the cell's mentions. Raises
    core.roles.NotAllowed for a role that may not read comments (exec: theme_breakdown) and
    core.kpis.KpiError for a month that is not YYYY-MM."""
    require_personal_data(_roles(roles))
    return _theme_rows(session, theme, month, now).reindex(columns=NPS_ANSWER_COLUMNS)


def theme_breakdown(*, session: Session, theme: str, month: str, now: datetime) -> pd.DataFrame:
    """The answers of one theme cell as aggregates only (any role): segment, region, channel
    ("(none)" where missing), answers; most first; the answers add up to the cell."""
    rows = _theme_rows(session, theme, month, now)
    return _answers_by_segment_region_channel(session, rows)


def _theme_rows(session: Session, theme: str, month: str, now: datetime) -> pd.DataFrame:
    from core.sentiment import parse_mentions

    start = _month_start(month)
    end = _add_months(start, 1)
    score = col(Feedback.nps_score)
    stmt = (select(Feedback.id.label("answer_id"), Feedback.customer_id, Customer.external_id.label("customer"),
                   Feedback.nps_score.label("score"), Feedback.submitted_at, Feedback.channel, Feedback.comment,
                   Feedback.flag_reasons)
            .select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .where(score.is_not(None), score <= DETRACTOR_MAX, Feedback.submitted_at >= start,
                   Feedback.submitted_at < end, Feedback.submitted_at <= now,
                   col(Feedback.flag_reasons).contains("mentions: "))
            .order_by(col(Feedback.submitted_at).desc(), col(Feedback.id).desc()))
    rows = pd.read_sql(stmt, session.connection())
    named = [theme in (parse_mentions(r) or []) for r in rows["flag_reasons"]]
    rows = rows[pd.Series(named, index=rows.index, dtype=bool)].drop(columns=["flag_reasons"])
    rows["score"] = rows["score"].astype("int64")
    rows["customer_id"] = rows["customer_id"].astype("Int64")
    return rows.reset_index(drop=True)


def _window_rows(session: Session, since: datetime, until: datetime) -> pd.DataFrame:
    """Every answer submitted in [since, until] (both inclusive, core.feedback.answer_counts'
    bounds), with a score or not; newest first."""
    stmt = (select(Feedback.id.label("answer_id"), Feedback.customer_id, Customer.external_id.label("customer"),
                   Feedback.nps_score.label("score"), Feedback.submitted_at, Feedback.channel, Feedback.comment)
            .select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .where(Feedback.submitted_at >= since, Feedback.submitted_at <= until)
            .order_by(col(Feedback.submitted_at).desc(), col(Feedback.id).desc()))
    rows = pd.read_sql(stmt, session.connection())
    rows["score"] = rows["score"].astype("Int64")
    rows["customer_id"] = rows["customer_id"].astype("Int64")
    return rows.reindex(columns=NPS_ANSWER_COLUMNS)


def window_answers(*, session: Session, roles: Iterable[Any], since: datetime, until: datetime) -> pd.DataFrame:
    """The answers behind the NPS screen's tiles "Answers (all)" and "Answers with a score": every
    answer submitted in the window [since, until] (core.feedback.nps_window, the bounds of
    core.feedback.answer_counts), unscored ones included (score missing).

    Columns (NPS_ANSWER_COLUMNS; score 0-10 or missing); newest first. The row count is
    "Answers (all)"; the rows with a score are "Answers with a score". Raises
    core.roles.NotAllowed for a role that may not read comments (exec: window_answer_breakdown)."""
    require_personal_data(_roles(roles))
    return _window_rows(session, since, until)


def window_answer_breakdown(*, session: Session, since: datetime, until: datetime) -> pd.DataFrame:
    """The answers of :func:`window_answers` as aggregates only (any role): segment, region, channel
    ("(none)" where missing), answers (all), scored (with a score); most answers first. The answers
    column adds up to "Answers (all)", scored to "Answers with a score"."""
    rows = _window_rows(session, since, until)
    cols = ["segment", "region", "channel", "answers", "scored"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    c = Customer.__table__.c
    seg = pd.read_sql(select(c.id, c.segment, c.region), session.connection()).set_index("id")
    keyed = rows.join(seg, on="customer_id").fillna({"segment": "(none)", "region": "(none)"})
    keyed["channel"] = keyed["channel"].fillna("(none)")
    keyed["scored"] = keyed["score"].notna().astype("int64")
    out = keyed.groupby(["segment", "region", "channel"], as_index=False).agg(
        answers=("answer_id", "size"), scored=("scored", "sum"))
    out[["answers", "scored"]] = out[["answers", "scored"]].astype("int64")
    return out.sort_values(["answers", "segment", "region", "channel"],
                           ascending=[False, True, True, True]).reset_index(drop=True)[cols]
