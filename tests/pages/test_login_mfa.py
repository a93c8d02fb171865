"""Two-factor login through the real login form (AppTest), with real TOTP codes."""

from __future__ import annotations

import pyotp

from core import mfa
from db.engine import get_engine, session_scope
from tests.pages.helpers import log_in, logged_out_app


def test_required_role_enrols_then_logs_in_with_a_code(demo_app: str) -> None:
    with session_scope(get_engine(demo_app)) as session:
        mfa.set_required_roles(session=session, roles=["exec"], actor="test")
    at = log_in(logged_out_app(), "exec")
    assert "Set up two-factor login" in [s.value for s in at.subheader]
    secret = at.code[0].value
    at.text_input(key="enrol_code").input(pyotp.TOTP(secret).now())
    at.button[0].click().run()
    assert not at.exception
    assert any("recovery codes" in s.value for s in at.success)
    assert len(at.code[-1].value.split()) == 8  # the recovery codes, shown once
    at.button(key="enrol_continue").click().run()
    at.text_input(key="login_totp").input("000000")
    at.button[0].click().run()
    assert at.error and "not valid" in at.error[0].value
    at.text_input(key="login_totp").input(pyotp.TOTP(secret).now())
    at.button[0].click().run()
    assert not at.exception
    assert any("Signed in as **exec**" in c.value for c in at.sidebar.caption)
