"""Migration 0014's partial indexes on feedback are usable by the queries they were made for, as
SQLAlchemy writes them (issue 17 at 1,000,000 customers on PostgreSQL: both were scans of the
3 M answers). The plan is asked for with sequential scans discouraged, so a tiny table shows what
a large one would use; an index whose predicate the query does not imply would not appear."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from core.accounts import _open_detractor_clause
from core.feedback import OPEN_STATES
from db.bulk import bulk_insert
from db.models import Customer, Feedback


def _plan(engine: Engine, stmt) -> str:  # noqa: ANN001
    sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}"))
        return "\n".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))


@pytest.fixture
def answers(engine: Engine) -> Engine:
    n = 400
    rng = np.random.default_rng(3)
    with engine.begin() as conn:
        bulk_insert(conn, Customer.__table__, pd.DataFrame({
            "id": np.arange(1, 101), "external_id": pd.Series([f"C{i}" for i in range(1, 101)], dtype=object)}))
        bulk_insert(conn, Feedback.__table__, pd.DataFrame({
            "id": np.arange(1, n + 1), "external_id": pd.Series([f"F{i}" for i in range(n)], dtype=object),
            "customer_id": rng.integers(1, 101, n),
            "submitted_at": [datetime(2026, 11, 1) - timedelta(hours=int(h)) for h in rng.integers(0, 5000, n)],
            "nps_score": rng.integers(0, 11, n), "flagged": rng.random(n) < 0.3,
            "state": pd.Series(rng.choice(["new", "acknowledged", "waiting", "resolved"], n), dtype=object),
        }), rebuild_indexes=True)
    return engine


def test_the_queue_open_detractor_reads_its_partial_index(answers: Engine) -> None:
    if answers.dialect.name == "sqlite":
        pytest.skip("SQLite keeps its state index on a tiny table; the partial indexes are for PostgreSQL")
    plan = _plan(answers, select(Customer.id).where(_open_detractor_clause()))
    assert "ix_feedback_open_detractor" in plan, plan


def test_the_open_flagged_counts_read_their_partial_index(answers: Engine) -> None:
    since = datetime(2026, 10, 1)
    stmt = (select(func.count(), func.sum(func.coalesce(Feedback.nps_score, 0))).select_from(Feedback)
            .where(col(Feedback.flagged).is_(True), col(Feedback.state).in_(OPEN_STATES),
                   Feedback.submitted_at >= since))
    if answers.dialect.name == "sqlite":
        pytest.skip("SQLite keeps its flagged/state indexes on a tiny table; the partial indexes are for PostgreSQL")
    plan = _plan(answers, stmt)
    assert "ix_feedback_open_flagged" in plan, plan


def test_the_app_engine_asks_postgresql_for_no_jit(engine: Engine) -> None:
    """JIT compiled the at-risk queue's page for 1.6 s at 1 M customers (db/engine.py)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"


def test_a_customers_audit_entries_read_their_index_with_statistics_of_a_smaller_log(engine: Engine) -> None:
    """The Account timeline's audit read (newest first, one customer) uses the index on
    (customer_id, at). With only an index on customer_id, SQLite whose statistics dated from a
    log of a few sign-ins walked the whole log in `at` order instead (8 ms at 16,000 entries on
    the 100,000-customer demo store, growing with the log)."""
    from core.timeline import _audit_select
    from db.models import AuditLog

    def entries(day: int, n: int, customer: bool) -> list[dict]:
        return [{"at": datetime(2026, 11, day) + timedelta(minutes=i), "actor": "admin", "action": "login",
                 "customer_id": (i % 50 if customer and i % 5 == 0 else None)} for i in range(n)]

    with engine.begin() as conn:
        conn.execute(AuditLog.__table__.insert(), entries(1, 4, customer=False))
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")  # statistics of a log of four sign-ins ...
        conn.execute(AuditLog.__table__.insert(), entries(2, 3000, customer=True))  # ... which then grows
    plan = _plan(engine, _audit_select(3))
    assert "ix_audit_log_customer_at" in plan, plan
