"""Start-up checks: production refuses to run with a default secret or a demo login."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlmodel import Session, select

from core.config import KNOWN_DEFAULT_KEYS, PROJECT_ROOT, Settings
from db.models import StaffUser


def production_problems(
    *, settings: Settings, session: Session | None, show_error_details: bool
) -> list[str]:
    """Every reason the app must not start in production; empty when it may."""
    if not settings.is_production:
        return []
    # The settings object refuses a default key itself (for every entry point); checked again
    # here for settings built without validation.
    problems = settings.secret_problems()
    if session is not None:
        # A demo login is harmless once disabled or given a new password (set_password clears
        # is_demo), so the check counts exactly what the message asks to fix.
        demo = session.exec(
            select(StaffUser.username).where(StaffUser.is_demo, StaffUser.disabled == False)  # noqa: E712
        ).all()
        if demo:
            problems.append(
                "demo logins with the published password are enabled (" + ", ".join(sorted(demo)) + "); "
                "disable each (`python -m core users disable NAME` or Admin → Users) "
                "or give it a new password (`python -m core users set-password NAME`)"
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
