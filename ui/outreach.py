"""Outreach widgets shared by several screens: the account buttons with a preview (Account,
Feedback inbox) and bulk outreach over a selection (Accounts, Loyalty). The cached readers of
every outreach screen live here, so a send clears them all; the Outreach screen itself
(campaign results, message log) is views/outreach.py.

Customer text (names, subjects, bodies) is shown only through st.text, st.code and
st.dataframe, never as markdown or HTML.
"""

from __future__ import annotations

import uuid
from datetime import date

import pandas as pd
import streamlit as st

from core import formatting as fmt
from core import outreach as core_outreach
from core.readcache import cached
from core.roles import Role, may_see_personal_data
from ui.auth import roles_key
from ui.db import get_session
from ui.safe import formula_safe, md

LABELS = core_outreach.TEMPLATE_LABELS
STATUS_ICONS = {"queued": "⏳", "sending": "📤", "sent": "✅", "failed": "❌", "suppressed": "🚫",
                "holdout": "🧪"}
# One message's columns, wherever a list of messages is shown.
MESSAGE_COLUMNS = {
    "triggered_at": st.column_config.DatetimeColumn("Triggered (UTC)", format="D MMM YYYY HH:mm"),
    "template": st.column_config.TextColumn("Template"),
    "state": st.column_config.TextColumn("State"),
    "reason": st.column_config.TextColumn("Reason"),
    "sent_at": st.column_config.DatetimeColumn("Sent (UTC)", format="D MMM YYYY HH:mm"),
    "offer_code": st.column_config.TextColumn("Offer code"),
    "triggered_by": st.column_config.TextColumn("Sent by"),
    "attempts": st.column_config.NumberColumn("Attempts", format="%,d"),
    "last_error": st.column_config.TextColumn("Last error"),
}


def state_label(status: str | None) -> str:
    return f"{STATUS_ICONS.get(status, '')} {fmt.label(status)}".strip()


