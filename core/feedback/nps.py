"""The NPS counts behind the NPS screen: the window, promoters, passives and detractors overall
or by a split, and answer counts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import Integer, case, cast, distinct, func
from sqlmodel import Session, col, select

from core.feedback.access import FeedbackError
from core.readcache import cached
from core.sentiment import DETRACTOR_MAX, PROMOTER_MIN
from db.models import Customer, Feedback, Order, OrderLine, Product

# ---------------------------------------------------------------- NPS counts for the NPS screen

NPS_SPLITS: dict[str, object] = {
    "segment": Customer.segment,
    "region": Customer.region,
    "channel": Feedback.channel,
}


def _count_columns():  # noqa: ANN202
    score = col(Feedback.nps_score)
    return (
        func.sum(case((score >= PROMOTER_MIN, 1), else_=0)).label("promoters"),
        func.sum(case(((score > DETRACTOR_MAX) & (score < PROMOTER_MIN), 1), else_=0)).label("passives"),
        func.sum(case((score <= DETRACTOR_MAX, 1), else_=0)).label("detractors"),
    )


def _counts_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame["day"] = pd.to_datetime(frame["day"])
    for c in ("promoters", "passives", "detractors"):
        frame[c] = frame[c].fillna(0).astype(int)
    return frame


NPS_DEFAULT_MONTHS = 12


def nps_window(*, months: int, today: date) -> tuple[datetime, datetime]:
    """[since, until] of the NPS screen's "last N months": whole days up to the end of today,
    so the counts are the same all day long and can be kept between requests (core.readcache)."""
    until = datetime.combine(today, time.max)
    since = datetime.combine(today + timedelta(days=1) - timedelta(days=round(30.44 * months)), time.min)
    return since, until


@cached(tables=("customer", "feedback", "orders", "order_line", "product"))
def nps_counts(*, session: Session, since: datetime, until: datetime, by: str | None = None) -> pd.DataFrame:
    """Promoters, passives and detractors per day (and per `by`: segment, region, channel or
    category) for answers with a score in [since, until]. Feed it to core.nps.nps_by_period
    with date_col="day". With by="category" an answer counts once in each product category the
    customer bought in the same window.

    Raises FeedbackError for a split that is not one of NPS_SPLITS or "category".
    """
    if by == "category":
        return _nps_counts_by_category(session=session, since=since, until=until)
    if by is not None and by not in NPS_SPLITS:
        raise FeedbackError(f"split by one of: {', '.join([*NPS_SPLITS, 'category'])}")
    day = func.date(Feedback.submitted_at).label("day")
    keys = [day] + ([NPS_SPLITS[by].label(by)] if by else [])  # type: ignore[attr-defined]
    stmt = select(*keys, *_count_columns()).select_from(Feedback)
    if by is not None and NPS_SPLITS[by].class_ is Customer:  # type: ignore[attr-defined]
        # An outer join on the customer's key: one row per answer all the same, so the overall
        # and channel counts skip it (a lookup per answer, most of the query's time).
        stmt = stmt.outerjoin(Customer, Customer.id == Feedback.customer_id)
    stmt = (stmt.where(col(Feedback.nps_score).is_not(None), Feedback.submitted_at >= since,
                       Feedback.submitted_at <= until)
            .group_by(*keys))
    return _counts_frame(pd.read_sql(stmt, session.connection()))


def _nps_counts_by_category(*, session: Session, since: datetime, until: datetime) -> pd.DataFrame:
    bought = (select(Order.customer_id.label("customer_id"), Product.category.label("category"))
              .select_from(Order).join(OrderLine, OrderLine.order_id == Order.id)
              .join(Product, Product.sku == OrderLine.sku)
              .where(Order.ordered_at >= since, Order.ordered_at <= until, col(Product.category).is_not(None))
              .distinct().subquery())
    day = func.date(Feedback.submitted_at).label("day")
    stmt = (select(day, bought.c.category, *_count_columns()).select_from(Feedback)
            .join(bought, bought.c.customer_id == Feedback.customer_id)
            .where(col(Feedback.nps_score).is_not(None), Feedback.submitted_at >= since,
                   Feedback.submitted_at <= until)
            .group_by(day, bought.c.category))
    return _counts_frame(pd.read_sql(stmt, session.connection()))


def answer_counts(*, session: Session, since: datetime, until: datetime) -> dict[str, int]:
    """Answers in the window: all, with a score, with a comment, flagged."""
    stmt = select(
        func.count(),
        func.count(Feedback.nps_score),
        func.count(Feedback.comment),
        func.sum(cast(Feedback.flagged, Integer)),
        func.count(distinct(Feedback.customer_id)),
    ).where(Feedback.submitted_at >= since, Feedback.submitted_at <= until)
    total, scored, commented, flagged, customers = session.exec(stmt).one()
    return {"answers": int(total or 0), "scored": int(scored or 0), "commented": int(commented or 0),
            "flagged": int(flagged or 0), "customers": int(customers or 0)}
