"""Production refuses to start with a default or short cookie key, a demo login, or debug details."""

from __future__ import annotations

from sqlmodel import Session

from core import users
from core.config import Settings
from core.security import production_problems


def _settings(**kw) -> Settings:
    return Settings(**{"HEARTH_ENV": "production", "HEARTH_COOKIE_KEY": "k" * 40, **kw})


def test_demo_mode_never_refuses(session: Session) -> None:
    assert production_problems(settings=Settings(HEARTH_ENV="demo"), session=session,
                               show_error_details=True) == []


def test_production_names_every_problem(session: Session) -> None:
    users.ensure_demo_users(session=session)
    session.commit()
    problems = production_problems(settings=_settings(HEARTH_COOKIE_KEY="change-me"), session=session,
                                   show_error_details=True)
    text = " | ".join(problems)
    assert "default" in text and "demo logins exist" in text and "showErrorDetails" in text
    short = production_problems(settings=_settings(HEARTH_COOKIE_KEY="abc123"), session=None,
                                show_error_details=False)
    assert short == ["HEARTH_COOKIE_KEY is shorter than 32 characters"]


def test_production_with_real_secret_and_no_demo_users_starts(session: Session) -> None:
    assert production_problems(settings=_settings(), session=session, show_error_details=False) == []
