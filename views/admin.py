import streamlit as st

from core import admin, mfa, users
from core import formatting as fmt
from core.roles import Role
from ui.auth import require_screen
from ui.db import get_session
from ui.safe import md


def _users_tab() -> None:
    """Users: the staff table, add a user, reset or disable one, two-factor settings."""
    with get_session() as session:
        staff = admin.staff_table(session=session)
    # Roles as words ("Account manager"), never their codes.
    staff["roles"] = [", ".join(fmt.label(r) for r in str(v or "").replace(",", " ").split()) for v in staff["roles"]]
    st.dataframe(staff, hide_index=True, width="stretch",
                 column_config={"username": st.column_config.TextColumn("Username"),
                                "name": st.column_config.TextColumn("Name"),
                                "email": st.column_config.TextColumn("Email"),
                                "roles": st.column_config.TextColumn("Roles"),
                                "disabled": st.column_config.CheckboxColumn("Disabled"),
                                "is_demo": st.column_config.CheckboxColumn("Demo login"),
                                "totp_enabled": st.column_config.CheckboxColumn("Two-factor"),
                                "locked_until": st.column_config.DatetimeColumn("Locked until (UTC)",
                                                                                format="D MMM YYYY HH:mm"),
                                "last_login_at": st.column_config.DatetimeColumn("Last login (UTC)",
                                                                                 format="D MMM YYYY HH:mm")},
                                    placeholder=fmt.DASH)
    col_add, col_manage = st.columns(2)
    # The form keeps what was typed when the input is refused (a short password must not clear
    # the username or the roles); it is emptied only after a user was added, and the confirmation
    # survives the rerun that empties it.
    add_keys = ("add_username", "add_name", "add_email", "add_roles", "add_password")
    with col_add, st.form("add_user", clear_on_submit=False):
        st.subheader("Add a user")
        added = st.session_state.pop("add_user_added", None)
        if added:
            st.success(f"Added {md(added)}. They can log in now.")
        new_username = st.text_input("Username", key="add_username")
        new_name = st.text_input("Full name", key="add_name")
        new_email = st.text_input("Email", key="add_email")
        new_roles = st.multiselect("Roles", [r.value for r in Role], key="add_roles", format_func=fmt.label)
        new_password = st.text_input("Password (12+ characters)", type="password", key="add_password")
        if st.form_submit_button("Add user", type="primary"):
            try:
                with get_session() as session:
                    users.add_user(session=session, username=new_username.strip(), name=new_name.strip(),
                                   email=new_email.strip() or None, roles=new_roles,
                                   password=new_password, actor=user.username)
            except users.UserError as exc:
                st.error(md(exc))
            else:
                for key in add_keys:
                    st.session_state.pop(key, None)
                st.session_state["add_user_added"] = new_username.strip()
                st.rerun()
    with col_manage, st.form("manage_user"):
        st.subheader("Reset or disable")
        target = st.selectbox("User", staff["username"].tolist(), key="manage_user")
        reset_password = st.text_input("New password (12+ characters)", type="password", key="reset_password")
        c1, c2, c3 = st.columns(3)
        do_reset = c1.form_submit_button("Set password")
        do_disable = c2.form_submit_button("Disable")
        do_enable = c3.form_submit_button("Enable")
        try:
            if do_reset:
                with get_session() as session:
                    users.set_password(session=session, username=target, password=reset_password,
                                       actor=user.username)
                st.success(f"Password of {md(target)} set; their sessions ended.")
            elif do_disable:
                with get_session() as session:
                    users.set_disabled(session=session, username=target, disabled=True, actor=user.username)
                st.success(f"{md(target)} disabled; their sessions ended.")
            elif do_enable:
                with get_session() as session:
                    users.set_disabled(session=session, username=target, disabled=False, actor=user.username)
                st.success(f"{md(target)} enabled.")
        except users.UserError as exc:
            st.error(md(exc))
    _two_factor(staff)


