"""The at-risk queue: the newest score snapshot joined to the customer, filtered, sorted by
value at risk and paged in SQL (a page never carries thousands of rows), with RFM segment
counts over the whole filtered set."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import and_, case, func, select
from sqlalchemy.sql import Select
from sqlmodel import Session

from core import money
from core.health import HEALTH_DECIMALS, RFM_LABELS, RFM_SEGMENTS, churn_percent, disagreement
from core.refunds import refunded_cents
from core.roles import Role, require_personal_data
from core.scores import latest_as_of
from core.tasks import contact_clause, contactability, priority_scores
from db.models import Customer, Feedback, Order, ScoreSnapshot

BANDS = ("at_risk", "watch", "healthy")
BAND_LABELS = {"at_risk": "At risk", "watch": "Watch", "healthy": "Healthy"}
OPEN_FEEDBACK_STATES = ("new", "acknowledged", "waiting")
DETRACTOR_MAX = 6
MAX_PAGE_SIZE = 200
MAX_SELECTION = 5_000


class AccountsError(ValueError):
    """A queue request that cannot be answered; the message says what to change."""


@dataclass(frozen=True)
class QueueFilters:
    """What the manager asked for. `scope` "own" shows the signed-in user's book only."""

    scope: str = "own"  # own | all
    bands: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()  # the customer's segment (household, family, ...)
    rfm_segments: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    overdue_only: bool = False
    open_detractor_only: bool = False
    search: str = ""  # external id or name, case-insensitive prefix/substring
    contact: str = ""  # "" | email | phone | none: contactability (core.tasks.contact_clause)

    def as_rule(self, *, username: str) -> dict[str, Any]:
        """The filter as a JSON-able audience rule (for campaigns and exports)."""
        rule = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if v}
        if self.scope == "own":
            rule["owner"] = username
        return rule


@dataclass
class QueuePage:
    rows: pd.DataFrame
    total: int
    page: int
    pages: int
    as_of: date | None
    segment_counts: pd.DataFrame = field(default_factory=pd.DataFrame)


def _open_detractor_clause():  # noqa: ANN202
    """Customer has a detractor answer (0-6) still open in the inbox. An IN over one subquery:
    a correlated EXISTS per customer was ten times slower on SQLite at 100,000 customers."""
    return Customer.id.in_(
        select(Feedback.customer_id).where(
            Feedback.customer_id.is_not(None),
            Feedback.nps_score <= DETRACTOR_MAX,
            Feedback.state.in_(OPEN_FEEDBACK_STATES),
        )
    )


def _filtered(stmt: Select, *, filters: QueueFilters, username: str, as_of: date,
              skip_rfm: bool = False) -> Select:
    stmt = stmt.where(ScoreSnapshot.as_of == as_of)
    if filters.scope == "own":
        stmt = stmt.where(Customer.owner == username)
    elif filters.scope != "all":
        raise AccountsError(f"unknown scope {filters.scope!r}; use own or all")
    if filters.bands:
        bad = set(filters.bands) - set(BANDS)
        if bad:
            raise AccountsError(f"unknown band {sorted(bad)[0]!r}; use one of: {', '.join(BANDS)}")
        stmt = stmt.where(ScoreSnapshot.band.in_(filters.bands))
    if filters.segments:
        stmt = stmt.where(Customer.segment.in_(filters.segments))
    if filters.rfm_segments and not skip_rfm:
        stmt = stmt.where(ScoreSnapshot.rfm_segment.in_(filters.rfm_segments))
    if filters.owners:
        stmt = stmt.where(Customer.owner.in_(filters.owners))
    if filters.regions:
        stmt = stmt.where(Customer.region.in_(filters.regions))
    if filters.overdue_only:
        stmt = stmt.where(ScoreSnapshot.days_overdue > 0)
    if filters.open_detractor_only:
        stmt = stmt.where(_open_detractor_clause())
    if filters.contact:
        stmt = stmt.where(contact_clause(filters.contact))
    text = filters.search.strip().lower()
    if text:
        # `%` and `_` in the search are the characters themselves, not LIKE wildcards.
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(func.lower(Customer.external_id).like(like, escape="\\")
                          | func.lower(Customer.name).like(like, escape="\\"))
    return stmt


def _base() -> Select:
    return select(ScoreSnapshot.customer_id).join(Customer, Customer.id == ScoreSnapshot.customer_id)


