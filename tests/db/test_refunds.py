"""Refunds and cancellations are not orders (issue 14, kind 1), on SQLite and PostgreSQL.

Expected values are worked out by hand in the comments; the handed case's are in
tests/data/cases/refund-row-in-orders/expected.md."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlmodel import Session, select

from core.features import customer_features, load_frames
from core.importing import ImportFailed, import_csv
from core.kpis import compute_kpis, monthly_sales
from db.models import Customer, Order, OrderLine, Refund

CASE = Path(__file__).resolve().parents[1] / "data" / "cases" / "refund-row-in-orders"


def imp(session: Session, kind: str, text: str | bytes, filename: str | None = None):
    data = text.encode() if isinstance(text, str) else text
    return import_csv(session=session, kind=kind, data=data, filename=filename or f"{kind}.csv", actor="admin")


def orders(session: Session) -> dict[str, float]:
    return {o.external_id: o.total_cents / 100 for o in session.exec(select(Order).order_by(Order.id)).all()}


def refunds(session: Session) -> list[tuple]:
    """(external_id, kind, linked order's external id, order_ref, customer, amount, refunded_at date)."""
    by_id = {o.id: o.external_id for o in session.exec(select(Order)).all()}
    people = {c.id: c.external_id for c in session.exec(select(Customer)).all()}
    return sorted((r.external_id, r.kind, by_id.get(r.order_id), r.order_ref, people[r.customer_id],
                   r.amount_cents / 100, r.refunded_at.date()) for r in session.exec(select(Refund)).all())


def test_a_negative_row_is_a_refund_not_a_fifth_order(session):
    first = imp(session, "orders", (CASE / "orders.csv").read_bytes())
    assert (first.inserted, first.refunds_inserted) == (4, 1)
    assert orders(session) == {"5101": 40.0, "5102": 30.0, "5103": 20.0, "5104": 10.0}
    # No refund_of column: the refund is kept with C1 and its date, unlinked.
    assert refunds(session) == [("5105", "refund", None, None, "C1", 40.0, date(2025, 3, 5))]
    k = compute_kpis(session=session, as_of=date(2025, 3, 31), horizon_days=90)
    assert k["orders"] == 4
    assert (k["revenue"], k["gross_sales"], k["refunds"]) == (60.00, 100.00, 40.00)
    assert k["average_order_value"] == 25.00  # gross sales 100 / 4 orders
    assert k["repeat_purchase_rate"] == 1 / 3  # only C3 ordered twice
    # C1's cadence comes from its one real order: no gap between orders, one order.
    frames = load_frames(session=session, as_of=date(2025, 3, 31))
    feats = customer_features(frames, cutoff=date(2025, 3, 31), horizon_days=90)
    c1 = session.exec(select(Customer).where(Customer.external_id == "C1")).one().id
    assert feats.loc[c1, "n_orders"] == 1
    assert pd_isna(feats.loc[c1, "median_gap_days"])
    # The same file again changes nothing.
    again = imp(session, "orders", (CASE / "orders.csv").read_bytes())
    assert (again.inserted, again.updated, again.unchanged, again.refunds_inserted, again.refunds_unchanged) == (
        0, 0, 4, 0, 1)
    assert len(refunds(session)) == 1


def test_spend_and_the_value_at_risk_are_net_of_refunds(session):
    """The handed case: C1 ordered 40.00 on 2025-03-01 and got 40.00 back on 2025-03-05; C2
    ordered 30.00. By hand: C1's spend over 365 days is 40 - 40 = 0, so its expected annual
    value (and value at risk) is 0 whatever its churn probability; C2's is its one order's 30.00
    (one order is not annualised into a rate).
    Its average order value stays gross (40.00 / 1 order), as the platforms count it."""
    from core.health import expected_annual_value

    imp(session, "orders", (CASE / "orders.csv").read_bytes())
    frames = load_frames(session=session, as_of=date(2025, 3, 31))
    feats = customer_features(frames, cutoff=date(2025, 3, 31), horizon_days=90)
    ids = {c.external_id: c.id for c in session.exec(select(Customer)).all()}
    c1, c2 = feats.loc[ids["C1"]], feats.loc[ids["C2"]]
    assert c1["net_spend_365"] == 0.0 and c1["spend_365"] == 40.0  # gross sales stay the model's input
    assert c1["average_order_value"] == 40.0
    assert c2["net_spend_365"] == 30.0
    value = dict(zip(feats.index, expected_annual_value(feats, horizon_days=90), strict=True))
    assert value[ids["C1"]] == 0.0
    assert value[ids["C2"]] == 30.0


def pd_isna(value) -> bool:  # noqa: ANN001
    return value != value


def test_a_negative_row_naming_its_order_is_linked_to_it(session):
    # O2 is refunded 12.50 in part (O2R names it); X9 names an order Hearth never saw: kept, unlinked.
    imp(session, "orders", "order_id,customer_id,ordered_at,total,refund_of\n"
                           "O1,K1,2025-01-05,30.00,\n"
                           "O2,K2,2025-01-06,50.00,\n"
                           "O2R,K2,2025-01-20,-12.50,O2\n"
                           "X9,K3,2025-01-21,-5.00,OLD-1\n")
    assert orders(session) == {"O1": 30.0, "O2": 50.0}
    assert refunds(session) == [
        ("O2R", "refund", "O2", "O2", "K2", 12.5, date(2025, 1, 20)),
        ("X9", "refund", None, "OLD-1", "K3", 5.0, date(2025, 1, 21)),
    ]
    k = compute_kpis(session=session, as_of=date(2025, 1, 31), horizon_days=30)
    # gross 80.00; refunds 12.50 + 5.00 = 17.50; revenue 62.50; AOV 80 / 2 = 40.00
    assert (k["orders"], k["gross_sales"], k["refunds"], k["revenue"]) == (2, 80.00, 17.50, 62.50)
    assert k["average_order_value"] == 40.00


def test_a_refund_of_another_customers_order_or_beyond_its_total_is_refused(session):
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total,refund_of\n"
                               "A1,K1,2025-01-05,30.00,\n"
                               "A1R,K2,2025-01-06,-10.00,A1\n"
                               "B1,K3,2025-01-05,20.00,\n"
                               "B1R,K3,2025-01-06,-15.00,B1\n"
                               "B1S,K3,2025-01-07,-15.00,B1\n")
    found = {(p.row, p.column) for p in err.value.problems}
    assert (3, "customer_id") in found  # A1R: K2 is not A1's customer
    assert any(p.row in (5, 6) and "add up to 30.00, more than its total of 20.00" in p.message
               for p in err.value.problems)
    assert orders(session) == {} and refunds(session) == []


