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
