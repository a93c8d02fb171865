"""The period's heading and the KPI tiles: headline and more, the revenue and NPS captions,
and the KPI table as CSV."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.kpis import REFUNDS_RULE, format_value, kpi_table_csv
from ui.safe import md
from views.overview_sections.context import Context, metric

HEADLINE = ["customers", "active_customers", "revenue", "orders", "average_order_value", "nps"]
MORE = ["gross_sales", "refunds", "repeat_purchase_rate", "retention_rate", "churn_rate",
        "loyalty_outstanding_points", "loyalty_liability", "redemption_rate"]


def render_period(ctx: Context, kpi: pd.DataFrame) -> None:
    """The period in words (and the filter), what the changes compare with, and a hint when empty."""
    start = ctx.as_of - timedelta(days=ctx.horizon - 1)
    st.subheader(f"{fmt.date_text(start)} to {fmt.date_text(ctx.as_of)}" + (f" ({md(ctx.scope)})" if ctx.scope else ""))
    before = start - timedelta(days=ctx.horizon)
    st.caption(f"Changes compare with the {ctx.horizon} days before ({fmt.date_text(before)} "
               f"to {fmt.date_text(start - timedelta(days=1))}). Hover over a number's label for its definition.")

    if kpi.loc["customers", "current"] == 0:
        st.info("No customers in this selection yet. Import customers and orders on the Data screen "
                "(admin), or widen the filter.")


def render_tiles(ctx: Context, table: pd.DataFrame, kpi: pd.DataFrame) -> None:
    """Two rows of KPI tiles, the revenue and NPS captions, and the KPI table's download button."""
    for keys in (HEADLINE, MORE):
        tiles = st.container(horizontal=True, gap="small")
        for key in keys:
            metric(tiles, kpi, key)
    st.caption(f"Revenue {fmt.money(kpi.loc['revenue', 'current'])} = gross sales "
               f"{fmt.money(kpi.loc['gross_sales', 'current'])} - refunds "
               f"{fmt.money(kpi.loc['refunds', 'current'])}. {REFUNDS_RULE}")
    if kpi.loc["nps", "current"] is not None:
        st.caption(f"NPS {format_value('nps', kpi.loc['nps', 'current'])}, 95 % interval "
                   f"{format_value('nps', kpi.loc['nps_ci_low', 'current'])} to "
                   f"{format_value('nps', kpi.loc['nps_ci_high', 'current'])}, from "
                   f"{format_value('count', kpi.loc['nps_responses', 'current'])} answers.")
    rows = table[["key", "kpi", "current", "previous", "change", "change_pct", "definition"]].assign(
        as_of=ctx.as_of.isoformat(), period_days=ctx.horizon, filter=ctx.scope or "all customers")
    st.download_button(
        "Download the KPI table (CSV)",
        # Written when the button is pressed (Streamlit runs the callable then), not on every run.
        data=lambda: kpi_table_csv(rows),
        file_name=f"hearth-kpis-{ctx.as_of.isoformat()}-{ctx.horizon}d.csv",
        mime="text/csv",
        key="ov_download",
    )