def test_a_status_column_says_cancelled_refunded_or_partly_refunded(session):
    # S1 paid; S2 Cancelled (not an order, no sales, no refund); S3 refunded in full (an order
    # of 40 and a refund of 40); S4 "Partially Refunded" 15 of 60; S5 "voided"; S6 completed with a
    # refunded_amount of 5; S7 "canceled" (US spelling).
    text = ("order_id,customer_id,ordered_at,total,status,refunded_amount\n"
            "S1,K1,2025-02-01,25.00,paid,\n"
            "S2,K1,2025-02-02,99.00,Cancelled,\n"
            "S3,K2,2025-02-03,40.00,refunded,\n"
            "S4,K2,2025-02-04,60.00,Partially Refunded,15.00\n"
            "S5,K3,2025-02-05,12.00,voided,\n"
            "S6,K3,2025-02-06,30.00,completed,5.00\n"
            "S7,K3,2025-02-07,8.00,canceled,\n")
    imp(session, "orders", text)
    assert orders(session) == {"S1": 25.0, "S3": 40.0, "S4": 60.0, "S6": 30.0}
    assert refunds(session) == [
        ("S2", "cancellation", None, "S2", "K1", 99.0, date(2025, 2, 2)),
        ("S5", "cancellation", None, "S5", "K3", 12.0, date(2025, 2, 5)),
        ("S7", "cancellation", None, "S7", "K3", 8.0, date(2025, 2, 7)),
        ("refund-of-S3", "refund", "S3", "S3", "K2", 40.0, date(2025, 2, 3)),
        ("refund-of-S4", "refund", "S4", "S4", "K2", 15.0, date(2025, 2, 4)),
        ("refund-of-S6", "refund", "S6", "S6", "K3", 5.0, date(2025, 2, 6)),
    ]
    k = compute_kpis(session=session, as_of=date(2025, 2, 28), horizon_days=90)
    # 4 orders, gross 25 + 40 + 60 + 30 = 155.00, refunds 40 + 15 + 5 = 60.00, revenue 95.00,
    # AOV 155 / 4 = 38.75; K2 and K3... K3 has one real order (S6): repeaters K2 only -> 1/3.
    assert (k["orders"], k["gross_sales"], k["refunds"], k["revenue"]) == (4, 155.00, 60.00, 95.00)
    assert k["average_order_value"] == 38.75
    assert k["repeat_purchase_rate"] == 1 / 3
    month = monthly_sales(session=session, as_of=date(2025, 2, 28), months=1).iloc[0]
    assert (month["orders"], month["gross_sales"], month["refunds"], month["revenue"]) == (4, 155.0, 60.0, 95.0)
    # The same file again changes nothing; then S1 is cancelled in a later export.
    again = imp(session, "orders", text)
    assert (again.inserted, again.updated, again.refunds_inserted, again.refunds_updated) == (0, 0, 0, 0)
    later = imp(session, "orders", "order_id,customer_id,ordered_at,total,status\n"
                                   "S1,K1,2025-02-01,25.00,cancelled\n")
    assert "S1" not in orders(session)
    assert ("S1", "cancellation", None, "S1", "K1", 25.0, date(2025, 2, 1)) in refunds(session)
    assert any("cancelled in this file" in n for n in later.notes)


