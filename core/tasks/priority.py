"""Who can be contacted how, the one priority order of accounts and tasks, and the suggested
next step for a task."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlmodel import Session

from core import money
from core.config import get_settings
from core.readcache import cached
from core.roles import Role
from core.tasks.generation import _end_of, _snapshot_at
from core.tasks.rules import (
    _PRIORITY_CHUNK,
    DETRACTOR_MAX,
    PRIORITY_DETRACTOR_BONUS,
    PRIORITY_DETRACTOR_DAYS,
    PRIORITY_POINTS_FACTOR,
    REASON_TEMPLATES,
    TaskError,
)
from db.models import (
    Customer,
    Feedback,
    LoyaltyEntry,
    ScoreSnapshot,
)

_MONTH_END_MARGIN_DAYS = 4  # adding months moves a date by up to 3 days less at a month's end

# ---------------------------------------------------------------- contactability and priority


def contactability(*, email_opt_in: bool, email: str | None, phone: str | None) -> str:
    """How the customer can be reached: "email" (email consent and an address), "phone"
    (no email allowed, but a phone number for a call), or "none"."""
    email = email if isinstance(email, str) else None  # a missing value read by pandas is NaN
    phone = phone if isinstance(phone, str) else None
    if email_opt_in and email and email.strip():
        return "email"
    if phone and phone.strip():
        return "phone"
    return "none"


def contact_clause(kind: str) -> ColumnElement[bool]:
    """SQL for the contactability filters: "email" (may be emailed), "phone" (has a phone
    number to call), "none" (neither).

    Raises TaskError for any other `kind`.
    """
    email_ok = and_(Customer.email_opt_in.is_(True), Customer.email.is_not(None), Customer.email != "")
    phone_ok = and_(Customer.phone.is_not(None), Customer.phone != "")
    if kind == "email":
        return email_ok
    if kind == "phone":
        return phone_ok
    if kind == "none":
        return and_(~email_ok, ~phone_ok)
    raise TaskError(f"unknown contactability {kind!r}; use email, phone or none")


def priority_scores(*, session: Session, customer_ids: Sequence[int], as_of: date | None = None,
                    values_at_risk: pd.Series | None = None, with_points: bool = True) -> pd.DataFrame:
    """The one priority (PRIORITY_EXPLANATION) for these customers, indexed by customer_id:
    value_at_risk (newest score on or before `as_of`; 0 without a score), recent_detractor
    (bool), expiring_points (within 30 days, by core.loyalty's rules), priority (higher first).
    `values_at_risk` (indexed by customer id), when the caller has just read them from the same
    snapshot, saves reading them again. Without `with_points` expiring_points is 0 and each
    priority a lower bound of the true one (see :func:`expiring_points_upper_bounds`)."""
    as_of = as_of or datetime.now(UTC).date()
    ids = sorted({int(i) for i in customer_ids})
    frame = pd.DataFrame(index=pd.Index(ids, name="customer_id"))
    frame["value_at_risk"] = 0.0
    frame["recent_detractor"] = False
    frame["expiring_points"] = 0
    if not ids:
        frame["priority"] = 0.0
        return frame
    snap_day = _snapshot_at(session, as_of)
    since = _end_of(as_of) - timedelta(days=PRIORITY_DETRACTOR_DAYS)
    detractor = (Feedback.nps_score <= DETRACTOR_MAX, Feedback.submitted_at >= since,
                 Feedback.submitted_at < _end_of(as_of))
    if values_at_risk is not None:
        frame["value_at_risk"] = values_at_risk.reindex(frame.index).fillna(0.0).astype(float)
    if len(ids) > _PRIORITY_CHUNK:
        # A whole book or store (the queue's order covers every account): one read of the day's
        # scores and of the month's detractors, matched in memory, instead of many IN lists.
        if snap_day is not None and values_at_risk is None:
            var = pd.read_sql(select(ScoreSnapshot.customer_id, ScoreSnapshot.value_at_risk_cents)
                              .where(ScoreSnapshot.as_of == snap_day), session.connection())
            cents = var.set_index("customer_id")["value_at_risk_cents"].reindex(frame.index).fillna(0)
            frame["value_at_risk"] = money.units_array(cents.astype("int64"))
        detractors = session.execute(select(Feedback.customer_id).distinct().where(
            Feedback.customer_id.is_not(None), *detractor)).scalars().all()
        frame["recent_detractor"] = frame.index.isin([int(c) for c in detractors])
    else:
        if snap_day is not None and values_at_risk is None:
            for cid, var in session.execute(select(ScoreSnapshot.customer_id, ScoreSnapshot.value_at_risk_cents)
                                            .where(ScoreSnapshot.as_of == snap_day,
                                                   ScoreSnapshot.customer_id.in_(ids))):
                frame.at[int(cid), "value_at_risk"] = money.to_units(var or 0)
        detractors = session.execute(select(Feedback.customer_id).distinct().where(
            Feedback.customer_id.in_(ids), *detractor)).scalars().all()
        frame.loc[[int(c) for c in detractors], "recent_detractor"] = True
    if with_points:
        frame["expiring_points"] = expiring_points_of(session=session, as_of=as_of, customer_ids=ids)
    frame["priority"] = priority_value(frame["value_at_risk"], frame["recent_detractor"],
                                       frame["expiring_points"])
    return frame


def expiring_points_of(*, session: Session, as_of: date, customer_ids: Sequence[int]) -> pd.Series:
    """Points expiring within 30 days after `as_of` (core.loyalty's rules) of these customers,
    as int64 indexed by their sorted ids (0 for most). Past _PRIORITY_CHUNK customers, only those
    with a lot that may expire in the window (:func:`expiring_points_upper_bounds`) are computed."""
    ids = sorted({int(i) for i in customer_ids})
    out = pd.Series(0, index=pd.Index(ids, name="customer_id"), dtype="int64")
    candidates = tuple(ids)
    if len(ids) > _PRIORITY_CHUNK:  # a whole book or store: only those who may have points expiring
        bounds = expiring_points_upper_bounds(session=session, as_of=as_of)
        candidates = tuple(int(c) for c in bounds.index.intersection(ids).sort_values())
    if candidates:
        points = _expiring_of(session=session, as_of=as_of, customer_ids=candidates)
        out = points.reindex(out.index).fillna(0).astype("int64")
    return out


@cached(tables=("loyalty_entry",))
def expiring_points_upper_bounds(*, session: Session, as_of: date) -> pd.Series:
    """Per customer who may have points expiring within EXPIRING_WINDOW_DAYS after `as_of`: the
    sum of the points of their credits whose lot may expire in the window, by its stored
    expires_at or, without one, by occurred_at + the months of the rule it was stored under (a
    few days' margin for month ends). An upper bound of :func:`expiring_points_of` (a lot never
    loses more than it earned, and every lot expiring in the window is among these), and its
    customers a superset of core.loyalty's answer, so that the exact rules run on their entries
    only instead of on the whole ledger (seconds at 100k customers); everyone else has none
    expiring. int64 indexed by customer_id; one SQL read, kept per data generation of the ledger."""
    from core.loyalty import EXPIRING_WINDOW_DAYS

    cut = _end_of(as_of)
    window_end = cut + timedelta(days=EXPIRING_WINDOW_DAYS)
    soon = and_(LoyaltyEntry.expires_at.is_not(None), LoyaltyEntry.expires_at >= cut,
                LoyaltyEntry.expires_at < window_end)
    margin = pd.Timedelta(days=_MONTH_END_MARGIN_DAYS)

    def earned_for(months_lo: int, months_hi: int) -> ColumnElement:
        """Lots earned when a rule of months_lo to months_hi months would expire them in the window."""
        first = pd.Timestamp(cut) - pd.DateOffset(months=months_hi) - margin
        last = pd.Timestamp(window_end) - pd.DateOffset(months=months_lo) + margin
        return and_(LoyaltyEntry.occurred_at >= first.to_pydatetime(), LoyaltyEntry.occurred_at < last.to_pydatetime())

    # A lot without expires_at expires by the rule it was stored under (0: never), or, not yet
    # stamped with one, by the setting now (core.loyalty.normalise_entries). The shortest and
    # longest rule stored come from the column's index.
    rule = LoyaltyEntry.expiry_months
    shortest, longest = session.connection().execute(
        select(func.min(rule), func.max(rule)).where(rule > 0)).one()
    if shortest is not None:
        soon = or_(soon, and_(LoyaltyEntry.expires_at.is_(None), rule > 0, earned_for(int(shortest), int(longest))))
    months = get_settings().points_expiry_months
    if months > 0:
        soon = or_(soon, and_(LoyaltyEntry.expires_at.is_(None), rule.is_(None), earned_for(months, months)))
    # No GROUP BY: SQLite would walk the (customer, occurred) index and look up every row, ten
    # times slower than one pass over the table; the few ten thousand rows are summed here.
    result = session.connection().execute(select(LoyaltyEntry.customer_id, LoyaltyEntry.points)
                                          .where(LoyaltyEntry.points > 0, LoyaltyEntry.customer_id.is_not(None), soon))
    try:  # the DB-API's tuples straight into one int64 array (a frame from the rows took seconds at 1M)
        rows = np.array(result.cursor.fetchall(), dtype="int64").reshape(-1, 2)
    finally:
        result.close()
    sums = pd.Series(rows[:, 1], index=pd.Index(rows[:, 0], name="customer_id")).groupby(level=0).sum()
    return sums.astype("int64")


@cached(tables=("loyalty_entry",))
def _expiring_of(*, session: Session, as_of: date, customer_ids: tuple[int, ...]) -> pd.Series:
    """Points expiring within 30 days after `as_of` (core.outreach.expiring_points, core.loyalty's
    rules) of these customers, indexed by customer_id; kept per data generation of the ledger."""
    from core.outreach import expiring_points

    exp = expiring_points(session=session, customer_ids=list(customer_ids),
                          now=_end_of(as_of) - timedelta(microseconds=1))
    return exp["expiring_points"] if not exp.empty else pd.Series(dtype="int64")


def priority_value(value_at_risk: Any, recent_detractor: Any, expiring_points: Any,
                   point_value: float | None = None) -> Any:
    """PRIORITY_EXPLANATION as arithmetic (scalars or pandas Series alike)."""
    pv = get_settings().point_value if point_value is None else point_value
    bonus = recent_detractor * PRIORITY_DETRACTOR_BONUS
    return value_at_risk + bonus + PRIORITY_POINTS_FACTOR * pv * expiring_points


def suggested_step(*, reason: str, contact: str, has_phone: bool | None = None,
                   roles: Iterable[Role] = (Role.ACCOUNT_MANAGER,)) -> dict:
    """The one next step for a task: {"action": "email" | "call" | "close", "template": name or
    None, "text": what to do, in words}. The reason's email when the customer may be emailed
    and the user may send that template; else a call when a phone number is on file (`has_phone`;
    None: known only from `contact`); else what is left to do."""
    from core.outreach import TEMPLATE_LABELS, templates_for_roles

    template = REASON_TEMPLATES.get(reason)
    phone = contact == "phone" if has_phone is None else bool(has_phone)
    if template and contact == "email" and template in templates_for_roles(roles):
        return {"action": "email", "template": template,
                "text": f"Send the “{TEMPLATE_LABELS[template]}” email"}
    if phone:
        return {"action": "call", "template": None,
                "text": "Call the customer" + (" (email is not allowed)" if contact != "email" else "")}
    if reason == "ticket_open":
        return {"action": "close", "template": None,
                "text": "No phone number: chase the ticket with support, then close with the outcome"}
    if contact == "email":
        return {"action": "close", "template": None,
                "text": "No phone number and no email of yours fits: write to them yourself, then close"}
    return {"action": "close", "template": None,
            "text": "No way to reach them (no email consent, no phone): note why and close"}
