"""Onboarding, reactivation, subscriptions and support: six tiles in an expander, each opened
in "Open a count" above."""

from __future__ import annotations

from functools import partial
from typing import Any

import streamlit as st

from core import formatting as fmt
from core.kpis import format_value
from views.overview_sections.context import TILE_WIDTH, Context


def render_extras(ctx: Context, x: dict[str, Any]) -> None:
    """The onboarding, reactivation, subscription and support tiles (`x`: ui.kpis.extras)."""
    with st.expander("Onboarding, reactivation, subscriptions and support", expanded=True):
        tile = partial(st.container(horizontal=True, gap="small").metric, width=TILE_WIDTH)
        tile("2nd order in 60 days", format_value("rate", x["onboarding_second_order_rate"]),
             help=f"Of the {x['new_customers']:,} customers whose first order fell in the {ctx.horizon} days "
                  "ending 60 days before the as-of date, the share who ordered again within 60 days.")
        tile("Days to 2nd order",
             "n/a" if x["onboarding_median_days"] is None else f"{x['onboarding_median_days']:.0f}",
             help="Among those new customers who have placed a second order.")
        tile("Lapsed reactivated", format_value("rate", x["reactivation_rate"]),
             help=f"Of the {x['lapsed_customers']:,} customers lapsed at the start of the period (ordered "
                  "before, but not in the period before it), the share who ordered in this period.")
        tile("Tickets per 100",
             "n/a" if x["tickets_per_100_active"] is None else f"{x['tickets_per_100_active']:.1f}",
             help="Support tickets opened in the period per 100 active customers.")
        tile("Subs paused", fmt.count(x["subscriptions_paused"]),
             help="Current subscription states (the data keeps the present state only). "
                  f"{x['subscriptions_active']:,} subscriptions are active.")
        tile("Subs cancelled", fmt.count(x["subscriptions_cancelled"]),
             help="Current subscription states (the data keeps the present state only).")
        st.caption("Each of these tiles opens the customers it counts (the tickets, for tickets) in \"Open a "
                   "count\" above.")
