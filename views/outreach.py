"""Outreach screen: what outreach earned, campaigns against their held-out customers (every
role, aggregates), and every message sent (not for exec).

Customer text (names, subjects, bodies) is shown only through st.dataframe, never as
markdown or HTML.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import formatting as fmt
from core import money
from core import outreach as core_outreach
from core.readcache import cached
from core.roles import Role, may_see_personal_data
from ui.auth import require_screen, roles_key
from ui.db import get_session
from ui.outreach import LABELS, MESSAGE_COLUMNS, blanks, state_label
from ui.safe import formula_safe, plotly_chart
from ui.worker import render_worker_status

# Cached readers of this screen only (the campaign results and the message log).


@cached()
def _results() -> pd.DataFrame:
    with get_session() as session:
        return core_outreach.campaign_results(session=session)


@cached()
def _log(roles: tuple[str, ...], username: str, statuses: tuple[str, ...], template: str | None,
         triggered_by: str | None, since: date | None, campaign_id: int | None) -> pd.DataFrame:
    with get_session() as session:
        return core_outreach.outreach_log(
            session=session, roles={Role(r) for r in roles}, status=list(statuses) or None,
            template=template, triggered_by=triggered_by or None, campaign_id=campaign_id,
            since=datetime.combine(since, time.min) if since else None, limit=2000)


def _pct(x: float) -> str:
    return "–" if pd.isna(x) else f"{x * 100:.1f} %"


def uplift_chart(results: pd.DataFrame) -> go.Figure:
    """Reactivation of contacted vs held-out customers per campaign, and the uplift with its 95 % interval."""
    df = results.dropna(subset=["uplift"])
    fig = go.Figure()
    labels = [f"{n} (#{i})" for n, i in zip(df["name"], df["campaign_id"], strict=True)]
    fig.add_bar(name="Contacted", x=labels, y=df["reactivation_contacted"] * 100)
    fig.add_bar(name="Held out", x=labels, y=df["reactivation_holdout"] * 100)
    fig.add_scatter(name="Uplift (95 % interval)", x=labels, y=df["uplift"] * 100, mode="markers",
                    marker={"size": 12, "symbol": "diamond", "color": "black"},
                    error_y={"type": "data", "symmetric": False,
                             "array": (df["uplift_ci_high"] - df["uplift"]) * 100,
                             "arrayminus": (df["uplift"] - df["uplift_ci_low"]) * 100})
    fig.update_layout(barmode="group", yaxis_title="Reactivated in 30 days, % (uplift: points)",
                      xaxis_title="Campaign", title="Reactivation, contacted against held out, per campaign",
                      legend={"orientation": "h"}, margin={"t": 50, "b": 10}, height=400)
    fig.add_hline(y=0, line_width=1, line_color="grey")
    return fig


def render_campaign_results(user) -> None:  # noqa: ANN001
    """Campaign results: aggregates only, so every role (exec too) may see them."""
    st.subheader("Campaigns")
    results = _results()
    if results.empty:
        st.info("No campaigns yet. Select accounts on the Accounts screen and create one; each campaign "
                "holds out a share of customers so its uplift can be measured here.")
        return
    offer_revenue = money.to_units(int(money.cents_array(results["revenue_offer_codes"]).sum()))  # exact
    a, b, c = st.columns(3)
    a.metric("Campaigns", len(results))
    b.metric("Messages sent", f"{int(results['sent'].sum()):,}")
    c.metric("Revenue from offer codes", fmt.money_compact(offer_revenue), help=fmt.money(offer_revenue))
    early = [core_outreach.uplift_window_text(created_at=c, window_complete=bool(w))
             for c, w in zip(results["created_at"], results["window_complete"], strict=True)]
    results = results.assign(uplift_status=early)
    if results["uplift"].notna().any() and results["uplift_status"].isna().any():
        plotly_chart(uplift_chart(results[results["uplift_status"].isna()]), key="outreach_uplift_chart")
    else:
        st.caption("Uplift appears once a campaign has inactive customers in both the contacted and the "
                   "held-out group.")
    table = results.assign(template=results["template"].map(fmt.template_label))
    table["uplift_interval"] = [
        "–" if pd.isna(lo) else f"{lo * 100:+.1f} to {hi * 100:+.1f} pts"
        for lo, hi in zip(table["uplift_ci_low"], table["uplift_ci_high"], strict=True)]
    for colname in ("reactivation_contacted", "reactivation_holdout", "uplift"):
        table[colname] = table[colname] * 100
    # Before its 30-day window has passed a campaign's uplift means nothing yet: say so instead.
    table["uplift_interval"] = table["uplift_status"].fillna(table["uplift_interval"])
    table.loc[table["uplift_status"].notna(), ["uplift", "reactivation_contacted", "reactivation_holdout"]] = None
    st.dataframe(
        table[["name", "template", "created_at", "audience", "contacted", "holdout", "sent", "queued",
               "suppressed", "failed", "reactivation_contacted", "reactivation_holdout", "uplift",
               "uplift_interval", "revenue_contacted", "revenue_offer_codes", "offers_redeemed",
               "window_complete"]],
        hide_index=True, key="outreach_campaigns",
        column_config={
            "name": st.column_config.TextColumn("Campaign"),
            "template": st.column_config.TextColumn("Template"),
            "audience": st.column_config.NumberColumn("Audience", format="%,d"),
            "contacted": st.column_config.NumberColumn("Contacted", help="Chosen for sending"),
            "holdout": st.column_config.NumberColumn("Held out", format="%,d"),
            "sent": st.column_config.NumberColumn("Sent", format="%,d"),
            "queued": st.column_config.NumberColumn("Queued", format="%,d"),
            "suppressed": st.column_config.NumberColumn("Suppressed", format="%,d"),
            "failed": st.column_config.NumberColumn("Failed", format="%,d"),
            "offers_redeemed": st.column_config.NumberColumn("Codes redeemed", format="%,d"),
            "created_at": st.column_config.DatetimeColumn("Created (UTC)", format="D MMM YYYY"),
            "reactivation_contacted": st.column_config.NumberColumn("Reactivated, contacted",
                                                                    format="%.1f %%"),
            "reactivation_holdout": st.column_config.NumberColumn("Reactivated, held out",
                                                                  format="%.1f %%"),
            "uplift": st.column_config.NumberColumn("Uplift (pts)", format="%+.1f"),
            "uplift_interval": st.column_config.TextColumn("95 % interval", help="“too early: N days of 30” "
                                                           "until the reactivation window has passed"),
            "revenue_contacted": st.column_config.NumberColumn("Revenue, contacted (30 d)",
                                                               format=fmt.money_column_format()),
            "revenue_offer_codes": st.column_config.NumberColumn("Revenue, offer codes",
                                                                 format=fmt.money_column_format()),
            "window_complete": st.column_config.CheckboxColumn("30 days over"),
        }, placeholder=fmt.DASH)
    st.caption("Reactivation: a customer with no order in the activity horizon before the outreach who "
               "orders within 30 days after it; rates are of those inactive customers. Contacted means "
               "chosen for sending (queued, sent or failed); uplift is contacted minus held out, with a "
               "95 % normal-approximation interval.")


def render_message_log(user) -> None:  # noqa: ANN001
    """The message log with filters: personal data, so not for exec."""
    if not may_see_personal_data(user.roles):
        return
    st.subheader("Message log")
    f1, f2, f3, f4 = st.columns(4)
    statuses = f1.multiselect("Status", ["queued", "sending", "sent", "failed", "suppressed", "holdout"],
                              key="log_status", format_func=fmt.label)
    template = f2.selectbox("Template", [None, *core_outreach.TEMPLATES],
                            format_func=lambda t: "All templates" if t is None else LABELS[t],
                            key="log_template")
    by = f3.text_input("Triggered by", key="log_by")
    since = f4.date_input("Since", value=date.today() - timedelta(days=30), key="log_since")
    log = _log(roles_key(user.roles), user.username, tuple(statuses), template, by.strip(), since, None)
    if log.empty:
        st.info("No messages match. Widen the filters, or send outreach from an account page.")
        return
    log = formula_safe(log, ["customer", "name", "reason", "last_error", "subject", "triggered_by"])
    shown = log.assign(account="/account?id=" + log["customer_id"].astype(str),
                       state=log["status"].map(state_label), template=log["template"].map(fmt.template_label),
                       channel=log["channel"].map(fmt.channel_label))
    st.dataframe(
        blanks(shown[["triggered_at", "account", "customer", "name", "template", "channel", "state", "reason",
                       "attempts", "last_error", "sent_at", "offer_code", "campaign_id", "triggered_by",
                       "subject"]]),
        hide_index=True, key="outreach_log",
        column_config=MESSAGE_COLUMNS | {
            "account": st.column_config.LinkColumn("Account", display_text="Open",
                                                    help="Opens the account in a new browser tab."),
            "customer": st.column_config.TextColumn("Customer id"),
            "name": st.column_config.TextColumn("Name"),
            "channel": st.column_config.TextColumn("Channel"),
            "campaign_id": st.column_config.NumberColumn("Campaign", format="%d"),
            "subject": st.column_config.TextColumn("Subject"),
        }, placeholder=fmt.DASH)
    st.caption(f"{len(log):,} messages (newest first, at most 2,000).")


user = require_screen("outreach")
st.title("Outreach")
st.caption("What outreach earned: campaigns against their held-out customers, and every message sent.")
render_worker_status(user)
render_campaign_results(user)
render_message_log(user)
