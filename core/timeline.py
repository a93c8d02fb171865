"""One account's whole story: profile and consent, newest score with its components and
drivers, score history, what they buy and when each item is next due, and a timeline that
interleaves orders, refunds and cancellations, feedback, tickets, loyalty entries, outreach and audit entries."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from core import audit, money
from core import formatting as fmt
from core.features import MAX_REFILL_DAYS
from core.health import RFM_LABELS
from core.roles import Role, require_personal_data
from db.models import (
    AuditLog,
    Customer,
    Feedback,
    LoyaltyEntry,
    Order,
    OrderLine,
    Outreach,
    Product,
    Refund,
    ScoreSnapshot,
    SupportTicket,
)

MAX_PER_KIND = 300
TIMELINE_COLUMNS = ["at", "kind", "title", "detail"]


class AccountNotFound(LookupError):
    """No customer with that id."""


def _customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, int(customer_id))
    if customer is None:
        raise AccountNotFound(f"no customer with id {customer_id}; open an account from the Accounts list")
    return customer


def account_overview(*, session: Session, roles: frozenset[Role], customer_id: int) -> dict[str, Any]:
    """Profile, consent, subscription and the newest score (or None before any scoring)."""
    require_personal_data(roles)
    c = _customer(session, customer_id)
    snap = session.execute(
        select(ScoreSnapshot).where(ScoreSnapshot.customer_id == c.id)
        .order_by(ScoreSnapshot.as_of.desc()).limit(1)
    ).scalars().first()
    score = None
    if snap is not None:
        score = {
            "as_of": snap.as_of, "health_score": snap.health_score, "band": snap.band,
            "churn_probability": snap.churn_probability,
            "value_at_risk": money.to_units(snap.value_at_risk_cents),
            "drivers": json.loads(snap.drivers) if snap.drivers else [],
            "components": json.loads(snap.components) if snap.components else {},
            "rfm_segment": RFM_LABELS.get(snap.rfm_segment or "", ""),
            "days_overdue": snap.days_overdue,
            "next_order_date": snap.next_order_date,
        }
    return {
        "id": c.id, "external_id": c.external_id, "name": c.name, "email": c.email, "phone": c.phone,
        "segment": c.segment, "region": c.region, "owner": c.owner, "signup_date": c.signup_date,
        "email_opt_in": c.email_opt_in, "sms_opt_in": c.sms_opt_in,
        "subscription_status": c.subscription_status, "last_login_at": c.last_login_at, "score": score,
    }


def score_history(*, session: Session, customer_id: int) -> pd.DataFrame:
    """Every snapshot of the customer, oldest first: as_of, health_score, band, churn_probability."""
    stmt = (select(ScoreSnapshot.as_of, ScoreSnapshot.health_score, ScoreSnapshot.band,
                   ScoreSnapshot.churn_probability, ScoreSnapshot.value_at_risk_cents)
            .where(ScoreSnapshot.customer_id == int(customer_id)).order_by(ScoreSnapshot.as_of))
    frame = pd.read_sql(stmt, session.connection())
    frame["value_at_risk"] = money.units_array(frame.pop("value_at_risk_cents"))
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    return frame


def next_due_items(*, session: Session, customer_id: int, as_of: date | None = None) -> pd.DataFrame:
    """What the customer buys, and for refills (replenished within MAX_REFILL_DAYS) when the
    next one is due: last bought + replenishment interval x quantity (at most 3 x), as in the
    health score."""
    as_of = as_of or datetime.now(UTC).date()
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    stmt = (select(OrderLine.sku, Product.name, Product.category, Product.replenishment_days,
                   Order.ordered_at, OrderLine.quantity)
            .join(Order, Order.id == OrderLine.order_id)
            .outerjoin(Product, Product.sku == OrderLine.sku)
            .where(Order.customer_id == int(customer_id), Order.ordered_at < end))
    lines = pd.read_sql(stmt, session.connection())
    cols = ["sku", "name", "category", "times_bought", "last_bought", "replenishment_days", "next_due",
            "days_until_due"]
    if lines.empty:
        return pd.DataFrame(columns=cols)
    lines["ordered_at"] = pd.to_datetime(lines["ordered_at"], format="ISO8601")
    lines = lines.sort_values("ordered_at")
    grouped = lines.groupby("sku", sort=False)
    items = grouped.tail(1).set_index("sku")
    items["times_bought"] = grouped.size()
    items["last_bought"] = items["ordered_at"].dt.date
    stretch = items["quantity"].clip(1, 3)
    due = items["ordered_at"].dt.normalize() + pd.to_timedelta(items["replenishment_days"] * stretch, unit="D")
    refill = items["replenishment_days"].notna() & (items["replenishment_days"] <= MAX_REFILL_DAYS)
    due = due.where(refill)
    items["next_due"] = due.dt.date.astype(object).where(refill, None)
    items["days_until_due"] = (due - pd.Timestamp(as_of)).dt.days.astype("Int64")
    items["name"] = items["name"].fillna(items.index.to_series())
    items = items.reset_index().sort_values(["days_until_due", "last_bought"], na_position="last")
    items["replenishment_days"] = items["replenishment_days"].astype("Int64")
    return items[cols].reset_index(drop=True)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=TIMELINE_COLUMNS)


def _order_events(conn, cid: int) -> pd.DataFrame | None:  # noqa: ANN001 - a Connection
    """Orders: number, total, items and offer code.
    The newest MAX_PER_KIND; None when there are none."""
    orders = pd.read_sql(select(Order.id, Order.external_id, Order.ordered_at, Order.total_cents, Order.offer_code)
                         .where(Order.customer_id == cid).order_by(Order.ordered_at.desc())
                         .limit(MAX_PER_KIND), conn)
    if not orders.empty:
        lines = pd.read_sql(select(OrderLine.order_id, OrderLine.sku, OrderLine.quantity, Product.name)
                            .outerjoin(Product, Product.sku == OrderLine.sku)
                            .where(OrderLine.order_id.in_([int(i) for i in orders["id"]])), conn)
        lines["item"] = lines["quantity"].astype(str) + " x " + lines["name"].fillna(lines["sku"])
        summary = lines.groupby("order_id")["item"].agg(", ".join)
        return pd.DataFrame({
            "at": orders["ordered_at"], "kind": "order",
            "title": "Order " + orders["external_id"] + " · " + orders["total_cents"].map(fmt.money_cents),
            "detail": orders["id"].map(lambda i: summary.get(i, ""))
            + orders["offer_code"].map(lambda c: f" (offer {c})" if pd.notna(c) and c else "").fillna(""),
        })
    return None


def _refund_events(conn, cid: int) -> pd.DataFrame | None:  # noqa: ANN001 - a Connection
    """Refunds and cancellations, each shown as what it is.
    The newest MAX_PER_KIND; None when there are none."""
    rf = pd.read_sql(select(Refund.refunded_at, Refund.kind, Refund.external_id, Refund.order_ref, Refund.amount_cents,
                            Refund.reason)
                     .where(Refund.customer_id == cid).order_by(Refund.refunded_at.desc()).limit(MAX_PER_KIND), conn)
    if not rf.empty:
        # Shown as what they are: money given back, or an order that never counted.
        cancelled = rf["kind"] == "cancellation"
        amount = rf["amount_cents"].map(fmt.money_cents)
        of_order = rf["order_ref"].map(lambda r: f" of order {r}" if pd.notna(r) and r else "").fillna("")
        return pd.DataFrame({
            "at": rf["refunded_at"], "kind": rf["kind"],
            "title": cancelled.map({True: "Cancelled order ", False: "Refund "}) + rf["external_id"].where(
                cancelled, amount.radd("-") + of_order) + cancelled.map({True: " · ", False: ""})
            + amount.where(cancelled, ""),
            "detail": rf["reason"].fillna("").map(lambda r: f"from the file's {r}" if r else "")
            + rf["kind"].map({"cancellation": " (not an order; not in sales)",
                              "refund_of_cancelled": " (its order is cancelled: counted nowhere)"})
            .fillna(" (subtracted from revenue)"),
        })
    return None


def _feedback_events(conn, cid: int) -> pd.DataFrame | None:  # noqa: ANN001 - a Connection
    """Survey answers: channel, NPS, flag, triage state and comment.
    The newest MAX_PER_KIND; None when there are none."""
    fb = pd.read_sql(select(Feedback.submitted_at, Feedback.channel, Feedback.nps_score, Feedback.comment,
                            Feedback.state, Feedback.flagged)
                     .where(Feedback.customer_id == cid).order_by(Feedback.submitted_at.desc())
                     .limit(MAX_PER_KIND), conn)
    if not fb.empty:
        nps = fb["nps_score"].map(lambda v: "no score" if pd.isna(v) else f"NPS {int(v)}")
        return pd.DataFrame({
            "at": fb["submitted_at"], "kind": "feedback",
            "title": "Feedback (" + fb["channel"].fillna("unknown channel") + ") · " + nps
            + fb["flagged"].map(lambda f: " · flagged" if f else "") + " · " + fb["state"],
            "detail": fb["comment"].fillna(""),
        })
    return None


def _ticket_events(conn, cid: int) -> pd.DataFrame | None:  # noqa: ANN001 - a Connection
    """Support tickets: topic, status, when closed.
    The newest MAX_PER_KIND; None when there are none."""
    tk = pd.read_sql(select(SupportTicket.external_id, SupportTicket.opened_at, SupportTicket.closed_at,
                            SupportTicket.topic, SupportTicket.status)
                     .where(SupportTicket.customer_id == cid).order_by(SupportTicket.opened_at.desc())
                     .limit(MAX_PER_KIND), conn)
    if not tk.empty:
        closed = pd.to_datetime(tk["closed_at"], format="ISO8601")
        return pd.DataFrame({
            "at": tk["opened_at"], "kind": "ticket",
            "title": "Ticket " + tk["external_id"] + " · " + tk["topic"].fillna("no topic") + " · " + tk["status"],
            "detail": closed.map(lambda t: f"closed {fmt.date_text(t)}" if pd.notna(t) else "still open"),
        })
    return None


def _loyalty_events(conn, cid: int) -> pd.DataFrame | None:  # noqa: ANN001 - a Connection
    """Loyalty entries: kind and signed points, with the order.
    The newest MAX_PER_KIND; None when there are none."""
    ly = pd.read_sql(select(LoyaltyEntry.occurred_at, LoyaltyEntry.kind, LoyaltyEntry.points,
                            LoyaltyEntry.order_ref)
                     .where(LoyaltyEntry.customer_id == cid).order_by(LoyaltyEntry.occurred_at.desc())
                     .limit(MAX_PER_KIND), conn)
    if not ly.empty:
        return pd.DataFrame({
            "at": ly["occurred_at"], "kind": "loyalty",
            "title": "Points " + ly["kind"] + " " + ly["points"].map("{:+,}".format),
            "detail": ly["order_ref"].map(lambda r: f"order {r}" if pd.notna(r) and r else "").fillna(""),
        })
    return None


def _outreach_events(conn, cid: int) -> pd.DataFrame | None:  # noqa: ANN001 - a Connection
    """Outreach: template, channel, status, who triggered it and why.
    The newest MAX_PER_KIND; None when there are none."""
    out = pd.read_sql(select(Outreach.triggered_at, Outreach.template, Outreach.channel, Outreach.status,
                             Outreach.reason, Outreach.triggered_by)
                      .where(Outreach.customer_id == cid).order_by(Outreach.triggered_at.desc())
                      .limit(MAX_PER_KIND), conn)
    if not out.empty:
        return pd.DataFrame({
            "at": out["triggered_at"], "kind": "outreach",
            "title": out["template"].map(fmt.template_label) + " by " + out["channel"].map(fmt.channel_label) + " · "
            + out["status"].map(fmt.label),
            "detail": "by " + out["triggered_by"]
            + out["reason"].map(lambda r: f" ({r})" if pd.notna(r) and r else "").fillna(""),
        })
    return None


def _audit_select(cid: int):  # noqa: ANN202 - a Select
    """The customer's newest MAX_PER_KIND audit entries (index ix_audit_log_customer_at)."""
    return (select(AuditLog.at, AuditLog.actor, AuditLog.action, AuditLog.detail)
            .where(AuditLog.customer_id == cid).order_by(AuditLog.at.desc()).limit(MAX_PER_KIND))


