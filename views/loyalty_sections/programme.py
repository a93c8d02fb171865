"""Loyalty → Programme: liability, rates, points flows by month and the tier mix, aggregates for
everyone who may open the screen; a tile, a point, a bar or a tier opens its members (with names
for the roles that may see them, by segment and region otherwise)."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import formatting as fmt
from core import loyalty as core_loyalty
from core.config import get_settings
from ui.drilldown import MEMBER_COLUMNS, custom, opens
from ui.loyalty import members, overview
from ui.safe import formula_safe, plotly_chart
from views.loyalty_sections.members import MAX_ROWS, member_columns, member_table

FLOWS = {"earned": "Earned", "redeemed": "Redeemed", "expired": "Expired"}



def _pct(value: float | None) -> str:
    """A share as a percentage with one decimal, a dash when there is none."""
    return fmt.percent(value, missing="–")


def _open_tier() -> None:
    """A click on a bar of Members per tier: "Who holds the points" opens that tier's members."""
    points = ((st.session_state.get("loy_tier_chart") or {}).get("selection") or {}).get("points") or []
    if points and custom(points[0]):
        st.session_state["loy_drill"] = "members"
        st.session_state["loy_drill_tier"] = custom(points[0])
        st.session_state["loy_tier_open"] = custom(points[0])  # the box under the chart (names)


def _tier_members(roles: tuple[str, ...], tiers: pd.DataFrame, as_of: date) -> None:
    """The box under "Members per tier" for roles that may see members (a click on a bar sets it):
    that tier's members with their names, largest balances first; as many as the bar counts."""
    counts = {str(t): int(n) for t, n in zip(tiers["tier"], tiers["customers"], strict=True) if n > 0}
    tier = st.selectbox("Open a tier", list(counts), index=None, key="loy_tier_open",
                        placeholder="Click a bar, or choose a tier, to see its members",
                        format_func=lambda t: f"{t} ({counts[t]:,} member{'s' if counts[t] != 1 else ''})")
    if tier is None:
        return
    rows = members(roles, as_of)
    rows = rows[rows["tier"] == tier].sort_values(["balance", "customer"], ascending=[False, True])
    st.caption(f"{len(rows):,} member{'s' if len(rows) != 1 else ''} in the {tier} tier, largest balances first"
               + (f", first {MAX_ROWS:,} shown." if len(rows) > MAX_ROWS else "."))
    st.dataframe(member_table(rows), hide_index=True, key="loy_tier_members", column_config=member_columns(),
                 column_order=["link", "customer", "name", "owner", "tier", "balance", "expiring_points",
                               "earned_12m", "tier_drop_date"], placeholder=fmt.DASH)


def _show_members(rows: pd.DataFrame, key: str, what: str) -> None:
    """Members with names (roles that may see them) or the same members by segment and region."""
    if "customer_id" in rows.columns:
        st.caption(f"{len(rows):,} members {what}, holding {int(rows['balance'].sum()):,} points.")
        st.dataframe(rows.drop(columns=["customer_id"]), hide_index=True, key=key,
                     column_config=MEMBER_COLUMNS, placeholder=fmt.DASH)
    else:
        st.caption(f"Your role sees aggregates only: the {int(rows['members'].sum()):,} members {what}, by "
                   "segment and region.")
        st.dataframe(rows, hide_index=True, key=key, column_config=MEMBER_COLUMNS, placeholder=fmt.DASH)


def _programme_members(roles: tuple[str, ...] | None, k: dict, as_of: date) -> None:
    """The box under the programme tiles: the members behind each tile, the figure in its label."""
    from core.drilldown import PROGRAMME_DRILLS
    from ui.drilldown import programme_records
    from ui.kpis import db_key

    figures = {"outstanding": f"{fmt.count(k['outstanding_points'])} points",
               "liability": fmt.money(k["liability"]),
               "redemption": f"{_pct(k['redemption_rate'])}: {k['redeemed']:,} of {k['earned']:,} points",
               "breakage": f"{_pct(k['breakage'])}: {k['expired']:,} of {k['earned']:,} points",
               "enrolment": f"{_pct(k['enrolment_rate'])}: {k['members']:,} of {k['customers']:,} customers"}
    which = st.selectbox("Open a count", list(PROGRAMME_DRILLS), index=None, key="loy_drill_programme",
                         placeholder="Choose a tile to see the members behind it",
                         format_func=lambda w: f"{PROGRAMME_DRILLS[w]} ({figures[w]})")
    if which is not None:
        _show_members(programme_records(roles, db_key(), as_of, which), "loy_programme_members",
                      f"behind {PROGRAMME_DRILLS[which].split(' (')[0].lower()}")