def test_partly_refunded_without_an_amount_is_refused_with_the_row_named(session):
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total,status\n"
                               "P1,K1,2025-02-01,25.00,processing\n"
                               "P2,K1,2025-02-02,30.00,partially-refunded\n")
    [problem] = err.value.problems
    assert (problem.row, problem.column, problem.value) == (3, "status", "partially_refunded")
    assert "refunded_amount is empty" in problem.message
    assert orders(session) == {}


def test_lines_of_a_refund_row_are_no_orders_lines(session):
    imp(session, "orders", "order_id,customer_id,ordered_at,total,sku,quantity,unit_price\n"
                           "L1,K1,2025-03-01,20.00,SKU-A,2,10.00\n"
                           "L1R,K1,2025-03-04,-10.00,SKU-A,1,10.00\n")
    assert orders(session) == {"L1": 20.0}
    lines = session.exec(select(OrderLine)).all()
    assert [(ln.sku, ln.quantity) for ln in lines] == [("SKU-A", 2)]


def test_a_separate_refunds_file(session):
    imp(session, "orders", "order_id,customer_id,ordered_at,total\n"
                           "R1,K1,2025-04-01,50.00\n"
                           "R2,K2,2025-04-02,20.00\n")
    text = ("refund_id,order_id,refunded_at,amount,customer_id\n"
            "F1,R1,2025-04-10,10.00,\n"
            "F2,R1,2025-04-11,-15.00,\n"      # a refunds export that writes money back as negative
            "F3,GONE-7,2025-04-12,4.00,K9\n")  # an order Hearth does not have: kept with K9
    summary = imp(session, "refunds", text)
    assert (summary.inserted, summary.updated, summary.unchanged) == (3, 0, 0)
    assert refunds(session) == [
        ("F1", "refund", "R1", "R1", "K1", 10.0, date(2025, 4, 10)),
        ("F2", "refund", "R1", "R1", "K1", 15.0, date(2025, 4, 11)),
        ("F3", "refund", None, "GONE-7", "K9", 4.0, date(2025, 4, 12)),
    ]
    k = compute_kpis(session=session, as_of=date(2025, 4, 30), horizon_days=30)
    # gross 70.00, refunds 29.00, revenue 41.00, AOV 35.00; K9 is a customer with no order.
    assert (k["orders"], k["gross_sales"], k["refunds"], k["revenue"], k["average_order_value"]) == (
        2, 70.00, 29.00, 41.00, 35.00)
    again = imp(session, "refunds", text)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    # More than the order's total, and an order nobody can place: refused, rows named.
    with pytest.raises(ImportFailed) as err:
        imp(session, "refunds", "refund_id,order_id,refunded_at,amount\n"
                                "F4,R2,2025-04-20,25.00\n"
                                "F5,NOPE,2025-04-20,1.00\n")
    problems = {(p.row, p.column): p.message for p in err.value.problems}
    assert problems[(3, "order_id")].startswith("is not an order Hearth has")
    assert len(refunds(session)) == 3


def test_refunds_are_dated_by_refunded_at_and_fall_in_their_own_window(session):
    # Ordered in January, refunded on 2025-03-02: January's revenue stays 100; the refund is
    # subtracted in the 30 days to 2025-03-31, where there are no orders.
    imp(session, "orders", "order_id,customer_id,ordered_at,total,status,refunded_amount,refunded_at\n"
                           "W1,K1,2025-01-10T10:00:00Z,100.00,partially_refunded,30.00,2025-03-02T09:00:00+01:00\n")
    [r] = session.exec(select(Refund)).all()
    assert r.refunded_at == datetime(2025, 3, 2, 8, 0)
    jan = compute_kpis(session=session, as_of=date(2025, 1, 31), horizon_days=30)
    mar = compute_kpis(session=session, as_of=date(2025, 3, 31), horizon_days=30)
    assert (jan["gross_sales"], jan["refunds"], jan["revenue"]) == (100.00, 0.00, 100.00)
    assert (mar["orders"], mar["gross_sales"], mar["refunds"], mar["revenue"]) == (0, 0.00, 30.00, -30.00)
    assert mar["average_order_value"] is None


