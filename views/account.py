"""Account: one customer's whole story (360 view)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.accounts import BAND_LABELS
from core.health import (
    HEALTH_COMPONENTS,
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
raw_id = st.query_params.get("id", "")
if not str(raw_id).isdigit():
    st.info("Open an account from the Accounts list (each row has an “Open” link).")
    st.page_link("views/accounts.py", label="Go to Accounts", icon=":material/group:")
    st.stop()
customer_id = int(raw_id)
try:
    info = ui.account_overview(roles, customer_id)
except AccountNotFound as exc:
    st.error(md(exc))
    st.stop()

# Customer text goes through st.text only.
st.text(f"{info['name'] or '(no name)'} · {info['external_id']}")
st.text(" · ".join(str(v) for v in (info["segment"], info["region"], f"owner {info['owner'] or 'none'}") if v))

score = info["score"]
if score is None:
    st.info("This account has no score yet. An admin can score every account under Admin → Churn model.")
else:
    m = st.columns(6)
    m[0].metric("Health", f"{health_text(score['health_score'])} / 100")
    m[1].metric("Band", BAND_LABELS.get(score["band"], score["band"]))
    churn = score["churn_probability"]
    m[2].metric("Churn probability", churn_text(churn), help="The chance of no order in the next horizon (90 days "
                "unless configured).")
    m[3].metric("Value at risk", f"{score['value_at_risk']:,.0f}", help=VALUE_EXPLANATION)
    m[4].metric("RFM segment", score["rfm_segment"] or "–")
    nxt = score.get("next_order_date")
    m[5].metric("Next order expected", f"{nxt:%d %b %Y}" if nxt else "–",
                help="From the customer's own cadence and how long what they buy lasts.")
    st.caption(f"Scored as of {score['as_of']:%d %b %Y}.")
    why_differ = disagreement(score["health_score"], churn)
    if why_differ:
        st.info(why_differ)

    left, right = st.columns([2, 3])
    with left:
        healthy_at, watch_at = band_thresholds()
        gauge = go.Figure(go.Indicator(
            mode="gauge+number", value=score["health_score"], title={"text": "Health score"},
            number={"valueformat": ".0f"},
            gauge={"axis": {"range": [0, 100]}, "bar": {"color": "#444"},
                   "steps": [{"range": [0, watch_at], "color": "#f4c7c3"},
                             {"range": [watch_at, healthy_at], "color": "#fce8b2"},
                             {"range": [healthy_at, 100], "color": "#b7e1cd"}]}))
        gauge.update_layout(height=230, margin=dict(l=20, r=20, t=40, b=0))
        plotly_chart(gauge, width="stretch", key="acct_gauge")
        st.markdown("**Why**")
        for line in score["drivers"]:
            st.text(f"• {line}")
    with right:
        comps = score["components"]
        if comps:
            frame = pd.DataFrame([{"component": v["label"], "score": v["score"], "weight": v["weight"]}
                                  for v in comps.values()])
            bar = go.Figure(go.Bar(x=frame["score"], y=frame["component"], orientation="h",
                                   customdata=frame["weight"],
                                   hovertemplate="%{y}: %{x:.0f} (weight %{customdata:.0%})<extra></extra>"))
            bar.update_layout(height=260, xaxis=dict(range=[0, 100], title="score"),
                              margin=dict(l=0, r=10, t=10, b=0))
            plotly_chart(bar, width="stretch", key="acct_components")
            missing = [label for name, (_w, label) in HEALTH_COMPONENTS.items() if name not in comps]
            if missing:
                st.caption("No data, left out (the other weights are rescaled): " + ", ".join(missing) + ".")

    history = ui.score_history(customer_id)
    if len(history) > 1:
        fig = go.Figure()
        fig.add_scatter(x=history["as_of"], y=history["health_score"], name="health", mode="lines+markers")
        fig.add_scatter(x=history["as_of"], y=history["churn_probability"] * 100, name="churn risk %",
                        mode="lines+markers")
        fig.update_layout(height=240, yaxis=dict(range=[0, 100]), margin=dict(l=0, r=0, t=10, b=0))
        st.subheader("Score history")
        plotly_chart(fig, width="stretch", key="acct_history")

st.subheader("Consent and subscription")
st.dataframe(pd.DataFrame([{
    "email consent": info["email_opt_in"], "SMS consent": info["sms_opt_in"],
    "subscription": info["subscription_status"] or "none", "signed up": info["signup_date"],
    "last login": info["last_login_at"], "email": info["email"] or "", "phone": info["phone"] or "",
}]), hide_index=True, width="stretch")
consent_changes = ui.consent_history(customer_id)
if consent_changes.empty:
    st.caption("No consent changes recorded for this customer.")
else:
    st.caption("Consent history, newest first. An import never gives back consent withdrawn here "
               "(unsubscribe, complaint, bounce).")
    st.dataframe(consent_changes, hide_index=True, width="stretch", key="acct_consent_history",
                 column_config={"changed at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})

render_account_tasks(user, customer_id, info)
render_account_outreach(user, customer_id)

st.subheader("What they buy")
items = ui.next_due(customer_id, score["as_of"] if score else None)
if items.empty:
    st.info("No orders yet.")
else:
    st.dataframe(items, hide_index=True, width="stretch", column_config={
        "times_bought": st.column_config.NumberColumn("bought (times)"),
        "replenishment_days": st.column_config.NumberColumn("lasts (days)"),
        "days_until_due": st.column_config.NumberColumn("days until due", help="Negative: overdue."),
    })

st.subheader("Timeline")
timeline = ui.account_timeline(roles, customer_id)
if timeline.empty:
    st.info("Nothing has happened with this customer yet.")
else:
    kinds = st.multiselect("Show", sorted(timeline["kind"].unique()), key="acct_kinds",
                           placeholder="everything")
    shown = timeline[timeline["kind"].isin(kinds)] if kinds else timeline
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "at": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm"),
        "detail": st.column_config.TextColumn("detail", width="large"),
    })
