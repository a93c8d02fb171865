""""Open a count": the customers (or orders, answers, members, tickets) behind a KPI tile,
as records for the roles that may see them, else by segment and region (never names or ids)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.drilldown import EXTRA_DRILLS, KPI_DRILLS, NPS_TILE_DRILL, PROGRAMME_DRILLS, SALES_DRILLS
from core.kpis import KPI_INFO, format_value
from ui import drilldown as drill_data
from views.overview_sections.context import Context, show_sales

# The rates open the customers of their numerators; the box shows the rate.
DRILL_RATES = {"retained": "retention_rate", "repeat": "repeat_purchase_rate"}
# The loyalty tiles open the members behind them (core.drilldown.programme_records).
LOYALTY_TILES = {"loyalty_outstanding_points": "outstanding", "loyalty_liability": "liability",
                 "redemption_rate": "redemption"}


EXTRA_COLUMNS = {
    "external_id": st.column_config.TextColumn("Customer id"), "name": st.column_config.TextColumn("Name"),
    "owner": st.column_config.TextColumn("Owner"), "segment": st.column_config.TextColumn("Segment"),
    "region": st.column_config.TextColumn("Region"),
    "customers": st.column_config.NumberColumn("Customers", format="%,d"),
    "first_order": st.column_config.DatetimeColumn("First order", format="D MMM YYYY"),
    "second_order": st.column_config.DatetimeColumn("Second order", format="D MMM YYYY"),
    "days_to_second": st.column_config.NumberColumn("Days to 2nd order", format="%.0f"),
    "came_back": st.column_config.NumberColumn("Ordered again in 60 days", format="%,d"),
    "last_order_before": st.column_config.DatetimeColumn("Last order before", format="D MMM YYYY"),
    "reactivated": st.column_config.NumberColumn("Reactivated", format="%,d"),
    "ticket": st.column_config.TextColumn("Ticket"), "tickets": st.column_config.NumberColumn("Tickets", format="%,d"),
    "opened_at": st.column_config.DatetimeColumn("Opened", format="D MMM YYYY"),
    "topic": st.column_config.TextColumn("Topic"), "status": st.column_config.TextColumn("Status"),
    "subscription_status": st.column_config.TextColumn("Subscription"),
}


def extra_figures(x: dict[str, Any]) -> dict[str, str]:
    """The figures of "Onboarding, reactivation, subscriptions and support" that open the customers counted."""
    return {
        "onboarding": f"{x['new_customers']:,} new customers, "
                      f"{format_value('rate', x['onboarding_second_order_rate'])} ordered again",
        "lapsed": f"{x['lapsed_customers']:,} lapsed, {x['reactivated_customers']:,} reactivated",
        "tickets": f"{x['tickets']:,} tickets",
        "paused": f"{x['subscriptions_paused']:,}", "cancelled": f"{x['subscriptions_cancelled']:,}"}


def render_open_count(ctx: Context, kpi: pd.DataFrame, x: dict[str, Any]) -> None:
    """The "Open a count" box over every countable tile, and the records of the one chosen."""
    drill_counts = {k: kpi.loc[k, "current"] for k in ("customers", "active_customers", "orders")}
    drill_counts["nps"] = kpi.loc["nps_responses", "current"]
    figures = extra_figures(x)
    drill_words = {**KPI_DRILLS, **SALES_DRILLS, "nps": NPS_TILE_DRILL, **EXTRA_DRILLS,
                   **{k: PROGRAMME_DRILLS[w] for k, w in LOYALTY_TILES.items()
                      if kpi.loc[k, "current"] is not None}}

    def _drill_label(k: str) -> str:
        """The box's words for count `k`, with its figure."""
        if k == "average_order_value":
            return (f"{drill_words[k]} ({fmt.money(kpi.loc[k, 'current'], missing='n/a')} from "
                    f"{fmt.count(kpi.loc['orders', 'current'])} orders)")
        if k in EXTRA_DRILLS:
            return f"{drill_words[k]} ({figures[k]})"
        if k in LOYALTY_TILES:
            return f"{drill_words[k]} ({format_value(KPI_INFO[k].kind, kpi.loc[k, 'current'])})"
        if k in SALES_DRILLS:
            return f"{drill_words[k]} ({fmt.money(kpi.loc[k, 'current'], missing='n/a')})"
        if k in drill_counts:
            return f"{drill_words[k]} ({fmt.count(drill_counts[k])})"
        if k in DRILL_RATES:
            rate = kpi.loc[DRILL_RATES[k], "current"]
            return f"{drill_words[k]} ({KPI_INFO[DRILL_RATES[k]].label.lower()} {format_value('rate', rate)})"
        return drill_words[k]

    drill = st.selectbox("Open a count", list(drill_words), index=None, key="ov_drill",
                         placeholder="Choose a count to see the customers behind it", format_func=_drill_label)
    if drill in EXTRA_DRILLS:
        _show_extra(ctx, drill, figures[drill])
    elif drill in LOYALTY_TILES:
        _show_members(ctx, LOYALTY_TILES[drill])
    elif drill in SALES_DRILLS:
        show_sales(drill_data.sales_records(ctx.drill_roles, ctx.db, drill, ctx.as_of, ctx.horizon,
                                            ctx.segment, ctx.region, ctx.owner), "ov_drill_sales", "of the period")
    elif drill == "nps":
        _show_period_answers(ctx)
    elif drill is not None:
        _show_kpi_customers(ctx, drill)


