"""0013_money_cents on a database made before it: every stored float amount becomes exact whole
cents, the way down gives the floats back, and the data-generation triggers of 0012 are still
on every changed table afterwards (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from db import generation
from db.engine import get_engine
from db.migrate import alembic_config

TABLES = ("orders", "refund", "order_line", "product", "score_snapshot")


def _migrate(engine, verb, target: str) -> None:  # noqa: ANN001 - command.upgrade / downgrade
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        verb(config, target)


def _counters(engine) -> dict[str, int]:  # noqa: ANN001
    with engine.connect() as conn:
        return dict(generation.read(conn, TABLES))


def _seed_floats(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO customer (id, external_id, email_opt_in, sms_opt_in, created_at, updated_at) "
                          "VALUES (1, 'C1', false, false, '2025-01-01', '2025-01-01')"))
        conn.execute(text("INSERT INTO product (sku, name, unit_price) VALUES ('P1', 'Soap', 3.99), "
                          "('P2', 'Gift', NULL)"))
        # 0.1 + 0.2 as a float is 0.30000000000000004: stored as 30 cents, not 30.000000000000004.
        conn.execute(text("INSERT INTO orders (id, external_id, customer_id, ordered_at, total) VALUES "
                          "(1, 'O1', 1, '2025-03-01 10:00:00', 12.35), (2, 'O2', 1, '2025-03-02 10:00:00', "
                          "0.30000000000000004), (3, 'O3', 1, '2025-03-03 10:00:00', 1234567.89)"))
        conn.execute(text("INSERT INTO order_line (order_id, sku, quantity, unit_price) VALUES (1, 'P1', 2, 4.1)"))
        conn.execute(text("INSERT INTO refund (external_id, kind, customer_id, refunded_at, amount) "
                          "VALUES ('R1', 'refund', 1, '2025-03-04 10:00:00', 19.99)"))
        conn.execute(text("INSERT INTO score_snapshot (customer_id, as_of, health_score, band, churn_probability, "
                          "value_at_risk) VALUES (1, '2025-03-05', 50.0, 'watch', 0.5, 617.45)"))


def test_float_amounts_become_exact_cents_and_back(db_url: str) -> None:
    engine = get_engine(db_url)
    _migrate(engine, command.downgrade, "0012_data_generation")
    _seed_floats(engine)
    _migrate(engine, command.upgrade, "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT external_id, total_cents FROM orders ORDER BY id")).all() == [
            ("O1", 1235), ("O2", 30), ("O3", 123456789)]
        assert conn.execute(text("SELECT sku, unit_price_cents FROM product ORDER BY sku")).all() == [
            ("P1", 399), ("P2", None)]
        assert conn.execute(text("SELECT unit_price_cents FROM order_line")).scalar() == 410
        assert conn.execute(text("SELECT amount_cents FROM refund")).scalar() == 1999
        assert conn.execute(text("SELECT value_at_risk_cents FROM score_snapshot")).scalar() == 61745
        assert conn.execute(text("SELECT sum(total_cents) FROM orders")).scalar() == 1235 + 30 + 123456789
    _migrate(engine, command.downgrade, "0012_data_generation")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT total FROM orders ORDER BY id")).scalars().all() == [12.35, 0.3, 1234567.89]
        assert conn.execute(text("SELECT amount FROM refund")).scalar() == 19.99
        assert conn.execute(text("SELECT value_at_risk FROM score_snapshot")).scalar() == 617.45
    _migrate(engine, command.upgrade, "head")


def test_every_changed_table_still_moves_its_generation_after_the_migration(db_url: str) -> None:
    engine = get_engine(db_url)
    _migrate(engine, command.downgrade, "0012_data_generation")
    _migrate(engine, command.upgrade, "head")
    before = _counters(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO customer (id, external_id, email_opt_in, sms_opt_in, created_at, updated_at) "
                          "VALUES (7, 'C7', false, false, '2025-01-01', '2025-01-01')"))
        conn.execute(text("INSERT INTO product (sku, name, unit_price_cents) VALUES ('P7', 'Soap', 399)"))
        conn.execute(text("INSERT INTO orders (id, external_id, customer_id, ordered_at, total_cents) "
                          "VALUES (7, 'O7', 7, '2025-03-01 10:00:00', 1235)"))
        conn.execute(text("INSERT INTO order_line (order_id, sku, quantity, unit_price_cents) "
                          "VALUES (7, 'P7', 1, 1235)"))
        conn.execute(text("INSERT INTO refund (external_id, kind, customer_id, refunded_at, amount_cents) "
                          "VALUES ('R7', 'refund', 7, '2025-03-04 10:00:00', 100)"))
        conn.execute(text("INSERT INTO score_snapshot (customer_id, as_of, health_score, band, churn_probability, "
                          "value_at_risk_cents) VALUES (7, '2025-03-05', 50.0, 'watch', 0.5, 61745)"))
    after = _counters(engine)
    assert all(after[t] > before[t] for t in TABLES), (before, after)
