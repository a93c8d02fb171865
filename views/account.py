"""Account: one customer's whole story (360 view)."""

from __future__ import annotations

from functools import partial

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import formatting as fmt
from core.accounts import BAND_LABELS
from core.health import (
    HEALTH_COMPONENTS,
    RFM_LABELS,
    VALUE_EXPLANATION,
    band_thresholds,
    churn_text,
    disagreement,
    health_text,
)
from core.timeline import AccountNotFound
from ui import accounts as ui
from ui.auth import require_screen
from ui.outreach import render_account_outreach
from ui.safe import md, plotly_chart
from ui.tasks import render_account_tasks

user = require_screen("account")
roles = ui.roles_key(user.roles)

st.title("Account")
# Same tab, back to the queue's page and filters as they were (both kept in the session).
st.page_link("views/accounts.py", label="Back to the queue", icon=":material/arrow_back:")
raw_id = st.query_params.get("id", "")
if not str(raw_id).isdigit():
    st.info("Open an account from the Accounts list (choose it under the table and press “Open account”).")
    st.stop()
customer_id = int(raw_id)
try:
    info = ui.account_overview(roles, customer_id)
except AccountNotFound as exc:
    st.error(md(exc))
    st.stop()

# Customer text goes through st.text only.
st.text(f"{info['name'] or '(no name)'} · {info['external_id']}")
st.text(" · ".join(str(v) for v in (fmt.label(info["segment"]), fmt.label(info["region"]),
                                     f"owner {info['owner'] or 'none'}") if v))

score = info["score"]
if score is None:
    st.info("This account has no score yet. An admin can score every account under Admin → Churn model.")
else:
    # Tiles as wide as their figure, wrapping onto another row on a narrow screen: never cut off.
    row = st.container(horizontal=True, gap="small")
    m = [partial(row.metric, width="content")] * 6
    m[0]("Health", f"{health_text(score['health_score'])} / 100")
    m[1]("Band", BAND_LABELS.get(score["band"], score["band"]))
    churn = score["churn_probability"]
    m[2]("Churn probability", churn_text(churn), help="The chance of no order in the next horizon (90 days "
                "unless configured).")
    m[3]("Value at risk", fmt.money(score["value_at_risk"], decimals=0), help=VALUE_EXPLANATION)
    m[4]("RFM segment", fmt.label(score["rfm_segment"] or None, RFM_LABELS, missing="–"))
    nxt = score.get("next_order_date")
    m[5]("Next order expected", fmt.date_text(nxt, missing="None expected"),
                help="From the customer's own cadence and how long what they buy lasts. None for a lapsed "
                     "customer: past their expected next order by more than twice their usual gap and half a year.")
    st.caption(f"Scored as of {fmt.date_text(score['as_of'])}.")
    why_differ = disagreement(score["health_score"], churn)
    if why_differ:
        st.info(why_differ)

    left, right = st.columns([2, 3])
    with left:
        healthy_at, watch_at = band_thresholds()
        gauge = go.Figure(go.Indicator(
            mode="gauge+number", value=score["health_score"],
            number={"valueformat": ".0f"},
            # Explicit ticks and room on every side, so the end label reads "100", not "10".
            gauge={"axis": {"range": [0, 100], "tickvals": [0, 20, 40, 60, 80, 100], "tickformat": "d"},
                   "bar": {"color": "#444"},
                   "steps": [{"range": [0, watch_at], "color": "#f4c7c3"},
                             {"range": [watch_at, healthy_at], "color": "#fce8b2"},
                             {"range": [healthy_at, 100], "color": "#b7e1cd"}]}))
        gauge.update_layout(height=250, margin=dict(l=40, r=40, t=50, b=10), title="Health score (0 to 100)")
        plotly_chart(gauge, width="stretch", key="acct_gauge")
        st.markdown("**Why**")
        for line in score["drivers"]:
            st.text(f"• {line}")
    with right:
        comps = score["components"]
        if comps:
            frame = pd.DataFrame([{"component": v["label"], "score": v["score"], "weight": v["weight"]}
                                  for v in comps.values()])
            missing = [label for name, (_w, label) in HEALTH_COMPONENTS.items() if name not in comps]
            # A score of 0 is a bar labelled "0"; a component with no data is a hatched grey bar
            # labelled "no data", so the two never look alike.
            bar = go.Figure(go.Bar(x=frame["score"], y=frame["component"], orientation="h", name="Score",
                                   customdata=frame["weight"] * 100, text=frame["score"].map("{:.0f}".format),
                                   textposition="outside", cliponaxis=False,
                                   hovertemplate="%{y}: %{x:.0f} (weight %{customdata:.0f} %)<extra></extra>"))
            if missing:
                bar.add_bar(x=[100] * len(missing), y=missing, orientation="h", name="No data",
                            text=["no data"] * len(missing), textposition="inside", insidetextanchor="middle",
                            marker={"color": "rgba(160,160,160,0.25)", "pattern": {"shape": "/"}},
                            hovertemplate="%{y}: no data, left out<extra></extra>")
            bar.update_layout(height=300, xaxis=dict(range=[0, 108], title="Component score (0 to 100)"),
                              yaxis=dict(title="Component"),
                              title="Health score by component", barmode="overlay", showlegend=False,
                              margin=dict(l=0, r=10, t=40, b=0))
            plotly_chart(bar, width="stretch", key="acct_components")
            if missing:
                st.caption("No data, left out (the other weights are rescaled): " + ", ".join(missing) + ".")

    history = ui.score_history(customer_id)
    if len(history) > 1:
        fig = go.Figure()
        fig.add_scatter(x=history["as_of"], y=history["health_score"], name="Health score", mode="lines+markers")
        fig.add_scatter(x=history["as_of"], y=history["churn_probability"] * 100, name="Churn risk (%)",
                        mode="lines+markers")
        fig.update_layout(height=280, yaxis=dict(range=[0, 100], title="Score / percent (0 to 100)"),
                          xaxis=dict(title="Scoring run"), title="Health score and churn risk over time",
                          legend={"orientation": "h"}, margin=dict(l=0, r=0, t=40, b=0))
        st.subheader("Score history")
        plotly_chart(fig, width="stretch", key="acct_history")

