"""0005_refunds on a database made before it: negative orders become refunds, stored expiries
stay Hearth's own records (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from db.engine import get_engine
from db.migrate import alembic_config


def _upgrade(engine, target: str) -> None:  # noqa: ANN001
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def _downgrade(engine, target: str) -> None:  # noqa: ANN001
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, target)


def _customers(conn, *external_ids: str) -> None:  # noqa: ANN001
    """Customers 1, 2, ... with these external ids, as a database before the migration held them."""
    values = ", ".join(f"({i}, '{ext}', false, false, '2025-01-01', '2025-01-01')"
                       for i, ext in enumerate(external_ids, start=1))
    conn.execute(text("INSERT INTO customer (id, external_id, email_opt_in, sms_opt_in, created_at, updated_at) "
                      f"VALUES {values}"))


def _kinds_after_upgrade(engine) -> dict[str, str]:  # noqa: ANN001
    _upgrade(engine, "head")
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT external_id, kind FROM refund")).all())


def test_negative_orders_move_to_refunds_and_stored_expiries_stay_records(db_url: str) -> None:
    engine = get_engine(db_url)
    _downgrade(engine, "0004_queue_index")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO customer (id, external_id, email_opt_in, sms_opt_in, created_at, updated_at) "
                          "VALUES (1, 'C1', false, false, '2025-01-01', '2025-01-01')"))
        conn.execute(text("INSERT INTO orders (id, external_id, customer_id, ordered_at, total) VALUES "
                          "(1, '5101', 1, '2025-03-01 10:00:00', 40.0), (2, '5105', 1, '2025-03-05 15:00:00', -40.0)"))
        conn.execute(text("INSERT INTO order_line (order_id, sku, quantity, unit_price) VALUES (2, 'X', 1, 40.0)"))
        conn.execute(text("INSERT INTO loyalty_entry (external_id, customer_id, occurred_at, kind, points) VALUES "
                          "('L1', 1, '2024-01-01', 'earn', 10), ('L2', 1, '2025-01-01', 'expire', -10)"))
    _upgrade(engine, "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT external_id, total_cents FROM orders ORDER BY id")).all() == [("5101", 4000)]
        assert conn.execute(text("SELECT count(*) FROM order_line")).scalar() == 0
        assert conn.execute(text("SELECT external_id, kind, customer_id, amount_cents, order_id FROM refund")
                            ).all() == [("5105", "refund", 1, 4000, None)]
        flags = dict(conn.execute(text("SELECT external_id, computed FROM loyalty_entry")).all())
        assert (bool(flags["L1"]), bool(flags["L2"])) == (False, True)


def test_stored_refunds_of_cancelled_orders_stop_counting(db_url: str) -> None:
    engine = get_engine(db_url)
    _downgrade(engine, "0018_change_log")
    with engine.begin() as conn:
        _customers(conn, "J1", "J2")
        # J1's order 8001 was refunded, then cancelled; J2's 9001 refunded only (J2's cancellation
        # is of another order, 9002).
        conn.execute(text("INSERT INTO refund (external_id, kind, order_ref, customer_id, refunded_at, amount_cents) "
                          "VALUES ('RF-8', 'refund', '8001', 1, '2025-03-03', 5000), "
                          "('8001', 'cancellation', '8001', 1, '2025-03-04', 5000), "
                          "('RF-9', 'refund', '9001', 2, '2025-03-03', 1000), "
                          "('X', 'cancellation', '9002', 2, '2025-03-04', 700)"))
    kinds = _kinds_after_upgrade(engine)
    assert kinds == {"RF-8": "refund_of_cancelled", "8001": "cancellation", "RF-9": "refund", "X": "cancellation"}


def test_answers_in_another_script_stored_as_english_are_scored_again(db_url: str) -> None:
    from sqlmodel import Session, select

    from core.feedback import flag_unscored
    from db.models import Feedback

    engine = get_engine(db_url)
    _downgrade(engine, "0019_refund_of_cancelled")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO feedback (external_id, submitted_at, comment, sentiment, flagged, state, language, "
            "needs_read) VALUES "
            "('U1', '2025-03-02', 'Товар прибыл сломанным', 0.0, false, 'new', 'en', false), "
            "('U2', '2025-03-02', 'Très bien, merci', 0.6, false, 'new', 'en', false), "
            "('U3', '2025-03-02', 'Arrived broken', -0.5, true, 'new', 'en', false)"))
    _upgrade(engine, "head")
    with engine.connect() as conn:
        sentiment = dict(conn.execute(text("SELECT external_id, sentiment FROM feedback")).all())
    assert sentiment["U1"] is None and sentiment["U2"] == 0.6 and sentiment["U3"] == -0.5
    # The next flagging reads it again: Russian, and a person reads it.
    with Session(engine) as session:
        flag_unscored(session=session)
        session.commit()
        u1 = session.exec(select(Feedback).where(Feedback.external_id == "U1")).one()
        assert (u1.language, u1.needs_read, u1.flagged) == ("ru", True, False)


def test_stored_refunds_counted_twice_count_once(db_url: str) -> None:
    engine = get_engine(db_url)
    _downgrade(engine, "0021_expiry_rule_in_force")
    with engine.begin() as conn:
        _customers(conn, "K1", "K2")
        # K1's order 7001: the order file's refunded total 30.00 and the refund file's two refunds
        # of 10.00 and 15.00 (25.00): the larger, 30.00, counts; the two listed are covered.
        # K2's order 7002: refunded total 5.00, listed 8.00: the listed one counts. K2's 7003 has
        # only a listed refund: it counts.
        conn.execute(text(
            "INSERT INTO refund (external_id, kind, order_ref, customer_id, refunded_at, amount_cents) VALUES "
            "('refund-of-7001', 'refund', '7001', 1, '2025-03-03', 3000), "
            "('R-1', 'refund', '7001', 1, '2025-03-03', 1000), ('R-2', 'refund', '7001', 1, '2025-03-04', 1500), "
            "('refund-of-7002', 'refund', '7002', 2, '2025-03-03', 500), "
            "('R-3', 'refund', '7002', 2, '2025-03-03', 800), ('R-4', 'refund', '7003', 2, '2025-03-05', 900)"))
    kinds = _kinds_after_upgrade(engine)
    with engine.connect() as conn:
        counted = conn.execute(text("SELECT sum(amount_cents) FROM refund WHERE kind = 'refund'")).scalar()
    assert kinds == {"refund-of-7001": "refund", "R-1": "refund_covered", "R-2": "refund_covered",
                     "refund-of-7002": "refund_covered", "R-3": "refund", "R-4": "refund"}
    assert counted == 3000 + 800 + 900
