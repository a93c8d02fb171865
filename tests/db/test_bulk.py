"""db.bulk: rows written in bulk read back exactly like rows written through the ORM."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from db.bulk import bulk_insert
from db.models import Customer, Feedback, LoyaltyEntry, Order


def _customers(n: int, start_id: int = 1) -> pd.DataFrame:
    ids = np.arange(start_id, start_id + n)
    return pd.DataFrame({
        "id": ids,
        "external_id": pd.Series([f"C{i:06d}" for i in ids], dtype=object),
        "name": pd.Series(["Ann O'Neil, \"Annie\"", None] * (n // 2), dtype=object),
        "signup_date": np.array(["2024-02-29", "2025-12-31"] * (n // 2), dtype="datetime64[D]"),
        "email_opt_in": [True, False] * (n // 2),
        "last_login_at": np.array(["2026-01-02T03:04:05.123456", "NaT"] * (n // 2), dtype="datetime64[us]"),
    })


def test_round_trip_of_every_kind_of_value(engine: Engine) -> None:
    with engine.begin() as conn:
        assert bulk_insert(conn, Customer.__table__, _customers(4)) == 4
    with Session(engine) as session:
        rows = session.exec(select(Customer).order_by(Customer.id)).scalars().all()
    assert [r.external_id for r in rows] == ["C000001", "C000002", "C000003", "C000004"]
    assert rows[0].name == "Ann O'Neil, \"Annie\"" and rows[1].name is None
    assert rows[0].signup_date == date(2024, 2, 29) and rows[1].signup_date == date(2025, 12, 31)
    assert rows[0].email_opt_in is True and rows[1].email_opt_in is False
    assert rows[0].last_login_at == datetime(2026, 1, 2, 3, 4, 5, 123456)
    assert rows[1].last_login_at is None
    assert rows[0].created_at is not None  # a Python-side default filled in


def test_nullable_integers_and_text(engine: Engine) -> None:
    with engine.begin() as conn:
        bulk_insert(conn, Customer.__table__, _customers(2))
        frame = pd.DataFrame({
            "external_id": pd.Series(["F1", "F2", "F3"], dtype=object),
            "customer_id": [1.0, np.nan, 2.0],  # floats because of the gap, as pandas makes them
            "submitted_at": pd.to_datetime(["2026-03-01 10:00", "2026-03-02 11:00", "2026-03-03 12:00"]),
            "nps_score": pd.array([9, None, 0], dtype="Int64"),
            "comment": pd.Series(["line one\nline two, with \"quotes\"", None, "plain"], dtype=object),
        })
        bulk_insert(conn, Feedback.__table__, frame)
    with Session(engine) as session:
        rows = session.exec(select(Feedback).order_by(Feedback.external_id)).scalars().all()
    assert [r.customer_id for r in rows] == [1, None, 2]
    assert [r.nps_score for r in rows] == [9, None, 0]
    assert rows[0].comment == "line one\nline two, with \"quotes\""
    assert rows[1].comment is None
    assert [r.state for r in rows] == ["new", "new", "new"]  # default of a NOT NULL column


def test_dict_rows_and_timestamp_comparisons(engine: Engine) -> None:
    """The loyalty expiry job passes dicts with Python datetimes; queries then compare them."""
    with engine.begin() as conn:
        bulk_insert(conn, Customer.__table__, _customers(2))
        rows = [
            {"external_id": f"L{i}", "customer_id": 1, "occurred_at": datetime(2026, 5, 1, 12, 0, i),
             "kind": "earn", "points": 10 * i, "expires_at": None, "order_ref": None}
            for i in range(1, 6)
        ]
        assert bulk_insert(conn, LoyaltyEntry.__table__, rows) == 5
    with Session(engine) as session:
        later = session.exec(select(func.count()).select_from(LoyaltyEntry)
                             .where(LoyaltyEntry.occurred_at >= datetime(2026, 5, 1, 12, 0, 3))).one()[0]
        exact = session.exec(select(LoyaltyEntry.points)
                             .where(LoyaltyEntry.occurred_at == datetime(2026, 5, 1, 12, 0, 2))).one()[0]
    assert later == 3
    assert exact == 20


def test_explicit_ids_leave_room_for_the_next_insert(engine: Engine) -> None:
    with engine.begin() as conn:
        bulk_insert(conn, Customer.__table__, _customers(4, start_id=10))
    with Session(engine) as session:
        c = Customer(external_id="C-new")
        session.add(c)
        session.commit()
        assert c.id == 14


def test_rebuilding_indexes_keeps_them_and_enforces_uniqueness(engine: Engine) -> None:
    def index_names() -> set[str]:
        return {ix["name"] for ix in inspect(engine).get_indexes("orders")}

    before = index_names()
    with engine.begin() as conn:
        bulk_insert(conn, Customer.__table__, _customers(2))
        orders = pd.DataFrame({
            "id": [1, 2], "external_id": pd.Series(["O1", "O2"], dtype=object), "customer_id": [1, 2],
            "ordered_at": pd.to_datetime(["2026-01-01", "2026-01-02"]), "total_cents": [1000, 1250],
        })
        bulk_insert(conn, Order.__table__, orders, rebuild_indexes=True)
    assert index_names() == before
    duplicate = orders.assign(id=[3, 4], external_id=pd.Series(["O3", "O1"], dtype=object))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        bulk_insert(conn, Order.__table__, duplicate, rebuild_indexes=True)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Order)).one()[0] == 2
    assert index_names() == before


def test_rebuilding_keeps_foreign_keys(engine: Engine) -> None:
    orphan = pd.DataFrame({
        "id": [1], "external_id": pd.Series(["O1"], dtype=object), "customer_id": [999],
        "ordered_at": pd.to_datetime(["2026-01-01"]), "total_cents": [1000],
    })
    with pytest.raises(IntegrityError), engine.begin() as conn:
        bulk_insert(conn, Order.__table__, orphan, rebuild_indexes=True)


def test_unknown_column_is_named() -> None:
    with pytest.raises(ValueError, match="no column"):
        bulk_insert(None, Customer.__table__, pd.DataFrame({"external_id": ["C1"], "colour": ["red"]}))  # type: ignore[arg-type]


@pytest.mark.postgres
def test_a_bulk_load_with_rebuilt_indexes_leaves_statistics_for_the_planner(engine: Engine) -> None:
    """After a bulk load the planner knows the new rows at once (issue 17 at 1 M customers: one
    customer's order lines took seconds, planned blind, until autovacuum analysed the table)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite gets its statistics from refresh_statistics")
    n = 500
    orders = pd.DataFrame({
        "id": np.arange(1, n + 1), "external_id": pd.Series([f"O{i}" for i in range(n)], dtype=object),
        "customer_id": [1, 2] * (n // 2), "ordered_at": pd.to_datetime(["2026-01-01"] * n),
        "total_cents": [4242] * n,  # one value: the statistics say so only if this load was analysed
    })
    with engine.begin() as conn:
        bulk_insert(conn, Customer.__table__, _customers(2))
        bulk_insert(conn, Order.__table__, orders, rebuild_indexes=True)
    with engine.connect() as conn:
        common = conn.exec_driver_sql("SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'orders' "
                                      "AND attname = 'total_cents'").scalar()
        tuples = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'orders'").scalar()
    assert common == "{4242}"
    assert tuples == n