st.subheader("Consent and subscription")
st.dataframe(pd.DataFrame([{
    "Email consent": bool(info["email_opt_in"]), "SMS consent": bool(info["sms_opt_in"]),
    "Subscription": fmt.label(info["subscription_status"], missing="None taken"),
    "Signed up": fmt.date_text(info["signup_date"], missing=""),
    "Last login": fmt.date_text(info["last_login_at"], missing=""), "Email": info["email"] or "",
    "Phone": info["phone"] or "",
}]), hide_index=True, width="stretch", placeholder=fmt.DASH)
consent_changes = ui.consent_history(customer_id)
if consent_changes.empty:
    st.caption("No consent changes recorded for this customer.")
else:
    st.caption("Consent history, newest first. An import never gives back consent withdrawn here "
               "(unsubscribe, complaint, bounce).")
    st.dataframe(consent_changes, hide_index=True, width="stretch", key="acct_consent_history",
                 column_config={
                     "changed at": st.column_config.DatetimeColumn("Changed at (UTC)", format="D MMM YYYY HH:mm"),
                     "channel": st.column_config.TextColumn("Channel"),
                     "consent": st.column_config.TextColumn("Consent"),
                     "source": st.column_config.TextColumn("Source"),
                     "detail": st.column_config.TextColumn("Detail"), "by": st.column_config.TextColumn("By")},
                 placeholder=fmt.DASH)

render_account_tasks(user, customer_id, info)
render_account_outreach(user, customer_id)

st.subheader("What they buy")
items = ui.next_due(customer_id, score["as_of"] if score else None)
if items.empty:
    st.info("No orders yet.")
else:
    st.dataframe(items.assign(category=items["category"].map(fmt.label)), hide_index=True, width="stretch",
                 column_config={
        "sku": st.column_config.TextColumn("SKU"),
        "name": st.column_config.TextColumn("Product"),
        "category": st.column_config.TextColumn("Category"),
        "times_bought": st.column_config.NumberColumn("Times bought", format="%,d"),
        "last_bought": st.column_config.DateColumn("Last bought", format="D MMM YYYY"),
        "replenishment_days": st.column_config.NumberColumn("Lasts (days)", format="%,d"),
        "next_due": st.column_config.DateColumn("Next due", format="D MMM YYYY"),
        "days_until_due": st.column_config.NumberColumn("Days until due", help="Negative: overdue."),
    }, placeholder=fmt.DASH)

st.subheader("Timeline")
timeline = ui.account_timeline(roles, customer_id)
if timeline.empty:
    st.info("Nothing has happened with this customer yet.")
else:
    kinds = st.multiselect("Show", sorted(timeline["kind"].unique()), key="acct_kinds",
                           placeholder="everything", format_func=fmt.label)
    shown = timeline[timeline["kind"].isin(kinds)] if kinds else timeline
    st.dataframe(shown.assign(kind=shown["kind"].map(fmt.label)), hide_index=True, width="stretch",
                 column_config={
        "at": st.column_config.DatetimeColumn("When", format="D MMM YYYY HH:mm"),
        "kind": st.column_config.TextColumn("What"),
        "title": st.column_config.TextColumn("Event"),
        "detail": st.column_config.TextColumn("Detail", width="large"),
    }, placeholder=fmt.DASH)
