"""Bring a database to a usable state: schema at head, and in demo mode the demo store."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core import users
from db.migrate import upgrade_to_head
from db.models import Customer, StaffUser

DEFAULT_DEMO_CUSTOMERS = 2_000
DEFAULT_DEMO_SEED = 7


def customer_count(engine: Engine) -> int:
    """Customers stored in the database behind ``engine``."""
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Customer)).one())


def prepare_database(
    *,
    engine: Engine,
    demo: bool,
    customers: int = DEFAULT_DEMO_CUSTOMERS,
    seed: int = DEFAULT_DEMO_SEED,
    progress: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Migrate to head; with `demo`, create the demo logins (not in a store that has staff logins
    of its own) and, on an empty store, the demo data."""
    say = progress or (lambda _msg: None)
    upgrade_to_head(engine)
    say("schema is at the newest migration")
    from core.loyalty.writes import stamp_expiry_rule

    with Session(engine) as session:
        stamped = stamp_expiry_rule(session=session)
        session.commit()
    if stamped:
        say(f"{stamped:,} loyalty entries keep the points expiry rule in force now "
            "(HEARTH_POINTS_EXPIRY_MONTHS; a later change applies to entries stored after it)")
    result: dict[str, object] = {"demo_users_created": [], "demo_data": None}
    if not demo:
        return result
    with Session(engine) as session:
        own_staff = session.exec(select(func.count()).select_from(StaffUser)
                                 .where(StaffUser.is_demo.is_(False))).one()
        if own_staff:
            # A store with staff of its own is a real shop's, run by mistake without
            # HEARTH_ENV=production: the public demo password must not open it.
            say(f"the store has {own_staff:,} staff login(s) of its own: no demo logins are made "
                "(is HEARTH_ENV=production missing?)")
        else:
            result["demo_users_created"] = users.ensure_demo_users(session=session)
        session.commit()
    if customer_count(engine) == 0:
        from core.demo import load_demo  # heavy imports only when needed

        say("the store is empty: building the demo store (first start)")
        result["demo_data"] = load_demo(engine=engine, customers=customers, seed=seed, progress=say)
        from core.scoring import score_all

        # A demo without scores would open on an empty at-risk queue.
        say("scoring every account")
        result["scoring"] = score_all(engine=engine)
        from core.tasks import generate_tasks

        # The nightly `tasks generate`, once, so the demo logins land on work to do.
        say("making the account team's tasks")
        with Session(engine) as session:
            result["tasks"] = generate_tasks(session=session).total_created
    else:
        say("the store already has customers; demo data left as it is")
    return result
