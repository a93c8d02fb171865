"""Cohorts: the share of each month's new customers ordering again, month by month, as a
heatmap whose cells open their customers."""

from __future__ import annotations

from datetime import date

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import drilldown as drill_data
from ui import kpis as data
from ui.safe import plotly_chart
from views.overview_sections.context import Context, show_records


def _month(key: str) -> str:
    """A cohort's month as words: "2026-01" -> "Jan 2026"."""
    return f"{date.fromisoformat(key + '-01'):%b %Y}"


def render_cohorts(ctx: Context) -> None:
    """The "Cohorts" section: the retention heatmap and "Open a cell"."""
    co = data.cohorts(*ctx.flt)
    if co.empty:
        st.info("No first orders in the last 12 months for this selection. Import orders on the Data "
                "screen, or widen the filter.")
        return
    month_cols = [c for c in co.columns if isinstance(c, int | np.integer)]
    z = co[month_cols].to_numpy(dtype=float)
    fig = go.Figure(go.Heatmap(
        z=z * 100, x=[f"M{m}" for m in month_cols], y=[f"{_month(c)} ({n:,})" for c, n in zip(co["cohort"],
                                                                                     co["customers"],
                                                                                     strict=True)],
        colorscale="Blues", zmin=0, zmax=100, colorbar={"title": "%"},
        text=np.where(np.isnan(z), "", np.char.mod("%.0f %%", np.nan_to_num(z) * 100)),
        texttemplate="%{text}", hovertemplate="%{y}, %{x}: %{z:.1f} %<extra></extra>"))
    fig.update_layout(yaxis={"autorange": "reversed", "title": "Cohort (month of first order, size)"},
                      xaxis={"title": "Months after the first order"}, height=480, margin={"t": 50},
                      title="Share of each cohort ordering again (%)")
    # A transparent marker on every cell takes the click (a heatmap itself cannot be selected).
    cells = [(str(c), int(k)) for c, row in zip(co["cohort"], z, strict=True)
             for k, v in zip(month_cols, row, strict=True) if not np.isnan(v)]
    ylab = dict(zip(co["cohort"], fig.data[0].y, strict=True))
    fig.add_scatter(x=[f"M{k}" for _c, k in cells], y=[ylab[c] for c, _k in cells], mode="markers",
                    marker={"symbol": "square", "size": 18, "opacity": 0}, showlegend=False,
                    customdata=[f"{c}|{k}" for c, k in cells],
                    hovertemplate="%{y}, %{x}: click to see the customers<extra></extra>")
    plotly_chart(fig, key="ov_cohorts", selection_mode="points",
                 on_select=drill_data.opens("ov_cohorts", "ov_drill_cohort", drill_data.custom))
    sizes = dict(zip(co["cohort"], co["customers"], strict=True))
    cell = st.selectbox(
        "Open a cell", [f"{c}|{k}" for c, k in cells], index=None, key="ov_drill_cohort",
        placeholder="Click a cell, or choose one, to see the customers behind it",
        format_func=lambda v: f"Cohort {_month(v.split('|')[0])} ({sizes.get(v.split('|')[0], 0):,} customers), "
                              f"month {v.split('|')[1]} after the first order")
    if cell is not None:
        cohort, offset = cell.split("|")
        rows = drill_data.cohort_customers(ctx.drill_roles, ctx.db, cohort, int(offset), ctx.as_of, ctx.segment,
                                           ctx.region, ctx.owner)
        show_records(rows, "ov_cohort_customers", f"of cohort {_month(cohort)} who ordered in month {offset}")
    st.caption("Share of each month's new customers who ordered again in month 1, 2, 3 ... after their "
               "first order. Blank cells lie in the future, or in a month still running: its share is shown "
               "once the month has ended.")
