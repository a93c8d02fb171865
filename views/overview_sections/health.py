"""Health bands: accounts per band at each scoring run (a bar opens its accounts), and the
band moves since a week ago (a move opens its accounts, exec by segment and region)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from core import formatting as fmt
from core.accounts import BAND_LABELS
from ui import accounts as accounts_data
from ui import drilldown as drill_data
from ui import kpis as data
from ui.safe import plotly_chart
from views.overview_sections.context import Context, show_records


def render_health(ctx: Context) -> None:
    """The "Health bands" section: the bands chart, then the band moves."""
    mix, moves = data.bands(*ctx.flt)
    if mix.empty:
        st.info("No health scores yet. An admin scores every account under Admin → Churn model (it "
                "also runs each night); this chart fills in then.")
        return
    render_bands(ctx, mix)
    render_moves(ctx, moves)


def render_bands(ctx: Context, mix: pd.DataFrame) -> None:
    """Accounts per health band at each scoring run, and "Open a bar"."""
    # One bar per scoring run, on a category axis: a single run is a visible bar, not an empty
    # area over a sub-millisecond time axis.
    shown = mix.assign(run=mix["as_of"].map(fmt.date_text), band=mix["band"].map(BAND_LABELS),
                       pick=[f"{d:%Y-%m-%d}|{b}" for d, b in zip(mix["as_of"], mix["band"], strict=True)])
    fig = px.bar(shown, x="run", y="customers", color="band", custom_data=["pick"],
                 category_orders={"band": ["Healthy", "Watch", "At risk"]},
                 color_discrete_map={"Healthy": "#2e7d32", "Watch": "#f9a825", "At risk": "#c62828"},
                 labels={"run": "Scoring run", "customers": "Accounts", "band": "Band"},
                 title="Accounts per health band at each scoring run")
    fig.update_layout(height=360, margin={"t": 40}, xaxis={"type": "category"})
    plotly_chart(fig, key="ov_bands", selection_mode="points",
                 on_select=drill_data.opens("ov_bands", "ov_drill_band", drill_data.custom))
    # Newest run first; a bar is "YYYY-MM-DD|band" (the run's date and the band's code).
    band_bars = {p: (d, b, int(n)) for p, d, b, n in zip(shown["pick"], shown["as_of"], shown["band"],
                                                          shown["customers"], strict=True) if n > 0}
    band_pick = st.selectbox(
        "Open a bar", sorted(band_bars, key=lambda p: (band_bars[p][0], p), reverse=True), index=None,
        key="ov_drill_band", placeholder="Click a bar, or choose one, to see the accounts behind it",
        format_func=lambda p: (f"{band_bars[p][1]} on {fmt.date_text(band_bars[p][0])} "
                               f"({band_bars[p][2]:,} accounts)"))
    if band_pick is not None:
        run_day, band_code = band_pick.split("|")
        rows = drill_data.band_customers(ctx.drill_roles, ctx.db, date.fromisoformat(run_day), band_code,
                                         ctx.segment, ctx.region, ctx.owner)
        band_words = f"in the {band_bars[band_pick][1]} band on {fmt.date_text(band_bars[band_pick][0])}"
        show_records(rows, "ov_band_customers", band_words)


def render_moves(ctx: Context, moves: dict[str, Any]) -> None:
    """Accounts that improved, worsened or stayed since a week ago, the moves table and "Open a band move"."""
    if moves["previous"] is None:
        st.info("Band moves need two scoring runs at least a week apart.")
        return
    b1, b2, b3 = st.columns(3)
    b1.metric("Improved", f"{moves['improved']:,}",
              help="Accounts in a healthier band than a week ago.")
    b2.metric("Worsened", f"{moves['worsened']:,}",
              help="Accounts in a less healthy band than a week ago.")
    b3.metric("Unchanged", f"{moves['unchanged']:,}")
    st.caption(f"Scores of {fmt.date_text(moves['latest'])} against {fmt.date_text(moves['previous'])}.")
    st.dataframe(moves["moves"].assign(from_band=moves["moves"]["from_band"].map(BAND_LABELS),
                                       to_band=moves["moves"]["to_band"].map(BAND_LABELS)),
                 hide_index=True, key="ov_moves",
                 column_config={"from_band": "From", "to_band": "To",
                                "customers": st.column_config.NumberColumn("Accounts", format="%,d")},
                 placeholder=fmt.DASH)
    pairs = list(zip(moves["moves"]["from_band"], moves["moves"]["to_band"], moves["moves"]["customers"],
                     strict=True))
    if pairs:
        pick = st.selectbox(
            "Open a band move", range(len(pairs)), index=None, key="ov_move",
            placeholder="Choose a move to see the accounts behind it",
            format_func=lambda i: (f"{BAND_LABELS.get(pairs[i][0], 'other')} → "
                                   f"{BAND_LABELS.get(pairs[i][1], 'other')} ({pairs[i][2]:,} accounts)"))
        if pick is not None:
            fb, tb, _n = pairs[pick]
            show_move_accounts(ctx, fb, tb)


def show_move_accounts(ctx: Context, fb: str, tb: str) -> None:
    """The accounts that moved from band `fb` to band `tb` (exec: by segment and region)."""
    if ctx.personal:
        acc = accounts_data.band_move_accounts(accounts_data.roles_key(ctx.user.roles), ctx.db, ctx.as_of,
                                               fb, tb, ctx.segment, ctx.region, ctx.owner)
        acc = acc.assign(band_before=acc["band_before"].map(BAND_LABELS),
                         band_after=acc["band_after"].map(BAND_LABELS))
        st.dataframe(acc.drop(columns=["customer_id"]), hide_index=True, key="ov_move_accounts",
                     column_config={
                         "external_id": st.column_config.TextColumn("Customer id"),
                         "name": st.column_config.TextColumn("Name"),
                         "owner": st.column_config.TextColumn("Owner"),
                         "band_before": st.column_config.TextColumn("Band before"),
                         "band_after": st.column_config.TextColumn("Band after"),
                         "health_before": st.column_config.NumberColumn("Health before", format="%d"),
                         "health_after": st.column_config.NumberColumn("Health after", format="%d"),
                         "churn_percent": st.column_config.NumberColumn("Churn risk", format="%.1f %%"),
                     }, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: the accounts of this move by segment and "
                   "region.")
        st.dataframe(data.band_move_breakdown(ctx.db, ctx.as_of, fb, tb, ctx.segment, ctx.region, ctx.owner),
                     hide_index=True, key="ov_move_breakdown",
                     column_config={"segment": "Segment", "region": "Region",
                                    "customers": st.column_config.NumberColumn("Accounts", format="%,d")},
                     placeholder=fmt.DASH)
