"""Overview: retention KPIs, cohorts, revenue mix, health bands, NPS, loyalty, outreach results.

Every role may open it, so it shows aggregates only: no names, emails, phones or comments;
the one exception is the accounts behind a band move, listed only for roles that may see
accounts (exec sees them by segment and region).

This script reads the filters once and draws the sections in order, one function each from
views/overview_sections/ (the order is the layout: Streamlit reruns it top to bottom).
"""

from __future__ import annotations

from importlib import import_module

import streamlit as st

from ui import kpis as data
from ui.auth import require_screen
from ui.filters import start_at
from views.overview_sections.context import read_filters
from views.overview_sections.extras import render_extras
from views.overview_sections.kpis import render_period, render_tiles
from views.overview_sections.open_count import render_open_count

user = require_screen("overview")

st.title("Overview")
st.caption("How many customers stay, buy again and recommend the shop. Aggregates only: no customer is named "
           "on this screen (except the customers behind a count or a band move, for the roles that may see "
           "accounts).")

ctx = read_filters(user, data.db_key())
# The other figures of the first screen are computed alongside the KPI table (the trend and
# monthly sales only when the Trends section, the default, is the one shown).
data.start_first_screen(*ctx.args[1:], trends=st.session_state.get("ov_section", "Trends") in ("Trends", None))
table = data.kpi_table(*ctx.args)
kpi = table.set_index("key")
render_period(ctx, kpi)
render_tiles(ctx, table, kpi)
extras = data.extras(*ctx.args)
render_open_count(ctx, kpi, extras)
render_extras(ctx, extras)

# One section at a time: each is computed only when it is shown (and then cached), and its
# module is imported only then (the lifetime-value models, scipy, the accounts readers: a
# first view of the default section does not pay for the others).
SECTIONS = {
    "Trends": ("trends", "render_trends"),
    "Cohorts": ("cohorts", "render_cohorts"),
    "Revenue mix": ("revenue_mix", "render_revenue_mix"),
    "Health bands": ("health", "render_health"),
    "NPS and loyalty": ("nps_loyalty", "render_nps_loyalty"),
    "Outreach results": ("outreach", "render_outreach"),
    "Lifetime value": ("lifetime_value", "render_lifetime_value"),
}
start_at("ov_section", "Trends")
section = st.segmented_control("Show", list(SECTIONS), key="ov_section") or "Trends"
module, render = SECTIONS[section]
draw = getattr(import_module(f"views.overview_sections.{module}"), render)
if section == "NPS and loyalty":
    draw(ctx, kpi)
else:
    draw(ctx)
