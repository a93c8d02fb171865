"""The outreach log as the Outreach screen lists it, and finding a customer by the shop's id."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd
from sqlmodel import Session, col, select

from core.outreach.rules import CustomerNotFound
from core.roles import Role, require_personal_data
from db.models import (
    Customer,
    Outreach,
)

LOG_COLUMNS = ["outreach_id", "triggered_at", "customer_id", "customer", "name", "template", "channel",
               "status", "reason", "attempts", "last_error", "sent_at", "offer_code", "campaign_id",
               "triggered_by", "subject"]


def outreach_log(*, session: Session, roles: Iterable[Role], customer_id: int | None = None,
                 status: str | Sequence[str] | None = None, template: str | None = None,
                 campaign_id: int | None = None, triggered_by: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 limit: int = 1000) -> pd.DataFrame:
    """The message log, newest first, with the customer's name (personal data: not for exec)."""
    require_personal_data(frozenset(roles))
    stmt = (select(Outreach.id.label("outreach_id"), Outreach.triggered_at, Outreach.customer_id,
                   Customer.external_id.label("customer"), Customer.name, Outreach.template,
                   Outreach.channel, Outreach.status, Outreach.reason, Outreach.attempts,
                   Outreach.last_error, Outreach.sent_at, Outreach.offer_code, Outreach.campaign_id,
                   Outreach.triggered_by, Outreach.subject)
            .join(Customer, Customer.id == Outreach.customer_id))
    if customer_id is not None:
        stmt = stmt.where(Outreach.customer_id == customer_id)
    if status:
        stmt = stmt.where(col(Outreach.status).in_([status] if isinstance(status, str) else list(status)))
    if template:
        stmt = stmt.where(Outreach.template == template)
    if campaign_id is not None:
        stmt = stmt.where(Outreach.campaign_id == campaign_id)
    if triggered_by:
        stmt = stmt.where(Outreach.triggered_by == triggered_by)
    if since is not None:
        stmt = stmt.where(Outreach.triggered_at >= since)
    if until is not None:
        stmt = stmt.where(Outreach.triggered_at < until)
    stmt = stmt.order_by(col(Outreach.triggered_at).desc(), col(Outreach.id).desc()).limit(limit)
    df = pd.read_sql(stmt, session.connection())
    return df[LOG_COLUMNS] if not df.empty else pd.DataFrame(columns=LOG_COLUMNS)


def find_customer(*, session: Session, external_id: str) -> Customer:
    """The customer with the shop's id ``external_id``.

    Raises CustomerNotFound when there is none."""
    customer = session.exec(select(Customer).where(Customer.external_id == external_id)).first()
    if customer is None:
        raise CustomerNotFound(f"no customer with id {external_id!r}")
    return customer
