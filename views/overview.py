"""Overview: retention KPIs, cohorts, revenue mix, health bands, NPS, loyalty, outreach results.

Every role may open it, so it shows aggregates only: no names, emails, phones or comments;
the one exception is the accounts behind a band move, listed only for roles that may see
accounts (exec sees them by segment and region).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core import formatting as fmt
from core.accounts import BAND_LABELS
from core.clv import CLV_EXPLANATION
from core.config import resolve_horizon
from core.drilldown import EXTRA_DRILLS, KPI_DRILLS, NPS_TILE_DRILL, PROGRAMME_DRILLS, SALES_DRILLS
from core.kpis import KPI_INFO, REFUNDS_RULE, format_change, format_value, kpi_table_csv
from core.roles import may_see_personal_data
from db.models import utcnow
from ui import accounts as accounts_data
from ui import drilldown as drill_data
from ui import kpis as data
from ui.auth import require_screen
from ui.safe import md, plotly_chart

user = require_screen("overview")

st.title("Overview")
st.caption("How many customers stay, buy again and recommend the shop. Aggregates only: no customer is named "
           "on this screen (except the customers behind a count or a band move, for the roles that may see "
           "accounts).")

db = data.db_key()
options = data.filter_options(db)
ALL = "All"

with st.container(border=True):
    c1, c2, c3, c4, c5 = st.columns([1.2, 1, 1, 1, 1])
    as_of = c1.date_input("As of", value=utcnow().date(), key="ov_as_of", min_value=date(2000, 1, 1),
                          help="KPIs are computed at the end of this day.")
    # The configured horizon (HEARTH_HORIZON_DAYS) is the default, as on the command line.
    horizons = sorted({30, 60, 90, 180, 365, resolve_horizon()})
    horizon = c2.selectbox("Period (days)", horizons, index=horizons.index(resolve_horizon()), key="ov_horizon",
                           help="The activity horizon H: the days each KPI covers, ending on the as-of date.")
    seg = c3.selectbox("Segment", [ALL, *options["segment"]], key="ov_segment")
    reg = c4.selectbox("Region", [ALL, *options["region"]], key="ov_region")
    own = c5.selectbox("Account owner", [ALL, *options["owner"]], key="ov_owner")
segment, region, owner = (None if v == ALL else v for v in (seg, reg, own))
args = (db, as_of, horizon, segment, region, owner)
flt = (db, as_of, segment, region, owner)
scope = ", ".join(f"{k} {v}" for k, v in (("segment", segment), ("region", region), ("owner", owner)) if v)

table = data.kpi_table(*args)
kpi = table.set_index("key")
start = as_of - timedelta(days=horizon - 1)
st.subheader(f"{start:%d %b %Y} to {as_of:%d %b %Y}" + (f" ({md(scope)})" if scope else ""))
st.caption(f"Changes compare with the {horizon} days before ({start - timedelta(days=horizon):%d %b %Y} "
           f"to {start - timedelta(days=1):%d %b %Y}). Hover over a number's label for its definition.")

if kpi.loc["customers", "current"] == 0:
    st.info("No customers in this selection yet. Import customers and orders on the Data screen "
            "(admin), or widen the filter.")


# Labels short enough for a tile six to a row; the full name is in the tile's help.
SHORT_LABELS = {"average_order_value": "Avg order value", "repeat_purchase_rate": "Repeat purchase",
                "loyalty_outstanding_points": "Points outstanding", "loyalty_liability": "Points liability"}


# Tiles of one width in rows that wrap: six to a row at 1440 px, fewer on a narrower screen,
# never a figure cut off.
TILE_WIDTH = 140


def metric(col, key: str) -> None:  # noqa: ANN001
    info = KPI_INFO[key]
    row = kpi.loc[key]
    if info.kind == "money":
        # Compact in the tile ("€4.26M") so it is never cut off; the full amount in the help.
        value = fmt.money_compact(row["current"], missing="n/a")
        delta = None if row["change"] is None or row["change"] != row["change"] else fmt.signed_money(row["change"])
        full = f"{info.label}: {fmt.money(row['current'], missing='n/a')}. "
    elif info.kind in ("count", "points") and row["current"] is not None and abs(row["current"]) >= 1_000_000:
        value, delta = fmt.count_compact(row["current"]), format_change(info.kind, row["change"])
        full = f"{info.label}: {fmt.count(row['current'])}. "
    else:
        value, delta = format_value(info.kind, row["current"]), format_change(info.kind, row["change"])
        full = f"{info.label}. " if key in SHORT_LABELS else ""
    col.metric(
        SHORT_LABELS.get(key, info.label),
        value,
        delta=delta,
        delta_color="normal" if info.higher_is_better else "inverse",
        help=full + row["definition"],
        width=TILE_WIDTH,
    )


headline = ["customers", "active_customers", "revenue", "orders", "average_order_value", "nps"]
more = ["gross_sales", "refunds", "repeat_purchase_rate", "retention_rate", "churn_rate",
        "loyalty_outstanding_points", "loyalty_liability", "redemption_rate"]
for keys in (headline, more):
    tiles = st.container(horizontal=True, gap="small")
    for key in keys:
        metric(tiles, key)
st.caption(f"Revenue {fmt.money(kpi.loc['revenue', 'current'])} = gross sales "
           f"{fmt.money(kpi.loc['gross_sales', 'current'])} - refunds "
           f"{fmt.money(kpi.loc['refunds', 'current'])}. {REFUNDS_RULE}")
if kpi.loc["nps", "current"] is not None:
    st.caption(f"NPS {format_value('nps', kpi.loc['nps', 'current'])}, 95 % interval "
               f"{format_value('nps', kpi.loc['nps_ci_low', 'current'])} to "
               f"{format_value('nps', kpi.loc['nps_ci_high', 'current'])}, from "
               f"{format_value('count', kpi.loc['nps_responses', 'current'])} answers.")
st.download_button(
    "Download the KPI table (CSV)",
    data=kpi_table_csv(table[["key", "kpi", "current", "previous", "change", "change_pct", "definition"]]
                       .assign(as_of=as_of.isoformat(), period_days=horizon, filter=scope or "all customers")),
    file_name=f"hearth-kpis-{as_of.isoformat()}-{horizon}d.csv",
    mime="text/csv",
    key="ov_download",
)

# Drill-down: the customers behind a count (exec: by segment and region, never names or ids).
# The NPS tile opens its answers (exec: by segment, region and channel).
drill_counts = {k: kpi.loc[k, "current"] for k in ("customers", "active_customers", "orders")}
drill_counts["nps"] = kpi.loc["nps_responses", "current"]
# The rates open the customers of their numerators; the box shows the rate.
drill_rates = {"retained": "retention_rate", "repeat": "repeat_purchase_rate"}
# The loyalty tiles open the members behind them (core.drilldown.programme_records).
LOYALTY_TILES = {"loyalty_outstanding_points": "outstanding", "loyalty_liability": "liability",
                 "redemption_rate": "redemption"}
x = data.extras(*args)
# The tiles of "Onboarding, reactivation, subscriptions and support" open the customers counted.
extra_figures = {
    "onboarding": f"{x['new_customers']:,} new customers, "
                  f"{format_value('rate', x['onboarding_second_order_rate'])} ordered again",
    "lapsed": f"{x['lapsed_customers']:,} lapsed, {x['reactivated_customers']:,} reactivated",
    "tickets": f"{x['tickets']:,} tickets",
    "paused": f"{x['subscriptions_paused']:,}", "cancelled": f"{x['subscriptions_cancelled']:,}"}
drill_words = {**KPI_DRILLS, **SALES_DRILLS, "nps": NPS_TILE_DRILL, **EXTRA_DRILLS,
               **{k: PROGRAMME_DRILLS[w] for k, w in LOYALTY_TILES.items()
                  if kpi.loc[k, "current"] is not None}}


def _drill_label(k: str) -> str:
    if k == "average_order_value":
        return (f"{drill_words[k]} ({fmt.money(kpi.loc[k, 'current'], missing='n/a')} from "
                f"{fmt.count(kpi.loc['orders', 'current'])} orders)")
    if k in EXTRA_DRILLS:
        return f"{drill_words[k]} ({extra_figures[k]})"
    if k in LOYALTY_TILES:
        return f"{drill_words[k]} ({format_value(KPI_INFO[k].kind, kpi.loc[k, 'current'])})"
    if k in SALES_DRILLS:
        return f"{drill_words[k]} ({fmt.money(kpi.loc[k, 'current'], missing='n/a')})"
    if k in drill_counts:
        return f"{drill_words[k]} ({fmt.count(drill_counts[k])})"
    if k in drill_rates:
        rate = kpi.loc[drill_rates[k], "current"]
        return f"{drill_words[k]} ({KPI_INFO[drill_rates[k]].label.lower()} {format_value('rate', rate)})"
    return drill_words[k]


drill = st.selectbox("Open a count", list(drill_words), index=None, key="ov_drill",
                     placeholder="Choose a count to see the customers behind it", format_func=_drill_label)
SALES_COLUMNS = {
    "kind": st.column_config.TextColumn("Record"), "reference": st.column_config.TextColumn("Order or refund id"),
    "external_id": st.column_config.TextColumn("Customer id"), "name": st.column_config.TextColumn("Name"),
    "owner": st.column_config.TextColumn("Owner"), "segment": st.column_config.TextColumn("Segment"),
    "region": st.column_config.TextColumn("Region"),
    "at": st.column_config.DatetimeColumn("Ordered or refunded", format="D MMM YYYY HH:mm"),
    "amount": st.column_config.NumberColumn(fmt.money_label("Amount"), format=fmt.money_column_format()),
    "offer_code": st.column_config.TextColumn("Offer code"),
    "refunded_order": st.column_config.TextColumn("Refund of order"),
    "orders": st.column_config.NumberColumn("Orders"),
    "gross_sales": st.column_config.NumberColumn(fmt.money_label("Gross sales"), format=fmt.money_column_format()),
    "refunds": st.column_config.NumberColumn(fmt.money_label("Refunds"), format=fmt.money_column_format()),
    "revenue": st.column_config.NumberColumn(fmt.money_label("Revenue"), format=fmt.money_column_format()),
}


def show_sales(rows: pd.DataFrame, key: str, what: str) -> None:
    """Orders and refunds (roles that may see them) or their breakdown by segment and region."""
    if "kind" in rows.columns:
        orders, refunds = rows[rows["kind"] == "order"], rows[rows["kind"] == "refund"]
        st.caption(f"{len(orders):,} orders ({fmt.money(orders['amount'].sum())}) and {len(refunds):,} refunds "
                   f"({fmt.money(refunds['amount'].sum())}) {what}, newest first.")
        st.dataframe(rows.drop(columns=["customer_id"]), hide_index=True, key=key, column_config=SALES_COLUMNS,
                     placeholder=fmt.DASH)
    else:
        st.caption(f"Your role sees aggregates only: the orders and refunds {what}, by segment and region.")
        st.dataframe(rows, hide_index=True, key=key, column_config=SALES_COLUMNS, placeholder=fmt.DASH)


LOYALTY_COLUMNS = {
    "external_id": st.column_config.TextColumn("Customer id"), "name": st.column_config.TextColumn("Name"),
    "owner": st.column_config.TextColumn("Owner"), "segment": st.column_config.TextColumn("Segment"),
    "region": st.column_config.TextColumn("Region"), "tier": st.column_config.TextColumn("Tier"),
    "members": st.column_config.NumberColumn("Members"),
    "balance": st.column_config.NumberColumn("Points held", format="%d"),
    "earned": st.column_config.NumberColumn("Earned", format="%d"),
    "redeemed": st.column_config.NumberColumn("Redeemed", format="%d"),
    "expired": st.column_config.NumberColumn("Expired", format="%d"),
    "expiring_points": st.column_config.NumberColumn("Expiring in 30 days", format="%d"),
    "liability": st.column_config.NumberColumn(fmt.money_label("Liability"), format=fmt.money_column_format()),
}

EXTRA_COLUMNS = {
    "external_id": st.column_config.TextColumn("Customer id"), "name": st.column_config.TextColumn("Name"),
    "owner": st.column_config.TextColumn("Owner"), "segment": st.column_config.TextColumn("Segment"),
    "region": st.column_config.TextColumn("Region"), "customers": st.column_config.NumberColumn("Customers"),
    "first_order": st.column_config.DatetimeColumn("First order", format="D MMM YYYY"),
    "second_order": st.column_config.DatetimeColumn("Second order", format="D MMM YYYY"),
    "days_to_second": st.column_config.NumberColumn("Days to 2nd order", format="%.0f"),
    "came_back": st.column_config.NumberColumn("Ordered again in 60 days"),
    "last_order_before": st.column_config.DatetimeColumn("Last order before", format="D MMM YYYY"),
    "reactivated": st.column_config.NumberColumn("Reactivated"),
    "ticket": st.column_config.TextColumn("Ticket"), "tickets": st.column_config.NumberColumn("Tickets"),
    "opened_at": st.column_config.DatetimeColumn("Opened", format="D MMM YYYY"),
    "topic": st.column_config.TextColumn("Topic"), "status": st.column_config.TextColumn("Status"),
    "subscription_status": st.column_config.TextColumn("Subscription"),
}

if drill in EXTRA_DRILLS:
    extra = drill_data.extra_records(drill_data.roles_key(user.roles) if may_see_personal_data(user.roles)
                                     else None, db, drill, as_of, horizon, segment, region, owner)
    if may_see_personal_data(user.roles):
        st.caption(f"{len(extra):,} {'tickets' if drill == 'tickets' else 'customers'} "
                   f"({extra_figures[drill]}).")
        st.dataframe(extra.drop(columns=["customer_id"]), hide_index=True, key="ov_drill_extra",
                     column_config=EXTRA_COLUMNS, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: these records by segment and region.")
        st.dataframe(extra, hide_index=True, key="ov_drill_extra", column_config=EXTRA_COLUMNS,
                     placeholder=fmt.DASH)
elif drill in LOYALTY_TILES:
    members = drill_data.programme_records(drill_data.roles_key(user.roles) if may_see_personal_data(user.roles)
                                           else None, db, as_of, LOYALTY_TILES[drill], segment, region, owner)
    if may_see_personal_data(user.roles):
        st.caption(f"{len(members):,} members, {int(members['balance'].sum()):,} points held, "
                   f"{int(members['redeemed'].sum()):,} of {int(members['earned'].sum()):,} earned points redeemed.")
        st.dataframe(members.drop(columns=["customer_id"]), hide_index=True, key="ov_drill_members",
                     column_config=LOYALTY_COLUMNS, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: the members behind this figure by segment and region.")
        st.dataframe(members, hide_index=True, key="ov_drill_members", column_config=LOYALTY_COLUMNS,
                     placeholder=fmt.DASH)
elif drill in SALES_DRILLS:
    show_sales(drill_data.sales_records(
        drill_data.roles_key(user.roles) if may_see_personal_data(user.roles) else None, db, drill, as_of, horizon,
        segment, region, owner), "ov_drill_sales", "of the period")
elif drill == "nps":
    tile_answers = drill_data.period_answers(
        drill_data.roles_key(user.roles) if may_see_personal_data(user.roles) else None, db, as_of, horizon,
        segment, region, owner)
    if may_see_personal_data(user.roles):
        st.caption(f"{len(tile_answers):,} answers with a score in the period, newest first.")
        st.dataframe(tile_answers.drop(columns=["customer_id"]), hide_index=True, key="ov_drill_answers",
                     column_config=drill_data.ANSWER_COLUMNS, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: the answers behind the NPS by segment, region and channel.")
        st.dataframe(tile_answers, hide_index=True, key="ov_drill_answer_breakdown", column_config={
            "segment": "Segment", "region": "Region", "channel": "Channel",
            "answers": st.column_config.NumberColumn("Answers")}, placeholder=fmt.DASH)
elif drill is not None:
    if may_see_personal_data(user.roles):
        people = drill_data.kpi_customers(drill_data.roles_key(user.roles), db, drill, as_of, horizon,
                                          segment, region, owner)
        st.caption(f"{len(people):,} customers" + (f", {int(people['orders_in_period'].sum()):,} orders in the "
                                                    "period" if drill == "orders" else "") + ".")
        st.dataframe(people.drop(columns=["customer_id"]), hide_index=True, key="ov_drill_customers",
                     column_config={
                         "external_id": st.column_config.TextColumn("Customer id"),
                         "name": st.column_config.TextColumn("Name"),
                         "owner": st.column_config.TextColumn("Owner"),
                         "segment": st.column_config.TextColumn("Segment"),
                         "region": st.column_config.TextColumn("Region"),
                         "orders_in_period": st.column_config.NumberColumn("Orders in the period"),
                         "orders_previous_period": st.column_config.NumberColumn("Orders in the period before"),
                     }, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: the customers behind this count by segment and region.")
        st.dataframe(drill_data.kpi_breakdown(db, drill, as_of, horizon, segment, region, owner), hide_index=True,
                     key="ov_drill_breakdown",
                     column_config={"segment": "Segment", "region": "Region",
                                    "customers": st.column_config.NumberColumn("Customers"),
                                    "orders_in_period": st.column_config.NumberColumn("Orders in the period")},
                                        placeholder=fmt.DASH)

PEOPLE_COLUMNS = {
    "external_id": st.column_config.TextColumn("Customer id"), "name": st.column_config.TextColumn("Name"),
    "owner": st.column_config.TextColumn("Owner"), "segment": st.column_config.TextColumn("Segment"),
    "region": st.column_config.TextColumn("Region"), "orders": st.column_config.NumberColumn("Orders"),
    "customers": st.column_config.NumberColumn("Customers"),
    "revenue": st.column_config.NumberColumn(fmt.money_label("Order totals"), format=fmt.money_column_format()),
    "first_order": st.column_config.DateColumn("First order", format="D MMM YYYY"),
    "orders_in_period": st.column_config.NumberColumn("Orders in the period"),
    "orders_previous_period": st.column_config.NumberColumn("Orders in the period before"),
    "health_score": st.column_config.NumberColumn("Health", format="%d"),
    "churn_percent": st.column_config.NumberColumn("Churn risk", format="%.1f %%"),
    "clv": st.column_config.NumberColumn(fmt.money_label("12-month value"), format=fmt.money_column_format()),
    "expected_orders": st.column_config.NumberColumn("Expected orders, 12 months", format="%.2f"),
    "p_alive": st.column_config.NumberColumn("Still a customer (probability)", format="percent"),
    "balance": st.column_config.NumberColumn("Points held", format="%d"),
    "members": st.column_config.NumberColumn("Members"),
}



def show_records(frame, key: str, what: str) -> None:  # noqa: ANN001
    """The records behind a chart bar or cell: customers (roles that may see them) or, for the
    others, the same records by segment and region."""
    if "customer_id" in frame.columns:
        st.caption(f"{len(frame):,} customers {what}.")
        st.dataframe(frame.drop(columns=["customer_id"]), hide_index=True, key=key, column_config=PEOPLE_COLUMNS,
            placeholder=fmt.DASH)
    else:
        st.caption(f"Your role sees aggregates only: the customers {what}, by segment and region.")
        st.dataframe(frame, hide_index=True, key=key, column_config=PEOPLE_COLUMNS, placeholder=fmt.DASH)


personal = may_see_personal_data(user.roles)
drill_roles = drill_data.roles_key(user.roles) if personal else None

with st.expander("Onboarding, reactivation, subscriptions and support", expanded=True):
    tile = partial(st.container(horizontal=True, gap="small").metric, width=TILE_WIDTH)
    tile("2nd order in 60 days", format_value("rate", x["onboarding_second_order_rate"]),
         help=f"Of the {x['new_customers']:,} customers whose first order fell in the {horizon} days "
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
    st.caption("Each of these tiles opens the customers it counts (the tickets, for tickets) in \"Open a count\" "
               "above.")

# One section at a time: each is computed only when it is shown (and then cached).
SECTIONS = ["Trends", "Cohorts", "Revenue mix", "Health bands", "NPS and loyalty", "Outreach results",
            "Lifetime value"]
section = st.segmented_control("Show", SECTIONS, default="Trends", key="ov_section") or "Trends"

if section == "Trends":
    tr = data.trend(*args)
    if tr["orders"].sum() == 0:
        st.info("No orders in the last year for this selection; the trend fills in as orders are imported.")
    else:
        fig = go.Figure()
        points_on = [str(pd.Timestamp(d).date()) for d in tr["as_of"]]
        fig.add_scatter(x=tr["as_of"], y=tr["revenue"], name=f"Revenue, trailing {horizon} days",
                        mode="lines+markers", customdata=[f"{d}|orders" for d in points_on])
        fig.add_scatter(x=tr["as_of"], y=tr["active_customers"], name="Active customers", yaxis="y2",
                        mode="lines+markers", customdata=[f"{d}|active_customers" for d in points_on])
        fig.update_layout(yaxis={"title": fmt.money_label(f"Revenue, trailing {horizon} days")},
                          xaxis={"title": "As of (every four weeks)"},
                          yaxis2={"title": "Active customers (count)", "overlaying": "y", "side": "right"},
                          legend={"orientation": "h"}, margin={"t": 30}, height=380,
                          title="Every four weeks over the last year, each point over its trailing period")
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
            if personal:
                rows = drill_data.kpi_customers(drill_roles, db, which, on_day, horizon, segment, region, owner)
            else:
                rows = drill_data.kpi_breakdown(db, which, on_day, horizon, segment, region, owner)
            show_records(rows, "ov_point_customers", f"behind this point ({fmt.date_text(on_day)})")
        m = data.monthly(*flt)
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
        if month is not None and may_see_personal_data(user.roles):
            st.dataframe(drill_data.month_customers(drill_data.roles_key(user.roles), db, month, as_of, segment,
                                                    region, owner).drop(columns=["customer_id"]),
                         hide_index=True, key="ov_month_customers", column_config={
                             "external_id": st.column_config.TextColumn("Customer id"),
                             "name": st.column_config.TextColumn("Name"), "owner": st.column_config.TextColumn("Owner"),
                             "segment": st.column_config.TextColumn("Segment"),
                             "region": st.column_config.TextColumn("Region"),
                             "orders": st.column_config.NumberColumn("Orders"),
                             "gross_sales": st.column_config.NumberColumn("Order totals",
                                                                          format=fmt.money_column_format())},
                                                                              placeholder=fmt.DASH)
        elif month is not None:
            st.caption("Your role sees aggregates only: the customers of this month by segment and region.")
            st.dataframe(drill_data.month_breakdown(db, month, as_of, segment, region, owner), hide_index=True,
                         key="ov_month_breakdown", column_config={
                             "segment": "Segment", "region": "Region",
                             "customers": st.column_config.NumberColumn("Customers"),
                             "orders": st.column_config.NumberColumn("Orders")}, placeholder=fmt.DASH)

if section == "Cohorts":
    co = data.cohorts(*flt)
    if co.empty:
        st.info("No first orders in the last 12 months for this selection. Import orders on the Data "
                "screen, or widen the filter.")
    else:
        month_cols = [c for c in co.columns if isinstance(c, int | np.integer)]
        z = co[month_cols].to_numpy(dtype=float)
        fig = go.Figure(go.Heatmap(
            z=z * 100, x=[f"M{m}" for m in month_cols], y=[f"{c} ({n:,})" for c, n in zip(co["cohort"],
                                                                                         co["customers"],
                                                                                         strict=True)],
            colorscale="Blues", zmin=0, zmax=100, colorbar={"title": "%"},
            text=np.where(np.isnan(z), "", np.char.mod("%.0f%%", np.nan_to_num(z) * 100)),
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
            format_func=lambda v: f"Cohort {v.split('|')[0]} ({sizes.get(v.split('|')[0], 0):,} customers), "
                                  f"month {v.split('|')[1]} after the first order")
        if cell is not None:
            cohort, offset = cell.split("|")
            rows = drill_data.cohort_customers(drill_roles, db, cohort, int(offset), as_of, segment, region, owner)
            show_records(rows, "ov_cohort_customers", f"of cohort {cohort} who ordered in month {offset}")
        st.caption("Share of each month's new customers who ordered again in month 1, 2, 3 ... after their "
                   "first order. Blank cells lie in the future.")

if section == "Revenue mix":
    rs = data.revenue_split(*args)
    if rs["revenue"].sum() == 0:
        st.info("No revenue in the last 12 months for this selection. Import orders on the Data screen, "
                "or widen the filter.")
    else:
        fig = px.bar(rs.assign(kind_code=rs["kind"], kind=rs["kind"].map(fmt.label)), x="month", y="revenue",
                     color="kind", hover_data=["orders"], custom_data=["month", "kind_code"],
                     labels={"month": "Month", "revenue": fmt.money_label("Revenue"), "kind": "Customer",
                             "orders": "Orders"},
                     category_orders={"kind": ["New", "Returning", "Reactivated"]},
                     title="Revenue by kind of customer")
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
            rows = drill_data.mix_customers(drill_roles, db, mo, kind, as_of, horizon, segment, region, owner)
            show_records(rows, "ov_mix_customers", f"behind {fmt.label(kind).lower()} revenue in {mo}")
        st.caption(f"New: orders in the month of the customer's first order. Reactivated: the customer's "
                   f"previous order was {horizon} days or more earlier. Returning: every other order.")

if section == "Health bands":
    mix, moves = data.bands(*flt)
    if mix.empty:
        st.info("No health scores yet. Run `python -m core score` (or wait for the nightly run) to "
                "fill this chart.")
    else:
        # One bar per scoring run, on a category axis: a single run is a visible bar, not an empty
        # area over a sub-millisecond time axis.
        shown = mix.assign(run=mix["as_of"].map(fmt.date_text), band=mix["band"].map(BAND_LABELS),
                           pick=[f"{d:%Y-%m-%d}|{b}" for d, b in zip(mix["as_of"], mix["band"], strict=True)])
        fig = px.bar(shown, x="run", y="customers", color="band", custom_data=["pick"],
                     category_orders={"band": ["Healthy", "Watch", "At risk"]},
                     color_discrete_map={"Healthy": "#2e7d32", "Watch": "#f9a825", "At risk": "#c62828"},
                     labels={"run": "Scoring run", "customers": "Accounts", "band": "Band"},
                     title="Accounts per health band at each scoring run")
        fig.update_layout(height=360, margin={"t": 40}, xaxis={"type": "category"})
        plotly_chart(fig, key="ov_bands", selection_mode="points",
                     on_select=drill_data.opens("ov_bands", "ov_drill_band", drill_data.custom))
        # Newest run first; a bar is "YYYY-MM-DD|band" (the run's date and the band's code).
        band_bars = {p: (d, b, int(n)) for p, d, b, n in zip(shown["pick"], shown["as_of"], shown["band"],
                                                              shown["customers"], strict=True) if n > 0}
        band_pick = st.selectbox(
            "Open a bar", sorted(band_bars, key=lambda p: (band_bars[p][0], p), reverse=True), index=None,
            key="ov_drill_band", placeholder="Click a bar, or choose one, to see the accounts behind it",
            format_func=lambda p: (f"{band_bars[p][1]} on {fmt.date_text(band_bars[p][0])} "
                                   f"({band_bars[p][2]:,} accounts)"))
        if band_pick is not None:
            run_day, band_code = band_pick.split("|")
            rows = drill_data.band_customers(drill_roles, db, date.fromisoformat(run_day), band_code, segment,
                                             region, owner)
            band_words = f"in the {band_bars[band_pick][1]} band on {fmt.date_text(band_bars[band_pick][0])}"
            show_records(rows, "ov_band_customers", band_words)
        if moves["previous"] is None:
            st.info("Band moves need two scoring runs at least a week apart.")
        else:
            b1, b2, b3 = st.columns(3)
            b1.metric("Improved", f"{moves['improved']:,}",
                      help="Accounts in a healthier band than a week ago.")
            b2.metric("Worsened", f"{moves['worsened']:,}",
                      help="Accounts in a less healthy band than a week ago.")
            b3.metric("Unchanged", f"{moves['unchanged']:,}")
            st.caption(f"Scores of {moves['latest']:%d %b %Y} against {moves['previous']:%d %b %Y}.")
            st.dataframe(moves["moves"].assign(from_band=moves["moves"]["from_band"].map(BAND_LABELS),
                                               to_band=moves["moves"]["to_band"].map(BAND_LABELS)),
                         hide_index=True, key="ov_moves",
                         column_config={"from_band": "From", "to_band": "To",
                                        "customers": st.column_config.NumberColumn("Accounts")}, placeholder=fmt.DASH)
            pairs = list(zip(moves["moves"]["from_band"], moves["moves"]["to_band"], moves["moves"]["customers"],
                             strict=True))
            if pairs:
                pick = st.selectbox(
                    "Open a band move", range(len(pairs)), index=None, key="ov_move",
                    placeholder="Choose a move to see the accounts behind it",
                    format_func=lambda i: (f"{BAND_LABELS.get(pairs[i][0], 'other')} → "
                                           f"{BAND_LABELS.get(pairs[i][1], 'other')} ({pairs[i][2]:,} accounts)"))
                if pick is not None:
                    fb, tb, _n = pairs[pick]
                    if may_see_personal_data(user.roles):
                        acc = accounts_data.band_move_accounts(accounts_data.roles_key(user.roles), db, as_of,
                                                               fb, tb, segment, region, owner)
                        acc = acc.assign(band_before=acc["band_before"].map(BAND_LABELS),
                                         band_after=acc["band_after"].map(BAND_LABELS))
                        st.dataframe(acc.drop(columns=["customer_id"]), hide_index=True, key="ov_move_accounts",
                                     column_config={
                                         "external_id": st.column_config.TextColumn("Customer id"),
                                         "name": st.column_config.TextColumn("Name"),
                                         "owner": st.column_config.TextColumn("Owner"),
                                         "band_before": st.column_config.TextColumn("Band before"),
                                         "band_after": st.column_config.TextColumn("Band after"),
                                         "health_before": st.column_config.NumberColumn("Health before",
                                                                                        format="%d"),
                                         "health_after": st.column_config.NumberColumn("Health after", format="%d"),
                                         "churn_percent": st.column_config.NumberColumn("Churn risk",
                                                                                        format="%.1f %%"),
                                     }, placeholder=fmt.DASH)
                    else:
                        st.caption("Your role sees aggregates only: the accounts of this move by segment and "
                                   "region.")
                        st.dataframe(data.band_move_breakdown(db, as_of, fb, tb, segment, region, owner),
                                     hide_index=True, key="ov_move_breakdown",
                                     column_config={"segment": "Segment", "region": "Region",
                                                    "customers": st.column_config.NumberColumn("Accounts")},
                                                        placeholder=fmt.DASH)

if section == "NPS and loyalty":
    nt = data.nps_trend(*flt)
    if nt.empty:
        st.info("No survey answers with a score in the last 12 months for this selection. Import survey "
                "answers on the Data screen, or widen the filter.")
    else:
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
            answers = drill_data.month_answers(drill_roles, db, nps_month, as_of, segment, region, owner)
            if personal:
                st.caption(f"{len(answers):,} answers with a score in {nps_month}, newest first.")
                st.dataframe(answers.drop(columns=["customer_id"]), hide_index=True, key="ov_nps_answers",
                             column_config=drill_data.ANSWER_COLUMNS, placeholder=fmt.DASH)
            else:
                st.caption(f"Your role sees aggregates only: the answers of {nps_month} by segment, region and "
                           "channel.")
                st.dataframe(answers, hide_index=True, key="ov_nps_breakdown", column_config={
                    "segment": "Segment", "region": "Region", "channel": "Channel",
                    "answers": st.column_config.NumberColumn("Answers")}, placeholder=fmt.DASH)
    tiles = st.container(horizontal=True, gap="small")
    for key in ("loyalty_outstanding_points", "loyalty_liability", "redemption_rate"):
        metric(tiles, key)
    if kpi.loc["loyalty_liability", "current"] is None:
        st.info("Loyalty figures appear once loyalty entries are imported.")
    else:
        lm = data.loyalty_by_month(db, as_of)
        fig = go.Figure()
        flows = {"earned": "Earned", "redeemed": "Redeemed", "expired": "Expired"}
        for kind, label in flows.items():
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
                    for kind in [*flows, "liability"]
                    if (kind == "liability" and f"{m:%Y-%m}" in month_ends)
                    or (kind != "liability" and getattr(row, kind) > 0)][::-1]

        def _loy_words(v: str) -> str:
            mo, kind = v.split("|")
            if kind == "liability":
                return (f"Liability at the end of {mo} ({fmt.money(month_ends[mo][1])}, "
                        f"{month_ends[mo][0]:,} points)")
            return f"{flows[kind]} points in {mo}"

        loy_bar = st.selectbox("Open a bar", loy_bars, index=None, key="ov_drill_loyalty",
                               placeholder="Click a bar or a point of the line, or choose one, to see the members "
                                           "behind it", format_func=_loy_words)
        if loy_bar is not None:
            mo, kind = loy_bar.split("|")
            if kind == "liability":
                rows = drill_data.month_end_members(drill_roles, db, as_of, mo)
                show_records(rows, "ov_loyalty_members", f"holding points at the end of {mo} (points: how many)")
            else:
                rows = drill_data.loyalty_flow_members(drill_roles, db, as_of, mo, kind)
                show_records(rows, "ov_loyalty_members",
                             f"with {flows[kind].lower()} points in {mo} (points: how many)")
        if scope:
            st.caption("The monthly loyalty chart covers the whole store; the numbers above follow the filter.")

if section == "Outreach results":
    camp = data.campaigns(db)
    if camp.empty:
        st.info("No campaigns yet. Account managers start one on the Outreach screen; a share of each "
                "audience is held out so the uplift can be measured here.")
    else:
        if scope:
            st.caption("Campaign results cover each campaign's whole audience; the filter does not "
                       "apply here.")
        labelled = camp.assign(template=camp["template"].map(fmt.template_label))
        show = labelled[["name", "template", "created_at", "audience", "contacted", "holdout",
                     "reactivation_contacted", "reactivation_holdout", "uplift", "uplift_ci_low",
                     "uplift_ci_high", "revenue_offer_codes", "offers_redeemed", "window_complete"]]
        pct = st.column_config.NumberColumn
        st.dataframe(show, hide_index=True, key="ov_campaigns", column_config={
            "name": "Campaign", "template": "Template",
            "created_at": st.column_config.DatetimeColumn("Started"),
            "reactivation_contacted": pct("Reactivated, contacted", format="percent"),
            "reactivation_holdout": pct("Reactivated, holdout", format="percent"),
            "uplift": st.column_config.NumberColumn("Uplift", format="percent"),
            "uplift_ci_low": st.column_config.NumberColumn("95 % low", format="percent"),
            "uplift_ci_high": st.column_config.NumberColumn("95 % high", format="percent"),
            "revenue_offer_codes": st.column_config.NumberColumn("Offer-code revenue",
                                                                 format=fmt.money_column_format()),
            "offers_redeemed": "Codes redeemed",
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
            show_records(drill_data.campaign_customers(drill_roles, db, int(picked)), "ov_campaign_customers",
                         f"contacted or held out by {names[int(picked)]} (reactivated: inactive before, an order "
                         "within 30 days after)")
        st.caption("Uplift: reactivation rate of contacted customers who were inactive at outreach time "
                   "minus that of the held-out group; reactivated = an order within 30 days after.")
    oc = data.offer_codes(*args)
    st.markdown(f"**Offer-code revenue, last {horizon} days**")
    if oc.empty:
        st.caption("No orders redeemed an outreach offer code in this period.")
    else:
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
            show_sales(drill_data.offer_code_orders(drill_roles, db, r.template,
                                                    None if pd.isna(r.campaign_id) else int(r.campaign_id), as_of,
                                                    horizon, segment, region, owner),
                       "ov_offer_orders", "that used the code")

if section == "Lifetime value":
    st.caption(CLV_EXPLANATION)
    # Shown straight away (the fit is cached): a section that is blank until a switch is found
    # by nobody.
    lv = data.lifetime_value(*flt)
    if "error" in lv:
        st.info(f"Lifetime value not available: {md(lv['error'])}.")
    else:
        v1, v2, v3 = st.columns(3)
        v1.metric("Expected revenue, next 12 months", fmt.money(lv["total"]))
        v2.metric("Mean lifetime value", fmt.money(lv["mean"]))
        v3.metric("Median lifetime value", fmt.money(lv["median"]))
        # Fixed round bins from core (the last one open, "or more"): a click on a bar opens its customers.
        hist, bins = lv["histogram"], lv["bins"]
        step = bins.edges[1] - bins.edges[0]
        fig = go.Figure(go.Bar(
            x=[lo + step / 2 for lo in hist["low"]], y=hist["customers"], width=step * 0.95,
            customdata=hist[["bin", "label"]],
            hovertemplate="%{customdata[1]}: %{y:,} customers<extra></extra>"))
        fig.update_layout(height=320, margin={"t": 40}, title="Customers by 12-month lifetime value",
                          xaxis={"title": fmt.money_label("12-month value")
                                 + (" (the last bar: that much or more)" if len(bins.edges) > 2
                                    and bins.edges[-1] == float("inf") else "")},
                          yaxis={"title": "Customers (count)", "tickformat": ",d", "rangemode": "tozero"})
        plotly_chart(fig, key="ov_clv_hist", selection_mode="points",
                     on_select=drill_data.opens("ov_clv_hist", "ov_drill_clv", lambda p: drill_data.custom(p, 0)))
        clv_bars = {int(b): (lab, int(n)) for b, lab, n in zip(hist["bin"], hist["label"], hist["customers"],
                                                               strict=True) if n > 0}
        clv_bar = st.selectbox("Open a bar", list(clv_bars), index=None, key="ov_drill_clv",
                               placeholder="Click a bar, or choose one, to see the customers behind it",
                               format_func=lambda b: f"{clv_bars[b][0]} ({clv_bars[b][1]:,} customers)")
        if clv_bar is not None:
            rows = drill_data.clv_bin_customers(drill_roles, db, as_of, bins.edges[clv_bar], bins.edges[clv_bar + 1],
                                                segment, region, owner)
            show_records(rows, "ov_clv_customers", f"with a 12-month value of {clv_bars[clv_bar][0]}")
        by_segment = lv["by_segment"]
        st.dataframe(by_segment.assign(segment=by_segment["segment"].map(fmt.label)), hide_index=True,
                     key="ov_clv_segments", column_config={
                         "segment": "Segment", "customers": st.column_config.NumberColumn("Customers"),
                         "mean_clv": st.column_config.NumberColumn("Mean lifetime value",
                                                                   format=fmt.money_column_format()),
                         "total_clv": st.column_config.NumberColumn("Total lifetime value",
                                                                    format=fmt.money_column_format()),
                         "expected_orders": st.column_config.NumberColumn("Expected orders", format="%.2f")},
                             placeholder=fmt.DASH)
        # The three tiles and each row of the table open their customers (the same fit: their values add
        # up to the tile's total and the row's).
        clv_figures = {"all": (f"Expected revenue, mean and median lifetime value ({lv['customers']:,} customers, "
                               f"{fmt.money(lv['total'])} in 12 months)")}
        clv_figures.update({f"segment:{r.segment}": f"Segment {fmt.label(r.segment)} ({int(r.customers):,} "
                                                    f"customers, {fmt.money(r.total_clv)} in 12 months)"
                            for r in by_segment.itertuples()})
        clv_pick = st.selectbox("Open a figure", list(clv_figures), index=None, key="ov_drill_clv_figure",
                                format_func=clv_figures.get,
                                placeholder="Choose the tiles or a segment to see the customers behind them")
        if clv_pick is not None:
            of_segment = None if clv_pick == "all" else clv_pick.removeprefix("segment:")
            show_records(drill_data.clv_customers(drill_roles, db, as_of, of_segment, segment, region, owner),
                         "ov_clv_figure_customers", f"behind {clv_figures[clv_pick].split(' (')[0].lower()}")
        p = lv["bgnbd"]
        g = lv["gamma_gamma"]
        st.caption("Model parameters. BG/NBD estimates how often each customer buys and how likely they are "
                   "to have stopped; Gamma-Gamma estimates how much they spend per order. "
                   f"BG/NBD: r = {p['r']:.3g}, alpha = {p['alpha']:.3g}, a = {p['a']:.3g}, "
                   f"b = {p['b']:.3g} (weeks). Gamma-Gamma: p = {g['p']:.3g}, q = {g['q']:.3g}, "
                   f"v = {g['v']:.3g}.")
