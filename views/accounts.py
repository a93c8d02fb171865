"""Accounts: the at-risk queue, highest value at risk first; own book by default for managers."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from core import formatting as fmt
from core.accounts import BAND_LABELS, BANDS, MAX_SELECTION, AccountsError, QueueFilters
from core.health import RFM_LABELS, RFM_SEGMENTS, VALUE_EXPLANATION
from core.roles import Role
from core.tasks import CONTACT_LABELS, PRIORITY_EXPLANATION
from ui import accounts as ui
from ui.auth import require_screen
from ui.data import export_button
from ui.filters import start_at
from ui.outreach import render_bulk_outreach
from ui.safe import md, plotly_chart

user = require_screen("accounts")
roles = ui.roles_key(user.roles)
PAGE_SIZE = 50

st.title("Accounts")
st.caption("The at-risk queue: accounts sorted by value at risk, so a big customer slipping comes before "
           "a small one already gone. " + VALUE_EXPLANATION)

options = ui.queue_options()
is_manager = user.has(Role.ACCOUNT_MANAGER)
top = st.columns([2, 3])
start_at("acc_all", not is_manager)
show_all = top[0].toggle("All accounts", key="acc_all",
                         help="Off: only the accounts you own.")
search = top[1].text_input("Search by customer id or name", key="acc_search")
with st.expander("Filters", expanded=False):
    c1, c2, c3 = st.columns(3)
    bands = c1.multiselect("Band", BANDS, format_func=BAND_LABELS.get, key="acc_bands")
    segments = c2.multiselect("Segment", options["segments"], key="acc_segments", format_func=fmt.label)
    rfm = c3.multiselect("RFM segment", RFM_SEGMENTS, format_func=RFM_LABELS.get, key="acc_rfm")
    c4, c5, c6 = st.columns(3)
    owners = c4.multiselect("Owner", options["owners"], key="acc_owners", disabled=not show_all)
    regions = c5.multiselect("Region", options["regions"], key="acc_regions", format_func=fmt.label)
    overdue = c6.checkbox("Overdue for refill", key="acc_overdue")
    detractor = c6.checkbox("Has open detractor feedback", key="acc_detractor")
    c7, c8, _c9 = st.columns(3)
    contact = c7.selectbox("Contactable", ["", "email", "phone", "none"], key="acc_contact",
                           format_func=lambda v: {"": "any", "email": "by email", "phone": "by phone",
                                                  "none": "not at all"}[v])
    order = c8.radio("Order by", ["value", "priority"], key="acc_order", horizontal=True,
                     format_func={"value": "value at risk", "priority": "priority"}.get, help=PRIORITY_EXPLANATION)

filters = QueueFilters(scope="all" if show_all else "own", bands=tuple(bands), segments=tuple(segments),
                       rfm_segments=tuple(rfm), owners=tuple(owners) if show_all else (),
                       regions=tuple(regions), overdue_only=overdue, open_detractor_only=detractor,
                       search=search, contact=contact)
if st.session_state.get("acc_filters") != filters:  # new filters start again on page 1
    st.session_state["acc_filters"] = filters
    st.session_state["acc_page"] = 1
page_no = int(st.session_state.get("acc_page", 1))
try:
    page = ui.queue_page(user.username, roles, filters, page_no, PAGE_SIZE, order)
except AccountsError as exc:
    st.error(md(exc))
    st.stop()

if page.as_of is None:
    st.info("No scores yet. An admin can score every account under Admin → Churn model (it also runs "
            "each night); the queue fills in then.")
    st.stop()

counts = page.segment_counts
if counts["customers"].sum():
    fig = px.bar(counts, x="label", y="customers", hover_data={"value_at_risk": ":,.0f", "label": False},
                 labels={"label": "RFM segment", "customers": "Accounts",
                         "value_at_risk": fmt.money_label("Value at risk")},
                 title="Accounts per RFM segment", height=260)
    fig.update_layout(margin=dict(l=0, r=0, t=40, b=0))
    plotly_chart(fig, width="stretch", key="acc_segments_chart")

st.caption(f"Scores as of {fmt.date_text(page.as_of)}: {page.total:,} accounts"
           + ("" if show_all else " in your book") + f" · page {page.page} of {page.pages}")
if page.total == 0:
    st.info("No accounts match. " + ("Turn on “All accounts” or " if not show_all else "")
            + "loosen the filters.")
    st.stop()

rows = page.rows
table = rows[["link", "external_id", "name", "health_score", "band", "churn_percent", "value_at_risk",
              "top_driver", "score_note", "next_order_date", "rfm_segment", "segment", "region", "owner",
              "last_order", "orders_365", "spend_365", "open_detractor"]].copy()
table["band"] = table["band"].map(BAND_LABELS)
# Codes as words and no "None" cells: an unset segment, region or owner is a blank.
for col in ("segment", "region"):
    table[col] = table[col].map(fmt.label)
table["owner"] = table["owner"].map(fmt.text)
table["top_driver"] = table["top_driver"].map(fmt.text)
table.insert(8, "contact", rows["contact"].map(CONTACT_LABELS))
table.insert(9, "email_opt_in", rows["email_opt_in"].astype(bool))
table.insert(10, "sms_opt_in", rows["sms_opt_in"].astype(bool))
if "priority" in rows:
    table.insert(1, "priority", rows["priority"])
    st.caption(PRIORITY_EXPLANATION)
event = st.dataframe(
    table, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
    key="acc_table",
    column_config={
        "link": st.column_config.LinkColumn("Account", display_text="Open", width="small",
                                            help="Opens the account in a new browser tab; to open it in this "
                                                 "tab, choose it below."),
        "external_id": st.column_config.TextColumn("Customer id"),
        "name": st.column_config.TextColumn("Name"),
        "health_score": st.column_config.ProgressColumn("Health", min_value=0, max_value=100, format="%d"),
        "band": st.column_config.TextColumn("Band"),
        "churn_percent": st.column_config.ProgressColumn("Churn risk", min_value=0, max_value=100,
                                                         format="%.1f %%"),
        "value_at_risk": st.column_config.NumberColumn("Value at risk", format=fmt.money_column_format(0),
                                                       help=VALUE_EXPLANATION),
        "top_driver": st.column_config.TextColumn("Top reason", width="large"),
        "score_note": st.column_config.TextColumn(
            "Health vs churn risk", width="medium",
            help="Filled where the health score and the churn probability point different ways, saying why."),
        "next_order_date": st.column_config.DateColumn(
            "Next order expected", format="D MMM YYYY",
            help="From the customer's own cadence and how long what they buy lasts; empty for a lapsed customer "
                 "(past it by more than twice their usual gap and half a year)."),
        "rfm_segment": st.column_config.TextColumn("RFM segment"),
        "segment": st.column_config.TextColumn("Segment"),
        "region": st.column_config.TextColumn("Region"),
        "owner": st.column_config.TextColumn("Owner"),
        "last_order": st.column_config.DateColumn("Last order", format="D MMM YYYY"),
        "orders_365": st.column_config.NumberColumn("Orders (12 mo)", format="%,d"),
        "spend_365": st.column_config.NumberColumn("Spend (12 mo)", format=fmt.money_column_format(0)),
        "open_detractor": st.column_config.CheckboxColumn("Open detractor"),
        "contact": st.column_config.TextColumn("Contactable", width="medium"),
        "email_opt_in": st.column_config.CheckboxColumn("Email consent"),
        "sms_opt_in": st.column_config.CheckboxColumn("SMS consent"),
        "priority": st.column_config.NumberColumn("Priority", format="%.0f"),
    }, placeholder=fmt.DASH
)
# Open an account in this tab (the table's "Open" link starts a new tab, which loads the whole
# app again); the queue's page and filters stay in the session, so "Back to the queue" returns here.
open_labels = {int(cid): f"{ext} · {fmt.text(name)}"
               for cid, ext, name in zip(rows["customer_id"], rows["external_id"], rows["name"], strict=True)}
open_ids = list(open_labels)
pick = st.columns([3, 1, 2], vertical_alignment="bottom")
chosen = pick[0].selectbox("Open an account from this page", open_ids, format_func=open_labels.get,
                           key="acc_open_choice", index=None, placeholder="Choose a customer id or name")
if pick[1].button("Open account", key="acc_open", icon=":material/person:", disabled=chosen is None):
    st.switch_page("views/account.py", query_params={"id": str(chosen)})
nav = st.columns([1, 1, 4])
if nav[0].button("Previous page", key="acc_prev", disabled=page.page <= 1):
    st.session_state["acc_page"] = page.page - 1
    st.rerun()
if nav[1].button("Next page", key="acc_next", disabled=page.page >= page.pages):
    st.session_state["acc_page"] = page.page + 1
    st.rerun()

feed = ui.what_changed(roles, None if show_all else user.username)
if feed.since is not None:
    with st.expander(f"What changed since the last scoring run ({fmt.day_month(feed.since)} → "
                     f"{fmt.date_text(feed.as_of)}): "
                     f"{len(feed.rows):,}" + ("" if show_all else " in your book"), expanded=False):
        if feed.rows.empty:
            st.write("Nothing changed.")
        else:
            changed = feed.rows.assign(link="/account?id=" + feed.rows["customer_id"].astype(str))
            st.dataframe(changed[["at", "change", "detail", "link", "external_id", "name", "owner"]],
                         hide_index=True, width="stretch", key="acc_changes", column_config={
                             "at": st.column_config.DateColumn("When", format="D MMM YYYY"),
                             "link": st.column_config.LinkColumn("Account", display_text="Open", width="small",
                                                                 help="Opens the account in a new browser tab."),
                             "external_id": st.column_config.TextColumn("Customer id"),
                         }, placeholder=fmt.DASH)

selected_rows = list(event.selection.rows) if event and event.selection else []
use_all = st.checkbox(f"Select all {min(page.total, MAX_SELECTION):,} accounts matching the filter"
                      + (f" (the first {MAX_SELECTION:,} by value at risk)" if page.total > MAX_SELECTION else ""),
                      key="acc_use_all")
if use_all:
    selected = ui.queue_ids(user.username, roles, filters)
else:
    selected = [int(rows.iloc[i]["customer_id"]) for i in selected_rows]

st.subheader("Selection")
if not selected:
    st.info("Select rows in the table (or all matching the filter) to export them or plan outreach.")
else:
    st.write(f"{len(selected):,} accounts selected.")
    st.download_button("Export the selection as CSV", key="acc_export", mime="text/csv",
                       data=ui.selection_csv(user.username, user.roles, selected, f"accounts-{page.as_of}.csv"),
                       file_name=f"accounts-{page.as_of}.csv")
render_bulk_outreach(user, selected, filters.as_rule(username=user.username))
export_button("scores", user, label="Download every account's latest scores as CSV", key="acc_scores_export")
