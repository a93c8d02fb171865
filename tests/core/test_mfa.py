"""Two-factor login with real TOTP codes, recovery codes and the per-role requirement."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyotp
import pytest
from sqlmodel import Session

from core import auth, mfa, users

NOW = datetime(2026, 11, 2, 10, 0, 0)
PASSWORD = "correct horse battery"


def _enrolled(session: Session) -> tuple[str, list[str]]:
    users.add_user(session=session, username="ada", name="Ada", password=PASSWORD, roles=["admin"])
    session.commit()
    secret, uri = mfa.start_enrolment(session=session, username="ada")
    assert uri.startswith("otpauth://totp/") and "issuer=Hearth" in uri
    assert mfa.qr_png(uri).startswith(b"\x89PNG")
    codes = mfa.confirm_enrolment(session=session, username="ada", code=pyotp.TOTP(secret).at(NOW), now=NOW)
    return secret, codes


def test_enrolment_needs_a_matching_code(session: Session) -> None:
    users.add_user(session=session, username="ada", name="Ada", password=PASSWORD, roles=["admin"])
    session.commit()
    mfa.start_enrolment(session=session, username="ada")
    with pytest.raises(mfa.MfaError, match="does not match"):
        mfa.confirm_enrolment(session=session, username="ada", code="000000", now=NOW)
    assert users.get_user(session=session, username="ada").totp_enabled is False


def test_login_asks_for_the_code_after_the_password(session: Session) -> None:
    secret, codes = _enrolled(session)
    outcome, _ = auth.check_password_login(session=session, username="ada", password=PASSWORD, now=NOW)
    assert outcome is auth.LoginOutcome.NEEDS_TOTP
    assert mfa.verify_login_code(session=session, username="ada", code=pyotp.TOTP(secret).at(NOW), now=NOW)
    stale = pyotp.TOTP(secret).at(NOW - timedelta(minutes=5))
    assert not mfa.verify_login_code(session=session, username="ada", code=stale, now=NOW)


def test_recovery_codes_work_once_and_are_stored_hashed(session: Session) -> None:
    _secret, codes = _enrolled(session)
    assert len(codes) == 8
    stored = users.get_user(session=session, username="ada").recovery_codes
    assert all(code not in stored for code in codes)
    assert mfa.verify_login_code(session=session, username="ada", code=codes[0], now=NOW)
    assert not mfa.verify_login_code(session=session, username="ada", code=codes[0], now=NOW)


def test_five_wrong_codes_lock_the_user(session: Session) -> None:
    secret, _ = _enrolled(session)
    for _ in range(5):
        assert not mfa.verify_login_code(session=session, username="ada", code="123456", now=NOW)
    right = pyotp.TOTP(secret).at(NOW + timedelta(minutes=1))
    assert not mfa.verify_login_code(session=session, username="ada", code=right, now=NOW + timedelta(minutes=1))


def test_the_right_password_does_not_reset_the_count_of_wrong_codes(session: Session) -> None:
    # Password, four wrong codes, back to the login, again: the password alone cleared the count,
    # so codes could be guessed without end (20 wrong codes, never locked). Now the fifth wrong
    # code locks, and then not even the password and the right code let in.
    secret, _ = _enrolled(session)
    for attempt in range(5):
        outcome, _ = auth.check_password_login(session=session, username="ada", password=PASSWORD, now=NOW)
        if attempt < 2:
            assert outcome is auth.LoginOutcome.NEEDS_TOTP
        else:
            assert outcome is auth.LoginOutcome.FAILED  # locked after the 5th wrong code
            break
        for _ in range(4 if attempt == 0 else 1):
            assert not mfa.verify_login_code(session=session, username="ada", code="000001", now=NOW)
    user = users.get_user(session=session, username="ada")
    session.refresh(user)
    assert user.locked_until is not None and user.locked_until > NOW
    later = NOW + timedelta(minutes=1)
    assert not mfa.verify_login_code(session=session, username="ada", code=pyotp.TOTP(secret).at(later), now=later)
    # A passing code still clears the count, as before.
    after = NOW + timedelta(minutes=20)
    assert auth.check_password_login(session=session, username="ada", password=PASSWORD, now=after)[0] \
        is auth.LoginOutcome.NEEDS_TOTP
    assert mfa.verify_login_code(session=session, username="ada", code=pyotp.TOTP(secret).at(after), now=after)
    session.refresh(user)
    assert user.failed_logins == 0


def test_a_password_longer_than_bcrypt_reads_is_refused_in_words_and_never_matches(session: Session) -> None:
    # 25 euro signs are 75 bytes: bcrypt refused them with its own "truncate manually" message.
    with pytest.raises(users.UserError, match="at most 72 bytes"):
        users.add_user(session=session, username="eve", name="Eve", password="€" * 25, roles=["exec"])
    users.add_user(session=session, username="bob", name="Bob", password="b" * 72, roles=["exec"])
    session.commit()
    stored = users.get_user(session=session, username="bob").password_hash
    assert users.check_password("b" * 72, stored)
    assert not users.check_password("b" * 72 + "extra", stored)  # its first 72 bytes match, it does not
    assert auth.check_password_login(session=session, username="nobody", password="y" * 80,
                                     now=NOW)[0] is auth.LoginOutcome.FAILED


def test_a_required_role_must_enrol_before_entering(session: Session) -> None:
    users.add_user(session=session, username="erin", name="Erin", password=PASSWORD, roles=["exec"])
    mfa.set_required_roles(session=session, roles=["exec"], actor="admin")
    session.commit()
    outcome, _ = auth.check_password_login(session=session, username="erin", password=PASSWORD, now=NOW)
    assert outcome is auth.LoginOutcome.NEEDS_ENROLMENT
    mfa.set_required_roles(session=session, roles=[], actor="admin")
    session.commit()
    assert auth.check_password_login(session=session, username="erin", password=PASSWORD,
                                     now=NOW)[0] is auth.LoginOutcome.OK