def test_exports_and_the_account_timeline_show_refunds_as_refunds(session):
    from core.exporting import accounts_frame
    from core.timeline import account_timeline

    imp(session, "orders", "order_id,customer_id,ordered_at,total,status,refunded_amount\n"
                           "T1,K1,2025-02-01,80.00,partially refunded,20.00\n"
                           "T2,K1,2025-02-03,15.00,cancelled,\n"
                           "T3,K2,2025-02-04,10.00,paid,\n")
    acc = accounts_frame(session=session).set_index("customer_id")
    # K1: one real order of 80.00, 20.00 refunded: revenue 60.00; the cancelled T2 counts nowhere.
    assert acc.loc["K1", ["orders", "revenue", "gross_sales", "refunds"]].tolist() == [1, 60.0, 80.0, 20.0]
    assert acc.loc["K2", ["orders", "revenue", "gross_sales", "refunds"]].tolist() == [1, 10.0, 10.0, 0.0]
    k1 = session.exec(select(Customer).where(Customer.external_id == "K1")).one().id
    tl = account_timeline(session=session, customer_id=k1)
    # Newest first: the cancellation (Feb 3), then the order and its refund (both dated Feb 1).
    assert tl["kind"].tolist() == ["cancellation", "order", "refund"]
    by_kind = dict(zip(tl["kind"], tl["title"], strict=True))
    # Money with its currency (HEARTH_CURRENCY, EUR by default), as on every screen.
    assert by_kind["refund"] == "Refund -€20.00 of order T1"
    assert by_kind["cancellation"] == "Cancelled order T2 · €15.00"
    assert by_kind["order"] == "Order T1 · €80.00"


def test_the_example_refunds_file_imports_after_the_example_orders(session):
    examples = Path(__file__).resolve().parents[2] / "examples"
    for kind in ("products", "customers", "orders"):
        imp(session, kind, (examples / f"{kind}.csv").read_bytes())
    summary = imp(session, "refunds", (examples / "refunds.csv").read_bytes())
    assert summary.inserted == 1
    # O5002 (C1002, 14.00 on 2025-02-11) was refunded 4.50 on 2025-02-20.
    assert refunds(session) == [("RF-1", "refund", "O5002", "O5002", "C1002", 4.5, date(2025, 2, 20))]


def test_a_dry_run_counts_refunds_and_cancellations_and_writes_nothing(session):
    text = ("order_id,customer_id,ordered_at,total,status\n"
            "D1,K1,2025-02-01,25.00,paid\n"
            "D2,K1,2025-02-02,10.00,cancelled\n"
            "D3,K2,2025-02-03,40.00,refunded\n"
            "D4,K2,2025-02-05,-5.00,\n")
    summary = import_csv(session=session, kind="orders", data=text.encode(), filename="o.csv", actor="admin",
                         dry_run=True)
    assert (summary.inserted, summary.refunds_inserted, summary.cancellations) == (2, 2, 1)
    assert summary.refunded_money == 45.00  # 40.00 (D3 refunded in full) + 5.00 (D4)
    assert any("1 cancelled order," in line for line in summary.lines_of_text())
    assert orders(session) == {} and refunds(session) == []
    # K1 and K2 are new; each has orders and a refund or cancellation, and is one customer to create.
    assert summary.customers_created == 2
    assert session.exec(select(Customer)).all() == []
    real = import_csv(session=session, kind="orders", data=text.encode(), filename="o.csv", actor="admin")
    assert (real.inserted, real.refunds_inserted, real.customers_created) == (2, 2, 2)


def test_status_given_on_an_orders_first_line_only_counts_once(session):
    # Shopify-style: one row per line item, the order's own fields only on the first.
    imp(session, "orders", "order_id,customer_id,ordered_at,total,sku,quantity,unit_price,status,refunded_amount\n"
                           "M1,K1,2025-05-01,30.00,SKU-A,1,10.00,partially_refunded,10.00\n"
                           "M1,K1,2025-05-01,30.00,SKU-B,2,10.00,,\n")
    assert orders(session) == {"M1": 30.0}
    assert len(session.exec(select(OrderLine)).all()) == 2
    assert refunds(session) == [("refund-of-M1", "refund", "M1", "M1", "K1", 10.0, date(2025, 5, 1))]
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total,sku,status\n"
                               "M2,K1,2025-05-02,30.00,SKU-A,paid\n"
                               "M2,K1,2025-05-02,30.00,SKU-B,cancelled\n")
    [problem] = err.value.problems
    assert (problem.row, problem.column, problem.value) == (3, "status", "cancelled")
    assert "differs from the other rows of order M2" in problem.message


