"""Staff login rules that streamlit-authenticator does not keep safely: lockout stored in
the database (so a new tab or another replica does not reset it), server-side session
revocation, and the audit trail of logins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session

from core import audit, mfa, users
from core.roles import Role, parse_roles
from db.models import StaffUser, utcnow

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
# One message for every failure, so a stranger learns nothing about which usernames exist.
LOGIN_FAILED_MESSAGE = (
    "Login failed: wrong username or password, or the account is locked for 15 minutes "
    "after too many attempts."
)
# Checked against a made-up hash when the user does not exist, so timing does not tell either.
_DUMMY_HASH = users.hash_password("not-a-real-password-at-all")


class LoginOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    NEEDS_TOTP = "needs_totp"
    NEEDS_ENROLMENT = "needs_enrolment"


@dataclass(frozen=True)
class StaffIdentity:
    username: str
    name: str
    roles: frozenset[Role]


def identity(user: StaffUser) -> StaffIdentity:
    return StaffIdentity(username=user.username, name=user.name, roles=parse_roles(user.roles))


def check_password_login(
    *, session: Session, username: str, password: str, now: datetime | None = None
) -> tuple[LoginOutcome, StaffUser | None]:
    """Verify a username and password; count failures and lock after MAX_FAILED_LOGINS.

    Commits its own bookkeeping so a failed attempt is recorded even if the caller stops.
    """
    now = now or utcnow()
    username = (username or "").strip()
    user = users.get_user(session=session, username=username) if username else None
    if user is None:
        users.check_password(password or "", _DUMMY_HASH)
        audit.record(session=session, actor=username or "-", action="login.failed",
                     record_type="staff_user", detail={"reason": "unknown user"})
        session.commit()
        return LoginOutcome.FAILED, None
    if user.disabled:
        audit.record(session=session, actor=username, action="login.failed", record_type="staff_user",
                     record_id=username, detail={"reason": "disabled"})
        session.commit()
        return LoginOutcome.FAILED, None
    if user.locked_until and user.locked_until > now:
        audit.record(session=session, actor=username, action="login.locked", record_type="staff_user",
                     record_id=username, detail={"locked_until": user.locked_until})
        session.commit()
        return LoginOutcome.FAILED, None
    if not users.check_password(password or "", user.password_hash):
        user.failed_logins = (user.failed_logins or 0) + 1
        detail = {"failed_logins": user.failed_logins}
        action = "login.failed"
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            action = "login.lockout"
            detail["locked_until"] = user.locked_until
        session.add(user)
        audit.record(session=session, actor=username, action=action, record_type="staff_user",
                     record_id=username, detail=detail)
        session.commit()
        return LoginOutcome.FAILED, None
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    if user.totp_enabled:
        session.commit()
        return LoginOutcome.NEEDS_TOTP, user
    if mfa.must_enrol(session=session, user=user):
        session.commit()
        return LoginOutcome.NEEDS_ENROLMENT, user
    complete_login(session=session, user=user, now=now)
    return LoginOutcome.OK, user


def complete_login(*, session: Session, user: StaffUser, now: datetime | None = None) -> None:
    user.last_login_at = now or utcnow()
    session.add(user)
    audit.record(session=session, actor=user.username, action="login.ok", record_type="staff_user",
                 record_id=user.username)
    session.commit()


def session_still_valid(*, session: Session, username: str, issued_at: datetime) -> StaffIdentity | None:
    """The identity behind a browser session, or None if it was revoked since `issued_at`
    (logout in any tab, password change, disable) or the user is gone."""
    user = users.get_user(session=session, username=username)
    if user is None or user.disabled:
        return None
    if user.sessions_valid_after and issued_at < user.sessions_valid_after:
        return None
    return identity(user)


def logout(*, session: Session, username: str, now: datetime | None = None) -> None:
    """End every session of this user, in every tab and on every replica."""
    user = users.get_user(session=session, username=username)
    if user is None:
        return
    user.sessions_valid_after = now or utcnow()
    session.add(user)
    audit.record(session=session, actor=username, action="logout", record_type="staff_user",
                 record_id=username)
    session.commit()


def record_denied(*, session: Session, username: str, screen: str) -> None:
    audit.record(session=session, actor=username or "-", action="permission.denied",
                 record_type="screen", record_id=screen)
    session.commit()
