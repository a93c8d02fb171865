"""What each template needs to know about each customer (`customer_contexts`, vectorised), the
points a customer has expiring, and whether a customer can be emailed at all."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from core import loyalty, money
from core.config import Settings, get_settings
from core.email_address import email_problem
from core.outreach.rules import (
    _CHUNK,
    APOLOGY_LOOKBACK_DAYS,
    POINTS_EXPIRY_WINDOW_DAYS,
    REFILL_LOOKAHEAD_DAYS,
    SUPPRESS_NO_CONSENT,
    SUPPRESS_NO_EMAIL,
    TEMPLATES,
    VIP_MIN_ORDERS,
    WIN_BACK_AFTER_DAYS,
    CustomerNotFound,
    OutreachError,
    _check_template,
    _chunks,
    _invalid_email_reason,
    _read,
)
from core.readcache import cached
from core.refunds import refunded_cents
from db.models import (
    Customer,
    Feedback,
    LoyaltyEntry,
    Order,
    OrderLine,
    Product,
    utcnow,
)

# ---------------------------------------------------------------- customer contexts


def _lock_customers(session: Session, customer_ids: Sequence[int]) -> None:
    """Serialise decisions about these customers until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        for chunk in _chunks(sorted(customer_ids)):
            session.exec(select(Customer.id).where(col(Customer.id).in_(chunk))
                         .order_by(Customer.id).with_for_update()).all()
    else:
        # SQLite has no row locks: the first write takes the single database write lock,
        # which other writers wait for (busy_timeout), so the checks below cannot interleave.
        for chunk in _chunks(sorted(customer_ids)):
            table = Customer.__table__
            session.execute(update(table).where(table.c.id.in_(chunk)).values(updated_at=table.c.updated_at))


def customer_contexts(*, session: Session, customer_ids: Sequence[int], template: str,
                      now: datetime | None = None, feedback_id: int | None = None,
                      settings: Settings | None = None) -> pd.DataFrame:
    """One row per customer with what the template needs, `fits` and `not_fit_reason`.

    Vectorised: a handful of queries whatever the number of customers.

    Raises OutreachError when ``feedback_id`` belongs to another customer.
    """
    _check_template(template)
    now = now or utcnow()
    settings = settings or get_settings()
    ids = sorted({int(i) for i in customer_ids})
    return _template_context(session, _order_context(session, ids, now), template, ids, now, feedback_id, settings)


def _template_context(session: Session, ctx: pd.DataFrame, template: str, ids: list[int], now: datetime,
                      feedback_id: int | None, settings: Settings) -> pd.DataFrame:
    """`ctx` (an _order_context of `ids`, changed in place) with what `template` needs, `fits`
    and `not_fit_reason`."""
    if template == "win_back":
        days = (pd.Timestamp(now) - ctx["last_order_at"]).dt.days
        ctx["days_since_order"] = days
        never = ctx["order_count"] == 0
        recent = days < WIN_BACK_AFTER_DAYS
        ctx.loc[never, ["fits", "not_fit_reason"]] = [False, "has never ordered"]
        ctx.loc[~never & recent, ["fits", "not_fit_reason"]] = [
            False, f"ordered in the last {WIN_BACK_AFTER_DAYS} days"]
    elif template == "refill_reminder":
        ctx = _refill_context(session, ctx, ids, now)
    elif template == "apology":
        ctx = _apology_context(session, ctx, ids, now, feedback_id)
    elif template == "points_expiring":
        ctx = _points_context(session, ctx, ids, now, settings)
    elif template == "vip_thanks":
        vip = (ctx["segment"].fillna("").str.lower().str.contains("vip")
               | (ctx["order_count"] >= VIP_MIN_ORDERS))
        ctx.loc[~vip, ["fits", "not_fit_reason"]] = [
            False, f"not a VIP (segment 'vip' or {VIP_MIN_ORDERS}+ orders)"]
    ctx["fits"] = ctx["fits"].astype(bool)
    return ctx


