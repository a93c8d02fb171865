"""Start-up checks: production refuses to run with a default secret or a demo login."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlmodel import Session, select

from core.config import DEFAULT_COOKIE_KEY, MIN_COOKIE_KEY_LENGTH, PROJECT_ROOT, Settings
from db.models import StaffUser

KNOWN_DEFAULT_KEYS = {DEFAULT_COOKIE_KEY, "some_key", "", "changeme", "secret"}


def production_problems(
    *, settings: Settings, session: Session | None, show_error_details: bool
) -> list[str]:
    """Every reason the app must not start in production; empty when it may."""
    if not settings.is_production:
        return []
    problems = []
    key = settings.cookie_key or ""
    if key in KNOWN_DEFAULT_KEYS:
        problems.append("HEARTH_COOKIE_KEY is a default value; set a random secret of 32+ characters")
    elif len(key) < MIN_COOKIE_KEY_LENGTH:
        problems.append(f"HEARTH_COOKIE_KEY is shorter than {MIN_COOKIE_KEY_LENGTH} characters")
    if session is not None:
        demo = session.exec(select(StaffUser.username).where(StaffUser.is_demo)).all()
        if demo:
            problems.append(
                "demo logins exist (" + ", ".join(sorted(demo)) + "); disable them or set their passwords"
            )
    if show_error_details:
        problems.append("client.showErrorDetails is on; turn it off so tracebacks never reach users")
    return problems


def cookie_key(settings: Settings) -> str:
    """The key that signs login cookies. In demo mode without a configured key, a random one
    is made once and kept in data/ (ignored by git), so no two installs share a key."""
    if settings.cookie_key not in KNOWN_DEFAULT_KEYS or settings.is_production:
        return settings.cookie_key
    path = PROJECT_ROOT / "data" / ".cookie_key"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    Path(path).write_text(key)
    path.chmod(0o600)
    return key