def _month_end_members(roles: tuple[str, ...] | None, monthly: pd.DataFrame, as_of: date) -> None:
    """The box under "Outstanding points and liability" (a click on a point sets it): the members
    holding the points at that month's end."""
    from ui.drilldown import month_end_members
    from ui.kpis import db_key

    points = {f"{m:%Y-%m}": (int(p), float(v)) for m, p, v in
              zip(monthly["month"], monthly["outstanding_points"], monthly["liability"], strict=True) if p != 0}
    month = st.selectbox("Open a month end", list(points)[::-1], index=None, key="loy_month_end",
                         placeholder="Click a point, or choose a month, to see who held the points",
                         format_func=lambda m: f"End of {m} ({points[m][0]:,} points, {fmt.money(points[m][1])})")
    if month is not None:
        _show_members(month_end_members(roles, db_key(), as_of, month), "loy_month_end_members",
                      f"with points at the end of {month}")


def _flow_members(roles: tuple[str, ...] | None, monthly: pd.DataFrame, as_of: date) -> None:
    """The box under "Earned, redeemed and expired by month" (a click on a bar sets it): the members
    with that kind of points that month, with names for roles that may see them (`roles`), by
    segment and region otherwise (None)."""
    from ui.drilldown import loyalty_flow_members
    from ui.kpis import db_key

    bars = [f"{m:%Y-%m}|{kind}" for m, row in zip(monthly["month"], monthly.itertuples(), strict=True)
            for kind in FLOWS if getattr(row, kind) > 0][::-1]
    pick = st.selectbox("Open a bar", bars, index=None, key="loy_flow_bar",
                        placeholder="Click a bar, or choose one, to see the members behind it",
                        format_func=lambda v: f"{FLOWS[v.split('|')[1]]} points in {v.split('|')[0]}")
    if pick is None:
        return
    month, kind = pick.split("|")
    rows = loyalty_flow_members(roles, db_key(), as_of, month, kind)
    what = f"{FLOWS[kind].lower()} points in {month}"
    points = st.column_config.NumberColumn(f"Points {FLOWS[kind].lower()}", format="%,d")
    if roles is None:
        st.caption(f"{int(rows['members'].sum()):,} members {what}, by segment and region (your role sees "
                   "aggregates only).")
        st.dataframe(rows, hide_index=True, key="loy_flow_members", placeholder=fmt.DASH, column_config={
            "segment": "Segment", "region": "Region", "members": st.column_config.NumberColumn("Members", format="%,d"),
            "points": points})
        return
    st.caption(f"{len(rows):,} members {what}, most points first.")
    st.dataframe(formula_safe(rows.drop(columns=["customer_id"]), ["external_id", "name", "owner", "segment",
                                                                     "region"]),
                 hide_index=True, key="loy_flow_members", placeholder=fmt.DASH, column_config={
                     "external_id": "Customer id", "name": "Name", "owner": "Owner", "segment": "Segment",
                     "region": "Region", "points": points})


def render_programme(as_of: date, data: dict[str, Any] | None = None,
                     roles: tuple[str, ...] | None = None) -> None:
    """Aggregates only: liability, rates, flows by month, tier mix. A bar of the flows opens its
    members: with names for `roles` that may see them, by segment and region for None."""
    data = data or overview(as_of)
    k = data["kpis"]
    if not k["members"]:
        st.info("No loyalty points yet. Import a loyalty file on the Data screen (admins) to see the programme.")
        return
    money = get_settings().point_value
    # Tiles of one width in a row that wraps on a narrow screen: no figure is ever cut off.
    tile = partial(st.container(horizontal=True, gap="small").metric, width=140)
    tile("Outstanding points", fmt.count_compact(k["outstanding_points"]),
         help=f"{fmt.count(k['outstanding_points'])} points earned and neither redeemed nor expired.")
    tile("Liability", fmt.money_compact(k["liability"]),
         help=f"{fmt.money(k['liability'])}: outstanding points × point value ({fmt.money(money)}).")
    tile("Redemption rate", _pct(k["redemption_rate"]), help="Points redeemed / points earned, all time.")
    tile("Breakage", _pct(k["breakage"]), help="Points expired / points earned, all time.")
    tile("Enrolment", _pct(k["enrolment_rate"]),
         help=f"{k['members']:,} of {k['customers']:,} customers have any loyalty activity.")
    _programme_members(roles, k, as_of)
    _monthly_charts(roles, data["monthly"], as_of, money)
    _tier_mix(roles, data["tiers"], as_of)


