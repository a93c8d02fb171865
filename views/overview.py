"""Overview: retention KPIs, cohorts, revenue mix, health bands, NPS, loyalty, outreach results.

Every role may open it, so it shows aggregates only: no names, emails, phones or comments;
the one exception is the accounts behind a band move, listed only for roles that may see
accounts (exec sees them by segment and region).

This script reads the filters once and draws the sections in order, one function each from
views/overview_sections/ (the order is the layout: Streamlit reruns it top to bottom).
"""

from __future__ import annotations

import streamlit as st

from ui import kpis as data
from ui.auth import require_screen
from views.overview_sections.cohorts import render_cohorts
from views.overview_sections.context import read_filters
from views.overview_sections.extras import render_extras
from views.overview_sections.health import render_health
from views.overview_sections.kpis import render_period, render_tiles
from views.overview_sections.lifetime_value import render_lifetime_value
from views.overview_sections.nps_loyalty import render_nps_loyalty
from views.overview_sections.open_count import render_open_count
from views.overview_sections.outreach import render_outreach
from views.overview_sections.revenue_mix import render_revenue_mix
from views.overview_sections.trends import render_trends

user = require_screen("overview")

st.title("Overview")
st.caption("How many customers stay, buy again and recommend the shop. Aggregates only: no customer is named "
           "on this screen (except the customers behind a count or a band move, for the roles that may see "
           "accounts).")

ctx = read_filters(user, data.db_key())
table = data.kpi_table(*ctx.args)
kpi = table.set_index("key")
render_period(ctx, kpi)
render_tiles(ctx, table, kpi)
extras = data.extras(*ctx.args)
render_open_count(ctx, kpi, extras)
render_extras(ctx, extras)

# One section at a time: each is computed only when it is shown (and then cached).
SECTIONS = {
    "Trends": lambda: render_trends(ctx),
    "Cohorts": lambda: render_cohorts(ctx),
    "Revenue mix": lambda: render_revenue_mix(ctx),
    "Health bands": lambda: render_health(ctx),
    "NPS and loyalty": lambda: render_nps_loyalty(ctx, kpi),
    "Outreach results": lambda: render_outreach(ctx),
    "Lifetime value": lambda: render_lifetime_value(ctx),
}
section = st.segmented_control("Show", list(SECTIONS), default="Trends", key="ov_section") or "Trends"
SECTIONS[section]()
