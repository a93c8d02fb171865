"""Loyalty → Balances and Expiring in 30 days: the members, with names, for the roles that may
see them (never the exec), and outreach to members whose points expire."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from core import formatting as fmt
from core import loyalty as core_loyalty
from core.roles import Role
from ui.auth import roles_key
from ui.filters import start_at
from ui.loyalty import members
from ui.safe import formula_safe

MAX_ROWS = 2_000


def member_columns() -> dict[str, Any]:
    """The column labels and formats of a members table."""
    return {
        "id": None,
        "link": st.column_config.LinkColumn("Account", display_text="Open",
                                            help="Opens the account in a new browser tab."),
        "customer": "Customer id",
        "name": "Name",
        "email": "Email",
        "owner": "Owner",
        "tier": "Tier",
        "balance": st.column_config.NumberColumn("Balance", format="%,d"),
        "expiring_points": st.column_config.NumberColumn("Expiring in 30 days", format="%,d"),
        "next_expiry_date": st.column_config.DateColumn("Next expiry", format="D MMM YYYY"),
        "earned_12m": st.column_config.NumberColumn("Earned, 12 months", format="%,d"),
        "tier_drop_date": st.column_config.DateColumn("Drops a tier on", format="D MMM YYYY"),
        "earned": st.column_config.NumberColumn("Lifetime earned", format="%,d"),
        "redeemed": st.column_config.NumberColumn("Lifetime redeemed", format="%,d"),
        "expired": st.column_config.NumberColumn("Lifetime expired", format="%,d"),
    }


def member_table(df: pd.DataFrame) -> pd.DataFrame:
    """The first MAX_ROWS members with a link to their account, text cells made formula-safe."""
    shown = df.head(MAX_ROWS).copy()
    shown.insert(1, "link", "/account?id=" + shown["id"].astype(str))
    return formula_safe(shown, ["customer", "name", "email", "owner"])


def render_balances(user: Any, as_of: date) -> None:  # noqa: ANN401 - ui.auth.CurrentUser
    """The Balances tab: members filtered by tier, balance, owner and a search, largest balances first."""
    df = members(roles_key(user.roles), as_of)
    if df.empty:
        st.info("No member has loyalty points yet. Import a loyalty file on the Data screen (admins).")
        return
    tiers = [t.name for t in core_loyalty.parse_tiers()]
    a, b, c, d = st.columns([2, 1, 1, 2])
    start_at("loy_tier_filter", tiers)
    chosen = a.multiselect("Tier", tiers, key="loy_tier_filter")
    start_at("loy_min_balance", 1)
    minimum = b.number_input("Balance at least", min_value=0, step=50, key="loy_min_balance")
    start_at("loy_own_only", user.has(Role.ACCOUNT_MANAGER) and not user.has(Role.ADMIN))
    own = c.toggle("My accounts only", key="loy_own_only")
    search = d.text_input("Search name, email or id", key="loy_search").strip().lower()
    view = df[df["tier"].isin(chosen) & (df["balance"] >= minimum)]
    if own:
        view = view[view["owner"] == user.username]
    if search:
        hay = (view["customer"].fillna("") + " " + view["name"].fillna("") + " " + view["email"].fillna(""))
        view = view[hay.str.lower().str.contains(search, regex=False)]
    st.caption(f"{fmt.count_of(len(view), 'member')} {'matches' if len(view) == 1 else 'match'}, "
               f"{fmt.count_of(int(view['balance'].sum()), 'point')} "
               f"({fmt.money_cents(core_loyalty.points_value_cents(view['balance'].sum()))}); largest balances first"
               + (f", first {MAX_ROWS:,} shown." if len(view) > MAX_ROWS else "."))
    if view.empty:
        st.info("No member matches these filters. Widen the tiers, lower the balance or switch off "
                "'My accounts only'.")
        return
    st.dataframe(member_table(view), hide_index=True, key="loy_balances", column_config=member_columns(),
                 column_order=["link", "customer", "name", "owner", "tier", "balance", "expiring_points",
                               "next_expiry_date", "earned_12m", "tier_drop_date"], placeholder=fmt.DASH)


def render_expiring(user: Any, as_of: date) -> None:  # noqa: ANN401 - ui.auth.CurrentUser
    """The Expiring tab: members with points expiring in 30 days, and the outreach plan to them."""
    df = members(roles_key(user.roles), as_of)
    soon = df[df["expiring_points"] > 0].sort_values(["expiring_points", "customer"], ascending=[False, True])
    start_at("loy_exp_own_only", user.has(Role.ACCOUNT_MANAGER) and not user.has(Role.ADMIN))
    own = st.toggle("My accounts only", key="loy_exp_own_only")
    if own:
        soon = soon[soon["owner"] == user.username]
    if soon.empty:
        st.info("No member has points expiring in the next 30 days"
                + (" among your accounts; switch off 'My accounts only' to see everyone." if own else "."))
        return
    a, b = st.columns(2)
    a.metric("Members with points expiring in 30 days", f"{len(soon):,}")
    b.metric("Points expiring", f"{int(soon['expiring_points'].sum()):,}",
             help=f"Worth {fmt.money_cents(core_loyalty.points_value_cents(soon['expiring_points'].sum()))}.")
    event = st.dataframe(member_table(soon), hide_index=True, key="loy_expiring", column_config=member_columns(),
                         column_order=["link", "customer", "name", "owner", "tier", "expiring_points",
                                       "next_expiry_date", "balance"],
                         on_select="rerun", selection_mode="multi-row", placeholder=fmt.DASH)
    picked = list(event.selection.rows) if event is not None and hasattr(event, "selection") else []
    shown = soon.head(MAX_ROWS)
    # Checking consent, the cap and fit for thousands of members takes seconds: only on request.
    if not st.toggle("Plan outreach to these members", key="loy_exp_plan",
                     help="Shows who would be contacted, held out or suppressed, and why, before anything "
                          "is sent."):
        return
    everyone = st.checkbox(f"Plan outreach to all {len(soon):,} listed members", value=not picked,
                           key="loy_exp_all")
    ids = soon["id"].tolist() if everyone else shown.iloc[picked]["id"].tolist()
    rule = {"screen": "loyalty", "rule": "points_expiring_within_30_days", "as_of": as_of.isoformat(),
            "own_accounts_only": bool(own)}
    try:
        from ui.outreach import render_bulk_outreach
    except ImportError:  # the outreach area is not merged into this build
        st.caption("Outreach is not available in this build.")
        return
    st.session_state.setdefault("bulk_template", "points_expiring")
    render_bulk_outreach(user, [int(i) for i in ids], rule)
