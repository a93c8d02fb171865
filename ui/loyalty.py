"""Loyalty readers shared by the Loyalty and Admin screens (cached, cleared after a write to the
ledger), and the Admin screen's loyalty section. The Loyalty screen itself is views/loyalty.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import streamlit as st

from core import loyalty as core_loyalty
from core.config import get_settings
from core.readcache import cached
from core.roles import Role, may_see_personal_data
from ui.db import get_session
from ui.safe import md

# ---------------------------------------------------------------- cached readers


@cached()
def overview(as_of: date, months: int = 24) -> dict:
    with st.spinner('Adding up the points…'), get_session() as session:
        return core_loyalty.loyalty_overview(session=session, as_of=as_of, months=months)


@cached()
def members_and_overview(roles: tuple[str, ...], as_of: date, months: int = 24) -> tuple[pd.DataFrame, dict]:
    """Both from one computation of the ledger (the manager's screen shows both)."""
    with st.spinner("Working out every member's balance…"), get_session() as session:
        members = core_loyalty.member_balances(session=session, as_of=as_of, roles={Role(r) for r in roles})
        return members, core_loyalty.loyalty_overview(session=session, as_of=as_of, months=months)


def members(roles: tuple[str, ...], as_of: date) -> pd.DataFrame:
    return members_and_overview(roles, as_of)[0]


@cached()
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


def render_loyalty_admin(user) -> None:  # noqa: ANN001
    """Admin tab: the loyalty settings in force and the expiry job, run by hand."""
    if not user.has(Role.ADMIN):
        return
    settings = get_settings()
    st.subheader("Loyalty")
    st.text(f"Point value: {settings.point_value:g} (HEARTH_POINT_VALUE)\n"
            + (f"Points expire {settings.points_expiry_months} months after they are earned, unless the entry "
               "says otherwise (HEARTH_POINTS_EXPIRY_MONTHS)\n" if settings.points_expiry_months > 0 else
               "Points never expire by Hearth's rule (HEARTH_POINTS_EXPIRY_MONTHS=0); an entry's own expiry "
               "date and the programme's own expiry rows still count\n")
            + "Tiers by points earned in the last 12 months: "
            + ", ".join(f"{t.name} from {t.threshold:,}" for t in core_loyalty.parse_tiers())
            + " (HEARTH_LOYALTY_TIERS)")
    today = today_utc()
    with get_session() as session:
        due = core_loyalty.pending_expiries(session=session, as_of=today)
    st.caption("The expiry job writes an `expire` entry for every lot whose unused points lapsed. "
               "Schedule `python -m core loyalty expire` nightly; running it twice writes nothing new.")
    if not due["entries"]:
        st.success(f"Nothing to expire as of {today}: the ledger records every lapsed point.")
        return
    st.info(f"Due as of {today}: {due['entries']:,} expire entries, {due['points']:,} points, "
            f"{due['customers']:,} customers.")
    if st.button("Write the expire entries now", key="loy_admin_expire", type="primary"):
        try:
            with get_session() as session:
                written = core_loyalty.expire_points(session=session, as_of=today, actor=user.username)
        except core_loyalty.LoyaltyError as exc:
            st.error(md(exc))
            return
        st.success(f"Wrote {written:,} expire entries.")
