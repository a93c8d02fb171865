"""Remembered aggregates: read back while the data is unchanged, recomputed the moment it
changes (new rows, an import that updates rows in place), never trusted when tampered with."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from core import kpis, loyalty, precomputed
from core.importing import import_csv
from db.models import PrecomputedResult
from tests.factories import make_customer, make_order

AS_OF = date(2026, 6, 30)


class Counter:
    def __init__(self, value: object) -> None:
        self.calls = 0
        self.value = value

    def __call__(self) -> object:
        self.calls += 1
        return self.value


def _store_with_two_orders(session: Session) -> None:
    alice = make_customer(session, external_id="XC-ALICE")
    make_order(session, alice, datetime(2026, 6, 1, 10), total=40.0)
    make_order(session, alice, datetime(2026, 6, 20, 10), total=60.0)
    session.commit()


def test_a_result_is_computed_once_while_the_data_is_unchanged(session: Session) -> None:
    _store_with_two_orders(session)
    compute = Counter({"answer": 42})
    first = precomputed.remember(session, "test.answer", {"as_of": AS_OF}, compute)
    session.commit()
    second = precomputed.remember(session, "test.answer", {"as_of": AS_OF}, compute)
    assert first == second == {"answer": 42}
    assert compute.calls == 1
    # Other parameters are another result.
    precomputed.remember(session, "test.answer", {"as_of": date(2026, 7, 1)}, compute)
    assert compute.calls == 2


def test_kpis_follow_a_new_order_at_once(session: Session) -> None:
    _store_with_two_orders(session)
    before = kpis.compute_kpis(session=session, as_of=AS_OF, horizon_days=90)
    assert (before["orders"], before["revenue"]) == (2, 100.0)
    bob = make_customer(session, external_id="XC-BOB")
    make_order(session, bob, datetime(2026, 6, 29, 9), total=15.5)
    session.commit()
    after = kpis.compute_kpis(session=session, as_of=AS_OF, horizon_days=90)
    assert (after["orders"], after["revenue"], after["active_customers"]) == (3, 115.5, 2)


def test_kpis_follow_an_import_that_changes_an_order_in_place(session: Session) -> None:
    _store_with_two_orders(session)
    first = kpis.compute_kpis(session=session, as_of=AS_OF, horizon_days=90)
    session.commit()
    assert first["revenue"] == 100.0
    order_id = session.execute(select(kpis.Order.external_id).order_by(kpis.Order.id)).scalars().first()
    # Same order id, new total: the import updates the row and adds no id of its own.
    data = f"order_id,customer_id,ordered_at,total\n{order_id},XC-ALICE,2026-06-01 10:00:00,140.00\n".encode()
    import_csv(session=session, kind="orders", data=data, filename="orders.csv", actor="admin")
    again = kpis.compute_kpis(session=session, as_of=AS_OF, horizon_days=90)
    assert again["revenue"] == 200.0


def test_a_tampered_result_is_recomputed_not_unpickled(session: Session) -> None:
    _store_with_two_orders(session)
    compute = Counter([1, 2, 3])
    precomputed.remember(session, "test.list", {}, compute)
    session.commit()
    # Someone with write access to the database but not the app's secret swaps the payload.
    session.execute(update(PrecomputedResult).values(payload=b"cos\nsystem\n(S'echo pwned'\ntR."))
    session.commit()
    assert precomputed.remember(session, "test.list", {}, compute) == [1, 2, 3]
    assert compute.calls == 2


def test_nothing_is_stored_from_uncommitted_writes_on_sqlite(session: Session) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite hands out ids again after a rollback; PostgreSQL's sequences never do")
    alice = make_customer(session, external_id="XC-ALICE")
    make_order(session, alice, datetime(2026, 6, 1, 10), total=40.0)  # flushed, not committed
    kpis.compute_kpis(session=session, as_of=AS_OF, horizon_days=90)
    session.rollback()
    with Session(session.get_bind()) as other:
        assert other.execute(select(PrecomputedResult.id)).first() is None


def test_loyalty_balances_follow_a_redemption(session: Session) -> None:
    alice = make_customer(session, external_id="XC-ALICE")
    session.add(loyalty.LoyaltyEntry(external_id="E1", customer_id=alice.id, occurred_at=datetime(2026, 5, 1),
                                     kind="earn", points=500))
    session.commit()
    assert loyalty.loyalty_kpis(session=session, as_of=AS_OF)["outstanding_points"] == 500
    loyalty.record_redemption(session=session, customer_id=alice.id, points=120, at=datetime(2026, 6, 2),
                              actor="manager")
    session.commit()
    k = loyalty.loyalty_kpis(session=session, as_of=AS_OF)
    assert (k["outstanding_points"], k["redeemed"]) == (380, 120)


def test_warm_up_stores_what_the_overview_opens_on(session: Session) -> None:
    _store_with_two_orders(session)
    seconds = precomputed.warm_up(engine=session.get_bind(), as_of=AS_OF, horizon_days=90)
    assert "KPIs" in seconds and "revenue mix" in seconds
    names = set(session.execute(select(PrecomputedResult.name)).scalars())
    assert {"kpis.compute_kpis", "kpis.cohort_matrix", "kpis.revenue_split", "kpis.kpi_trend"} <= names
    # The Overview's call (defaults left out) reads the warmed result.
    stored = kpis.compute_kpis(session=session, as_of=AS_OF, horizon_days=90)
    assert stored["revenue"] == 100.0


def test_the_version_follows_the_settings_a_result_depends_on(session: Session, monkeypatch) -> None:  # noqa: ANN001
    from core.config import get_settings

    before = precomputed.data_version(session)
    monkeypatch.setenv("HEARTH_OUTBOX_DIR", "/somewhere/else")
    get_settings.cache_clear()
    assert precomputed.data_version(session) == before  # where mail goes changes no number
    monkeypatch.setenv("HEARTH_POINT_VALUE", "0.05")
    get_settings.cache_clear()
    assert precomputed.data_version(session) != before  # the liability does change
    get_settings.cache_clear()


def test_a_scoring_run_keeps_the_kpis_but_a_new_order_does_not(session: Session) -> None:
    from db.models import ModelRun

    _store_with_two_orders(session)
    compute = Counter("kpis")
    precomputed.remember(session, "test.kpis", {}, compute, tables=("customer", "orders"))
    session.add(ModelRun(as_of=AS_OF, method="rules"))
    session.commit()
    precomputed.remember(session, "test.kpis", {}, compute, tables=("customer", "orders"))
    assert compute.calls == 1  # the KPIs read no scores
    alice = session.execute(select(kpis.Customer).where(kpis.Customer.external_id == "XC-ALICE")).scalar_one()
    make_order(session, alice, datetime(2026, 6, 25, 10), total=5.0)
    session.commit()
    precomputed.remember(session, "test.kpis", {}, compute, tables=("customer", "orders"))
    assert compute.calls == 2


def test_a_result_that_cannot_be_read_back_is_recomputed(session: Session) -> None:
    _store_with_two_orders(session)
    compute = Counter({"a": 1})
    precomputed.remember(session, "test.unreadable", {}, compute)
    session.commit()
    # Correctly signed, but not a payload this version can read (say, an old pickled row).
    row = session.execute(select(PrecomputedResult)).scalar_one()
    bad = b"not a pickle"
    row.payload = bad
    row.signature = precomputed._sign(row.name, row.params, row.data_version, bad)
    session.commit()
    assert precomputed.remember(session, "test.unreadable", {}, compute) == {"a": 1}
    assert compute.calls == 2


class _Trap:
    """Unpickling this creates the marker file: proof that code from the database ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_correctly_signed_pickle_is_never_unpickled(session: Session, tmp_path) -> None:  # noqa: ANN001
    """The attacker knows the signing key (demo mode's is public) and writes a signed pickle."""
    import pickle

    _store_with_two_orders(session)
    compute = Counter({"a": 1})
    precomputed.remember(session, "test.trap", {}, compute)
    session.commit()
    marker = tmp_path / "ran"
    row = session.execute(select(PrecomputedResult)).scalar_one()
    evil = pickle.dumps(_Trap(str(marker)))
    row.payload = evil
    row.signature = precomputed._sign(row.name, row.params, row.data_version, evil)
    session.commit()
    assert precomputed.remember(session, "test.trap", {}, compute) == {"a": 1}
    assert compute.calls == 2
    assert not marker.exists()


def test_every_warmed_result_is_stored_as_data_and_reads_back_the_same(session: Session) -> None:
    import pandas as pd

    from core import safe_codec

    _store_with_two_orders(session)
    precomputed.warm_up(engine=session.get_bind(), as_of=AS_OF, horizon_days=90)
    payloads = session.execute(select(PrecomputedResult.name, PrecomputedResult.payload)).all()
    assert len(payloads) >= 8
    for name, payload in payloads:
        assert bytes(payload).startswith(safe_codec.MAGIC), name
        assert not bytes(payload).startswith(b"\x80"), name  # no pickle protocol header
    # Read back through the screens' own call: the same frame as computing it afresh.
    stored = kpis.kpi_trend(session=session, as_of=AS_OF, horizon_days=90)
    fresh = kpis.kpi_trend.__wrapped__(session=session, as_of=AS_OF, horizon_days=90)
    pd.testing.assert_frame_equal(stored, fresh, check_exact=True)
    summary = loyalty.ledger_summary(session=session, as_of=AS_OF)
    assert isinstance(summary, loyalty.LedgerSummary)
