"""The login gate and every page's server-side role check.

The re-login cookie is a HS256 JWT of username, exp_date (streamlit-authenticator's format)
and iat, the issue time that revocation is checked against, written by the cookie component
streamlit-authenticator uses (extra-streamlit-components). The library itself is not used:
it cannot keep lockout in the database, ask for a second factor, or revoke sessions on the
server (design.md pitfalls), so those are Hearth's own (core.auth): lockout in the database,
revocation through `sessions_valid_after`, roles re-read from the database on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import streamlit as st

from core import auth, mfa, users
from core.config import get_settings
from core.roles import Role, can_view
from core.security import cookie_key
from db.models import utcnow
from ui.db import get_session
from ui.safe import md

COOKIE_NAME = "hearth_session"
_USER = "hearth_user"
_ISSUED = "hearth_issued_at"
_SET_COOKIE = "hearth_set_cookie"
_LOGGED_OUT = "hearth_logged_out"
_PENDING = "hearth_pending_second_factor"
_ENROL_SECRET = "hearth_enrol_secret"


def roles_key(roles) -> tuple[str, ...]:  # noqa: ANN001 - Roles or their names
    """Roles as a sorted tuple of names: hashable and stable, the key of a cached reader."""
    return tuple(sorted(str(r) for r in roles))


@dataclass(frozen=True)
class CurrentUser:
    username: str
    name: str
    roles: frozenset[Role]

    def has(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))


def _cookie_issued_at(token: dict) -> datetime | None:
    """When the cookie was issued, as naive UTC, from the `iat` it carries (epoch seconds).

    Not reconstructed from the expiry and this process's configured lifetime: a replica with
    a shorter HEARTH_COOKIE_EXPIRY_DAYS would then date an old cookie later than its logout
    and accept it. A token without `iat` (streamlit-authenticator's own format) is refused.
    """
    try:
        return datetime.fromtimestamp(float(token["iat"]), UTC).replace(tzinfo=None)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _read_cookie() -> dict | None:
    """The signed login cookie, verified (same format as streamlit-authenticator writes), or None.

    Read here rather than through the library because each Authenticate() renders a cookie
    component, and a run may render it only once.
    """
    raw = st.context.cookies.get(COOKIE_NAME) if st.context.cookies else None
    if not raw:
        return None
    try:
        token = jwt.decode(raw, cookie_key(get_settings()), algorithms=["HS256"], leeway=30)
        expires, issued = float(token.get("exp_date", 0)), float(token["iat"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None
    now = datetime.now(UTC).timestamp()
    # Expired by its own date, or older than this process allows (a replica configured with a
    # shorter lifetime honours its own, not the one that issued the cookie).
    if expires <= now or issued + get_settings().cookie_expiry_days * 86400 <= now:
        return None
    return token


def write_pending_cookie() -> None:
    """Render the cookie writer on every run of a session that logged in with its password.

    The component sets the cookie from the browser once it has mounted; rendering it with the
    same arguments on each run keeps it mounted (a component shown on one run only is often
    unmounted by the next rerun before it ran). The token has the format
    streamlit-authenticator writes (a HS256 JWT of username and exp_date) plus `iat`.
    """
    token = st.session_state.get(_SET_COOKIE)
    if not token:
        return
    expires = datetime.fromtimestamp(jwt.decode(token, options={"verify_signature": False})["exp_date"])
    # SameSite=Strict, and Secure when the app is served over HTTPS. HttpOnly is out of reach:
    # Streamlit gives a script no way to send a Set-Cookie header, and a cookie written by
    # page script (this component) cannot be HttpOnly. See README, Security.
    url = str(getattr(st.context, "url", "") or "")
    _cookie_manager().set(COOKIE_NAME, token, expires_at=expires, key="hearth_cookie_set",
                          same_site="strict", secure=url.startswith("https://") or None)


def _cookie_manager():  # noqa: ANN202
    import extra_streamlit_components as stx  # streamlit-authenticator's own cookie component

    return stx.CookieManager(key="hearth_cookies")


def current_user() -> CurrentUser | None:
    """The signed-in user for this run, re-validated against the database, or None."""
    username = st.session_state.get(_USER)
    issued_at = st.session_state.get(_ISSUED)
    if not username:
        if st.session_state.get(_LOGGED_OUT):
            return None
        token = _read_cookie()
        if token and token.get("username"):
            username, issued_at = str(token["username"]), _cookie_issued_at(token)
    if not username or issued_at is None:
        return None
    with get_session() as session:
        ident = auth.session_still_valid(session=session, username=username, issued_at=issued_at)
    if ident is None:
        _forget()
        return None
    st.session_state[_USER] = ident.username
    st.session_state[_ISSUED] = issued_at
    return CurrentUser(ident.username, ident.name, ident.roles)


def _forget() -> None:
    for key in (_USER, _ISSUED, _PENDING, _ENROL_SECRET, "username", "name", "authentication_status"):
        st.session_state.pop(key, None)


def _start_session(username: str) -> None:
    issued = utcnow()
    st.session_state[_USER] = username
    st.session_state[_ISSUED] = issued
    st.session_state["username"] = username
    st.session_state.pop(_LOGGED_OUT, None)
    expires = datetime.now(UTC) + timedelta(days=get_settings().cookie_expiry_days)
    # `iat` is the issue time the server checks against sessions_valid_after (revocation).
    st.session_state[_SET_COOKIE] = jwt.encode(
        {"username": username, "exp_date": expires.timestamp(), "iat": issued.replace(tzinfo=UTC).timestamp()},
        cookie_key(get_settings()), algorithm="HS256",
    )


def login_page() -> None:
    settings = get_settings()
    st.title("Hearth")
    st.caption("Account health, churn risk, feedback and outreach for the shop's customers.")
    pending = st.session_state.get(_PENDING)
    if pending:
        username, step = pending
        if step == auth.LoginOutcome.NEEDS_ENROLMENT.value:
            _enrol_step(username)
        else:
            _totp_step(username)
        if st.button("Back to login", key="login_cancel_mfa"):
            st.session_state.pop(_PENDING, None)
            st.rerun()
        return
    with st.form("login", clear_on_submit=True):
        username = st.text_input("Username", key="login_username", autocomplete="username")
        password = st.text_input("Password", type="password", key="login_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        with get_session() as session:
            outcome, user = auth.check_password_login(session=session, username=username, password=password)
        if outcome is auth.LoginOutcome.OK and user is not None:
            _start_session(user.username)
            st.rerun()
        elif outcome in (auth.LoginOutcome.NEEDS_TOTP, auth.LoginOutcome.NEEDS_ENROLMENT) and user:
            # The password was right; the session starts only after the second factor.
            st.session_state[_PENDING] = (user.username, outcome.value)
            st.rerun()
        else:
            st.error(auth.LOGIN_FAILED_MESSAGE)
    if not settings.is_production:
        st.info("Demo logins: `manager`, `support`, `exec`, `admin`; password `hearth-demo`.")


def _totp_step(username: str) -> None:
    st.subheader("Two-factor code")
    with st.form("totp", clear_on_submit=True):
        code = st.text_input("Code from your authenticator app, or a recovery code", key="login_totp")
        submitted = st.form_submit_button("Verify", type="primary")
    if submitted:
        with get_session() as session:
            verified = mfa.verify_login_code(session=session, username=username, code=code)
            if verified:
                auth.complete_login(session=session, user=users.get_user(session=session, username=username))
        if verified:
            st.session_state.pop(_PENDING, None)
            _start_session(username)
            st.rerun()
        st.error("That code is not valid. Enter the current code from your app.")


def _enrol_step(username: str) -> None:
    """First login of a role that requires two-factor: scan, confirm one code, keep the recovery codes."""
    st.subheader("Set up two-factor login")
    st.write("Your role requires a second factor. Scan the code with an authenticator app "
             "(or type the key), then enter the 6-digit code it shows.")
    if _ENROL_SECRET not in st.session_state:
        with get_session() as session:
            st.session_state[_ENROL_SECRET] = mfa.start_enrolment(session=session, username=username)
    secret, uri = st.session_state[_ENROL_SECRET]
    st.image(mfa.qr_png(uri), width=220)
    st.code(secret, language=None)
    with st.form("enrol", clear_on_submit=True):
        code = st.text_input("6-digit code", key="enrol_code")
        submitted = st.form_submit_button("Confirm", type="primary")
    if submitted:
        try:
            with get_session() as session:
                codes = mfa.confirm_enrolment(session=session, username=username, code=code)
        except mfa.MfaError as exc:
            st.error(md(exc))
            return
        st.session_state.pop(_ENROL_SECRET, None)
        st.session_state[_PENDING] = (username, auth.LoginOutcome.NEEDS_TOTP.value)
        st.success("Two-factor login is on. Keep these one-time recovery codes somewhere safe; "
                   "they are shown only now:")
        st.code("\n".join(codes), language=None)
        st.button("I have saved them: continue", key="enrol_continue", type="primary")


def logout(user: CurrentUser) -> None:
    with get_session() as session:
        auth.logout(session=session, username=user.username)
    _forget()
    st.session_state.pop(_SET_COOKIE, None)
    st.session_state[_LOGGED_OUT] = True


def require_screen(screen: str) -> CurrentUser:
    """Every page calls this first: the role check on the server, whatever the URL."""
    user = current_user()
    if user is None:
        st.error("Not allowed: please log in.")
        st.stop()
    if not can_view(user.roles, screen):
        with get_session() as session:
            auth.record_denied(session=session, username=user.username, screen=screen)
        st.error("Not allowed: your role does not give access to this screen.")
        st.stop()
    return user
