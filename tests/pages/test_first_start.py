"""The first start says in the terminal what it is building, step by step, with the time taken."""

from __future__ import annotations

import re
from pathlib import Path

from core.setup import prepare_database
from db.engine import get_engine


def test_each_step_of_building_the_demo_store_is_printed_to_the_terminal(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from ui.db import terminal_progress

    engine = get_engine(f"sqlite:///{tmp_path / 'first.db'}")
    prepare_database(engine=engine, demo=True, customers=120, seed=3, progress=terminal_progress())
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Hearth first start")]
    steps = [re.sub(r"^Hearth first start \[\s*[\d.]+ s\] ", "", line) for line in lines]
    assert steps[0] == "schema is at the newest migration"
    assert steps[1] == "the store is empty: building the demo store (first start)"
    assert any(step.startswith("generated 120 customers") for step in steps)
    assert "scoring every account" in steps
    assert steps[-1] == "making the account team's tasks"
    seconds = [float(re.search(r"\[\s*([\d.]+) s\]", line).group(1)) for line in lines]
    assert seconds == sorted(seconds)  # time since the start, so it only grows
    engine.dispose()


def test_a_later_start_does_not_say_it_builds_the_demo_store(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from ui.db import terminal_progress

    engine = get_engine(f"sqlite:///{tmp_path / 'again.db'}")
    prepare_database(engine=engine, demo=True, customers=30, seed=3)
    capsys.readouterr()
    prepare_database(engine=engine, demo=True, customers=30, seed=3, progress=terminal_progress())
    out = capsys.readouterr().out
    assert "building the demo store" not in out
    assert "the store already has customers; demo data left as it is" in out
    engine.dispose()


def test_a_database_that_is_not_reachable_does_not_stop_the_server_from_starting(monkeypatch, capsys) -> None:  # noqa: ANN001
    from core.config import get_settings
    from ui.first_start import prepare_at_server_start

    # PostgreSQL on a port where nothing listens (the connection is refused at once).
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("HEARTH_ENV", "demo")
    get_settings.cache_clear()
    try:
        prepare_at_server_start()  # returns instead of raising
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "the database is not reachable now" in out and "the first page will try again" in out
    assert "Hearth is ready" not in out


def test_a_store_with_staff_of_its_own_gets_no_demo_logins(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    # A real shop's store started without HEARTH_ENV=production (demo is the default): the four
    # demo logins with the public password hearth-demo were added beside the shop's own admin.
    from sqlmodel import Session, select

    from core import users
    from db.models import StaffUser
    from ui.db import terminal_progress

    engine = get_engine(f"sqlite:///{tmp_path / 'real.db'}")
    prepare_database(engine=engine, demo=False)
    with Session(engine) as session:
        users.add_user(session=session, username="boss", name="Boss", password="a long enough password",
                       roles=["admin"])
        session.commit()
    prepare_database(engine=engine, demo=True, customers=30, seed=3, progress=terminal_progress())
    assert "the store has 1 staff login(s) of its own: no demo logins are made" in capsys.readouterr().out
    with Session(engine) as session:
        assert [u.username for u in session.exec(select(StaffUser)).all()] == ["boss"]
    engine.dispose()
