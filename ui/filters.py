"""Filters that stay set for the session when the user moves between screens.

Streamlit forgets a widget's value once a run does not draw the widget (another screen).
Assigning each filter's value to itself on every run, before the screen runs, keeps it
(Streamlit's documented way: it marks the value as set by the app, so it is not cleaned up)."""

from __future__ import annotations

import streamlit as st

# Widget keys of the screens' filters (not buttons, forms or uploads: those cannot be assigned).
PERSISTENT_FILTERS: tuple[str, ...] = (
    "ov_as_of", "ov_horizon", "ov_segment", "ov_region", "ov_owner", "ov_section",
    "nps_months", "nps_freq", "nps_split",
    "acc_all", "acc_search", "acc_bands", "acc_segments", "acc_rfm", "acc_owners", "acc_regions",
    "acc_overdue", "acc_detractor", "acc_contact", "acc_order",
    "loy_tier_filter", "loy_min_balance", "loy_own_only", "loy_search", "loy_exp_own_only", "loy_ledger_customer",
    "audit_actor", "audit_action",  # (and in tabs that run only while open: kept when another tab is)
    "mw_contact", "mw_snoozed", "mw_everyone",
)


def start_at(key: str, value: object) -> None:
    """Give the kept filter `key` its first value, before its widget is drawn; the widget is then
    drawn with no default of its own and shows the session's value.

    Every run assigns each kept filter's value to itself (keep_filters), and Streamlit logs a
    warning with a stack trace for a widget given a default while the session sets its value. A
    kept filter's first value is therefore given here, once a session, never to the widget."""
    if key not in st.session_state:
        st.session_state[key] = value


def keep_filters() -> None:
    """Call once per run, before the screen runs."""
    for key in PERSISTENT_FILTERS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
