"""Admin → Task rules: the rules that make tasks, and who does not get the weekly digest
(Admin screen only)."""

from __future__ import annotations

import streamlit as st

from core import tasks as core_tasks
from ui.db import get_session
from ui.safe import refusal
from ui.tasks import staff


def render_task_rules_admin(user) -> None:  # noqa: ANN001 - ui.auth.CurrentUser
    """Admin → Task rules: switch each rule on or off, its SLA and thresholds; run the rules now."""
    st.caption("Each rule turns a signal into a task for the account's owner (support leads for detractor "
               "answers), due SLA days after it is made. One task per signal; one open task per customer "
               "and reason. The nightly `python -m core tasks generate` runs them after scoring.")
    with get_session() as session:
        rules = core_tasks.task_rules(session=session)
    with st.form("task_rules_form"):
        edited: dict[str, dict] = {}
        for reason in core_tasks.REASONS:
            params = rules[reason]
            st.markdown(f"**{core_tasks.REASON_LABELS[reason]}**")
            cols = st.columns(len(params))
            values = {}
            for col, (name, value) in zip(cols, params.items(), strict=True):
                key = f"rule_{reason}_{name}"
                label = name.replace("_", " ")
                helptext = core_tasks.RULE_PARAM_HELP.get(name)
                if isinstance(value, bool):
                    values[name] = col.checkbox(label, value=value, key=key, help=helptext)
                elif isinstance(value, str):
                    values[name] = col.text_input(label, value=value, key=key, help=helptext)
                elif isinstance(value, int):
                    values[name] = col.number_input(label, value=value, min_value=0, step=1, key=key, help=helptext)
                else:
                    values[name] = col.number_input(label, value=float(value), min_value=0.0, key=key,
                                                    help=helptext)
            edited[reason] = values
        if st.form_submit_button("Save task rules", type="primary"):
            try:
                with get_session() as session:
                    core_tasks.save_task_rules(session=session, rules=edited, actor=user.username)
                st.success("Saved. The next run of the rules uses them.")
            except core_tasks.TaskError as exc:
                st.error(refusal(exc))
    if st.button("Run the rules now", key="task_rules_run"):
        with get_session() as session:
            report = core_tasks.generate_tasks(session=session, actor=user.username)
        st.success(f"{report.total_created:,} new tasks.")
        st.text(report.summary())


def render_digest_admin(user) -> None:  # noqa: ANN001 - ui.auth.CurrentUser
    """Admin → Task rules: who does not get the weekly digest (staff mail's own consent)."""
    from core import digest

    st.subheader("Weekly digest")
    st.caption("Account managers and support leads get a weekly summary by email "
               "(`python -m core tasks digest`, at most once a week). Staff listed here do not.")
    with get_session() as session:
        current = sorted(digest.opted_out(session=session))
    with st.form("digest_form"):
        chosen = st.multiselect("No weekly digest for", staff(), default=[u for u in current if u in staff()],
                                key="digest_opt_out")
        if st.form_submit_button("Save digest settings"):
            with get_session() as session:
                for username in set(chosen) ^ set(current):
                    digest.set_opt_out(session=session, username=username, opt_out=username in chosen,
                                       actor=user.username)
            st.success("Saved.")
