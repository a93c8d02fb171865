"""Login rules kept in the database: lockout, revocation, one message for every failure."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from core import auth, users
from core.roles import Role
from db.models import AuditLog

T0 = datetime(2026, 11, 1, 9, 0, 0)


def _user(session: Session, username: str = "alice", password: str = "correct horse battery") -> None:
    users.add_user(session=session, username=username, name="Alice", password=password,
                   roles=["account_manager"])
    session.commit()


def test_password_login_returns_roles(session: Session) -> None:
    _user(session)
    outcome, user = auth.check_password_login(session=session, username="alice",
                                              password="correct horse battery", now=T0)
    assert outcome is auth.LoginOutcome.OK
    assert auth.identity(user).roles == frozenset({Role.ACCOUNT_MANAGER})
    assert user.password_hash != "correct horse battery"


def test_five_failures_lock_for_fifteen_minutes_even_with_the_right_password(session: Session) -> None:
    _user(session)
    for i in range(5):
        outcome, _ = auth.check_password_login(session=session, username="alice", password="nope",
                                               now=T0 + timedelta(seconds=i))
        assert outcome is auth.LoginOutcome.FAILED
    right = "correct horse battery"
    locked, _ = auth.check_password_login(session=session, username="alice", password=right,
                                          now=T0 + timedelta(minutes=14))
    assert locked is auth.LoginOutcome.FAILED
    after, _ = auth.check_password_login(session=session, username="alice", password=right,
                                         now=T0 + timedelta(minutes=15, seconds=5))
    assert after is auth.LoginOutcome.OK
    actions = session.exec(select(AuditLog.action).where(AuditLog.actor == "alice")).all()
    assert actions.count("login.failed") == 4
    assert "login.lockout" in actions and "login.locked" in actions and "login.ok" in actions


def test_four_failures_then_success_resets_the_count(session: Session) -> None:
    _user(session)
    for _ in range(4):
        auth.check_password_login(session=session, username="alice", password="nope", now=T0)
    assert auth.check_password_login(session=session, username="alice",
                                     password="correct horse battery", now=T0)[0] is auth.LoginOutcome.OK
    for _ in range(4):
        auth.check_password_login(session=session, username="alice", password="nope", now=T0)
    assert auth.check_password_login(session=session, username="alice",
                                     password="correct horse battery", now=T0)[0] is auth.LoginOutcome.OK


def test_unknown_and_disabled_users_fail_like_a_wrong_password(session: Session) -> None:
    _user(session)
    users.set_disabled(session=session, username="alice")
    session.commit()
    assert auth.check_password_login(session=session, username="alice",
                                     password="correct horse battery")[0] is auth.LoginOutcome.FAILED
    assert auth.check_password_login(session=session, username="bob", password="x")[0] is \
        auth.LoginOutcome.FAILED


def test_logout_password_change_and_disable_revoke_earlier_sessions(session: Session) -> None:
    _user(session)
    issued = T0
    assert auth.session_still_valid(session=session, username="alice", issued_at=issued)
    auth.logout(session=session, username="alice", now=T0 + timedelta(minutes=5))
    assert auth.session_still_valid(session=session, username="alice", issued_at=issued) is None
    later = T0 + timedelta(minutes=6)
    assert auth.session_still_valid(session=session, username="alice", issued_at=later)
    users.set_password(session=session, username="alice", password="another long password")
    session.commit()
    assert auth.session_still_valid(session=session, username="alice", issued_at=later) is None


def test_new_passwords_need_twelve_characters(session: Session) -> None:
    try:
        users.add_user(session=session, username="short", name="S", password="short", roles=["exec"])
    except users.UserError as exc:
        assert "12" in str(exc)
    else:
        raise AssertionError("a short password was accepted")
