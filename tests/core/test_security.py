"""Production refuses to start with a default or short cookie key, a demo login, or debug details."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from core import users
from core.config import Settings, SettingsError, get_settings
from core.security import production_problems

ROOT = Path(__file__).resolve().parents[2]


def _settings(**kw) -> Settings:
    return Settings(**{"HEARTH_ENV": "production", "HEARTH_COOKIE_KEY": FIT_KEY, **kw})


# Made once by secrets.token_urlsafe(36): what the README tells an operator to set.
FIT_KEY = "q3VnJ0r8yXw1TzK5bHc9mLp2sDf7aGe4uNi6oRt0vBj_kYh-EwQx"


def test_demo_mode_never_refuses(session: Session) -> None:
    assert production_problems(settings=Settings(HEARTH_ENV="demo"), session=session,
                               show_error_details=True) == []


def test_production_settings_cannot_hold_a_default_or_short_key() -> None:
    for key, words in (("change-me", "default value"), ("some_key", "default value"),
                       ("abc123", "shorter than 32 characters")):
        with pytest.raises(ValidationError, match=words):
            _settings(HEARTH_COOKIE_KEY=key)


def test_production_refuses_keys_that_are_long_but_plainly_not_random() -> None:
    # Each passed before (only the exact defaults and length were checked): a cookie signed
    # with 40 spaces opened the Admin screen without a login.
    for key in (" " * 40, "a" * 32, "change-me" + " " * 30, "CHANGE-ME-CHANGE-ME-CHANGE-ME-CHANGE-ME",
                "k" * 40, "abcdefgh" * 5, "   " + "x" * 31):
        with pytest.raises(ValidationError, match="HEARTH_COOKIE_KEY"):
            _settings(HEARTH_COOKIE_KEY=key)
    # Random keys as the README makes them pass, a 32-digit hex key and a long passphrase too.
    for key in (FIT_KEY, "9f1c2e7a4b8d03f65a1e9c7b2d4f8a06", "copper kettle under the blue stair, humming"):
        assert _settings(HEARTH_COOKIE_KEY=key).secret_problems() == []


def test_a_hearth_setting_under_a_secrets_toml_section_is_refused(tmp_path, monkeypatch) -> None:
    # HEARTH_ENV = "production" under a [section] was read by nothing: the app ran in demo mode.
    path = tmp_path / "secrets.toml"
    path.write_text('[hearth]\nHEARTH_ENV = "production"\n')
    monkeypatch.setenv("HEARTH_SECRETS_FILE", str(path))
    monkeypatch.delenv("HEARTH_ENV", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match=r"HEARTH_ENV \(under \[hearth\]\) .* is read by nothing"):
            get_settings()
        path.write_text('HEARTH_ENV = "demo"\n[other]\nkey = 1\n')  # a section of something else is fine
        get_settings.cache_clear()
        assert get_settings().env == "demo"
    finally:
        get_settings.cache_clear()


def test_production_names_every_other_problem(session: Session) -> None:
    users.ensure_demo_users(session=session)
    session.commit()
    problems = production_problems(settings=_settings(), session=session, show_error_details=True)
    text = " | ".join(problems)
    assert "demo logins" in text and "admin, exec, manager, support" in text and "showErrorDetails" in text


def test_the_demo_login_check_agrees_with_its_message(session: Session) -> None:
    """The message says: disable each, or give it a new password. Doing either clears it."""
    users.ensure_demo_users(session=session)
    session.commit()
    users.set_disabled(session=session, username="manager")
    users.set_disabled(session=session, username="support")
    users.set_password(session=session, username="exec", password="a brand new long password")
    session.commit()
    (problem,) = production_problems(settings=_settings(), session=session, show_error_details=False)
    assert "(admin)" in problem and "disable" in problem and "new password" in problem
    users.set_disabled(session=session, username="admin")
    session.commit()
    assert production_problems(settings=_settings(), session=session, show_error_details=False) == []
    # Enabling a demo login again brings the refusal back.
    users.set_disabled(session=session, username="manager", disabled=False)
    session.commit()
    assert "(manager)" in production_problems(settings=_settings(), session=session, show_error_details=False)[0]


def test_production_with_real_secret_and_no_demo_users_starts(session: Session) -> None:
    assert production_problems(settings=_settings(), session=session, show_error_details=False) == []


def test_get_settings_refuses_a_default_key_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_ENV", "production")
    monkeypatch.setenv("HEARTH_COOKIE_KEY", "change-me")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="HEARTH_COOKIE_KEY is a default value"):
            get_settings()
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("argv", [["outreach", "deliver", "--once"], ["score"], ["kpis", "--json"]])
def test_every_command_refuses_a_default_key_in_production(argv: list[str], tmp_path: Path) -> None:
    """The command line and the delivery worker, not only the app: nothing is signed with it."""
    env = {**os.environ, "HEARTH_ENV": "production", "HEARTH_COOKIE_KEY": "change-me",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", "HEARTH_OUTBOX_DIR": str(tmp_path / "out")}
    done = subprocess.run([sys.executable, "-m", "core", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: Hearth refuses to start: HEARTH_COOKIE_KEY is a default value; set a random secret of 32+ characters")
    assert not (tmp_path / "out").exists()


def test_the_app_refuses_a_default_key_in_production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("HEARTH_ENV", "production")
    monkeypatch.setenv("HEARTH_COOKIE_KEY", "change-me")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'h.db'}")
    get_settings.cache_clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
    finally:
        get_settings.cache_clear()
    assert not at.exception
    assert [e.value for e in at.error] == ["Hearth refuses to start in production:"]
    assert "HEARTH_COOKIE_KEY is a default value" in " ".join(t.value for t in at.text)
    assert not at.text_input  # no login form
