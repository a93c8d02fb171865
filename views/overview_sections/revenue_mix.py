"""Revenue mix: gross sales by month from new, returning and reactivated customers; a bar opens
its customers."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from core import formatting as fmt
from ui import drilldown as drill_data
from ui import kpis as data
from ui.safe import plotly_chart
from views.overview_sections.context import Context, show_records


def render_revenue_mix(ctx: Context) -> None:
    """The "Revenue mix" section: the stacked bars by kind of customer and "Open a bar"."""
    rs = data.revenue_split(*ctx.args)
    if rs["gross_sales"].sum() == 0:
        st.info("No sales in the last 12 months for this selection. Import orders on the Data screen, "
                "or widen the filter.")
        return
    fig = px.bar(rs.assign(kind_code=rs["kind"], kind=rs["kind"].map(fmt.label)), x="month", y="gross_sales",
                 color="kind", hover_data=["orders"], custom_data=["month", "kind_code"],
                 labels={"month": "Month", "gross_sales": fmt.money_label("Gross sales"), "kind": "Customer",
                         "orders": "Orders"},
                 category_orders={"kind": ["New", "Returning", "Reactivated"]},
                 title="Gross sales by kind of customer")
    fig.update_layout(height=380, margin={"t": 40}, legend={"orientation": "h"})
    fig.update_xaxes(type="category")
    plotly_chart(fig, key="ov_split", selection_mode="points", on_select=drill_data.opens(
        "ov_split", "ov_drill_mix", lambda p: f"{drill_data.custom(p, 0)}|{drill_data.custom(p, 1)}"))
    bars = rs[rs["orders"] > 0]
    mix_bar = st.selectbox(
        "Open a bar", [f"{mo}|{k}" for mo, k in zip(bars["month"], bars["kind"], strict=True)][::-1], index=None,
        key="ov_drill_mix", placeholder="Click a bar, or choose one, to see the customers behind it",
        format_func=lambda v: f"{fmt.label(v.split('|')[1])} customers in {v.split('|')[0]}")
    if mix_bar is not None:
        mo, kind = mix_bar.split("|")
        rows = drill_data.mix_customers(ctx.drill_roles, ctx.db, mo, kind, ctx.as_of, ctx.horizon, ctx.segment,
                                        ctx.region, ctx.owner)
        show_records(rows, "ov_mix_customers", f"behind {fmt.label(kind).lower()} revenue in {mo}")
    st.caption(f"Gross sales: order totals before refunds (revenue net of refunds is on the Sales chart). "
               f"New: orders in the month of the customer's first order. Reactivated: the customer's "
               f"previous order was {ctx.horizon} days or more earlier. Returning: every other order.")
