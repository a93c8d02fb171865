"""Admin → Feedback model: the negative-feedback flag model in use and its history (Admin screen only)."""

from __future__ import annotations

import streamlit as st

from core import formatting as fmt
from ui.db import get_session


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
            + (f", trained {overview['created_at']:%-d %b %Y %H:%M} by {overview['created_by']}"
               if overview["created_at"] is not None else ""))
    st.text(f"Trained on: {overview['trained_on']}")
    st.text(f"Data source: {overview['source']}")
    st.text(f"Threshold on the model's probability of 'negative': {overview['threshold']:.2f}")
    st.caption("Measured figures (precision, recall and F1 for 'negative'; held-out parts never trained on)")
    counts = {c: st.column_config.NumberColumn(c, format="%,d") for c in ("TP", "FP", "FN", "TN")}
    st.dataframe(overview["figures"], hide_index=True, width="stretch", placeholder=fmt.DASH, column_config={
        "part": "Part", "model": "Model", "precision": st.column_config.NumberColumn("Precision", format="%.3f"),
        "recall": st.column_config.NumberColumn("Recall", format="%.3f"),
        "F1": st.column_config.NumberColumn("F1", format="%.3f"), **counts})
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