def queue_page(
    *, session: Session, roles: frozenset[Role], username: str, filters: QueueFilters = QueueFilters(),
    page: int = 1, page_size: int = 50, as_of: date | None = None, order: str = "value",
) -> QueuePage:
    """One page of the at-risk queue, highest value at risk first (`order` "priority": by
    core.tasks's one priority over every matching account, ties by value at risk), with
    segment counts. Rows carry email_opt_in, sms_opt_in and contact (core.tasks.contactability)."""
    require_personal_data(roles)
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    as_of = as_of or latest_as_of(session=session)
    if as_of is None:
        return QueuePage(rows=pd.DataFrame(), total=0, page=1, pages=0, as_of=None)
    counted = _filtered(select(func.count()).select_from(ScoreSnapshot)
                        .join(Customer, Customer.id == ScoreSnapshot.customer_id),
                        filters=filters, username=username, as_of=as_of)
    total = int(session.execute(counted).scalar() or 0)
    pages = max(math.ceil(total / page_size), 1)
    page = min(max(int(page), 1), pages)
    stmt = _filtered(
        select(Customer.id.label("customer_id"), Customer.external_id, Customer.name, Customer.segment,
               Customer.region, Customer.owner, ScoreSnapshot.health_score, ScoreSnapshot.band,
               ScoreSnapshot.churn_probability, ScoreSnapshot.value_at_risk_cents, ScoreSnapshot.rfm_segment,
               ScoreSnapshot.days_overdue, ScoreSnapshot.next_order_date, ScoreSnapshot.drivers,
               _open_detractor_clause().label("open_detractor"),
               Customer.email_opt_in, Customer.sms_opt_in, Customer.email, Customer.phone)
        .join(Customer, Customer.id == ScoreSnapshot.customer_id),
        filters=filters, username=username, as_of=as_of,
    ).order_by(ScoreSnapshot.value_at_risk_cents.desc(), ScoreSnapshot.churn_probability.desc(), Customer.id)
    prio = None
    if order == "priority":
        # Every matching account, not only the first by value at risk: a detractor bonus or
        # expiring points can lift any of them to the top.
        ranked = pd.read_sql(
            _filtered(select(ScoreSnapshot.customer_id, ScoreSnapshot.value_at_risk_cents)
                      .join(Customer, Customer.id == ScoreSnapshot.customer_id),
                      filters=filters, username=username, as_of=as_of)
            .order_by(ScoreSnapshot.value_at_risk_cents.desc(), ScoreSnapshot.customer_id), session.connection())
        ids = [int(i) for i in ranked["customer_id"]]
        at_risk = pd.Series(money.units_array(ranked["value_at_risk_cents"]), index=ranked["customer_id"])
        prio = priority_scores(session=session, customer_ids=ids, as_of=as_of,
                               values_at_risk=at_risk).reindex(ids)
        prio = prio.sort_values("priority", ascending=False, kind="stable")
        page_ids = [int(i) for i in prio.index[(page - 1) * page_size:page * page_size]]
        stmt = stmt.where(Customer.id.in_(page_ids))
    else:
        stmt = stmt.limit(page_size).offset((page - 1) * page_size)
    rows = pd.read_sql(stmt, session.connection())
    rows.insert(rows.columns.get_loc("value_at_risk_cents"), "value_at_risk",
                money.units_array(rows.pop("value_at_risk_cents")))
    rows["contact"] = [contactability(email_opt_in=bool(o), email=e, phone=p)
                       for o, e, p in zip(rows["email_opt_in"], rows.pop("email"), rows.pop("phone"), strict=True)]
    if prio is not None:
        rows = rows.join(prio["priority"], on="customer_id").sort_values("priority", ascending=False,
                                                                        kind="stable").reset_index(drop=True)
    rows = _with_order_aggregates(session=session, rows=rows, as_of=as_of)
    rows["top_driver"] = [json.loads(d)[0] if d and json.loads(d) else "" for d in rows.pop("drivers")]
    rows["rfm_segment"] = rows["rfm_segment"].map(RFM_LABELS).fillna("")
    rows["churn_percent"] = churn_percent(rows["churn_probability"])
    # Where health and churn risk point different ways, the row says why (one page: <= 200 rows).
    rows["score_note"] = [disagreement(h, c) or "" for h, c in
                          zip(rows["health_score"], rows["churn_probability"], strict=True)]
    rows["next_order_date"] = pd.to_datetime(rows["next_order_date"]).dt.date
    rows["open_detractor"] = rows["open_detractor"].astype(bool)
    rows["link"] = "/account?id=" + rows["customer_id"].astype(str)
    counts = segment_counts(session=session, roles=roles, username=username, filters=filters, as_of=as_of)
    return QueuePage(rows=rows, total=total, page=page, pages=pages, as_of=as_of, segment_counts=counts)


