"""A connection the server drops (a restart, an admin's pg_terminate_backend) must be rolled
back cleanly, so the caller's retry runs: before, the analytics layer's rollback listener
asked the dead connection for its info inside the rollback and raised PendingRollbackError,
which killed the outreach worker about one restart in three."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

import core.analytics.source  # noqa: F401 - registers the engine-wide listeners under test
from db.models import Customer
from tests.factories import make_customer


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_write_cut_by_the_server_rolls_back_and_the_session_goes_on(engine):
    with Session(engine) as s:
        make_customer(s)  # a write of a table the analytics layer reads: marks the connection
        pid = s.exec(text("select pg_backend_pid()")).one()[0]
        with engine.connect() as admin:
            admin.execute(text(f"select pg_terminate_backend({int(pid)})"))
            admin.commit()
        with pytest.raises(OperationalError):
            s.exec(text("select 1")).all()
        s.rollback()  # raised PendingRollbackError before the fix
        assert s.exec(select(Customer)).all() == []  # the cut write was not kept
        make_customer(s)
        s.commit()
    with Session(engine) as s:
        assert len(s.exec(select(Customer)).all()) == 1