def test_woocommerce_statuses_a_refunded_order_with_its_refund_row_and_unknown_statuses(session):
    text = ("order_id,customer_id,ordered_at,total,status,refund_of\n"
            "3001,D1,2025-03-01T10:00:00Z,20.00,paid,\n"
            "3005,D3,2025-03-21T10:00:00Z,10.00,wc-cancelled,\n"   # WooCommerce's slug: cancelled
            "3006,D3,2025-03-22T10:00:00Z,12.00,wc-refunded,\n"    # refunded in full: 12
            "3007,D4,2025-03-22T10:00:00Z,15.00,closed,\n"         # unknown: an order, and said so
            "2001,B1,2025-03-05T10:00:00Z,40.00,refunded,\n"       # refunded by its own refund row,
            "2002,B1,2025-03-06T10:00:00Z,-40.00,,2001\n")         # not twice (it was refused: 80)
    summary = imp(session, "orders", text)
    assert sorted(orders(session)) == ["2001", "3001", "3006", "3007"]
    assert [(r[0], r[1], r[5]) for r in refunds(session)] == [
        ("2002", "refund", 40.0), ("3005", "cancellation", 10.0), ("refund-of-3006", "refund", 12.0)]
    # By hand: orders 20 + 12 + 15 + 40 = 87; refunds 12 + 40 = 52; revenue 35.
    k = compute_kpis(session=session, as_of=date(2025, 3, 31), horizon_days=90)
    assert (k["orders"], k["gross_sales"], k["refunds"], k["revenue"]) == (4, 87.0, 52.0, 35.0)
    assert any("'closed' (1 order)" in n for n in summary.notes)


def test_a_refund_row_that_says_cancelled_is_refused(session):
    text = ("order_id,customer_id,ordered_at,total,status,refund_of\n"
            "1305,T3,2025-03-01T10:00:00Z,50.00,paid,\n"
            "1306,T3,2025-03-02T10:00:00Z,-20.00,cancelled,1305\n")
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", text)
    (problem,) = err.value.problems
    assert (problem.row, problem.column, problem.value) == (3, "status", "cancelled")
    assert "refund row" in problem.message


def test_a_refund_of_an_order_cancelled_later_counts_nowhere_and_again_once_it_is_not(session):
    paid = ("order_id,customer_id,ordered_at,total,status\n"
            "8001,J1,2025-03-01T10:00:00Z,50.00,paid\n8002,J2,2025-03-01T10:00:00Z,30.00,paid\n")
    imp(session, "orders", paid)
    imp(session, "refunds", "refund_id,order_id,refunded_at,amount\nRF-8,8001,2025-03-03T10:00:00Z,50.00\n")

    def money_figures() -> tuple:
        k = compute_kpis(session=session, as_of=date(2025, 3, 31), horizon_days=90)
        return k["orders"], k["gross_sales"], k["refunds"], k["revenue"]

    assert money_figures() == (2, 80.0, 50.0, 30.0)
    # Shopify refunds an order, then cancels it: cancelled, it counts in neither sales nor
    # refunds, so gross 30, refunds 0, revenue 30 (it read gross 30, refunds 50, revenue -20).
    summary = imp(session, "orders", paid.replace("50.00,paid", "50.00,cancelled"))
    assert money_figures() == (1, 30.0, 0.0, 30.0)
    assert any("1 refund of orders that are cancelled is kept but not counted" in n for n in summary.notes)
    # The refunds file again: the same refund, whose order is known by its cancellation.
    again = imp(session, "refunds", "refund_id,order_id,refunded_at,amount\nRF-8,8001,2025-03-03T10:00:00Z,50.00\n")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    assert money_figures() == (1, 30.0, 0.0, 30.0)
    # Paid after all: the order and its refund count again.
    imp(session, "orders", paid)
    assert money_figures() == (2, 80.0, 50.0, 30.0)


def test_a_cancelled_order_and_its_refund_row_in_one_file_count_nowhere(session):
    imp(session, "orders", "order_id,customer_id,ordered_at,total,status,refund_of\n"
                           "9001,J1,2025-03-01T10:00:00Z,50.00,cancelled,\n"
                           "9002,J1,2025-03-02T10:00:00Z,-50.00,,9001\n"
                           "9003,J2,2025-03-02T10:00:00Z,30.00,paid,\n")
    k = compute_kpis(session=session, as_of=date(2025, 3, 31), horizon_days=90)
    assert (k["orders"], k["gross_sales"], k["refunds"], k["revenue"]) == (1, 30.0, 0.0, 30.0)  # was -20
    assert [(r[0], r[1]) for r in refunds(session)] == [("9001", "cancellation"), ("9002", "refund_of_cancelled")]


