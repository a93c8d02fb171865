"""NPS and loyalty: NPS by month with its interval (a point opens its answers), the loyalty
tiles, and points earned, redeemed and expired with the liability by month (a bar or a point
opens its members)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import formatting as fmt
from ui import drilldown as drill_data
from ui import kpis as data
from ui.safe import plotly_chart
from views.overview_sections.context import Context, metric, show_records

FLOWS = {"earned": "Earned", "redeemed": "Redeemed", "expired": "Expired"}


def render_nps_loyalty(ctx: Context, kpi: pd.DataFrame) -> None:
    """The "NPS and loyalty" section: the NPS trend, then the loyalty tiles and chart."""
    render_nps(ctx)
    tiles = st.container(horizontal=True, gap="small")
    for key in ("loyalty_outstanding_points", "loyalty_liability", "redemption_rate"):
        metric(tiles, kpi, key)
    if kpi.loc["loyalty_liability", "current"] is None:
        st.info("Loyalty figures appear once loyalty entries are imported.")
    else:
        render_loyalty(ctx)


def render_nps(ctx: Context) -> None:
    """NPS by month with its 95 % interval, and "Open a month" (its answers)."""
    nt = data.nps_trend(*ctx.flt)
    if nt.empty:
        st.info("No survey answers with a score in the last 12 months for this selection. Import survey "
                "answers on the Data screen, or widen the filter.")
        return
    fig = go.Figure()
    fig.add_scatter(x=nt["month"], y=nt["nps_ci_high"], line={"width": 0}, showlegend=False,
                    hoverinfo="skip")
    fig.add_scatter(x=nt["month"], y=nt["nps_ci_low"], fill="tonexty", line={"width": 0},
                    name="95 % interval", hoverinfo="skip")
    fig.add_scatter(x=nt["month"], y=nt["nps"], mode="lines+markers", name="NPS",
                    customdata=nt[["nps_responses", "month"]],
                    hovertemplate="%{x}: %{y:.1f} (%{customdata[0]} answers)<extra></extra>")
    fig.update_layout(yaxis={"range": [-100, 100], "title": "NPS (-100 to +100)"}, height=380,
                      margin={"t": 50}, xaxis={"title": "Month"}, title="NPS by month")
    plotly_chart(fig, key="ov_nps", selection_mode="points",
                 on_select=drill_data.opens("ov_nps", "ov_drill_nps", lambda p: drill_data.custom(p, 1)))
    nps_points = dict(zip(nt["month"], zip(nt["nps_responses"], nt["nps"], strict=True), strict=True))
    nps_month = st.selectbox(
        "Open a month", list(nps_points)[::-1], index=None, key="ov_drill_nps",
        placeholder="Click a point, or choose a month, to see the answers behind its NPS",
        format_func=lambda m: f"{m} ({int(nps_points[m][0]):,} answers, NPS {nps_points[m][1]:+.0f})")
    if nps_month is not None:
        answers = drill_data.month_answers(ctx.drill_roles, ctx.db, nps_month, ctx.as_of, ctx.segment, ctx.region,
                                           ctx.owner)
        if ctx.personal:
            st.caption(f"{len(answers):,} answers with a score in {nps_month}, newest first.")
            st.dataframe(answers.drop(columns=["customer_id"]), hide_index=True, key="ov_nps_answers",
                         column_config=drill_data.ANSWER_COLUMNS, placeholder=fmt.DASH)
        else:
            st.caption(f"Your role sees aggregates only: the answers of {nps_month} by segment, region and "
                       "channel.")
            st.dataframe(answers, hide_index=True, key="ov_nps_breakdown", column_config={
                "segment": "Segment", "region": "Region", "channel": "Channel",
                "answers": st.column_config.NumberColumn("Answers", format="%,d")}, placeholder=fmt.DASH)


def render_loyalty(ctx: Context) -> None:
    """Points earned, redeemed and expired and the liability by month (whole store), and "Open a bar"."""
    lm = data.loyalty_by_month(ctx.db, ctx.as_of)
    fig = go.Figure()
    for kind, label in FLOWS.items():
        fig.add_bar(x=lm["month"], y=lm[kind] if kind == "earned" else -lm[kind], name=label,
                    customdata=[f"{m:%Y-%m}|{kind}" for m in lm["month"]])
    fig.add_scatter(x=lm["month"], y=lm["liability"], name="Liability at month end", yaxis="y2",
                    mode="lines+markers", customdata=[f"{m:%Y-%m}|liability" for m in lm["month"]])
    fig.update_layout(barmode="relative", yaxis={"title": "Points in the month"}, xaxis={"title": "Month"},
                      yaxis2={"title": fmt.money_label("Liability"), "overlaying": "y", "side": "right"},
                      legend={"orientation": "h"}, height=380, margin={"t": 50},
                      title="Loyalty points and liability by month")
    plotly_chart(fig, key="ov_loyalty", selection_mode="points",
                 on_select=drill_data.opens("ov_loyalty", "ov_drill_loyalty", drill_data.custom))
    # The bars, and the liability line's month ends (the members holding the points then).
    month_ends = {f"{m:%Y-%m}": (int(p), float(v)) for m, p, v in
                  zip(lm["month"], lm["outstanding_points"], lm["liability"], strict=True) if p != 0}
    loy_bars = [f"{m:%Y-%m}|{kind}" for m, row in zip(lm["month"], lm.itertuples(), strict=True)
                for kind in [*FLOWS, "liability"]
                if (kind == "liability" and f"{m:%Y-%m}" in month_ends)
                or (kind != "liability" and getattr(row, kind) > 0)][::-1]

    def _loy_words(v: str) -> str:
        """The box's words for bar `v` ("YYYY-MM|kind")."""
        mo, kind = v.split("|")
        if kind == "liability":
            return (f"Liability at the end of {mo} ({fmt.money(month_ends[mo][1])}, "
                    f"{month_ends[mo][0]:,} points)")
        return f"{FLOWS[kind]} points in {mo}"

    loy_bar = st.selectbox("Open a bar", loy_bars, index=None, key="ov_drill_loyalty",
                           placeholder="Click a bar or a point of the line, or choose one, to see the members "
                                       "behind it", format_func=_loy_words)
    if loy_bar is not None:
        mo, kind = loy_bar.split("|")
        if kind == "liability":
            rows = drill_data.month_end_members(ctx.drill_roles, ctx.db, ctx.as_of, mo)
            show_records(rows, "ov_loyalty_members", f"holding points at the end of {mo} (points: how many)")
        else:
            rows = drill_data.loyalty_flow_members(ctx.drill_roles, ctx.db, ctx.as_of, mo, kind)
            show_records(rows, "ov_loyalty_members",
                         f"with {FLOWS[kind].lower()} points in {mo} (points: how many)")
    if ctx.scope:
        st.caption("The monthly loyalty chart covers the whole store; the numbers above follow the filter.")
