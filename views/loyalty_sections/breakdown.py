"""Loyalty → Who holds the points (roles that see aggregates only): the members behind the
expiring-points and top-balance counts by segment, region and tier."""

from __future__ import annotations

from datetime import date

import streamlit as st

from core import formatting as fmt
from core import loyalty as core_loyalty


def render_member_breakdown(as_of: date) -> None:
    """The members behind the expiring-points and top-balance counts, as aggregates (execs)."""
    from core.drilldown import LOYALTY_DRILLS
    from ui.drilldown import loyalty_breakdown
    from ui.kpis import db_key

    st.subheader("Who holds the points")
    a, b = st.columns([2, 1])
    which = a.selectbox("Open", list(LOYALTY_DRILLS), index=None, key="loy_drill", format_func=LOYALTY_DRILLS.get,
                        placeholder="Choose a group of members to see them by segment, region and tier")
    tier = b.selectbox("Tier", [None, *(t.name for t in core_loyalty.parse_tiers())], key="loy_drill_tier",
                       format_func=lambda t: "every tier" if t is None else t)
    if which is None:
        return
    table = loyalty_breakdown(db_key(), as_of, which, tier)
    if table.empty:
        st.info("No member in this group.")
        return
    st.caption(f"{int(table['members'].sum()):,} members by segment, region and tier (your role sees aggregates "
               "only).")
    st.dataframe(table, hide_index=True, key="loy_drill_breakdown", column_config={
        "segment": "Segment", "region": "Region", "tier": "Tier",
        "members": st.column_config.NumberColumn("Members", format="%,d"),
        "balance": st.column_config.NumberColumn("Points held", format="%,d"),
        "expiring_points": st.column_config.NumberColumn("Expiring in 30 days", format="%,d")}, placeholder=fmt.DASH)
