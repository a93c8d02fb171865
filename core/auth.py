"""Staff login rules that streamlit-authenticator does not keep safely: lockout stored in
the database (so a new tab or another replica does not reset it), server-side session
revocation, and the audit trail of logins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import or_, update
from sqlmodel import Session

from core import audit, mfa, users
from core.roles import Role, parse_roles
from core.users import LOCKOUT, MAX_FAILED_LOGINS, count_failed_attempt  # noqa: F401 - auth.LOCKOUT kept for callers
from db.models import StaffUser, utcnow

# One message for every failure, so a stranger learns nothing about which usernames exist.
LOGIN_FAILED_MESSAGE = (
    "Login failed: wrong username or password, or the account is locked for 15 minutes "
    "after too many attempts."
)
# Checked against a made-up hash when the user does not exist, so timing does not tell either.
_DUMMY_HASH = users.DUMMY_HASH


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
    """The session identity of a stored staff user: username, name and roles as a frozenset."""
    return StaffIdentity(username=user.username, name=user.name, roles=parse_roles(user.roles))


def check_password_login(
    *, session: Session, username: str, password: str, now: datetime | None = None
) -> tuple[LoginOutcome, StaffUser | None]:
    """Verify a username and password; count failures and lock after MAX_FAILED_LOGINS.

    Every refusal costs one bcrypt check, whether the user is unknown, disabled, locked or
    gave a wrong password, so timing does not tell which. Failures are counted by one atomic
    UPDATE ... RETURNING in the database (not read-modify-write in Python), so parallel
    guesses from any number of tabs, threads or replicas each count and the lock holds.
    Commits its own bookkeeping so a failed attempt is recorded even if the caller stops.
    """
    now = now or utcnow()
    username = (username or "").strip()
    user = users.get_user(session=session, username=username) if username else None
    refusal = None
    if user is None:
        refusal = ("login.failed", {"reason": "unknown user"})
    elif user.disabled:
        refusal = ("login.failed", {"reason": "disabled"})
    elif user.locked_until and user.locked_until > now:
        refusal = ("login.locked", {"locked_until": user.locked_until})
    # The hash check runs for every attempt: against a made-up hash when the answer is
    # already "no", so an unknown, disabled or locked user costs what a wrong password does.
    password_ok = users.check_password(password or "", user.password_hash if refusal is None else _DUMMY_HASH)
    if refusal is not None:
        action, detail = refusal
        audit.record(session=session, actor=username or "-", action=action, record_type="staff_user",
                     record_id=username if user is not None else None, detail=detail)
        session.commit()
        return LoginOutcome.FAILED, None
    if not password_ok:
        failed, locked_until = count_failed_attempt(session=session, user_id=user.id, now=now)
        detail = {"failed_logins": failed}
        action = "login.failed"
        if failed == 0:  # this attempt reached the limit and set the lock
            action = "login.lockout"
            detail = {"failed_logins": MAX_FAILED_LOGINS, "locked_until": locked_until}
        audit.record(session=session, actor=username, action=action, record_type="staff_user",
                     record_id=username, detail=detail)
        session.commit()
        session.expire(user)
        return LoginOutcome.FAILED, None
    # The right password clears the count only while the user is not locked: a lock set by a
    # parallel wrong guess after this attempt read the row still wins. A user with a second
    # factor keeps the count until a code passes (mfa.verify_login_code): the password
    # alone clearing it let someone who knew it try four codes, start again, and guess the code
    # without ever being locked.
    cleared = session.execute(
        update(StaffUser)
        .where(StaffUser.id == user.id, or_(StaffUser.locked_until.is_(None), StaffUser.locked_until <= now))
        .values({"locked_until": None} if user.totp_enabled else {"failed_logins": 0, "locked_until": None})
    ).rowcount
    if not cleared:
        audit.record(session=session, actor=username, action="login.locked", record_type="staff_user",
                     record_id=username, detail={"reason": "locked while checking"})
        session.commit()
        return LoginOutcome.FAILED, None
    session.commit()
    session.refresh(user)
    if user.totp_enabled:
        return LoginOutcome.NEEDS_TOTP, user
    if mfa.must_enrol(session=session, user=user):
        session.commit()
        return LoginOutcome.NEEDS_ENROLMENT, user
    complete_login(session=session, user=user, now=now)
    return LoginOutcome.OK, user


def complete_login(*, session: Session, user: StaffUser, now: datetime | None = None) -> None:
    """Record a login that passed every check (password and, where required, two-factor):
    last_login_at = ``now`` (default: now, UTC), an audit entry ``login.ok``. Commits."""
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
    """Audit a screen refused to ``username`` (``permission.denied`` on record ``screen``). Commits.
    Costs one password check, as every other refusal does (users.spend_a_password_check)."""
    users.spend_a_password_check()
    audit.record(session=session, actor=username or "-", action="permission.denied",
                 record_type="screen", record_id=screen)
    session.commit()
