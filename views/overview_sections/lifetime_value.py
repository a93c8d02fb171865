"""Lifetime value: expected 12-month revenue per customer (BG/NBD and Gamma-Gamma), its
histogram (a bar opens its customers), by segment (a row opens its customers), and the model's
parameters."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from core import formatting as fmt
from core.clv import CLV_EXPLANATION
from ui import drilldown as drill_data
from ui import kpis as data
from ui.safe import md, plotly_chart
from views.overview_sections.context import Context, show_records


def render_lifetime_value(ctx: Context) -> None:
    """The "Lifetime value" section: tiles, histogram, segments and the model's parameters."""
    st.caption(CLV_EXPLANATION)
    # Shown straight away (the fit is cached): a section that is blank until a switch is found
    # by nobody.
    lv = data.lifetime_value(*ctx.flt)
    if "error" in lv:
        st.info(f"Lifetime value not available: {md(lv['error'])}.")
        return
    v1, v2, v3 = st.columns(3)
    v1.metric("Expected revenue, next 12 months", fmt.money(lv["total"]))
    v2.metric("Mean lifetime value", fmt.money(lv["mean"]))
    v3.metric("Median lifetime value", fmt.money(lv["median"]))
    render_histogram(ctx, lv)
    render_segments(ctx, lv)
    p = lv["bgnbd"]
    g = lv["gamma_gamma"]
    st.caption("Model parameters. BG/NBD estimates how often each customer buys and how likely they are "
               "to have stopped; Gamma-Gamma estimates how much they spend per order. "
               f"BG/NBD: r = {p['r']:.3g}, alpha = {p['alpha']:.3g}, a = {p['a']:.3g}, "
               f"b = {p['b']:.3g} (weeks). Gamma-Gamma: p = {g['p']:.3g}, q = {g['q']:.3g}, "
               f"v = {g['v']:.3g}.")


def render_histogram(ctx: Context, lv: dict[str, Any]) -> None:
    """Customers by 12-month value in core's fixed round bins, and "Open a bar"."""
    # Fixed round bins from core (the last one open, "or more"): a click on a bar opens its customers.
    hist, bins = lv["histogram"], lv["bins"]
    step = bins.edges[1] - bins.edges[0]
    fig = go.Figure(go.Bar(
        x=[lo + step / 2 for lo in hist["low"]], y=hist["customers"], width=step * 0.95,
        customdata=hist[["bin", "label"]],
        hovertemplate="%{customdata[1]}: %{y:,} customers<extra></extra>"))
    fig.update_layout(height=320, margin={"t": 40}, title="Customers by 12-month lifetime value",
                      xaxis={"title": fmt.money_label("12-month value")
                             + (" (the last bar: that much or more)" if len(bins.edges) > 2
                                and bins.edges[-1] == float("inf") else "")},
                      yaxis={"title": "Customers (count)", "tickformat": ",d", "rangemode": "tozero"})
    plotly_chart(fig, key="ov_clv_hist", selection_mode="points",
                 on_select=drill_data.opens("ov_clv_hist", "ov_drill_clv", lambda p: drill_data.custom(p, 0)))
    clv_bars = {int(b): (lab, int(n)) for b, lab, n in zip(hist["bin"], hist["label"], hist["customers"],
                                                           strict=True) if n > 0}
    clv_bar = st.selectbox("Open a bar", list(clv_bars), index=None, key="ov_drill_clv",
                           placeholder="Click a bar, or choose one, to see the customers behind it",
                           format_func=lambda b: f"{clv_bars[b][0]} ({clv_bars[b][1]:,} customers)")
    if clv_bar is not None:
        rows = drill_data.clv_bin_customers(ctx.drill_roles, ctx.db, ctx.as_of, bins.edges[clv_bar],
                                            bins.edges[clv_bar + 1], ctx.segment, ctx.region, ctx.owner)
        show_records(rows, "ov_clv_customers", f"with a 12-month value of {clv_bars[clv_bar][0]}")


def render_segments(ctx: Context, lv: dict[str, Any]) -> None:
    """Lifetime value by segment, and "Open a figure" (the tiles' customers or a segment's)."""
    by_segment = lv["by_segment"]
    st.dataframe(by_segment.assign(segment=by_segment["segment"].map(fmt.label)), hide_index=True,
                 key="ov_clv_segments", column_config={
                     "segment": "Segment", "customers": st.column_config.NumberColumn("Customers", format="%,d"),
                     "mean_clv": st.column_config.NumberColumn("Mean lifetime value",
                                                               format=fmt.money_column_format()),
                     "total_clv": st.column_config.NumberColumn("Total lifetime value",
                                                                format=fmt.money_column_format()),
                     "expected_orders": st.column_config.NumberColumn("Expected orders", format="%.2f")},
                 placeholder=fmt.DASH)
    # The three tiles and each row of the table open their customers (the same fit: their values add
    # up to the tile's total and the row's).
    clv_figures = {"all": (f"Expected revenue, mean and median lifetime value ({lv['customers']:,} customers, "
                           f"{fmt.money(lv['total'])} in 12 months)")}
    clv_figures.update({f"segment:{r.segment}": f"Segment {fmt.label(r.segment)} ({int(r.customers):,} "
                                                f"customers, {fmt.money(r.total_clv)} in 12 months)"
                        for r in by_segment.itertuples()})
    clv_pick = st.selectbox("Open a figure", list(clv_figures), index=None, key="ov_drill_clv_figure",
                            format_func=clv_figures.get,
                            placeholder="Choose the tiles or a segment to see the customers behind them")
    if clv_pick is not None:
        of_segment = None if clv_pick == "all" else clv_pick.removeprefix("segment:")
        show_records(drill_data.clv_customers(ctx.drill_roles, ctx.db, ctx.as_of, of_segment, ctx.segment,
                                              ctx.region, ctx.owner),
                     "ov_clv_figure_customers", f"behind {clv_figures[clv_pick].split(' (')[0].lower()}")