def blanks(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty text cells as blanks: st.dataframe shows a missing value as the word "None"."""
    text = [c for c in ("reason", "last_error", "offer_code", "subject", "triggered_by", "name", "customer")
            if c in frame.columns]
    return frame.assign(**{c: frame[c].map(fmt.text) for c in text})


# ---------------------------------------------------------------- cached readers


def _fitting(customer_id: int, templates: list[str]) -> dict[str, str | None]:
    with get_session() as session:
        return core_outreach.fitting_templates(session=session, customer_id=customer_id, templates=templates)


def _contact_problem(customer_id: int) -> str | None:
    with get_session() as session:
        return core_outreach.contact_problem(session=session, customer_id=customer_id)


@cached(tables=("outreach", "customer"))  # what core.outreach.outreach_log reads
def _customer_log(roles: tuple[str, ...], customer_id: int) -> pd.DataFrame:
    with get_session() as session:
        return core_outreach.outreach_log(session=session, roles={Role(r) for r in roles},
                                          customer_id=customer_id, limit=200)


def _plan(customer_ids: tuple[int, ...], template: str, holdout_share: float) -> core_outreach.CampaignPlan:
    with st.spinner('Checking consent, frequency cap and fit…'), get_session() as session:
        return core_outreach.plan_campaign(session=session, customer_ids=customer_ids, template=template,
                                           holdout_share=holdout_share)


def _show_preview(preview: core_outreach.MessagePreview) -> None:
    st.text(f"To: {preview.to or '(no email address)'}    Channel: {preview.channel}")
    st.text(f"Subject: {preview.subject}")
    st.code(preview.body or "", language=None, wrap_lines=True)
    st.text(f"Offer code: {preview.offer_code or 'none (this template carries no offer)'}")


def render_account_outreach(user, customer_id: int, *, feedback_id: int | None = None) -> None:  # noqa: ANN001
    """Buttons for the templates that fit this customer (and the user's role), a preview of
    the exact message before Send, then the customer's outreach history with its states.

    Nothing at all for roles that may not send (exec)."""
    templates = core_outreach.templates_for_roles(user.roles)
    if not templates:
        return
    suffix = f"{customer_id}_{feedback_id or 0}"
    pending_key, result_key = f"outreach_pending_{suffix}", f"outreach_result_{suffix}"
    st.subheader("Outreach")
    try:
        fits = _fitting(customer_id, list(templates))  # only the templates this user may send
    except core_outreach.OutreachError as exc:
        st.error(md(exc))
        return
    # Only an apology for a given answer needs it (below): not read for the Account screen's buttons.
    unreachable = _contact_problem(customer_id) if feedback_id is not None else None
    cols = st.columns(len(templates))
    for col, template in zip(cols, templates, strict=True):
        why_not = fits.get(template)
        if feedback_id is not None and template == "apology":
            why_not = unreachable  # an apology for this specific feedback fits, if it can be sent
        with col:
            clicked = st.button(LABELS[template], key=f"outreach_btn_{template}_{suffix}",
                                disabled=why_not is not None,
                                help=f"Not available: {md(why_not)}" if why_not else "Preview before sending")
            if why_not:
                # The reason beside the greyed-out button, not only in its tooltip.
                st.caption(f"Not available: {md(why_not)}")
        if clicked:
            # One key per opened preview: a double click on Send, or a retry, is one outreach.
            st.session_state[pending_key] = {"template": template, "key": f"ui:{uuid.uuid4().hex}"}
            st.session_state.pop(result_key, None)

    result = st.session_state.get(result_key)
    if result:
        (st.success if result["ok"] else st.warning)(result["text"])

    pending = st.session_state.get(pending_key)
    if pending:
        template = pending["template"]
        with st.expander(f"Preview: {LABELS[template]}", expanded=True):
            try:
                with get_session() as session:
                    preview = core_outreach.preview_outreach(
                        session=session, customer_id=customer_id, template=template,
                        feedback_id=feedback_id, idempotency_key=pending["key"])
            except core_outreach.OutreachError as exc:
                st.error(md(exc))
                return
            if preview.subject:
                _show_preview(preview)
            if preview.would_send:
                st.caption("This exact message is queued on Send; the outreach worker delivers it.")
            else:
                st.warning(f"Will not be sent: {md(preview.reason)}")
            left, right = st.columns(2)
            send = left.button("Send", key=f"outreach_send_{suffix}", type="primary",
                               disabled=not preview.would_send)
            cancel = right.button("Cancel", key=f"outreach_cancel_{suffix}")
        if cancel:
            st.session_state.pop(pending_key, None)
            st.rerun()
        if send:
            try:
                with get_session() as session:
                    res = core_outreach.trigger_outreach(
                        session=session, customer_id=customer_id, template=template,
                        triggered_by=user.username, feedback_id=feedback_id, idempotency_key=pending["key"])
            except core_outreach.OutreachError as exc:
                st.error(md(exc))
                return
            st.session_state.pop(pending_key, None)
            st.session_state[result_key] = {"ok": res.outreach.status == "queued",
                                            "text": f"{LABELS[template]}: {res.describe()}"}
            st.rerun()

    if may_see_personal_data(user.roles):
        history = _customer_log(roles_key(user.roles), customer_id)
        if history.empty:
            st.caption("No outreach to this customer yet.")
        else:
            history = formula_safe(history, ["reason", "last_error", "triggered_by"])
            shown = history.assign(state=history["status"].map(state_label),
                                   template=history["template"].map(fmt.template_label))
            st.dataframe(blanks(shown[["triggered_at", "template", "state", "reason", "sent_at", "offer_code",
                                        "triggered_by", "attempts", "last_error"]]), hide_index=True,
                         key=f"outreach_history_{suffix}", column_config=MESSAGE_COLUMNS, placeholder=fmt.DASH)


# ---------------------------------------------------------------- bulk outreach


def render_bulk_outreach(user, customer_ids: list[int], audience_rule: dict) -> None:  # noqa: ANN001
    """Choose a template for the selected accounts, see who would be contacted, held out and
    suppressed (by reason), and confirm to create the campaign. Managers and admins only."""
    if not user.has(Role.ACCOUNT_MANAGER, Role.ADMIN):
        return
    st.subheader("Outreach to the selection")
    if not customer_ids:
        st.info("Select accounts in the table (or choose all matching the filter) to plan a campaign.")
        return
    template = st.selectbox("Template", core_outreach.TEMPLATES, format_func=LABELS.get, key="bulk_template")
    holdout_pct = st.slider("Hold out (not contacted, to measure uplift)", 0, 50, 10, step=5, format="%d%%",
                            key="bulk_holdout")
    name = st.text_input("Campaign name", value=f"{LABELS[template]} {date.today().isoformat()}",
                         key=f"bulk_name_{template}")
    try:
        plan = _plan(tuple(sorted(int(i) for i in customer_ids)), template, holdout_pct / 100)
    except core_outreach.OutreachError as exc:
        st.error(md(exc))
        return
    a, b, c, d = st.columns(4)
    a.metric("Selected", f"{plan.audience:,}")
    b.metric("Will be contacted", f"{plan.contact:,}")
    c.metric("Held out", f"{plan.holdout:,}", help="About this many; the exact draw is made on confirm.")
    d.metric("Suppressed", f"{plan.suppressed_total:,}")
    if plan.suppressed:
        reasons = pd.DataFrame({"reason": list(plan.suppressed), "customers": list(plan.suppressed.values())})
        st.dataframe(reasons, hide_index=True, key="bulk_suppressed", placeholder=fmt.DASH)
    token = st.session_state.setdefault("bulk_token", uuid.uuid4().hex)
    done = st.session_state.setdefault("bulk_done", {})
    if token in done:
        st.success(md(done[token]))
    if plan.contact + plan.holdout == 0:
        st.warning("Nobody in this selection can be contacted with this template; try another template.")
        return
    if st.button(f"Create campaign and queue {plan.contact:,} messages", key="bulk_confirm", type="primary"):
        if token in done:  # a double click: the campaign already exists
            return
        try:
            with get_session() as session:
                campaign = core_outreach.create_campaign(
                    session=session, name=name, template=template, customer_ids=customer_ids,
                    audience_rule=audience_rule, holdout_share=holdout_pct / 100, created_by=user.username)
                res = core_outreach.campaign_results(session=session, campaign_id=campaign.id).iloc[0]
        except core_outreach.OutreachError as exc:
            st.error(md(exc))
            return
        done[token] = (f"Campaign “{campaign.name}” created: {int(res['queued'])} queued, "
                       f"{int(res['holdout'])} held out, {int(res['suppressed'])} suppressed.")
        st.session_state["bulk_token"] = uuid.uuid4().hex
        st.session_state["bulk_last"] = done[token]
        st.rerun()
    if "bulk_last" in st.session_state and token not in done:
        st.success(md(st.session_state["bulk_last"]))