def _order_context(session: Session, ids: list[int], now: datetime) -> pd.DataFrame:
    """Per customer of `ids` (index customer_id): contact fields, segment, signup date, order
    count, last order and lifetime spend up to `now` (order totals less refunds); `fits` True and
    no `not_fit_reason` yet."""
    cust = _read(session, select(Customer.id.label("customer_id"), Customer.external_id, Customer.name,
                                 Customer.email, Customer.email_opt_in, Customer.segment,
                                 Customer.signup_date),
                 ids, col(Customer.id),
                 ["customer_id", "external_id", "name", "email", "email_opt_in", "segment", "signup_date"])
    cust = cust.set_index("customer_id")
    orders = _read(session, select(Order.customer_id, func.count().label("order_count"),
                                   func.max(Order.ordered_at).label("last_order_at"),
                                   func.sum(Order.total_cents).label("lifetime_spend"))
                   .where(Order.ordered_at <= now).group_by(Order.customer_id),
                   ids, col(Order.customer_id), ["customer_id", "order_count", "last_order_at",
                                                 "lifetime_spend"]).set_index("customer_id")
    ctx = cust.join(orders, how="left")
    ctx["order_count"] = ctx["order_count"].fillna(0).astype(int)
    # Net of the money refunded up to `now` (core.refunds): a customer who sent it all back spent nothing.
    back = refunded_cents(session.connection(), end=now, customer_ids=list(ids))
    spend = (ctx["lifetime_spend"].fillna(0).astype("int64")
             - pd.Series(ctx.index.map(back), index=ctx.index).fillna(0).astype("int64")).clip(lower=0)
    ctx["lifetime_spend"] = money.units_array(spend)  # from cents
    ctx["last_order_at"] = pd.to_datetime(ctx["last_order_at"])
    ctx["fits"] = True
    ctx["not_fit_reason"] = None

    return ctx


def _refill_context(session: Session, ctx: pd.DataFrame, ids: list[int], now: datetime) -> pd.DataFrame:
    """`ctx` with the product due for a refill first (sku, product, replenishment_days,
    last_bought_at, due_at); fits only when one is due within REFILL_LOOKAHEAD_DAYS."""
    lines = _read(session, select(Order.customer_id, OrderLine.sku, Product.name.label("product"),
                                  Product.replenishment_days,
                                  func.max(Order.ordered_at).label("last_bought_at"))
                  .join(Order, Order.id == OrderLine.order_id)
                  .join(Product, Product.sku == OrderLine.sku)
                  .where(col(Product.replenishment_days).is_not(None), Order.ordered_at <= now)
                  .group_by(Order.customer_id, OrderLine.sku, Product.name, Product.replenishment_days),
                  ids, col(Order.customer_id),
                  ["customer_id", "sku", "product", "replenishment_days", "last_bought_at"])
    if not lines.empty:
        lines["last_bought_at"] = pd.to_datetime(lines["last_bought_at"])
        lines["due_at"] = lines["last_bought_at"] + pd.to_timedelta(lines["replenishment_days"], unit="D")
        first = (lines.sort_values(["due_at", "sku"]).groupby("customer_id").head(1)
                 .set_index("customer_id"))
        ctx = ctx.join(first[["sku", "product", "replenishment_days", "last_bought_at", "due_at"]])
    else:
        for c in ("sku", "product", "replenishment_days", "last_bought_at", "due_at"):
            ctx[c] = None
    due = pd.to_datetime(ctx["due_at"])
    none = due.isna()
    ctx.loc[none, ["fits", "not_fit_reason"]] = [
        False, "buys nothing with a replenishment interval"]
    later = ~none & (due > pd.Timestamp(now) + pd.Timedelta(days=REFILL_LOOKAHEAD_DAYS))
    ctx.loc[later, ["fits", "not_fit_reason"]] = [
        False, f"no product due for a refill in the next {REFILL_LOOKAHEAD_DAYS} days"]
    return ctx


