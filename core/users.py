"""Staff users: create, list, change password, disable. Passwords are bcrypt hashes."""

from __future__ import annotations

from datetime import datetime, timedelta

import bcrypt
from sqlalchemy import case, update
from sqlmodel import Session, select

from core import audit
from core.email_address import email_problem
from core.roles import Role, parse_roles
from db.models import StaffUser, utcnow

DEMO_PASSWORD = "hearth-demo"
MIN_PASSWORD_LENGTH = 12
# Login lockout, counted by password and by two-factor failures alike (core.auth, core.mfa).
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
DEMO_USERS: tuple[tuple[str, str, Role], ...] = (
    ("manager", "Morgan Manager", Role.ACCOUNT_MANAGER),
    ("support", "Sam Support", Role.SUPPORT_LEAD),
    ("exec", "Erin Executive", Role.EXEC),
    ("admin", "Ada Admin", Role.ADMIN),
)


class UserError(ValueError):
    """A user request that cannot be carried out, with a message for the person asking."""


def hash_password(password: str) -> str:
    """A bcrypt hash (12 rounds) of ``password``, as ASCII text for the database."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=12)).decode("ascii")


# bcrypt reads at most 72 bytes of a password (bcrypt 5 refuses more).
MAX_PASSWORD_BYTES = 72

# A made-up hash to check against when the answer is already "no", so that every refusal costs
# one bcrypt check (core.auth, core.mfa).
DUMMY_HASH = hash_password("not-a-real-password-at-all")


def check_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash``; a hash that is not bcrypt's never matches.
    Always costs one bcrypt check: a password longer than MAX_PASSWORD_BYTES (which no stored
    password can be) is checked cut to that length and then refused, so its refusal takes as
    long as any other (bcrypt refusing it at once told an unknown user from a known one)."""
    raw = password.encode("utf-8")
    too_long = len(raw) > MAX_PASSWORD_BYTES
    try:
        ok = bcrypt.checkpw(raw[:MAX_PASSWORD_BYTES], password_hash.encode("ascii"))
    except ValueError:
        spend_a_password_check()
        return False
    return ok and not too_long


def spend_a_password_check() -> None:
    """Spend the time of one bcrypt check (against DUMMY_HASH): refusals that need none (a wrong
    second-factor code, a screen the role may not open) cost what a wrong password does."""
    bcrypt.checkpw(b"-", DUMMY_HASH.encode("ascii"))


def validate_new_password(password: str) -> None:
    """Raises UserError when ``password`` is shorter than MIN_PASSWORD_LENGTH characters or longer
    than MAX_PASSWORD_BYTES bytes in UTF-8 (bcrypt reads no more)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise UserError(f"a password may be at most {MAX_PASSWORD_BYTES} bytes long ({MAX_PASSWORD_BYTES} plain "
                        f"letters; accented letters and symbols such as € take 2 or 3): this one has "
                        f"{len(password.encode('utf-8'))}")


def get_user(*, session: Session, username: str) -> StaffUser | None:
    """The staff user called ``username``, or None."""
    return session.exec(select(StaffUser).where(StaffUser.username == username)).first()


def add_user(
    *,
    session: Session,
    username: str,
    name: str,
    password: str,
    roles: list[str] | str,
    email: str | None = None,
    actor: str = "system",
    is_demo: bool = False,
    password_hash: str | None = None,
) -> StaffUser:
    """Create a staff user with a bcrypt-hashed password, audited; the caller commits.

    Raises UserError for no or unknown roles, a username that exists, an email address that is
    not valid, or a password that is too short."""
    role_set = parse_roles(roles)
    if not role_set:
        known = ", ".join(r.value for r in Role)
        if not roles:
            raise UserError(f"choose at least one role ({known})")
        raise UserError(f"no known role in {roles!r}; use one of {known}")
    if get_user(session=session, username=username):
        raise UserError(f"user {username!r} already exists")
    if email and (problem := email_problem(email)) is not None:
        raise UserError(f"{email!r} is not a valid email address: {problem}")
    if not is_demo:
        validate_new_password(password)
    user = StaffUser(
        username=username,
        name=name,
        email=email,
        password_hash=password_hash or hash_password(password),
        roles=",".join(sorted(r.value for r in role_set)),
        is_demo=is_demo,
    )
    session.add(user)
    session.flush()
    audit.record(session=session, actor=actor, action="user.add", record_type="staff_user",
                 record_id=username, detail={"roles": user.roles})
    return user


def list_users(*, session: Session) -> list[StaffUser]:
    """Every staff user, by username."""
    return list(session.exec(select(StaffUser).order_by(StaffUser.username)))


def set_password(*, session: Session, username: str, password: str, actor: str = "system") -> StaffUser:
    """Set a new password: ends every open session of the user, clears the lockout and the demo
    flag, audited.

    Raises UserError for an unknown user or a password that is too short."""
    user = get_user(session=session, username=username)
    if user is None:
        raise UserError(f"no user {username!r}")
    validate_new_password(password)
    user.password_hash = hash_password(password)
    user.is_demo = False
    user.failed_logins = 0
    user.locked_until = None
    user.sessions_valid_after = utcnow()  # every open session of this user ends
    session.add(user)
    audit.record(session=session, actor=actor, action="user.set_password", record_type="staff_user",
                 record_id=username)
    return user


def set_disabled(
    *, session: Session, username: str, disabled: bool = True, actor: str = "system"
) -> StaffUser:
    """Disable (ending every open session) or enable the staff user ``username``, audited.

    Raises UserError for an unknown user, and when ``actor`` would disable themself (an admin
    locked out by their own click; another admin or the command line can do it)."""
    if disabled and actor == username:
        raise UserError("you cannot disable yourself")
    user = get_user(session=session, username=username)
    if user is None:
        raise UserError(f"no user {username!r}")
    user.disabled = disabled
    if disabled:
        user.sessions_valid_after = utcnow()
    session.add(user)
    audit.record(session=session, actor=actor, action="user.disable" if disabled else "user.enable",
                 record_type="staff_user", record_id=username)
    return user


def ensure_demo_users(*, session: Session) -> list[str]:
    """Create the four demo logins that are missing. Returns the usernames created."""
    created = []
    demo_hash = None
    for username, name, role in DEMO_USERS:
        if get_user(session=session, username=username):
            continue
        demo_hash = demo_hash or hash_password(DEMO_PASSWORD)
        add_user(session=session, username=username, name=name, password=DEMO_PASSWORD,
                 roles=[role.value], email=f"{username}@hearth.example", is_demo=True,
                 password_hash=demo_hash)
        created.append(username)
    return created


def count_failed_attempt(*, session: Session, user_id: int, now: datetime) -> tuple[int, datetime | None]:
    """Add one failed attempt in a single statement; the one that reaches MAX_FAILED_LOGINS
    sets the lock and starts the count again. Returns (count after, locked_until)."""
    reaches = StaffUser.failed_logins + 1 >= MAX_FAILED_LOGINS
    row = session.execute(
        update(StaffUser)
        .where(StaffUser.id == user_id)
        .values(
            failed_logins=case((reaches, 0), else_=StaffUser.failed_logins + 1),
            locked_until=case((reaches, now + LOCKOUT), else_=StaffUser.locked_until),
        )
        .returning(StaffUser.failed_logins, StaffUser.locked_until)
    ).one()
    return int(row[0]), row[1]