def _show_extra(ctx: Context, drill: str, figure: str) -> None:
    """The customers (or tickets) behind an onboarding, reactivation, subscription or support tile."""
    extra = drill_data.extra_records(ctx.drill_roles, ctx.db, drill, ctx.as_of, ctx.horizon, ctx.segment,
                                     ctx.region, ctx.owner)
    if ctx.personal:
        st.caption(f"{len(extra):,} {'tickets' if drill == 'tickets' else 'customers'} "
                   f"({figure}).")
        st.dataframe(extra.drop(columns=["customer_id"]), hide_index=True, key="ov_drill_extra",
                     column_config=EXTRA_COLUMNS, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: these records by segment and region.")
        st.dataframe(extra, hide_index=True, key="ov_drill_extra", column_config=EXTRA_COLUMNS,
                     placeholder=fmt.DASH)


def _show_members(ctx: Context, which: str) -> None:
    """The loyalty members behind a loyalty tile (`which`: outstanding, liability or redemption)."""
    members = drill_data.programme_records(ctx.drill_roles, ctx.db, ctx.as_of, which, ctx.segment, ctx.region,
                                           ctx.owner)
    if ctx.personal:
        st.caption(f"{len(members):,} members, {int(members['balance'].sum()):,} points held, "
                   f"{int(members['redeemed'].sum()):,} of {int(members['earned'].sum()):,} earned points redeemed.")
        st.dataframe(members.drop(columns=["customer_id"]), hide_index=True, key="ov_drill_members",
                     column_config=drill_data.MEMBER_COLUMNS, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: the members behind this figure by segment and region.")
        st.dataframe(members, hide_index=True, key="ov_drill_members", column_config=drill_data.MEMBER_COLUMNS,
                     placeholder=fmt.DASH)


def _show_period_answers(ctx: Context) -> None:
    """The survey answers behind the NPS tile (exec: by segment, region and channel)."""
    tile_answers = drill_data.period_answers(ctx.drill_roles, ctx.db, ctx.as_of, ctx.horizon,
                                             ctx.segment, ctx.region, ctx.owner)
    if ctx.personal:
        st.caption(f"{len(tile_answers):,} answers with a score in the period, newest first.")
        st.dataframe(tile_answers.drop(columns=["customer_id"]), hide_index=True, key="ov_drill_answers",
                     column_config=drill_data.ANSWER_COLUMNS, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: the answers behind the NPS by segment, region and channel.")
        st.dataframe(tile_answers, hide_index=True, key="ov_drill_answer_breakdown", column_config={
            "segment": "Segment", "region": "Region", "channel": "Channel",
            "answers": st.column_config.NumberColumn("Answers", format="%,d")}, placeholder=fmt.DASH)


def _show_kpi_customers(ctx: Context, drill: str) -> None:
    """The customers behind a count or a rate's numerator (exec: by segment and region)."""
    if ctx.personal:
        people = drill_data.kpi_customers(ctx.drill_roles, ctx.db, drill, ctx.as_of, ctx.horizon,
                                          ctx.segment, ctx.region, ctx.owner)
        st.caption(f"{len(people):,} customers" + (f", {int(people['orders_in_period'].sum()):,} orders in the "
                                                    "period" if drill == "orders" else "") + ".")
        st.dataframe(people.drop(columns=["customer_id"]), hide_index=True, key="ov_drill_customers",
                     column_config={
                         "external_id": st.column_config.TextColumn("Customer id"),
                         "name": st.column_config.TextColumn("Name"),
                         "owner": st.column_config.TextColumn("Owner"),
                         "segment": st.column_config.TextColumn("Segment"),
                         "region": st.column_config.TextColumn("Region"),
                         "orders_in_period": st.column_config.NumberColumn("Orders in the period", format="%,d"),
                         "orders_previous_period": st.column_config.NumberColumn("Orders in the period before",
                                                                                 format="%,d"),
                     }, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: the customers behind this count by segment and region.")
        st.dataframe(drill_data.kpi_breakdown(ctx.db, drill, ctx.as_of, ctx.horizon, ctx.segment, ctx.region,
                                              ctx.owner), hide_index=True, key="ov_drill_breakdown",
                     column_config={"segment": "Segment", "region": "Region",
                                    "customers": st.column_config.NumberColumn("Customers", format="%,d"),
                                    "orders_in_period": st.column_config.NumberColumn("Orders in the period",
                                                                                      format="%,d")},
                     placeholder=fmt.DASH)
