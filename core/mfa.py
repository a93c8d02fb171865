"""Staff two-factor login with TOTP (pyotp), one-time recovery codes, and the admin's
per-role requirement. The authenticator library's own 2FA mails codes through its
author's hosted service, so Hearth keeps its own."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import io
import json
import secrets
from datetime import datetime

import pyotp
import qrcode
from sqlalchemy import update
from sqlmodel import Session

from core import audit, users
from core.roles import Role, parse_roles
from core.users import count_failed_attempt
from db.models import Setting, StaffUser, utcnow

ISSUER = "Hearth"
RECOVERY_CODE_COUNT = 8
REQUIRED_ROLES_KEY = "mfa_required_roles"


class MfaError(ValueError):
    """An enrolment or verification step that cannot be completed, with the reason."""


def required_roles(*, session: Session) -> frozenset[Role]:
    """The roles that must log in with a TOTP code (the stored setting; none until an admin sets it)."""
    row = session.get(Setting, REQUIRED_ROLES_KEY)
    return parse_roles(json.loads(row.value)) if row else frozenset()


def set_required_roles(*, session: Session, roles: list[str], actor: str) -> None:
    """Store the roles that must use two-factor login (unknown names are dropped), audited.
    The caller commits."""
    role_set = sorted(r.value for r in parse_roles(roles))
    row = session.get(Setting, REQUIRED_ROLES_KEY) or Setting(key=REQUIRED_ROLES_KEY, value="[]")
    row.value = json.dumps(role_set)
    session.add(row)
    audit.record(session=session, actor=actor, action="settings.mfa_required_roles",
                 record_type="setting", record_id=REQUIRED_ROLES_KEY, detail={"roles": role_set})


def must_enrol(*, session: Session, user: StaffUser) -> bool:
    """The user has no TOTP yet but one of their roles requires it: they set it up before going on."""
    return not user.totp_enabled and bool(parse_roles(user.roles) & required_roles(session=session))


def start_enrolment(*, session: Session, username: str) -> tuple[str, str]:
    """A fresh secret (not yet active) and its otpauth:// URI for the QR code."""
    user = _user(session, username)
    secret = pyotp.random_base32()
    user.totp_secret = secret
    user.totp_enabled = False
    session.add(user)
    session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email or user.username, issuer_name=ISSUER)
    return secret, uri


def qr_png(uri: str) -> bytes:
    """The provisioning ``uri`` (otpauth://) as a QR code, PNG bytes, for the phone app to scan."""
    buf = io.BytesIO()
    qrcode.make(uri).save(buf, format="PNG")
    return buf.getvalue()


def confirm_enrolment(*, session: Session, username: str, code: str, now: datetime | None = None) -> list[str]:
    """Turn TOTP on once one code from the app checks out; returns the recovery codes, shown once.

    Raises MfaError before the enrolment was started or when the code does not match.
    """
    user = _user(session, username)
    if not user.totp_secret:
        raise MfaError("start the enrolment first")
    if not _totp_ok(user.totp_secret, code, now):
        raise MfaError("that code does not match; check the time on your phone and try the current code")
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODE_COUNT)]
    user.recovery_codes = json.dumps([_hash_code(c) for c in codes])
    user.totp_enabled = True
    session.add(user)
    audit.record(session=session, actor=username, action="mfa.enrolled", record_type="staff_user",
                 record_id=username)
    session.commit()
    return codes


def verify_login_code(*, session: Session, username: str, code: str, now: datetime | None = None) -> bool:
    """Check a TOTP code or consume a recovery code; failures count toward the lockout."""
    user = _user(session, username)
    session.refresh(user)  # the row as it is now: the lock and the codes another process may have changed
    now_naive = now or utcnow()
    if user.disabled or (user.locked_until and user.locked_until > now_naive):
        users.spend_a_password_check()
        return False
    ok = bool(user.totp_secret) and _totp_ok(user.totp_secret, code, now)
    used_recovery = False
    if not ok:
        before = user.recovery_codes
        ok = used_recovery = _consume_recovery_code(user, code)
        if ok:
            # Compare-and-swap: the code is spent only if nobody spent one since this read, so
            # the same recovery code sent twice at once logs in once.
            after = user.recovery_codes
            session.expire(user, ["recovery_codes"])
            ok = used_recovery = bool(session.execute(
                update(StaffUser).where(StaffUser.id == user.id, StaffUser.recovery_codes == before)
                .values(recovery_codes=after)).rowcount)
    if ok:
        user.failed_logins = 0
        session.add(user)
        audit.record(session=session, actor=username, action="mfa.ok", record_type="staff_user",
                     record_id=username, detail={"recovery_code": used_recovery})
        session.commit()
        return True
    session.commit()  # a consumed-code check wrote nothing; end the read before the counting update
    users.spend_a_password_check()  # a wrong code costs what a wrong password does
    failed, _locked_until = count_failed_attempt(session=session, user_id=user.id, now=now_naive)
    action = "login.lockout" if failed == 0 else "mfa.failed"
    audit.record(session=session, actor=username, action=action, record_type="staff_user", record_id=username)
    session.commit()
    session.expire(user)
    return False


def reset_mfa(*, session: Session, username: str, actor: str) -> None:
    """Admin: a user who lost the phone and the recovery codes enrols again at next login."""
    user = _user(session, username)
    user.totp_secret = None
    user.totp_enabled = False
    user.recovery_codes = None
    user.sessions_valid_after = utcnow()
    session.add(user)
    audit.record(session=session, actor=actor, action="mfa.reset", record_type="staff_user", record_id=username)


def _user(session: Session, username: str) -> StaffUser:
    user = users.get_user(session=session, username=username)
    if user is None:
        raise MfaError(f"no user {username!r}")
    return user


def _totp_ok(secret: str, code: str, now: datetime | None) -> bool:
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    # One step either side tolerates a phone clock that is up to 30 seconds off.
    when = calendar.timegm(now.utctimetuple()) if now is not None else None
    return pyotp.TOTP(secret).verify(code, for_time=when, valid_window=1)


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()


def _consume_recovery_code(user: StaffUser, code: str) -> bool:
    if not user.recovery_codes or not code:
        return False
    hashes = json.loads(user.recovery_codes)
    digest = _hash_code(code)
    for stored in hashes:
        if hmac.compare_digest(stored, digest):
            hashes.remove(stored)
            user.recovery_codes = json.dumps(hashes)
            return True
    return False
