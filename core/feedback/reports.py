"""Close-the-loop figures, the export frame, detractor themes by month and their spikes, and
comment search."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from core.feedback.access import (
    AGE_BUCKETS,
    OPEN_STATES,
    RESPONSE_TARGET_HOURS,
    FeedbackError,
    _own_only,
    _require_inbox,
    _roles,
)
from core.roles import Role, may_see_personal_data, require_personal_data
from core.sentiment import DETRACTOR_MAX, THEMES, parse_mentions
from db.models import Customer, Feedback, utcnow

# ---------------------------------------------------------------- close the loop


def close_the_loop(*, session: Session, username: str, roles: Iterable[Role | str],
                   since: datetime | None = None, now: datetime | None = None) -> dict[str, object]:
    """How quickly flagged answers get a first response and a resolution.

    Over flagged answers submitted since `since` (default 90 days): medians in hours (over the
    answers that have one), the share handled within 48 hours (of those handled or older than
    48 hours), and, over all open flagged answers, how many there are by age.
    """
    role_set = _roles(roles)
    _require_inbox(role_set)
    now = now or utcnow()
    since = since or now - timedelta(days=90)
    base = (select(Feedback.submitted_at, Feedback.first_response_at, Feedback.resolved_at, Feedback.state)
            .select_from(Feedback)
            .where(col(Feedback.flagged).is_(True), Feedback.submitted_at >= since,
                   Feedback.submitted_at <= now))
    frame = pd.read_sql(_own_only(base, username=username, roles=role_set), session.connection())
    for c in ("submitted_at", "first_response_at", "resolved_at"):
        frame[c] = pd.to_datetime(frame[c])
    age_h = (pd.Timestamp(now) - frame["submitted_at"]).dt.total_seconds() / 3600
    target = RESPONSE_TARGET_HOURS

    def timing(column: str) -> tuple[float | None, float | None, int]:
        hours = (frame[column] - frame["submitted_at"]).dt.total_seconds() / 3600
        done = hours.notna()
        eligible = done | (age_h >= target)
        median = float(hours[done].median()) if done.any() else None
        share = float((done & (hours <= target)).sum() / eligible.sum()) if eligible.any() else None
        return median, share, int(done.sum())

    first_median, first_share, responded = timing("first_response_at")
    res_median, res_share, resolved = timing("resolved_at")

    # One pass over the open items, a sum per age bucket.
    sums = []
    for _label, low, high in AGE_BUCKETS:
        cond = Feedback.submitted_at <= now - timedelta(days=low)
        if high != float("inf"):
            cond = cond & (Feedback.submitted_at > now - timedelta(days=high))
        sums.append(func.sum(case((cond, 1), else_=0)))
    open_stmt = (select(*sums).select_from(Feedback)
                 .where(col(Feedback.flagged).is_(True), col(Feedback.state).in_(OPEN_STATES)))
    counts = session.exec(_own_only(open_stmt, username=username, roles=role_set)).one()
    buckets = [{"age": label, "open": int(n or 0)} for (label, _, _), n in zip(AGE_BUCKETS, counts, strict=True)]
    return {
        "since": since,
        "flagged": len(frame),
        "responded": responded,
        "resolved": resolved,
        "median_hours_to_first_response": first_median,
        "share_first_response_within_48h": first_share,
        "median_hours_to_resolution": res_median,
        "share_resolved_within_48h": res_share,
        "open_total": sum(b["open"] for b in buckets),
        "open_by_age": pd.DataFrame(buckets),
    }


# ---------------------------------------------------------------- export


EXPORT_COLUMNS = ["response_id", "customer_id", "submitted_at", "nps_score", "sentiment", "flagged",
                  "flag_reasons", "state"]


def feedback_export_frame(*, session: Session, roles: Iterable[Role | str]) -> pd.DataFrame:
    """One row per answer for `export feedback`: response_id, customer_id (the shop's customer
    id), submitted_at, nps_score, sentiment, flagged, flag_reasons, state, and the comment for
    roles that may see personal data."""
    personal = may_see_personal_data(_roles(roles))
    columns = [Feedback.external_id.label("response_id"), Customer.external_id.label("customer_id"),
               Feedback.submitted_at, Feedback.nps_score, Feedback.sentiment, Feedback.flagged,
               Feedback.flag_reasons, Feedback.state]
    if personal:
        columns.append(Feedback.comment)
    stmt = (select(*columns).select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .order_by(Feedback.submitted_at, Feedback.id))
    frame = pd.read_sql(stmt, session.connection())
    frame["nps_score"] = frame["nps_score"].astype("Int64")
    frame["flagged"] = frame["flagged"].astype(bool)
    return frame[EXPORT_COLUMNS + (["comment"] if personal else [])]


# ---------------------------------------------------------------- themes and search


def _month_start(ts: datetime) -> datetime:
    return datetime(ts.year, ts.month, 1)


def detractor_themes(*, session: Session, months: int = 12, now: datetime | None = None) -> pd.DataFrame:
    """The problem themes detractors name, by month: month, theme, mentions, detractors
    (answers 0-6 that month), share (mentions / detractors). Aggregates only; any role."""
    now = now or utcnow()
    start = _month_start(now)
    for _ in range(max(1, months) - 1):
        start = _month_start(start - timedelta(days=1))
    stmt = select(Feedback.submitted_at, Feedback.flag_reasons).where(
        col(Feedback.nps_score).is_not(None), col(Feedback.nps_score) <= DETRACTOR_MAX,
        Feedback.submitted_at >= start, Feedback.submitted_at <= now)
    frame = pd.read_sql(stmt, session.connection())
    columns = ["month", "theme", "mentions", "detractors", "share"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["month"] = pd.to_datetime(frame["submitted_at"]).dt.to_period("M").dt.start_time
    detractors = frame.groupby("month").size().rename("detractors")
    reasons = frame.loc[frame["flag_reasons"].str.contains("mentions: ", na=False, regex=False)]
    codes, uniques = pd.factorize(reasons["flag_reasons"])
    parsed = [parse_mentions(u) for u in uniques]
    themes = pd.Series([parsed[c] for c in codes], index=reasons.index, dtype=object)
    exploded = pd.DataFrame({"month": reasons["month"], "theme": themes}).explode("theme").dropna()
    if exploded.empty:
        return pd.DataFrame(columns=columns)
    counts = exploded.groupby(["month", "theme"]).size().rename("mentions").reset_index()
    counts = counts.join(detractors, on="month")
    counts["share"] = counts["mentions"] / counts["detractors"]
    order = {t: i for i, t in enumerate(THEMES)}
    counts["_o"] = counts["theme"].map(order)
    counts = counts.sort_values(["month", "mentions", "_o"], ascending=[True, False, True])
    return counts[columns].reset_index(drop=True)


def theme_spikes(themes: pd.DataFrame, *, min_mentions: int = 5, ratio: float = 2.0) -> pd.DataFrame:
    """Months in which a theme was named at least `ratio` times as often as in its usual month
    (the median over the other months, at least 1): month, theme, mentions, usual, times."""
    columns = ["month", "theme", "mentions", "usual", "times"]
    if themes.empty:
        return pd.DataFrame(columns=columns)
    months = sorted(themes["month"].unique())
    full = (themes.pivot_table(index="month", columns="theme", values="mentions", aggfunc="sum")
            .reindex(months).fillna(0))
    rows = []
    for theme in full.columns:
        series = full[theme]
        for month, count in series.items():
            usual = max(1.0, float(series.drop(month).median())) if len(series) > 1 else 1.0
            if count >= min_mentions and count >= ratio * usual:
                rows.append({"month": month, "theme": theme, "mentions": int(count), "usual": usual,
                             "times": count / usual})
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(rows).sort_values("times", ascending=False).reset_index(drop=True)


def escape_like(text: str, escape: str = "\\") -> str:
    """Escape LIKE wildcards so a search for "50%" or "a_b" matches those characters."""
    return text.replace(escape, escape * 2).replace("%", escape + "%").replace("_", escape + "_")


def search_comments(*, session: Session, roles: Iterable[Role | str], word: str, limit: int = 200,
                    since: datetime | None = None) -> pd.DataFrame:
    """Answers whose comment contains `word` (any case), newest first, with their scores.
    Comments are personal data: exec may not search them.

    Raises FeedbackError for fewer than two or more than 100 characters.
    """
    require_personal_data(_roles(roles))
    word = (word or "").strip()
    if len(word) < 2:
        raise FeedbackError("type at least two characters to search the comments")
    if len(word) > 100:
        raise FeedbackError("search for at most 100 characters")
    stmt = (select(Feedback.id, Feedback.submitted_at, Feedback.nps_score, Feedback.comment,
                   Feedback.flagged, Feedback.state, Feedback.customer_id,
                   Customer.external_id.label("customer_ref"))
            .select_from(Feedback).outerjoin(Customer, Customer.id == Feedback.customer_id)
            .where(col(Feedback.comment).ilike(f"%{escape_like(word)}%", escape="\\"))
            .order_by(col(Feedback.submitted_at).desc(), col(Feedback.id).desc())
            .limit(max(1, min(int(limit), 2000))))
    if since is not None:
        stmt = stmt.where(Feedback.submitted_at >= since)
    frame = pd.read_sql(stmt, session.connection())
    frame["nps_score"] = frame["nps_score"].astype("Int64")
    return frame
