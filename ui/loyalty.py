"""Loyalty readers shared by the Loyalty and Admin screens (cached, cleared after a write to the
ledger). The Loyalty screen itself is views/loyalty.py; the Admin screen's loyalty tab is
views/admin_tabs/loyalty.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import streamlit as st

from core import loyalty as core_loyalty
from core.readcache import cached
from core.roles import Role, may_see_personal_data
from ui.db import get_session

# ---------------------------------------------------------------- cached readers

# What these figures read (core.loyalty.ledger_summary's tables): named, so that a write to
# another table (the delivery worker's heartbeat in `setting`, every few seconds; a login in
# `staff_user`) does not make the screen compute them again.
LEDGER_TABLES = ("customer", "orders", "loyalty_entry")


@cached(tables=LEDGER_TABLES)
def overview(as_of: date, months: int = 24) -> dict:
    with st.spinner('Adding up the points…'), get_session() as session:
        return core_loyalty.loyalty_overview(session=session, as_of=as_of, months=months)


@cached(tables=LEDGER_TABLES)
def members_and_overview(roles: tuple[str, ...], as_of: date, months: int = 24) -> tuple[pd.DataFrame, dict]:
    """Both from one computation of the ledger (the manager's screen shows both)."""
    with st.spinner("Working out every member's balance…"), get_session() as session:
        members = core_loyalty.member_balances(session=session, as_of=as_of, roles={Role(r) for r in roles})
        return members, core_loyalty.loyalty_overview(session=session, as_of=as_of, months=months)


def members(roles: tuple[str, ...], as_of: date) -> pd.DataFrame:
    return members_and_overview(roles, as_of)[0]


@cached(tables=LEDGER_TABLES)
def ledger(roles: tuple[str, ...], external_id: str, as_of: date) -> tuple[dict | None, pd.DataFrame]:
    if not may_see_personal_data({Role(r) for r in roles}):
        return None, pd.DataFrame()
    with get_session() as session:
        customer = core_loyalty.customer_by_external_id(session=session, external_id=external_id)
        if customer is None:
            return None, pd.DataFrame()
        info = core_loyalty.customer_balance(session=session, customer_id=customer.id, as_of=as_of)
        info.update({"id": customer.id, "customer": customer.external_id, "name": customer.name})
        return info, core_loyalty.customer_ledger(session=session, customer_id=customer.id, as_of=as_of)


def today_utc() -> date:
    return datetime.now(UTC).date()