def _apology_context(session: Session, ctx: pd.DataFrame, ids: list[int], now: datetime,
                     feedback_id: int | None) -> pd.DataFrame:
    """`ctx` with the answer to apologise for (the given one, else the latest flagged or 0-6 one
    within APOLOGY_LOOKBACK_DAYS). Raises OutreachError when `feedback_id` is another customer's."""
    stmt = select(Feedback.id.label("feedback_id"), Feedback.customer_id, Feedback.submitted_at,
                  Feedback.nps_score, Feedback.channel)
    if feedback_id is not None:
        stmt = stmt.where(Feedback.id == feedback_id)
    else:
        stmt = stmt.where((col(Feedback.flagged)) | (col(Feedback.nps_score) <= 6),
                          Feedback.submitted_at > now - timedelta(days=APOLOGY_LOOKBACK_DAYS),
                          Feedback.submitted_at <= now)
    fb = _read(session, stmt, ids, col(Feedback.customer_id),
               ["feedback_id", "customer_id", "submitted_at", "nps_score", "channel"])
    if feedback_id is not None and len(ids) == 1 and fb.empty:
        raise OutreachError(f"feedback {feedback_id} does not belong to this customer")
    if not fb.empty:
        fb = fb.sort_values("submitted_at").groupby("customer_id").tail(1).set_index("customer_id")
        ctx = ctx.join(fb)
    else:
        for c in ("feedback_id", "submitted_at", "nps_score", "channel"):
            ctx[c] = None
    none = ctx["feedback_id"].isna()
    ctx.loc[none, ["fits", "not_fit_reason"]] = [
        False, f"no negative feedback in the last {APOLOGY_LOOKBACK_DAYS} days"]
    return ctx


def _points_context(session: Session, ctx: pd.DataFrame, ids: list[int], now: datetime,
                    settings: Settings) -> pd.DataFrame:
    """`ctx` with the points balance and those expiring (core.loyalty's rules) and the point
    value; fits only with points expiring within POINTS_EXPIRY_WINDOW_DAYS."""
    pts = expiring_points(session=session, customer_ids=ids, now=now)
    ctx = ctx.join(pts)
    ctx["expiring_points"] = ctx["expiring_points"].fillna(0).astype(int)
    ctx["balance"] = ctx["balance"].fillna(0).astype(int)
    none = ctx["expiring_points"] <= 0
    ctx.loc[none, ["fits", "not_fit_reason"]] = [
        False, f"no points expiring in the next {POINTS_EXPIRY_WINDOW_DAYS} days"]
    ctx["point_value"] = settings.point_value
    return ctx


def expiring_points(*, session: Session, customer_ids: Sequence[int], now: datetime) -> pd.DataFrame:
    """Balance and points expiring, per customer (index customer_id), by core.loyalty's rules
    (oldest lots used first; "expiring" = within loyalty.EXPIRING_WINDOW_DAYS after the day
    of `now`), so the message says what the Loyalty screen says.

    Columns: balance, expiring_points, expires_at (the date the next lot expires).
    """
    as_of = now.date()
    if len(customer_ids) > _CHUNK:
        # A whole audience (the Loyalty screen's "expiring in 30 days" list): the day's ledger
        # summary has every member's figures by the same rules, so read those, not the entries.
        bal = loyalty.ledger_summary(session=session, as_of=as_of).balances
        return _expiring_frame(bal[bal["customer_id"].isin({int(i) for i in customer_ids})])
    return _few_points(session=session, customer_ids=tuple(int(i) for i in customer_ids), as_of=as_of)


@cached(tables=("loyalty_entry",))
def _few_points(*, session: Session, customer_ids: tuple[int, ...], as_of: date) -> pd.DataFrame:
    """expiring_points for a few customers from their own ledger entries: a function of the
    ledger and the day alone (not the time of day), so kept by data generation and `as_of`."""
    out_cols = ["balance", "expiring_points", "expires_at"]
    entries = _read_entries(session, customer_ids)
    for name in ("occurred_at", "expires_at"):
        entries[name] = pd.to_datetime(entries[name], format="ISO8601")
    entries = entries[entries["occurred_at"] < pd.Timestamp(as_of) + pd.Timedelta(days=1)]
    if entries.empty:
        return pd.DataFrame(columns=out_cols, index=pd.Index([], name="customer_id"))
    entries = entries.sort_values("id").assign(
        occurred_at=lambda f: f["occurred_at"].astype("datetime64[ns]"),
        expires_at=lambda f: f["expires_at"].astype("datetime64[ns]"),
        points=lambda f: f["points"].astype("int64")).set_index("id")
    return _expiring_frame(loyalty.customer_balances(entries, as_of=as_of))


