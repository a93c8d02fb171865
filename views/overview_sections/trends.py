"""Trends: revenue and active customers every four weeks over the last year, and revenue by
calendar month; a click on a point or bar opens the customers behind it."""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core import formatting as fmt
from ui import drilldown as drill_data
from ui import kpis as data
from ui.safe import plotly_chart
from views.overview_sections.context import Context, show_records


def render_trends(ctx: Context) -> None:
    """The "Trends" section: the four-weekly trend, then the monthly sales (nothing but a hint
    when the last year has no orders)."""
    tr = data.trend(*ctx.args)
    if tr["orders"].sum() == 0:
        st.info("No orders in the last year for this selection; the trend fills in as orders are imported.")
    else:
        render_trend(ctx, tr)
        render_monthly(ctx)


def render_trend(ctx: Context, tr: pd.DataFrame) -> None:
    """Revenue and active customers every four weeks, each over its trailing period; "Open a point"."""
    horizon = ctx.horizon
    fig = go.Figure()
    points_on = [str(pd.Timestamp(d).date()) for d in tr["as_of"]]
    fig.add_scatter(x=tr["as_of"], y=tr["revenue"], name=f"Revenue, trailing {horizon} days",
                    mode="lines+markers", customdata=[f"{d}|orders" for d in points_on])
    fig.add_scatter(x=tr["as_of"], y=tr["active_customers"], name="Active customers", yaxis="y2",
                    mode="lines+markers", customdata=[f"{d}|active_customers" for d in points_on])
    fig.update_layout(yaxis={"title": fmt.money_label(f"Revenue, trailing {horizon} days")},
                      xaxis={"title": "As of (every four weeks)"},
                      # From zero: a count whose points lie close together got ticks like 1,114.3.
                      yaxis2={"title": "Active customers (count)", "overlaying": "y", "side": "right",
                              "rangemode": "tozero"},
                      legend={"orientation": "h"}, margin={"t": 40}, height=380,
                      title=f"Revenue and active customers every four weeks (each point: the {horizon} days "
                            "up to it)")
    plotly_chart(fig, key="ov_trend", on_select=drill_data.opens("ov_trend", "ov_drill_point", drill_data.custom),
                 selection_mode="points")
    point = st.selectbox(
        "Open a point", [f"{d}|{k}" for d in points_on[::-1] for k in ("orders", "active_customers")],
        index=None, key="ov_drill_point",
        placeholder="Click a point, or choose one, to see the customers behind it",
        format_func=lambda v: ("Customers behind the revenue (their orders) in the " if v.endswith("|orders")
                               else "Active customers in the ") + f"{horizon} days to {fmt.date_text(v[:10])}")
    if point is not None:
        on, which = point.split("|")
        on_day = date.fromisoformat(on)
        if ctx.personal:
            rows = drill_data.kpi_customers(ctx.drill_roles, ctx.db, which, on_day, horizon, ctx.segment,
                                            ctx.region, ctx.owner)
        else:
            rows = drill_data.kpi_breakdown(ctx.db, which, on_day, horizon, ctx.segment, ctx.region, ctx.owner)
        show_records(rows, "ov_point_customers", f"behind this point ({fmt.date_text(on_day)})")


def render_monthly(ctx: Context) -> None:
    """Revenue (net of refunds) by calendar month; "Open a month" lists its customers."""
    m = data.monthly(*ctx.args)
    fig = px.bar(m, x="month", y="revenue", hover_data=["orders", "customers", "gross_sales", "refunds"],
                 custom_data=["month"],
                 labels={"month": "Month", "revenue": fmt.money_label("Revenue (net of refunds)"),
                         "orders": "Orders", "customers": "Customers",
                         "gross_sales": fmt.money_label("Gross sales"), "refunds": fmt.money_label("Refunds")},
                 title="Revenue (net of refunds) by calendar month (the current month is partial)")
    fig.update_layout(height=320, margin={"t": 40})
    fig.update_xaxes(type="category")
    plotly_chart(fig, key="ov_monthly", selection_mode="points",
                 on_select=drill_data.opens("ov_monthly", "ov_drill_month", drill_data.custom))
    months = [str(v) for v in m.loc[m["orders"] > 0, "month"]]
    month = st.selectbox("Open a month", months[::-1], index=None, key="ov_drill_month",
                         placeholder="Click a bar, or choose a month, to see the customers who ordered in it")
    if month is not None and ctx.personal:
        st.dataframe(drill_data.month_customers(ctx.drill_roles, ctx.db, month, ctx.as_of, ctx.segment,
                                                ctx.region, ctx.owner).drop(columns=["customer_id"]),
                     hide_index=True, key="ov_month_customers", column_config={
                         "external_id": st.column_config.TextColumn("Customer id"),
                         "name": st.column_config.TextColumn("Name"), "owner": st.column_config.TextColumn("Owner"),
                         "segment": st.column_config.TextColumn("Segment"),
                         "region": st.column_config.TextColumn("Region"),
                         "orders": st.column_config.NumberColumn("Orders", format="%,d"),
                         "gross_sales": st.column_config.NumberColumn("Order totals",
                                                                      format=fmt.money_column_format())},
                     placeholder=fmt.DASH)
    elif month is not None:
        st.caption("Your role sees aggregates only: the customers of this month by segment and region.")
        st.dataframe(drill_data.month_breakdown(ctx.db, month, ctx.as_of, ctx.segment, ctx.region, ctx.owner),
                     hide_index=True, key="ov_month_breakdown", column_config={
                         "segment": "Segment", "region": "Region",
                         "customers": st.column_config.NumberColumn("Customers", format="%,d"),
                         "orders": st.column_config.NumberColumn("Orders", format="%,d")}, placeholder=fmt.DASH)
