"""Outreach results: each campaign's audience, holdout and uplift (a campaign opens its
customers), and the revenue of orders that used an outreach offer code (a row opens its orders)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import formatting as fmt
from ui import drilldown as drill_data
from ui import kpis as data
from ui.safe import plotly_chart
from views.overview_sections.context import Context, show_records, show_sales


def render_outreach(ctx: Context) -> None:
    """The "Outreach results" section: the campaigns, then the offer codes."""
    camp = data.campaigns(ctx.db)
    if camp.empty:
        st.info("No campaigns yet. Account managers start one on the Outreach screen; a share of each "
                "audience is held out so the uplift can be measured here.")
    else:
        render_campaigns(ctx, camp)
    render_offer_codes(ctx)


def render_campaigns(ctx: Context, camp: pd.DataFrame) -> None:
    """The campaigns table, the uplift per campaign with its interval, and "Open a campaign"."""
    if ctx.scope:
        st.caption("Campaign results cover each campaign's whole audience; the filter does not "
                   "apply here.")
    labelled = camp.assign(template=camp["template"].map(fmt.template_label))
    show = labelled[["name", "template", "created_at", "audience", "contacted", "holdout",
                     "reactivation_contacted", "reactivation_holdout", "uplift", "uplift_ci_low",
                     "uplift_ci_high", "revenue_offer_codes", "offers_redeemed", "window_complete"]]
    # Shares and uplift as percentages ("12.3 %", "+4.1 pts"), as every screen shows them.
    rates = ["reactivation_contacted", "reactivation_holdout", "uplift", "uplift_ci_low", "uplift_ci_high"]
    show = show.assign(**{c: show[c].astype(float) * 100 for c in rates})
    pct = st.column_config.NumberColumn
    st.dataframe(show, hide_index=True, key="ov_campaigns", column_config={
        "name": "Campaign", "template": "Template",
        "created_at": st.column_config.DatetimeColumn("Started", format="D MMM YYYY"),
        "reactivation_contacted": pct("Reactivated, contacted", format="%.1f %%"),
        "reactivation_holdout": pct("Reactivated, holdout", format="%.1f %%"),
        "uplift": pct("Uplift", format="%+.1f pts"),
        "uplift_ci_low": pct("95 % low", format="%+.1f pts"),
        "uplift_ci_high": pct("95 % high", format="%+.1f pts"),
        "revenue_offer_codes": st.column_config.NumberColumn("Offer-code revenue",
                                                             format=fmt.money_column_format()),
        "offers_redeemed": pct("Codes redeemed", format="%,d"),
        "window_complete": st.column_config.CheckboxColumn("30 days passed"),
    }, placeholder=fmt.DASH)
    plot = camp.dropna(subset=["uplift"])
    if not plot.empty:
        fig = go.Figure(go.Scatter(
            x=plot["uplift"] * 100, y=plot["name"], mode="markers", customdata=plot["campaign_id"].astype(int),
            error_x={"type": "data", "symmetric": False,
                     "array": (plot["uplift_ci_high"] - plot["uplift"]) * 100,
                     "arrayminus": (plot["uplift"] - plot["uplift_ci_low"]) * 100}))
        fig.add_vline(x=0, line_dash="dot")
        fig.update_layout(xaxis={"title": "Uplift in reactivation rate, percentage points (95 % interval)"},
                          yaxis={"title": "Campaign"}, title="Uplift per campaign",
                          height=160 + 40 * len(plot), margin={"t": 50})
        plotly_chart(fig, key="ov_uplift", selection_mode="points",
                     on_select=drill_data.opens("ov_uplift", "ov_drill_campaign", drill_data.custom))
    names = dict(zip(camp["campaign_id"].astype(int), camp["name"], strict=True))
    picked = st.selectbox("Open a campaign", list(names), index=None, key="ov_drill_campaign",
                          format_func=names.get,
                          placeholder="Click a point, or choose a campaign, to see its customers and outcome")
    if picked is not None:
        show_records(drill_data.campaign_customers(ctx.drill_roles, ctx.db, int(picked)), "ov_campaign_customers",
                     f"contacted or held out by {names[int(picked)]} (reactivated: inactive before, an order "
                     "within 30 days after)")
    st.caption("Uplift: reactivation rate of contacted customers who were inactive at outreach time "
               "minus that of the held-out group; reactivated = an order within 30 days after.")


def render_offer_codes(ctx: Context) -> None:
    """Offer-code revenue over the period by template and campaign, and "Open a row" (its orders)."""
    oc = data.offer_codes(*ctx.args)
    st.markdown(f"**Offer-code revenue, last {ctx.horizon} days**")
    if oc.empty:
        st.caption("No orders redeemed an outreach offer code in this period.")
        return
    st.dataframe(oc.assign(template=oc["template"].map(fmt.template_label)), hide_index=True,
                 key="ov_offer_codes", column_config={
                     "template": "Template", "campaign_id": "Campaign id", "orders": "Orders",
                     "revenue": st.column_config.NumberColumn("Revenue", format=fmt.money_column_format())},
                 placeholder=fmt.DASH)
    offers = {i: r for i, r in enumerate(oc.itertuples())}
    offer = st.selectbox(
        "Open a row", list(offers), index=None, key="ov_drill_offer",
        placeholder="Choose a row to see the orders that used the code",
        format_func=lambda i: (f"{fmt.template_label(offers[i].template)}"
                               + ("" if pd.isna(offers[i].campaign_id)
                                  else f", campaign {int(offers[i].campaign_id)}")
                               + f" ({int(offers[i].orders):,} orders, {fmt.money(offers[i].revenue)})"))
    if offer is not None:
        r = offers[offer]
        show_sales(drill_data.offer_code_orders(ctx.drill_roles, ctx.db, r.template,
                                                None if pd.isna(r.campaign_id) else int(r.campaign_id), ctx.as_of,
                                                ctx.horizon, ctx.segment, ctx.region, ctx.owner),
                   "ov_offer_orders", "that used the code")