def _with_order_aggregates(*, session: Session, rows: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Last order, orders and spend over the last 365 days (order totals less the money refunded
    in those days), for the customers on the page only."""
    if rows.empty:
        return rows.assign(last_order=pd.Series(dtype=object), orders_365=0, spend_365=0.0)
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    year_ago = end - timedelta(days=365)
    ids = [int(i) for i in rows["customer_id"]]
    agg = pd.read_sql(
        select(Order.customer_id, func.max(Order.ordered_at).label("last_order"),
               func.sum(case((Order.ordered_at >= year_ago, 1), else_=0)).label("orders_365"),
               func.sum(case((Order.ordered_at >= year_ago, Order.total_cents), else_=0)).label("spend_365"))
        .where(Order.customer_id.in_(ids), Order.ordered_at < end).group_by(Order.customer_id),
        session.connection(),
    )
    agg["last_order"] = pd.to_datetime(agg["last_order"], format="ISO8601").dt.date
    out = rows.merge(agg, on="customer_id", how="left")
    out["orders_365"] = out["orders_365"].fillna(0).astype(int)
    # Net of the money refunded in the same 365 days (core.refunds), as revenue is.
    back = refunded_cents(session.connection(), start=year_ago, end=end, customer_ids=ids)
    spend = out["spend_365"].fillna(0).astype("int64") - out["customer_id"].map(back).fillna(0).astype("int64")
    out["spend_365"] = money.units_array(spend)  # from whole cents
    return out


def segment_counts(
    *, session: Session, roles: frozenset[Role], username: str, filters: QueueFilters = QueueFilters(),
    as_of: date | None = None,
) -> pd.DataFrame:
    """Customers and value at risk per RFM segment over the filtered queue (the RFM filter
    itself left out, so the counts show where the others sit). Every segment is listed."""
    require_personal_data(roles)
    as_of = as_of or latest_as_of(session=session)
    frame = pd.DataFrame({"segment": RFM_SEGMENTS})
    if as_of is not None:
        stmt = _filtered(
            select(ScoreSnapshot.rfm_segment.label("segment"), func.count().label("customers"),
                   func.sum(ScoreSnapshot.value_at_risk_cents).label("value_at_risk"))
            .join(Customer, Customer.id == ScoreSnapshot.customer_id),
            filters=filters, username=username, as_of=as_of, skip_rfm=True,
        ).group_by(ScoreSnapshot.rfm_segment)
        got = pd.read_sql(stmt, session.connection())
        frame = frame.merge(got, on="segment", how="left")
    else:
        frame = frame.assign(customers=0, value_at_risk=0)
    frame["customers"] = frame["customers"].fillna(0).astype(int)
    frame["value_at_risk"] = money.units_array(frame["value_at_risk"].fillna(0).astype("int64"))  # from cents
    frame["label"] = frame["segment"].map(RFM_LABELS)
    return frame[["segment", "label", "customers", "value_at_risk"]]


def queue_customer_ids(
    *, session: Session, roles: frozenset[Role], username: str, filters: QueueFilters = QueueFilters(),
    as_of: date | None = None, limit: int | None = MAX_SELECTION,
) -> list[int]:
    """Every customer matching the filters (highest value at risk first, then customer id; at
    most `limit`, None: all), for "all matching the filter" in bulk outreach and the priority order."""
    require_personal_data(roles)
    as_of = as_of or latest_as_of(session=session)
    if as_of is None:
        return []
    stmt = _filtered(_base(), filters=filters, username=username, as_of=as_of)
    stmt = stmt.order_by(ScoreSnapshot.value_at_risk_cents.desc(), ScoreSnapshot.customer_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [int(r) for r in session.execute(stmt).scalars()]


def queue_options(*, session: Session) -> dict[str, list[str]]:
    """Distinct segments, owners and regions, for the filter widgets."""
    out = {}
    for name, column in (("segments", Customer.segment), ("owners", Customer.owner),
                         ("regions", Customer.region)):
        values = session.execute(select(column).where(column.is_not(None)).distinct().order_by(column))
        out[name] = [str(v) for v in values.scalars()]
    return out


def accounts_export_frame(
    *, session: Session, roles: frozenset[Role], customer_ids: list[int], as_of: date | None = None,
) -> pd.DataFrame:
    """The selected accounts with their newest scores, for a CSV export of the selection."""
    require_personal_data(roles)
    as_of = as_of or latest_as_of(session=session)
    cols = ["customer_id", "name", "email", "segment", "region", "owner", "as_of", "health_score", "band",
            "churn_probability", "value_at_risk", "rfm_segment", "top_drivers"]
    if not customer_ids or as_of is None:
        return pd.DataFrame(columns=cols)
    stmt = (select(Customer.external_id.label("customer_id"), Customer.name, Customer.email, Customer.segment,
                   Customer.region, Customer.owner, ScoreSnapshot.as_of, ScoreSnapshot.health_score,
                   ScoreSnapshot.band, ScoreSnapshot.churn_probability, ScoreSnapshot.value_at_risk_cents,
                   ScoreSnapshot.rfm_segment, ScoreSnapshot.drivers)
            .join(ScoreSnapshot, and_(ScoreSnapshot.customer_id == Customer.id, ScoreSnapshot.as_of == as_of))
            .where(Customer.id.in_([int(i) for i in customer_ids[:MAX_SELECTION]]))
            .order_by(ScoreSnapshot.value_at_risk_cents.desc()))
    frame = pd.read_sql(stmt, session.connection())
    frame["value_at_risk"] = money.units_array(frame.pop("value_at_risk_cents"))
    # One rounding rule per figure (core.health), as `export scores` writes it: 36, not 36.0.
    frame["health_score"] = frame["health_score"].round(HEALTH_DECIMALS).astype("Int64")
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date.astype(str)
    frame["rfm_segment"] = frame["rfm_segment"].map(RFM_LABELS)
    frame["top_drivers"] = ["; ".join(json.loads(d)) if d else "" for d in frame.pop("drivers")]
    return frame[cols]