def test_an_orders_refunded_total_and_its_listed_refunds_count_once(session):
    # Shopify's Refunded Amount is the order's running total; its refunds export lists the same
    # money refund by refund. By hand, per order the larger counts, the listed refund on a tie:
    # 7001: total 10, listed 10 -> 10 (it was 20); 7002: total 50, listed 50 -> 50 (it was refused,
    # 100 over the order's 50); 7003: total 30, listed 10 -> 30; 7004: total 5, listed 20 -> 20.
    imp(session, "orders", "order_id,customer_id,ordered_at,total,status,refunded_amount\n"
                           "7001,H1,2025-03-01T10:00:00Z,50.00,partially_refunded,10.00\n"
                           "7002,H2,2025-03-01T10:00:00Z,50.00,refunded,50.00\n"
                           "7003,H3,2025-03-01T10:00:00Z,50.00,partially_refunded,30.00\n"
                           "7004,H4,2025-03-01T10:00:00Z,50.00,partially_refunded,5.00\n")
    summary = imp(session, "refunds", "refund_id,order_id,refunded_at,amount\n"
                                      "RF-1,7001,2025-03-02T10:00:00Z,10.00\n"
                                      "RF-2,7002,2025-03-02T10:00:00Z,50.00\n"
                                      "RF-3,7003,2025-03-02T10:00:00Z,10.00\n"
                                      "RF-4,7004,2025-03-02T10:00:00Z,20.00\n")
    k = compute_kpis(session=session, as_of=date(2025, 3, 31), horizon_days=90)
    assert (k["gross_sales"], k["refunds"], k["revenue"]) == (200.0, 110.0, 90.0)
    assert any("4 refunds counted once, not twice" in n for n in summary.notes)
    counted = {r[0] for r in refunds(session) if r[1] == "refund"}
    assert counted == {"RF-1", "RF-2", "refund-of-7003", "RF-4"}
    # Both files again: nothing changes, and the figures stay.
    imp(session, "orders", "order_id,customer_id,ordered_at,total,status,refunded_amount\n"
                           "7001,H1,2025-03-01T10:00:00Z,50.00,partially_refunded,10.00\n"
                           "7002,H2,2025-03-01T10:00:00Z,50.00,refunded,50.00\n"
                           "7003,H3,2025-03-01T10:00:00Z,50.00,partially_refunded,30.00\n"
                           "7004,H4,2025-03-01T10:00:00Z,50.00,partially_refunded,5.00\n")
    k = compute_kpis(session=session, as_of=date(2025, 3, 31), horizon_days=90)
    assert k["refunds"] == 110.0


def test_a_listed_refund_keeps_its_day_when_the_next_orders_file_says_refunded(session):
    # O1 (25 Aug 2026, 40.00) was refunded on 10 Sep 2026 (the refunds file); the next orders
    # export says O1 is refunded, for the same 40.00. The money went back on 10 Sep, inside the
    # 90 days to 30 Nov 2026 (1 Sep to 30 Nov): gross sales 30.00 (O2; O1 is before the window),
    # refunds 40.00, revenue -10.00, before and after the second orders file.
    imp(session, "orders", "order_id,customer_id,ordered_at,total,status\n"
                           "O1,C1,2026-08-25T10:00:00Z,40.00,paid\nO2,C2,2026-10-01T10:00:00Z,30.00,paid\n")
    imp(session, "refunds", "refund_id,order_id,customer_id,refunded_at,amount\n"
                            "RF1,O1,C1,2026-09-10T10:00:00Z,40.00\n")

    def figures() -> tuple:
        k = compute_kpis(session=session, as_of=date(2026, 11, 30), horizon_days=90)
        return k["gross_sales"], k["refunds"], k["revenue"]

    assert figures() == (30.0, 40.0, -10.0)
    imp(session, "orders", "order_id,customer_id,ordered_at,total,status\n"
                           "O1,C1,2026-08-25T10:00:00Z,40.00,refunded\nO2,C2,2026-10-01T10:00:00Z,30.00,paid\n")
    assert figures() == (30.0, 40.0, -10.0)
    assert {r[0] for r in refunds(session) if r[1] == "refund"} == {"RF1"}


