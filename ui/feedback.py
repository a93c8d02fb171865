"""Cached readers for the feedback inbox and the NPS screen.

Everything a reader returns depends on its arguments only: the caller's username and roles
are arguments wherever they filter, so one user's cached answer is never shown to another.
Kept readers are keyed by the data generation (core.readcache): a write shows at once.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from core import feedback as fbk
from core import formatting as fmt
from core.nps import nps_by_period
from core.readcache import cached
from ui.auth import roles_key as _roles
from ui.db import get_session


def inbox_page(username: str, roles: tuple[str, ...], states: tuple[str, ...] | None, assignee: str | None,
               owner: str | None, since: datetime | None, sort: str, limit: int,
               offset: int, queue: str = "flagged", language: str | None = None) -> tuple[pd.DataFrame, int]:
    with get_session() as session:
        page = fbk.inbox(session=session, username=username, roles=roles, states=states, assignee=assignee,
                         owner=owner, since=since, sort=sort, limit=limit, offset=offset, queue=queue,
                         language=language)
    return page.rows, page.total


def inbox_languages(username: str, roles: tuple[str, ...]) -> list[str]:
    with get_session() as session:
        return fbk.inbox_languages(session=session, username=username, roles=roles)


def loop_figures(username: str, roles: tuple[str, ...]) -> dict:
    with get_session() as session:
        return fbk.close_the_loop(session=session, username=username, roles=roles)


@cached()
def staff_for_inbox() -> list[str]:
    with get_session() as session:
        return fbk.assignable_staff(session=session)


@cached()
def nps_periods(since: datetime, until: datetime, freq: str, by: str | None) -> pd.DataFrame:
    """Aggregates only: safe for every role."""
    with st.spinner('Counting answers…'), get_session() as session:
        counts = fbk.nps_counts(session=session, since=since, until=until, by=by)
    return nps_by_period(counts, freq=freq, by=by, date_col="day")


@cached()
def answer_counts(since: datetime, until: datetime) -> dict[str, int]:
    with get_session() as session:
        return fbk.answer_counts(session=session, since=since, until=until)


@cached()
def themes(months: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    with get_session() as session:
        frame = fbk.detractor_themes(session=session, months=months)
    return frame, fbk.theme_spikes(frame)


@cached()
def search(roles: tuple[str, ...], word: str) -> pd.DataFrame:
    with get_session() as session:
        return fbk.search_comments(session=session, roles=roles, word=word)


roles_key = _roles


def render_flag_model_admin(user) -> None:  # noqa: ANN001 - ui.auth's signed-in user
    """Admin -> Feedback model: the model in use, its measured figures, the labels it learnt
    from and the retrains tried. Admins only (checked here too)."""
    from core import flag_training
    from core.roles import Role, parse_roles

    if Role.ADMIN not in parse_roles([str(r) for r in user.roles]):
        st.error("Only admins see the feedback model.")
        return
    with get_session() as session:
        overview = flag_training.model_overview(session=session)
        history = flag_training.model_history(session=session)
    st.subheader("Negative-feedback flag")
    st.text(f"Model in use: {overview['name']}"
            + (f", trained {overview['created_at']:%Y-%m-%d %H:%M} by {overview['created_by']}"
               if overview["created_at"] is not None else ""))
    st.text(f"Trained on: {overview['trained_on']}")
    st.text(f"Data source: {overview['source']}")
    st.text(f"Threshold on the model's probability of 'negative': {overview['threshold']:.2f}")
    st.caption("Measured figures (precision, recall and F1 for 'negative'; held-out parts never trained on)")
    st.dataframe(overview["figures"], hide_index=True, width="stretch", placeholder=fmt.DASH)
    labels = overview["labels"]
    st.caption(f"The team's labels it learnt from: {len(labels):,} (confirmed flags, 'not a problem', "
               "complaints flagged by hand)")
    if labels.empty:
        st.info("None yet. Triage decisions in the Feedback inbox become labels; then run "
                "'python -m core feedback train' to retrain (it switches only when the new model is not worse).")
    else:
        st.dataframe(labels, hide_index=True, width="stretch",
                     column_config={"comment": st.column_config.TextColumn("Comment", width="large")},
                         placeholder=fmt.DASH)
    if not history.empty:
        st.caption("Retrains tried (a refused model is kept here, not used)")
        st.dataframe(history, hide_index=True, width="stretch", placeholder=fmt.DASH)