def _read_entries(session: Session, customer_ids: Sequence[int]) -> pd.DataFrame:
    """These customers' ledger entries (id, external_id, customer_id, occurred_at, kind, points,
    expires_at, order_ref, computed, expiry_months) as the DB-API gives the rows: without
    SQLAlchemy's conversion of each value, which took most of the time (the times are parsed by
    the caller, vectorised). ``computed`` tells the programme's own expire rows (which count,
    and make its members' points expire by the programme only) from Hearth's records."""
    cols = ["id", "external_id", "customer_id", "occurred_at", "kind", "points", "expires_at", "order_ref",
            "computed", "expiry_months"]
    stmt = select(LoyaltyEntry.id, LoyaltyEntry.external_id, LoyaltyEntry.customer_id, LoyaltyEntry.occurred_at,
                  LoyaltyEntry.kind, LoyaltyEntry.points, LoyaltyEntry.expires_at, LoyaltyEntry.order_ref,
                  LoyaltyEntry.computed, LoyaltyEntry.expiry_months)
    rows: list = []
    for chunk in _chunks(customer_ids):
        result = session.connection().execute(stmt.where(col(LoyaltyEntry.customer_id).in_(chunk)))
        try:
            rows.extend(result.cursor.fetchall())
        finally:
            result.close()
    return pd.DataFrame.from_records(rows, columns=cols, coerce_float=False)


def _expiring_frame(balances: pd.DataFrame) -> pd.DataFrame:
    """core.loyalty's balances as expiring_points reports them, indexed by customer_id."""
    bal = balances.set_index("customer_id")
    return pd.DataFrame({"balance": bal["balance"], "expiring_points": bal["expiring_points"],
                         "expires_at": pd.to_datetime(bal["next_expiry_date"])})


def _unreachable(row: pd.Series | dict) -> str | None:
    """Why no email can go to this customer at all (consent, address), else None."""
    if not bool(row.get("email_opt_in")):
        return SUPPRESS_NO_CONSENT
    email = row.get("email")
    if not isinstance(email, str) or not email.strip():
        return SUPPRESS_NO_EMAIL
    problem = email_problem(email)
    return None if problem is None else _invalid_email_reason(problem)


def contact_problem(*, session: Session, customer_id: int) -> str | None:
    """Why no message of any template can go to this customer (SUPPRESS_NO_CONSENT,
    SUPPRESS_NO_EMAIL or an invalid address), or None when they can be emailed.

    Raises CustomerNotFound for an unknown id."""
    ctx = customer_contexts(session=session, customer_ids=[customer_id], template="vip_thanks")
    if ctx.empty:
        raise CustomerNotFound(f"no customer with id {customer_id}")
    return _unreachable(ctx.iloc[0])


def fitting_templates(*, session: Session, customer_id: int, now: datetime | None = None,
                      templates: Sequence[str] | None = None) -> dict[str, str | None]:
    """{template: None when it fits this customer, else why not}: first whether they can be
    emailed at all (consent, address; the same reason for every template), then the
    template's own condition (e.g. "ordered in the last 30 days"). `templates`: only these
    (default: every one of TEMPLATES).

    Raises CustomerNotFound for an unknown customer id, OutreachError for an unknown template.
    """
    now = now or utcnow()
    settings = get_settings()
    ids = [int(customer_id)]
    wanted = list(TEMPLATES if templates is None else templates)
    for t in wanted:
        _check_template(t)
    # The customer and their orders once, then each template's own reads on a copy: the same
    # rows as customer_contexts(template=t) gives, without reading the orders once per template.
    base = _order_context(session, ids, now)
    if base.empty:
        raise CustomerNotFound(f"no customer with id {customer_id}")
    # Consent and address come first for every template and are in `base`: a customer who
    # cannot be emailed gets that reason for each, without reading what the templates need.
    unreachable = _unreachable(base.iloc[0])
    if unreachable is not None:
        return dict.fromkeys(wanted, unreachable)
    out: dict[str, str | None] = {}
    for t in wanted:
        row = _template_context(session, base.copy(), t, ids, now, None, settings).iloc[0]
        out[t] = _unreachable(row) or (None if bool(row["fits"]) else str(row["not_fit_reason"]))
    return out
