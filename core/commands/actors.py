"""Who runs a command: the staff user named by ``--by``, checked against the staff accounts."""

from __future__ import annotations

from sqlmodel import Session

from core.roles import ALL_ROLES, PERSONAL_DATA_ROLES, Role, parse_roles
from core.users import get_user
from db.models import StaffUser

# Who may queue outreach, requeue a message or change a customer's consent: the roles that work
# with customers by name on the app's account screens (design.md, "Who uses it"); not exec.
OUTREACH_ROLES = PERSONAL_DATA_ROLES


def acting_user(*, session: Session, username: str | None) -> tuple[str, frozenset[Role]]:
    """Who runs the command and with which roles. Without --by, the terminal user is trusted
    like an admin (they can read the database anyway). Raises PermissionError for a name that
    is no active staff user."""
    if not username:
        return "cli", frozenset(ALL_ROLES)
    user = _active_user(session, username)
    if user is None:
        raise PermissionError(f"no active staff user {username!r}")
    return user.username, parse_roles(user.roles)


def staff_actor(*, session: Session, username: str, may: frozenset[Role], doing: str) -> str:
    """The username recorded for an action ``doing`` (words: "queue outreach") asked for by
    ``--by``: an active staff user with one of the roles ``may``. Raises PermissionError naming
    the user and what is missing (a name typed by mistake is never recorded as an actor)."""
    user = _active_user(session, username)
    if user is None:
        raise PermissionError(f"--by {username!r}: no active staff user has that username (the audit log "
                              f"records who did it, so it must be a real one: `python -m core users list`; "
                              f"`python -m core users add USERNAME --name NAME --role account_manager` adds one)")
    if not parse_roles(user.roles) & may:
        needed = " or ".join(sorted(r.value for r in may))
        raise PermissionError(f"{user.username} may not {doing}: the {needed} role is needed")
    return user.username


def _active_user(session: Session, username: str) -> StaffUser | None:
    """The staff user ``username`` unless there is none or it is disabled."""
    user = get_user(session=session, username=username)
    return None if user is None or user.disabled else user
