"""The app's own delivery worker (demo mode) and the Outreach screen's word on workers."""

from __future__ import annotations

import streamlit as st

from core import formatting as fmt
from core.config import get_settings
from core.worker import STALE_AFTER, BackgroundWorker, worker_status
from ui.db import app_engine, get_session


@st.cache_resource(show_spinner=False)
def _worker(url: str) -> BackgroundWorker:
    return BackgroundWorker(app_engine()).start()


def start_app_worker() -> None:
    """Start the delivery thread once per server process and database (cached resource)."""
    _worker(get_settings().database_url)


def render_worker_status(user) -> None:  # noqa: ANN001 - ui.auth.CurrentUser
    with get_session() as session:
        status = worker_status(session=session)
    minutes = int(STALE_AFTER.total_seconds() // 60)
    if status.stale:
        seen = ("No delivery worker has ever run" if status.last_seen is None
                else f"No delivery worker has been seen for more than {minutes} minutes "
                     f"(last at {fmt.datetime_text(status.last_seen)} UTC)")
        st.warning(f"{seen}: {status.waiting:,} messages wait in the queue and stay “queued” until one runs. "
                   "Start it with `python -m core outreach deliver`.", icon=":material/schedule_send:")
    else:
        st.caption(f"Delivery worker ({status.source}) last seen {status.last_seen:%H:%M:%S} UTC; "
                   f"{status.waiting:,} messages waiting.")