def _audit_events(conn, cid: int) -> pd.DataFrame | None:  # noqa: ANN001 - a Connection
    """Audit log entries about the customer.
    The newest MAX_PER_KIND; None when there are none."""
    au = pd.read_sql(_audit_select(cid), conn)
    if not au.empty:
        return pd.DataFrame({
            "at": au["at"], "kind": "audit", "title": au["action"].map(audit.action_text) + " by " + au["actor"],
            "detail": au["detail"].map(fmt.detail_text),
        })
    return None


_DATA_EVENTS = (_order_events, _refund_events, _feedback_events, _ticket_events, _loyalty_events,
                _outreach_events)
# What account_events reads (each has a data generation; the audit log has none, see db.generation).
EVENT_TABLES: tuple[str, ...] = ("customer", "orders", "order_line", "product", "refund", "feedback",
                                 "support_ticket", "loyalty_entry", "outreach")


def account_events(*, session: Session, customer_id: int) -> pd.DataFrame:
    """The timeline's rows from the tables in EVENT_TABLES (every kind but audit), unsorted, in
    kind order, ``at`` as stored: a pure function of those tables, so it may be kept between
    requests; merge with :func:`audit_events` by :func:`merge_timeline`.

    Raises AccountNotFound for an unknown customer id."""
    cid = int(customer_id)
    _customer(session, cid)
    conn = session.connection()
    parts = [p for p in (events(conn, cid) for events in _DATA_EVENTS) if p is not None and not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else _frame([])


def audit_events(*, session: Session, customer_id: int) -> pd.DataFrame:
    """The timeline's audit rows (the newest MAX_PER_KIND), ``at`` as stored; read each time,
    since the audit log has no data generation."""
    part = _audit_events(session.connection(), int(customer_id))
    return _frame([]) if part is None else part


def merge_timeline(*parts: pd.DataFrame) -> pd.DataFrame:
    """The timeline from account_events and audit_events (in that order): newest first, ties in
    kind order; columns TIMELINE_COLUMNS, ``at`` a datetime."""
    parts = tuple(p for p in parts if not p.empty)
    if not parts:
        return _frame([])
    frame = pd.concat(parts, ignore_index=True)
    frame["at"] = pd.to_datetime(frame["at"], format="ISO8601")
    return frame.sort_values("at", ascending=False, kind="stable").reset_index(drop=True)[TIMELINE_COLUMNS]


def account_timeline(*, session: Session, customer_id: int) -> pd.DataFrame:
    """Everything that happened with the customer, newest first: at, kind, title, detail.

    Kinds: order, feedback, ticket, loyalty, outreach, audit (each the newest MAX_PER_KIND).
    Raises AccountNotFound for an unknown customer id."""
    return merge_timeline(account_events(session=session, customer_id=customer_id),
                          audit_events(session=session, customer_id=customer_id))


def account_exists(*, session: Session, customer_id: int) -> bool:
    """Whether a customer with id ``customer_id`` is stored."""
    return bool(session.execute(select(func.count()).select_from(Customer)
                                .where(Customer.id == int(customer_id))).scalar())