def _monthly_charts(roles: tuple[str, ...] | None, monthly: pd.DataFrame, as_of: date, money: float) -> None:
    """Outstanding points and liability (left) and earned, redeemed and expired by month (right)."""
    left, right = st.columns(2)
    with left:
        # Liability is points x point value: one line, read on either axis.
        fig = go.Figure()
        fig.add_scatter(x=monthly["month"], y=monthly["outstanding_points"], name="Outstanding points",
                        customdata=list(zip(monthly["liability"], [f"{m:%Y-%m}" for m in monthly["month"]],
                                            strict=True)),
                        hovertemplate="%{x|%b %Y}: %{y:,} points, liability "
                                      + fmt.currency_symbol() + "%{customdata[0]:,.2f}<extra></extra>")
        top = max(int(monthly["outstanding_points"].max()), 1) * 1.1
        fig.add_scatter(x=monthly["month"], y=monthly["liability"], yaxis="y2", showlegend=False,
                        hoverinfo="skip", line={"width": 0})
        fig.update_layout(title="Outstanding points and liability (end of month)", height=360,
                          xaxis={"title": "Month"}, yaxis={"title": "Outstanding points", "range": [0, top]},
                          yaxis2={"title": fmt.money_label("Liability"), "overlaying": "y", "side": "right",
                                  "range": [0, top * money]},
                          showlegend=False, margin={"t": 50, "b": 10})
        plotly_chart(fig, key="loy_outstanding_chart", selection_mode="points",
                     on_select=opens("loy_outstanding_chart", "loy_month_end", lambda p: custom(p, 1)))
        _month_end_members(roles, monthly, as_of)
    with right:
        fig = go.Figure()
        for col, label in FLOWS.items():
            fig.add_bar(x=monthly["month"], y=monthly[col], name=label,
                        customdata=[f"{m:%Y-%m}|{col}" for m in monthly["month"]])
        fig.update_layout(title="Earned, redeemed and expired by month", barmode="group", height=360,
                          xaxis={"title": "Month"}, yaxis={"title": "Points"},
                          legend={"orientation": "h"}, margin={"t": 50, "b": 10})
        plotly_chart(fig, key="loy_flows_chart", selection_mode="points",
                     on_select=opens("loy_flows_chart", "loy_flow_bar", custom))
        _flow_members(roles, monthly, as_of)


def _tier_mix(roles: tuple[str, ...] | None, tiers: pd.DataFrame, as_of: date) -> None:
    """The tier table and the members per tier chart; for roles that may see members, "Open a tier"."""
    left, right = st.columns([1, 2])
    with left:
        st.subheader("Tier mix")
        st.dataframe(tiers, hide_index=True, key="loy_tier_table",
                     column_config={"tier": "Tier",
                                    "customers": st.column_config.NumberColumn("Members", format="%,d")},
                     placeholder=fmt.DASH)
        st.caption("Tiers by points earned in the last 12 months: "
                   + ", ".join(f"{t.name} from {t.threshold:,}" for t in core_loyalty.parse_tiers()) + ".")
    with right:
        fig = go.Figure(go.Bar(x=tiers["tier"], y=tiers["customers"], customdata=list(tiers["tier"])))
        fig.update_layout(title="Members per tier", height=300, margin={"t": 50, "b": 10},
                          xaxis={"title": "Tier"}, yaxis={"title": "Members (count)"})
        # A click on a bar opens its members: "Open a tier" below (names) or "Who holds the points" (exec).
        plotly_chart(fig, key="loy_tier_chart", selection_mode="points", on_select=_open_tier)
    if roles is not None:
        _tier_members(roles, tiers, as_of)
