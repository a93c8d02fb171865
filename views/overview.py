import streamlit as st

from ui.auth import require_screen

user = require_screen("overview")
st.title("Overview")
