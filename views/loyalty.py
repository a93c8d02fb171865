"""Loyalty screen: balances, points expiring, a customer's ledger (members, for managers and
admins) and the programme's aggregates (for everyone who may open the screen).

Customer text (names, emails) reaches the page only through st.dataframe; execs get
aggregates only, never a per-customer row.

Each tab is drawn by one module of views/loyalty_sections/, in the order the screen shows them.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import loyalty as core_loyalty
from core.roles import may_see_personal_data
from ui.auth import require_screen, roles_key
from ui.data import export_button
from ui.loyalty import members_and_overview, today_utc
from ui.safe import md
from views.loyalty_sections.members import render_balances, render_expiring

TABS = ["Balances", "Expiring in 30 days", "Customer ledger", "Programme"]


def _render_tabs(user: Any, as_of: Any) -> None:  # noqa: ANN401 - ui.auth.CurrentUser, a date
    """The four tabs of the roles that may see members. Only the open tab runs (switching tabs
    reruns the screen): the programme's charts and drill-downs, the expiring list and a ledger
    are worked out when their tab is opened, not on every visit to Balances. An address with
    ?customer= opens the customer's ledger."""
    members_tab, expiring_tab, ledger_tab, programme_tab = st.tabs(
        TABS, key="loy_tab", on_change="rerun", default="Customer ledger" if st.query_params.get("customer") else None)
    if members_tab.open:
        with members_tab:
            render_balances(user, as_of)
    if expiring_tab.open:
        with expiring_tab:
            render_expiring(user, as_of)
    if ledger_tab.open:
        from views.loyalty_sections.ledger import render_ledger

        with ledger_tab:
            render_ledger(user, as_of)
    if programme_tab.open:
        from views.loyalty_sections.programme import render_programme  # and its drill-downs' imports

        with programme_tab:
            render_programme(as_of, members_and_overview(roles_key(user.roles), as_of)[1], roles_key(user.roles))


def render_page(user: Any) -> None:  # noqa: ANN401 - ui.auth.CurrentUser
    """The title, the as-of day, and the tabs the user's roles may see (execs: the programme only)."""
    st.title("Loyalty")
    as_of = st.date_input("As of", value=today_utc(), max_value=today_utc(), key="loy_as_of")
    try:
        if may_see_personal_data(user.roles):
            _render_tabs(user, as_of)
        else:
            from views.loyalty_sections.breakdown import render_member_breakdown
            from views.loyalty_sections.programme import render_programme

            st.caption("The programme as a whole: aggregates only.")
            render_programme(as_of)
            render_member_breakdown(as_of)
    except core_loyalty.LoyaltyError as exc:
        st.error(md(exc))


user = require_screen("loyalty")
render_page(user)
if may_see_personal_data(user.roles):  # per-customer rows: not for the exec's aggregate view
    export_button("loyalty", user, label="Download balances as CSV", key="loyalty_export")
