"""Loyalty → Customer ledger: one customer's points entries with the running balance."""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from core import formatting as fmt
from ui.auth import roles_key
from ui.filters import start_at
from ui.loyalty import ledger
from ui.safe import formula_safe, md


def render_ledger(user: Any, as_of: date) -> None:  # noqa: ANN401 - ui.auth.CurrentUser
    """The Customer ledger tab: a customer's id in, their balance tiles and entries out."""
    start_at("loy_ledger_customer", st.query_params.get("customer", ""))
    external_id = st.text_input("Customer id", key="loy_ledger_customer",
                                placeholder="the customer's id in the shop, e.g. C0000042").strip()
    if not external_id:
        st.info("Enter a customer id to see their points ledger with the running balance.")
        return
    info, rows = ledger(roles_key(user.roles), external_id, as_of)
    if info is None:
        st.warning(f"No customer with id {md(external_id)}.")
        return
    st.text(f"{info['customer']} · {info['name'] or ''}")
    st.page_link("views/account.py", label="Open the account", query_params={"id": str(info["id"])},
                 icon=":material/person:")
    a, b, c, d = st.columns(4)
    a.metric("Balance", f"{info['balance']:,}")
    b.metric("Expiring in 30 days", f"{info['expiring_points']:,}",
             help=f"Next expiry: {info['next_expiry_date'] or 'none'}")
    c.metric("Tier", info["tier"] or "–", help=(f"Drops a tier on {info['tier_drop_date']} unless they earn more."
                                                 if info["tier_drop_date"] else None))
    d.metric("Earned in 12 months", f"{info['earned_12m']:,}")
    if rows.empty:
        st.info("This customer has no loyalty entries yet.")
        return
    shown = rows.copy()
    shown["kind"] = shown["kind"].where(shown["recorded"], shown["kind"] + " (not yet written by the job)")
    st.dataframe(formula_safe(shown.drop(columns="recorded"), ["order_ref", "entry_id"]), hide_index=True,
                 key="loy_ledger", column_config={
                     "occurred_at": st.column_config.DatetimeColumn("When", format="D MMM YYYY HH:mm"),
                     "kind": "Entry", "points": st.column_config.NumberColumn("Points", format="%+,d"),
                     "expires_at": st.column_config.DatetimeColumn("Lot expires", format="D MMM YYYY"),
                     "order_ref": "Order", "entry_id": "Entry id",
                     "balance": st.column_config.NumberColumn("Balance", format="%,d")}, placeholder=fmt.DASH)
    st.caption("Redemptions, reversals and the loyalty programme's own expiry rows use the oldest unexpired "
               "points first; Hearth's own expiries are computed from the lots, and a nightly job writes "
               "them into the ledger.")
