"""Who may see which screen. The one access matrix, used by the app's navigation and by
every page's own server-side check (design.md, "Who uses it")."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ACCOUNT_MANAGER = "account_manager"
    SUPPORT_LEAD = "support_lead"
    EXEC = "exec"
    ADMIN = "admin"


ALL_ROLES: tuple[Role, ...] = tuple(Role)

# Screen name -> roles that may open it.
SCREEN_ACCESS: dict[str, frozenset[Role]] = {
    "overview": frozenset(ALL_ROLES),
    "my_work": frozenset({Role.ACCOUNT_MANAGER, Role.SUPPORT_LEAD, Role.ADMIN}),
    "accounts": frozenset({Role.ACCOUNT_MANAGER, Role.SUPPORT_LEAD, Role.ADMIN}),
    "account": frozenset({Role.ACCOUNT_MANAGER, Role.SUPPORT_LEAD, Role.ADMIN}),
    "feedback": frozenset({Role.ACCOUNT_MANAGER, Role.SUPPORT_LEAD, Role.ADMIN}),
    "nps": frozenset(ALL_ROLES),
    "loyalty": frozenset({Role.ACCOUNT_MANAGER, Role.EXEC, Role.ADMIN}),
    "outreach": frozenset(ALL_ROLES),
    "data": frozenset({Role.ADMIN}),
    "admin": frozenset({Role.ADMIN}),
}

# Roles that may receive personal data (names, emails, phones, comments) at all.
PERSONAL_DATA_ROLES = frozenset({Role.ACCOUNT_MANAGER, Role.SUPPORT_LEAD, Role.ADMIN})


class NotAllowed(PermissionError):
    """Raised by core functions when the caller's roles do not permit the request."""


def parse_roles(roles: str | list[str] | tuple[str, ...] | frozenset[str] | None) -> frozenset[Role]:
    """Roles from a comma-separated string or a collection of names; unknown names and blanks are
    dropped (never an error: a stored role that no longer exists grants nothing)."""
    if not roles:
        return frozenset()
    if isinstance(roles, str):
        roles = [r for r in roles.split(",")]
    out = set()
    for r in roles:
        r = str(r).strip()
        if r in Role._value2member_map_:
            out.add(Role(r))
    return frozenset(out)


def landing_screen(roles: frozenset[Role] | set[Role]) -> str:
    """Where a login lands: My work for account managers and support leads, else the Overview."""
    return "my_work" if set(roles) & {Role.ACCOUNT_MANAGER, Role.SUPPORT_LEAD} else "overview"


def can_view(roles: frozenset[Role] | set[Role], screen: str) -> bool:
    """Whether any of ``roles`` may open ``screen`` (a key of SCREEN_ACCESS; KeyError for another)."""
    return bool(set(roles) & SCREEN_ACCESS[screen])


def may_see_personal_data(roles: frozenset[Role] | set[Role]) -> bool:
    """Whether any of ``roles`` may see customer names, emails, phones and comments (not exec)."""
    return bool(set(roles) & PERSONAL_DATA_ROLES)


def require_personal_data(roles: frozenset[Role] | set[Role]) -> None:
    """Core functions returning names, emails, phones or comments call this first.

    Raises NotAllowed for roles that may not see personal data.
    """
    if not may_see_personal_data(roles):
        raise NotAllowed("this role may not see customer personal data")