def test_refund_rows_written_as_returns_are_refused_saying_how_to_write_them(session):
    # A refund row that reuses its order's id: the refusal says it is read as a refund and how to
    # write one (the file's own time, not nanoseconds).
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total,sku,quantity,unit_price\n"
                               "5101,C1,2026-10-01T10:00:00Z,40.00,DET-1L,2,20.00\n"
                               "5101,C1,2026-10-05T15:00:00Z,-20.00,DET-1L,1,20.00\n")
    assert [(p.row, p.column, p.value, p.message) for p in err.value.problems] == [
        (3, column, value, "differs from the other rows of order 5101 (first at row 2); a refund of order 5101? "
                           "Give the refund row its own order_id and refund_of 5101")
        for column, value in (("ordered_at", "2026-10-05T15:00:00"), ("total", "-20.00"))]
    # A return row listing its item with a negative quantity, as many shops export a return, is a
    # refund (it was refused): by hand gross 40.00, refunds 20.00. An order's line with a negative
    # quantity is still refused.
    imp(session, "orders", "order_id,customer_id,ordered_at,total,sku,quantity,unit_price,refund_of\n"
                           "5101,C1,2026-10-01T10:00:00Z,40.00,DET-1L,2,20.00,\n"
                           "R5101,C1,2026-10-05T15:00:00Z,-20.00,DET-1L,-1,20.00,5101\n")
    k = compute_kpis(session=session, as_of=date(2026, 10, 31), horizon_days=90)
    assert (k["orders"], k["gross_sales"], k["refunds"]) == (1, 40.0, 20.0)
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total,sku,quantity,unit_price\n"
                               "5102,C1,2026-10-06T10:00:00Z,30.00,DET-1L,-1,30.00\n")
    assert [(p.row, p.column, p.value) for p in err.value.problems] == [(2, "quantity", "-1")]
    assert "a return row's negative total" in err.value.problems[0].message


def test_refunds_stored_before_their_order_are_checked_when_it_arrives(session):
    # The files give the same accounts in any order: refunds first, then the order, is refused
    # as the order first, then the refunds, is. By hand: order 2002 is 50.00; two listed refunds
    # of 30.00 add up to 60.00 (revenue would have been -10.00 for one 50.00 order).
    imp(session, "refunds", "refund_id,order_id,customer_id,refunded_at,amount\n"
                            "RF2,2002,K2,2025-03-20 12:00:00,30.00\nRF3,2002,K2,2025-03-21 12:00:00,30.00\n")
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total\n2002,K2,2025-03-01 10:00:00,50.00\n")
    [problem] = err.value.problems
    assert (problem.row, problem.column) == (2, "total")
    assert "refunds RF2, RF3" in problem.message and "60.00" in problem.message
    assert orders(session) == {}


def test_a_refund_stored_for_another_customer_is_checked_when_its_order_arrives(session):
    imp(session, "refunds", "refund_id,order_id,customer_id,refunded_at,amount\nRF1,2001,K9,2025-03-20,10.00\n")
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total\n2001,K2,2025-03-01,50.00\n")
    [problem] = err.value.problems
    assert (problem.row, problem.column, problem.value) == (2, "customer_id", "K2")
    assert "refund RF1" in problem.message and "K9" in problem.message


def test_an_order_total_lowered_below_its_refunded_amount_is_refused(session):
    # E1 was 50.00 with 40.00 refunded; a later file says the order was 30.00 and is silent on
    # refunds: 40.00 back on a 30.00 order is refused (it gave revenue -10.00).
    imp(session, "orders", "order_id,customer_id,ordered_at,total,status,refunded_amount\n"
                           "E1,K1,2025-03-01,50.00,partially_refunded,40.00\n")
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total\nE1,K1,2025-03-01,30.00\n")
    [problem] = err.value.problems
    assert (problem.row, problem.column) == (2, "total") and "40.00" in problem.message
    assert orders(session) == {"E1": 50.0}


def test_spend_and_order_value_outside_the_kpis_are_net_of_refunds(session):
    # K1 ordered 100.00 on 1 Mar, 60.00 on 1 Apr and 40.00 on 1 May 2026 and sent the 60.00 back
    # (refunded 5 Apr). By hand, as of 31 May 2026: the queue's 12-month spend 200.00 - 60.00 =
    # 140.00; the lifetime spend an outreach message quotes the same; lifetime value's mean
    # repeat order (60.00 + 40.00 - 60.00) / 2 = 20.00 (it was 50.00: the refund counted as spent).
    from core.accounts import _with_order_aggregates
    from core.clv import store_rfm_summary
    from core.outreach.contexts import customer_contexts
    from tests.factories import make_customer, make_order, make_refund

    k1 = make_customer(session)
    make_order(session, k1, datetime(2026, 3, 1, 10), 100.0)
    make_order(session, k1, datetime(2026, 4, 1, 10), 60.0)
    make_order(session, k1, datetime(2026, 5, 1, 10), 40.0)
    make_refund(session, k1, datetime(2026, 4, 5, 10), 60.0)
    session.commit()
    page = _with_order_aggregates(session=session, rows=pd.DataFrame({"customer_id": [k1.id]}),
                                  as_of=date(2026, 5, 31))
    assert page["spend_365"].tolist() == [140.0]
    ctx = customer_contexts(session=session, customer_ids=[k1.id], template="win_back", now=datetime(2026, 5, 31))
    assert ctx.loc[k1.id, "lifetime_spend"] == 140.0
    rfm = store_rfm_summary(session=session, as_of=date(2026, 5, 31)).set_index("customer_id")
    assert rfm.loc[k1.id, "monetary_value"] == pytest.approx(20.0)


