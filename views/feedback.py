"""Feedback inbox: flagged answers for support leads to triage (managers: their own accounts)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from types import SimpleNamespace

import pandas as pd
import streamlit as st

from core import feedback as fbk
from core import formatting as fmt
from core.language import language_name
from core.outreach import OutreachError, preview_outreach
from core.roles import NotAllowed
from db.models import utcnow
from ui import feedback as ui
from ui.auth import require_screen
from ui.data import export_button
from ui.db import get_session
from ui.safe import md, refusal

user = require_screen("feedback")
roles = ui.roles_key(user.roles)
triage = fbk.may_triage(user.roles)
sees_all = fbk.sees_all_feedback(user.roles)
PAGE_SIZE = 50


def _score(value: object) -> str:
    return "none" if value is None or pd.isna(value) else str(int(value))


def _txt(value: object, default: str = "–") -> str:
    """A cell as plain text; pandas gives NaN or None for an empty one."""
    return value if isinstance(value, str) and value else default


def _known(value: object) -> bool:
    return value is not None and not pd.isna(value)


st.title("Feedback inbox")
st.caption("Answers that need a human: detractors (0-6), clearly negative comments, and comments that "
           "name a problem (leaking, broken, late, billing, refund, cancel, allergy, safety). "
           "Severity adds up detractor score, negative tone, the problem named and the customer's "
           "revenue over the last 12 months."
           + ("" if sees_all else " You see the items of your own accounts."))

flash = st.session_state.pop("fb_flash", None)
if flash:
    st.success(md(flash))

# ---------------------------------------------------------------- close the loop
loop = ui.loop_figures(user.username, roles)


def _hours(value: float | None) -> str:
    return "–" if value is None else (f"{value:.0f} h" if value < 72 else f"{value / 24:.1f} days")


def _share(value: float | None) -> str:
    return fmt.percent(value, decimals=0, missing="–")


with st.container(border=True):
    st.markdown("**Closing the loop** (flagged answers of the last 90 days)")
    # Tiles as wide as their figure, wrapping on a narrow screen: never cut off.
    tile = partial(st.container(horizontal=True, gap="small").metric, width="content")
    m1 = m2 = m3 = m4 = m5 = SimpleNamespace(metric=tile)
    m1.metric("Flagged", f"{loop['flagged']:,}")
    m2.metric("Median to first response", _hours(loop["median_hours_to_first_response"]))
    m3.metric("First response within 48 h", _share(loop["share_first_response_within_48h"]))
    m4.metric("Median to resolution", _hours(loop["median_hours_to_resolution"]))
    m5.metric("Resolved within 48 h", _share(loop["share_resolved_within_48h"]))
    ages = loop["open_by_age"]
    st.caption(f"Open items: {loop['open_total']:,} — "
               + ", ".join(f"{row.age}: {row.open:,}" for row in ages.itertuples()))

# ---------------------------------------------------------------- filters
q1, q2 = st.columns([2, 1])
queue = q1.radio("Queue", list(fbk.QUEUES), key="fb_queue", horizontal=True, format_func=fbk.QUEUE_LABELS.get)
language_codes = ui.inbox_languages(user.username, roles)
language_choice = q2.selectbox("Language", ["all", *language_codes], key="fb_language",
                               format_func=lambda c: "all languages" if c == "all" else language_name(c))
language = None if language_choice == "all" else language_choice
if queue == "needs_read":
    st.caption("Comments in a language the flag cannot read, without a score and naming no problem it knows: "
               "read them, then flag a complaint or mark it not a problem (the flag learns from both).")
# The states on a row of their own: in a narrow column the chips were cut ("Waiting on cu...").
states = st.multiselect("State", list(fbk.STATES), default=list(fbk.OPEN_STATES), key="fb_states",
                        format_func=lambda s: fbk.STATE_LABELS[s])
f2, f3, f4 = st.columns(3)
staff = ui.staff_for_inbox()
assignee_choice = f2.selectbox("Assigned to", ["anyone", "unassigned", *staff], key="fb_assignee")
window = f3.selectbox("Submitted", ["last 7 days", "last 30 days", "last 90 days", "last 365 days", "any time"],
                      index=1, key="fb_window")
sort = f4.radio("Order", ["severity", "newest"], key="fb_sort", horizontal=True,
                format_func=lambda s: "most severe" if s == "severity" else "newest")
owner = None
if sees_all:
    owner_choice = st.selectbox("Account manager", ["all accounts", *staff], key="fb_owner")
    owner = None if owner_choice == "all accounts" else owner_choice
days = {"last 7 days": 7, "last 30 days": 30, "last 90 days": 90, "last 365 days": 365}.get(window)
since = (utcnow() - timedelta(days=days)).replace(minute=0, second=0, microsecond=0) if days else None
assignee = {"anyone": None, "unassigned": ""}.get(assignee_choice, assignee_choice)
page_no = st.session_state.get("fb_page", 1)

state_filter = tuple(states) if states else None
rows, total = ui.inbox_page(user.username, roles, state_filter, assignee, owner, since, sort, PAGE_SIZE,
                            (page_no - 1) * PAGE_SIZE, queue, language)
if rows.empty and total > 0:  # the filters changed under a later page: back to the first
    page_no = st.session_state["fb_page"] = 1
    rows, total = ui.inbox_page(user.username, roles, state_filter, assignee, owner, since, sort, PAGE_SIZE, 0,
                                queue, language)
if total == 0:
    st.info("Nothing to follow up with these filters. Widen the period or the states, "
            "or check back after the next import.")
    st.stop()

pages = max(1, -(-total // PAGE_SIZE))
st.number_input(f"Page (of {pages}; {total:,} items)", min_value=1, max_value=pages, step=1, key="fb_page")

table = rows.assign(
    account=rows["customer_id"].map(lambda i: f"/account?id={int(i)}" if _known(i) else None),
    state=rows["state"].map(fbk.STATE_LABELS),
    customer_ref=rows["customer_ref"].map(fmt.text),
    assignee=rows["assignee"].map(fmt.text),
    flag_reasons=rows["flag_reasons"].map(fmt.text),
    language=rows["language"].map(lambda c: language_name(c) if isinstance(c, str) else None),
)
st.dataframe(
    table[["id", "submitted_at", "account", "customer_ref", "customer_name", "value_12m", "nps_score", "severity",
           "state", "assignee", "flag_reasons", "language", "comment"]],
    hide_index=True,
    width="stretch",
    key="fb_table",
    column_config={
        "id": st.column_config.NumberColumn("#", format="%d"),
        "submitted_at": st.column_config.DatetimeColumn("Submitted", format="D MMM YYYY HH:mm"),
        # The shop's customer id (C000763) beside the link, never the database id (763).
        "account": st.column_config.LinkColumn("Account", display_text="Open", width="small",
                                               help="Opens the account in a new browser tab."),
        "customer_ref": st.column_config.TextColumn("Customer id"),
        "customer_name": st.column_config.TextColumn("Customer"),
        "value_12m": st.column_config.NumberColumn("Value 12 mo", format=fmt.money_column_format(0)),
        "nps_score": st.column_config.NumberColumn("Score", format="%d"),
        "severity": st.column_config.ProgressColumn("Severity", min_value=0, max_value=100, format="%.0f"),
        "state": st.column_config.TextColumn("State"),
        "assignee": st.column_config.TextColumn("Assignee"),
        "flag_reasons": st.column_config.TextColumn("Why flagged", width="medium"),
        "language": st.column_config.TextColumn("Language"),
        "comment": st.column_config.TextColumn("Comment", width="large"),
    }, placeholder=fmt.DASH
)

# ---------------------------------------------------------------- one item
ids = rows["id"].astype(int).tolist()
# The label names what does not change (number, date, score): the browser keeps the label of a
# chosen option, so a state in it read "New" after the item was resolved. The state is shown
# beside the item instead.
labels = {int(r.id): f"#{int(r.id)} · {fmt.date_text(r.submitted_at)} · score {_score(r.nps_score)}"
          for r in rows.itertuples()}
if st.session_state.get("fb_item") not in ids:
    st.session_state.pop("fb_item", None)
item_id = st.selectbox("Work on item", ids, format_func=labels.get, key="fb_item")
item = rows.set_index("id").loc[item_id]

with st.container(border=True):
    left, right = st.columns([3, 2])
    with left:
        st.subheader(f"Item #{item_id}")
        st.text(f"Customer: {_txt(item['customer_name'], 'unknown')}"
                f"  ({_txt(item['customer_ref'], 'no customer id')}, owner {_txt(item['owner'], '–')})")
        st.text(f"Submitted {fmt.datetime_text(item['submitted_at'])} UTC "
                f"via {_txt(item['channel'], 'unknown channel')}; "
                f"score {_score(item['nps_score'])}; "
                f"severity {item['severity']:.0f}")
        st.caption("Comment (shown as plain text)")
        st.text(item["comment"] if isinstance(item["comment"], str) and item["comment"] else "(no comment)")
        if _known(item["comment_chars"]) and int(item["comment_chars"]) > fbk.INBOX_COMMENT_CHARS:
            with get_session() as session:
                whole = fbk.get_item(session=session, feedback_id=item_id, username=user.username,
                                     roles=user.roles).comment or ""
            st.download_button("Download the whole comment", data=whole.encode("utf-8"),
                               file_name=f"comment-{item_id}.txt", mime="text/plain", key="fb_whole_comment")
        st.caption("Language")
        st.text(language_name(item["language"] if isinstance(item["language"], str) else None))
        st.caption("Why flagged")
        st.text(_txt(item["flag_reasons"], "–"))
        if isinstance(item["label"], str):
            st.caption("The team's label (the flag learns from it)")
            st.text(f"{item['label']} ({_txt(item['labelled_by'], 'unknown')})")
        if isinstance(item["notes"], str) and item["notes"]:
            st.caption("Notes")
            st.text(item["notes"])
        if _known(item["customer_id"]):
            st.markdown(f"[Open the account](/account?id={int(item['customer_id'])})")
    with right:
        st.text(f"State: {fbk.STATE_LABELS[item['state']]}"
                + (f" ({item['resolution']})" if isinstance(item["resolution"], str) else ""))
        st.text(f"Assignee: {_txt(item['assignee'], 'nobody')}")

        def run(action, done: str, **kwargs) -> None:  # noqa: ANN001
            try:
                with get_session() as session:
                    action(session=session, feedback_id=item_id, actor=user.username, roles=user.roles, **kwargs)
            except (fbk.FeedbackError, NotAllowed) as exc:
                st.error(md(exc))
                return
            st.session_state["fb_flash"] = done
            st.rerun()

        if triage:
            l1, l2 = st.columns(2)
            if queue == "flagged" and item["label"] != fbk.LABEL_NEGATIVE and l1.button(
                    "Confirm the flag", key="fb_confirm", help="It does need a human; the flag learns from this."):
                run(fbk.confirm_flag, f"Item #{item_id}: flag confirmed.")
            if queue == "needs_read" and l1.button(
                    "Flag as a complaint", key="fb_flag_hand", help="Put it in the inbox; the flag learns from this."):
                run(fbk.flag_by_hand, f"Item #{item_id} flagged by hand.")
            if item["label"] != fbk.LABEL_NOT_NEGATIVE and l2.button(
                    "Not a problem", key="fb_not_problem", help="No human needed; the flag learns from this."):
                run(fbk.not_a_problem, f"Item #{item_id} marked not a problem.")
            b1, b2 = st.columns(2)
            if fbk.may_move("acknowledge", item["state"]) and b1.button("Acknowledge", key="fb_ack"):
                run(fbk.acknowledge, f"Item #{item_id} acknowledged.")
            if fbk.may_move("waiting", item["state"]) and b2.button("Waiting on customer", key="fb_wait"):
                run(fbk.mark_waiting, f"Item #{item_id} is waiting on the customer.")
            if fbk.may_move("reopen", item["state"]) and b1.button("Reopen", key="fb_reopen"):
                run(fbk.reopen, f"Item #{item_id} reopened.")
            if fbk.may_move("resolve", item["state"]):  # open: may be assigned and resolved
                a1, a2 = st.columns([2, 1])
                current = item["assignee"] if item["assignee"] in staff else None
                who = a1.selectbox("Assign to", ["nobody", *staff], key="fb_assign_to",
                                   index=(staff.index(current) + 1) if current else 0)
                if a2.button("Assign", key="fb_assign"):
                    run(fbk.assign, f"Item #{item_id} assigned to {who}.",
                        assignee=None if who == "nobody" else who)
                with st.form("fb_resolve_form", clear_on_submit=True):
                    category = st.selectbox("Resolution", list(fbk.RESOLUTION_CATEGORIES), key="fb_resolution",
                                            format_func=fmt.label)
                    resolve_note = st.text_input("Note (optional)", key="fb_resolve_note", max_chars=500)
                    if st.form_submit_button("Resolve", type="primary"):
                        run(fbk.resolve, f"Item #{item_id} resolved: {fmt.label(category).lower()}.",
                            resolution=category, note=resolve_note)
        else:
            st.caption("Support leads change the state; you can add notes and send the apology.")
        with st.form("fb_note_form", clear_on_submit=True):
            note = st.text_area("Add a note", key="fb_note", max_chars=fbk.MAX_NOTE_CHARS, height=80)
            if st.form_submit_button("Add note"):
                run(fbk.add_note, f"Note added to item #{item_id}.", text=note)

        if _known(item["customer_id"]):
            with st.expander("Send apology", icon=":material/mail:"):
                try:
                    with get_session() as session:
                        preview = preview_outreach(session=session, customer_id=int(item["customer_id"]),
                                                   template="apology", feedback_id=item_id,
                                                   idempotency_key=fbk.apology_key(item_id))
                except OutreachError as exc:
                    preview = None
                    st.error(md(exc))
                if preview is not None:
                    already = (preview.reason or "").startswith("already recorded")
                    if preview.would_send:
                        # The address is customer text: st.text, never a caption (Markdown).
                        st.text(f"To: {preview.to}    Channel: {fmt.channel_label(preview.channel)}")
                        st.text(f"Subject: {preview.subject or ''}")
                        st.text(preview.body or "")
                    elif already:
                        # Not a warning: it is the apology just queued (see the account's outreach).
                        st.caption("An apology for this item has been recorded; its state is in the "
                                   "account's outreach history.")
                    else:
                        st.warning(f"Would not be sent: {md(preview.reason)}")
                    if st.button("Send apology", key="fb_apology", disabled=not preview.would_send):
                        try:
                            with get_session() as session:
                                result = fbk.send_apology(session=session, feedback_id=item_id,
                                                          actor=user.username, roles=user.roles)
                        except (fbk.FeedbackError, NotAllowed, OutreachError) as exc:
                            st.error(md(exc))
                        else:
                            st.session_state["fb_flash"] = f"Apology for item #{item_id}: {result.describe()}"
                            st.rerun()

if triage:
    with st.expander("Flag a missed complaint", icon=":material/flag:"):
        st.caption("An answer the flag let through: find its id with the comment search on the NPS screen. "
                   "It goes into the inbox as new, and the flag learns from it.")
        with st.form("fb_missed_form", clear_on_submit=True):
            missed_id = st.number_input("Answer id", min_value=1, step=1, key="fb_missed_id")
            if st.form_submit_button("Flag as a complaint"):
                try:
                    with get_session() as session:
                        fbk.flag_by_hand(session=session, feedback_id=int(missed_id), actor=user.username,
                                         roles=user.roles)
                except (fbk.FeedbackError, NotAllowed) as exc:
                    st.error(refusal(exc))
                else:
                    st.session_state["fb_flash"] = f"Answer #{int(missed_id)} flagged by hand."
                    st.rerun()

if sees_all:  # the export holds every answer; managers see only their own accounts' items
    export_button("feedback", user, label="Download all feedback as CSV", key="fb_export")
