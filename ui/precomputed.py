"""Admin tab: what is precomputed, when, and a button to recompute the day's figures."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import formatting as fmt
from core import precomputed
from core.roles import Role
from ui.db import get_session, precompute_in_background


def render_precomputed_admin(user) -> None:  # noqa: ANN001
    if not user.has(Role.ADMIN):
        return
    st.subheader("Precomputed figures")
    st.caption("The Overview's KPIs, trend, cohorts and revenue mix, NPS counts, lifetime value and the loyalty "
               "ledger are computed once and stored until the data they come from changes. "
               "`python -m core precompute` (nightly, after the imports and `score`) computes what the "
               "screens open on; an import on the Data screen starts it by itself.")
    with get_session() as session:
        stored = pd.DataFrame(precomputed.stored_results(session),
                              columns=["name", "params", "computed_at", "seconds", "size_kb"])
    if stored.empty:
        st.info("Nothing is precomputed yet: the first visit to each screen computes its figures. "
                "Start the computation below, or schedule `python -m core precompute` nightly.")
    else:
        # Tiles as wide as their figure, wrapping on a narrow screen: never cut off.
        tiles = st.container(horizontal=True, gap="small")
        tiles.metric("Stored results", f"{len(stored):,}", width="content")
        tiles.metric("Newest", f"{stored['computed_at'].max():%d %b %Y %H:%M} UTC", width="content")
        tiles.metric("Size", f"{stored['size_kb'].sum() / 1024:,.1f} MB", width="content")
        st.dataframe(stored, hide_index=True, width="stretch", key="precomputed_table", column_config={
            "name": "Result", "params": "For",
            "computed_at": st.column_config.DatetimeColumn("Computed (UTC)", format="YYYY-MM-DD HH:mm"),
            "seconds": st.column_config.NumberColumn("Took (s)", format="%.1f"),
            "size_kb": st.column_config.NumberColumn("Size (KB)", format="%.0f")}, placeholder=fmt.DASH)
    if st.button("Recompute today's figures now", key="precompute_now",
                 help="Runs `python -m core precompute` in a separate process; screens keep working meanwhile."):
        precompute_in_background(asked=True)
        st.success("Started. The figures are stored as they are computed; reload this tab to follow.")