def test_partly_refunded_with_its_refund_rows_in_the_file_needs_no_refunded_amount(session):
    # WooCommerce writes the order ("partially-refunded", no amount column) and its refund row:
    # by hand, order W1 50.00 with 12.00 refunded: gross 50.00, refunds 12.00, revenue 38.00
    # (the file was refused: "partly refunded, but refunded_amount is empty").
    imp(session, "orders", "order_id,customer_id,ordered_at,total,status,refund_of\n"
                           "W1,K1,2026-11-01,50.00,partially-refunded,\n"
                           "W1-R1,K1,2026-11-03,-12.00,refunded,W1\n")
    k = compute_kpis(session=session, as_of=date(2026, 11, 30), horizon_days=90)
    assert (k["orders"], k["gross_sales"], k["refunds"], k["revenue"]) == (1, 50.0, 12.0, 38.0)


def test_a_refund_row_without_a_customer_takes_the_customer_of_the_order_it_names(session):
    # WooCommerce's refund records carry no billing details. By hand: A1 is K1's 50.00 order;
    # A1-R (12.00, same file) and later A1-R2 (8.00, the order stored) are K1's refunds: gross
    # 50.00, refunds 20.00, revenue 30.00. A row naming an order Hearth has nowhere is refused.
    imp(session, "orders", "order_id,customer_id,ordered_at,total,refund_of\n"
                           "A1,K1,2026-11-01,50.00,\nA1-R,,2026-11-03,-12.00,A1\n")
    imp(session, "orders", "order_id,customer_id,ordered_at,total,refund_of\nA1-R2,,2026-11-05,-8.00,A1\n")
    k = compute_kpis(session=session, as_of=date(2026, 11, 30), horizon_days=90)
    assert (k["orders"], k["gross_sales"], k["refunds"], k["revenue"]) == (1, 50.0, 20.0, 30.0)
    assert {r.customer_id for r in session.exec(select(Refund)).all()} == {by_ext_customer(session, "K1")}
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total,refund_of\nB9-R,,2026-11-03,-5.00,B9\n")
    [problem] = err.value.problems
    assert (problem.row, problem.column, problem.value) == (2, "refund_of", "B9")
    # Without refund_of the customer is still required.
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total,refund_of\nC9-R,,2026-11-03,-5.00,\n")
    assert [(p.row, p.column) for p in err.value.problems] == [(2, "customer_id")]


def by_ext_customer(session: Session, ext: str) -> int:
    return session.exec(select(Customer).where(Customer.external_id == ext)).one().id


def test_partly_refunded_with_its_refunds_stored_before_needs_no_refunded_amount(session):
    # The refunds file first (R1, 20.00 of O1), then the order "partially refunded" with no
    # amount: the stored refund says how much. By hand: gross 50.00, refunds 20.00, revenue 30.00
    # (the order was refused whichever file came first, and the message sent the user to the
    # refunds file).
    imp(session, "refunds", "refund_id,order_id,customer_id,refunded_at,amount\nR1,O1,C1,2026-10-05,20.00\n")
    imp(session, "orders", "order_id,customer_id,ordered_at,total,status\nO1,C1,2026-10-01,50.00,partially refunded\n")
    k = compute_kpis(session=session, as_of=date(2026, 10, 31), horizon_days=90)
    assert (k["gross_sales"], k["refunds"], k["revenue"]) == (50.0, 20.0, 30.0)


def test_a_plain_orders_file_in_another_currency_is_refused(session):
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "order_id,customer_id,ordered_at,total,currency\nO1,C1,2026-10-01,17.00,EUR\n"
                               "O2,C2,2026-10-01,90.00,GBP\n")
    assert [(p.row, p.column, p.value) for p in err.value.problems] == [(3, "currency", "GBP")]
    assert orders(session) == {}
