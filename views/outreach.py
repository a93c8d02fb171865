import streamlit as st

from ui.auth import require_screen
from ui.outreach import render_campaign_results, render_message_log
from ui.worker import render_worker_status

user = require_screen("outreach")
st.title("Outreach")
st.caption("What outreach earned: campaigns against their held-out customers, and every message sent.")
render_worker_status(user)
render_campaign_results(user)
render_message_log(user)
