"""My work: the signed-in person's open tasks, overdue first, and everything to do with one
task (why, contactability, the suggested next step, call, email, snooze, reassign, close)
without leaving the screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from core import formatting as fmt
from core import tasks as core_tasks
from core.health import churn_percent, churn_text
from core.outreach import TEMPLATE_LABELS
from core.roles import Role
from ui import tasks as ui
from ui.auth import require_screen
from ui.filters import start_at
from ui.safe import refusal

user = require_screen("my_work")
roles = user.roles
today = datetime.now(UTC).date()

st.title("My work")
# The last action's confirmation stays until the next action or another task is chosen: a rerun
# that no one asked for (the login cookie being written, say) must not make it vanish unread.
flash = st.session_state.get("mw_flash")
if flash:
    kind, text, detail = flash  # text: literals of this screen only; detail (may hold data) as plain text
    (st.success if kind == "ok" else st.warning)(text)
    if detail:
        st.text(detail)

everyone = False
if user.has(Role.ADMIN):
    start_at("mw_everyone", not user.has(Role.ACCOUNT_MANAGER, Role.SUPPORT_LEAD))
    everyone = st.toggle("Everyone's tasks", key="mw_everyone",
                         help="Off: only the tasks assigned to you.")
counts = ui.task_counts(user.username)
m = st.columns(4)
m[0].metric("Open", counts["open"])
m[1].metric("Overdue", counts["overdue"])
m[2].metric("Due today", counts["due_today"])
m[3].metric("Snoozed", counts["snoozed"])

c1, c2 = st.columns([2, 1])
contact = c1.selectbox("Contactable", ["", "email", "phone", "none"], key="mw_contact",
                       format_func=lambda v: {"": "everyone", "email": "by email", "phone": "by phone",
                                              "none": "not at all"}[v])
show_snoozed = c2.checkbox("Show snoozed tasks", key="mw_snoozed")
MAX_SHOWN = 500  # a day's work; the rest follow as these are done
frame, total = ui.open_tasks(None if everyone else user.username, roles, contact or None, show_snoozed,
                             limit=MAX_SHOWN)
st.caption("Overdue tasks first, then by due date; tasks due the same day by priority. "
           + core_tasks.PRIORITY_EXPLANATION)

if frame.empty:
    st.success("Nothing open. New tasks appear when the rules find a signal (each night, after the "
               "accounts are scored).")
    st.stop()

if total > MAX_SHOWN:
    st.caption(f"Showing the first {MAX_SHOWN:,} of {total:,} open tasks in this order.")
table = frame.assign(churn_percent=churn_percent(frame["churn_probability"]))[
    ["due_date", "days_overdue", "reason_label", "external_id", "name", "value_at_risk", "churn_percent", "contact",
     "next_step", "priority", "snoozed_until"]]
table = table.assign(days_overdue=table["days_overdue"].clip(lower=0))
table = table.assign(contact=table["contact"].map(core_tasks.CONTACT_LABELS))
st.dataframe(table, hide_index=True, width="stretch", key="mw_table", column_config={
    "due_date": st.column_config.DateColumn("Due", format="D MMM YYYY"),
    "days_overdue": st.column_config.NumberColumn("Days overdue", format="%,d"),
    "reason_label": st.column_config.TextColumn("Task"),
    "external_id": st.column_config.TextColumn("Customer id"),
    "name": st.column_config.TextColumn("Name"),
    "value_at_risk": st.column_config.NumberColumn(fmt.money_label("Value at risk"),
                                                   format=fmt.money_column_format(0)),
    "churn_percent": st.column_config.ProgressColumn("Churn risk", min_value=0, max_value=100, format="%.1f %%"),
    "contact": st.column_config.TextColumn("Contactable", width="medium"),
    "next_step": st.column_config.TextColumn("Next step", width="large"),
    "priority": st.column_config.NumberColumn("Priority", format="%.0f"),
    "snoozed_until": st.column_config.DateColumn("Snoozed until", format="D MMM YYYY"),
}, placeholder=fmt.DASH)

labels = {int(r.task_id): f"{i + 1}. Due {fmt.day_month(r.due_date)} · {r.reason_label} · {r.external_id} "
                          f"{r.name or ''}"
          for i, r in enumerate(frame.itertuples())}
# A fresh widget after every change (the browser would otherwise keep showing a closed task).
task_key = f"mw_task_{st.session_state.get('mw_version', 0)}"
task_id = st.selectbox("Work on", list(labels), format_func=labels.get, key=task_key,
                       help="The top task is first.", on_change=lambda: st.session_state.pop("mw_flash", None))
task = frame[frame["task_id"] == task_id].iloc[0]

with st.container(border=True):
    st.subheader("Why")
    st.text(f"{task['reason_label']} · {task['name'] or '(no name)'} · {task['external_id']}")
    st.text(task["why"])
    # Tiles as wide as their figure, wrapping on a narrow screen: never cut off.
    tiles = st.container(horizontal=True, gap="small")
    k = [tiles] * 4
    k[0].metric("Value at risk", fmt.money(task["value_at_risk"], decimals=0, missing="–"), width="content")
    churn = task["churn_probability"]
    k[1].metric("Churn risk", "–" if churn != churn else churn_text(churn), width="content")
    overdue = int(task["days_overdue"])
    k[2].metric("Due", f"{fmt.date_text(task['due_date'])}",
                delta=(f"overdue by {overdue} days" if overdue > 0 else None), delta_color="inverse", width="content")
    k[3].metric("Priority", f"{task['priority']:,.0f}", help=core_tasks.PRIORITY_EXPLANATION,
                width="content")

    st.markdown("**Contact**")
    email_line = ("Email: allowed" if task["contact"] == "email"
                  else "Email: not allowed (no email consent)" if not task["email_opt_in"]
                  else "Email: not allowed (no email address)")
    st.text(f"{email_line} · SMS consent: {'yes' if task['sms_opt_in'] else 'no'} · "
            f"Phone: {'on file' if task['has_phone'] else 'none'}")
    if task["contact"] != "email":
        st.warning("This customer cannot be emailed. "
                   + ("Call them instead." if task["contact"] == "phone" else "There is no phone number either."),
                   icon=":material/unsubscribe:")
    st.info(f"Suggested next step: {task['next_step']}", icon=":material/lightbulb:")
    st.page_link("views/account.py", label="Open the account", icon=":material/person:",
                 query_params={"id": str(int(task["customer_id"]))})


def _done(kind: str, text: str, detail: str = "") -> None:
    st.session_state["mw_flash"] = (kind, text, detail)
    st.session_state.pop(task_key, None)
    st.session_state["mw_version"] = st.session_state.get("mw_version", 0) + 1
    st.rerun()


if task["next_action"] == "email":
    template = task["next_template"]
    if st.button(f"Send the “{TEMPLATE_LABELS[template]}” email and close as offer sent", key="mw_send",
                 type="primary", icon=":material/send:"):
        try:
            result, said = ui.send_outreach(int(task_id), user.username, roles)
        except core_tasks.TaskError as exc:
            st.error(refusal(exc))
        else:
            if result.closed_at is not None:
                _done("ok", "Task closed: offer sent.", f"Email {said}.")
            else:
                _done("warn", "Email not sent. The task stays open.", said)

tab_call, tab_close, tab_snooze, tab_reassign = st.tabs(["Log a call", "Close", "Snooze", "Reassign"])
with tab_call, st.form("mw_call_form", clear_on_submit=True):
    outcome = st.radio("Outcome", core_tasks.CALL_OUTCOMES, format_func=core_tasks.OUTCOME_LABELS.get,
                       key="mw_call_outcome", horizontal=True)
    note = st.text_area("Note", key="mw_call_note", placeholder="What was said, what was agreed")
    close = st.checkbox("Close the task with this outcome", value=True, key="mw_call_close")
    if st.form_submit_button("Log call", type="primary"):
        try:
            ui.log_call(int(task_id), outcome, note, user.username, roles, close)
        except core_tasks.TaskError as exc:
            st.error(refusal(exc))
        else:
            _done("ok", f"Call logged ({core_tasks.OUTCOME_LABELS[outcome]})" + (" and task closed." if close else "."))
with tab_close, st.form("mw_close_form", clear_on_submit=True):
    outcome = st.selectbox("Outcome", core_tasks.OUTCOMES, format_func=core_tasks.OUTCOME_LABELS.get,
                           key="mw_close_outcome")
    note = st.text_input("Note (optional)", key="mw_close_note")
    if st.form_submit_button("Close task", type="primary"):
        try:
            ui.close(int(task_id), outcome, note, user.username, roles)
        except core_tasks.TaskError as exc:
            st.error(refusal(exc))
        else:
            _done("ok", f"Task closed: {core_tasks.OUTCOME_LABELS[outcome]}.")
with tab_snooze, st.form("mw_snooze_form", clear_on_submit=True):
    until = st.date_input("Snooze until", value=today + timedelta(days=7), min_value=today + timedelta(days=1),
                          key="mw_snooze_until")
    why = st.text_input("Reason for snoozing", key="mw_snooze_reason", placeholder="e.g. on holiday until then")
    if st.form_submit_button("Snooze"):
        try:
            ui.snooze(int(task_id), until, why, user.username, roles)
        except core_tasks.TaskError as exc:
            st.error(refusal(exc))
        else:
            _done("ok", f"Task snoozed until {fmt.date_text(until)}.")
with tab_reassign, st.form("mw_reassign_form", clear_on_submit=True):
    staff = ui.staff()
    to = st.selectbox("Give to", [s for s in staff if s != task["assignee"]], key="mw_reassign_to")
    if st.form_submit_button("Reassign"):
        try:
            ui.reassign(int(task_id), to, user.username, roles)
        except core_tasks.TaskError as exc:
            st.error(refusal(exc))
        else:
            _done("ok", "Task reassigned.", f"Now with {to}.")