def _two_factor(staff) -> None:  # noqa: ANN001 - the staff table
    """The roles that must use a TOTP app, and a reset for a lost phone."""
    st.subheader("Two-factor login")
    with get_session() as session:
        current_required = sorted(r.value for r in mfa.required_roles(session=session))
    with st.form("mfa_settings"):
        required = st.multiselect("Roles that must use a TOTP app at login", [r.value for r in Role],
                                  default=current_required, key="mfa_required", format_func=fmt.label)
        mfa_target = st.selectbox("Reset two-factor for (lost phone)", [""] + staff["username"].tolist(),
                                  key="mfa_reset_user")
        if st.form_submit_button("Save two-factor settings"):
            with get_session() as session:
                mfa.set_required_roles(session=session, roles=required, actor=user.username)
                if mfa_target:
                    mfa.reset_mfa(session=session, username=mfa_target, actor=user.username)
            st.success("Saved. Users of those roles set up their app at their next login.")


def _audit_tab() -> None:
    """Audit log: the newest entries, filtered by who and action."""
    c1, c2 = st.columns(2)
    actor = c1.text_input("Who", key="audit_actor")
    action = c2.text_input("Action starts with (e.g. login, outreach, import)", key="audit_action")
    with get_session() as session:
        log = admin.audit_table(session=session, actor=actor.strip() or None,
                                action_prefix=action.strip() or None)
    st.caption(f"{len(log):,} newest entries")
    shown_log = log.drop(columns=["customer_id"]).assign(detail=log["detail"].map(fmt.detail_text),
                                                         record_type=log["record_type"].map(fmt.label),
                                                         customer=log["customer"].map(fmt.text),
                                                         record_id=log["record_id"].map(fmt.text))
    st.dataframe(shown_log, hide_index=True, width="stretch", column_config={
        "at": st.column_config.DatetimeColumn("When (UTC)", format="D MMM YYYY HH:mm:ss"),
        "actor": st.column_config.TextColumn("Who"), "action": st.column_config.TextColumn("Action"),
        "record_type": st.column_config.TextColumn("Record"),
        # A task's number, a user's name or an import's kind: text, not a number.
        "record_id": st.column_config.TextColumn("Record id"),
        "customer": st.column_config.TextColumn("Customer id"),
        "detail": st.column_config.TextColumn("Detail", width="large")}, placeholder=fmt.DASH)
    def audited_csv() -> bytes:  # built when clicked, and the download itself is audited
        with get_session() as session:
            return admin.audit_log_csv(session=session, log=log, actor=user.username,
                                       filters={"actor": actor.strip() or None, "action": action.strip() or None})

    st.download_button("Download as CSV", data=audited_csv, file_name="audit-log.csv",
                       mime="text/csv", key="audit_download")


user = require_screen("admin")
st.title("Admin")

# Only the open tab runs (switching tabs reruns the screen): the audit log, the models and the
# loyalty expiry figures are read when their tab is opened, not on every visit to Users.
tab_users, tab_audit, tab_model, tab_loyalty, tab_flag, tab_tasks = st.tabs(
    ["Users", "Audit log", "Churn model", "Loyalty", "Feedback model", "Task rules"], key="admin_tab",
    on_change="rerun")

if tab_users.open:
    with tab_users:
        _users_tab()
if tab_audit.open:
    with tab_audit:
        _audit_tab()
if tab_model.open:
    with tab_model:
        from views.admin_tabs.model import render_model_admin

        render_model_admin(user)
if tab_loyalty.open:
    with tab_loyalty:
        from views.admin_tabs.loyalty import render_loyalty_admin

        render_loyalty_admin(user)
if tab_flag.open:
    with tab_flag:
        from views.admin_tabs.flag_model import render_flag_model_admin

        render_flag_model_admin(user)
if tab_tasks.open:
    with tab_tasks:
        from views.admin_tabs.tasks import render_digest_admin, render_task_rules_admin

        render_task_rules_admin(user)
        render_digest_admin(user)
