"""Money is exact from the file to the screen: whole cents stored, summed in integers, and one
rounding rule (half away from zero, core.money) for amounts and ratios, on SQLite and PostgreSQL.

Every expected value is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import io
from datetime import date, datetime

import pandas as pd
import pytest
from sqlmodel import Session, select

from core import money
from core.exporting import accounts_frame, write_csv
from core.importing import import_csv
from core.kpis import compute_kpis, kpi_trend, monthly_sales
from db.models import Order, OrderLine, Product, Refund
from tests.factories import make_customer, make_order

D = date(2026, 6, 30)  # the 30-day window (D - 30, D] is 2026-06-01 ... 2026-06-30


def _imp(session: Session, kind: str, text: str):  # noqa: ANN202 - ImportSummary
    return import_csv(session=session, kind=kind, data=text.encode(), filename=f"{kind}.csv", actor="admin")


def test_the_one_rule_by_hand() -> None:
    assert money.from_text("12.345") == 1235  # half a cent: up
    assert money.from_text("12.344") == 1234
    assert money.from_text("-12.345") == -1235  # half away from zero
    assert money.from_text("0.1") == 10 and money.from_text("1e2") == 10000
    assert money.divide(3704, 3) == 1235  # 1234.666... cents
    assert money.divide(2469, 2) == 1235  # 1234.5 cents: up
    assert money.divide(2467, 2) == 1234  # 1233.5 cents: up (half-even would give 1234 too) ...
    assert money.divide(2465, 2) == 1233  # ... 1232.5: up to 1233 (half-even would give 1232)
    assert money.times(333, 0.015) == 500  # 333 points x 0.015 = 4.995 -> 5.00
    assert money.format(123456) == "1234.56" and money.format(-5) == "-0.05"
    with pytest.raises(ValueError):
        money.from_text("abc")


def test_three_orders_of_37_04_give_an_average_of_12_35(session: Session) -> None:
    c = make_customer(session)
    for when, total in ((datetime(2026, 6, 1, 9), "12.34"), (datetime(2026, 6, 2, 9), "12.35"),
                        (datetime(2026, 6, 3, 9), "12.35")):
        make_order(session, c, when, total)
    k = compute_kpis(session=session, as_of=D, horizon_days=30)
    assert k["orders"] == 3
    assert k["revenue"] == 37.04 and k["gross_sales"] == 37.04  # 12.34 + 12.35 + 12.35
    assert k["average_order_value"] == 12.35  # 37.04 / 3 = 12.34666... -> 12.35


def test_two_orders_of_24_69_give_an_average_of_12_35_half_up(session: Session) -> None:
    c = make_customer(session)
    make_order(session, c, datetime(2026, 6, 1, 9), "12.34")
    make_order(session, c, datetime(2026, 6, 2, 9), "12.35")
    k = compute_kpis(session=session, as_of=D, horizon_days=30)
    assert k["revenue"] == 24.69
    assert k["average_order_value"] == 12.35  # 24.69 / 2 = 12.345 -> 12.35 (half up, not 12.34)
    trend = kpi_trend(session=session, as_of=D, horizon_days=30, points=1)
    assert trend["average_order_value"].iloc[-1] == 12.35 and trend["gross_sales"].iloc[-1] == 24.69


def test_ten_thousand_dimes_add_up_to_exactly_1000(session: Session) -> None:
    """0.1 has no exact float: summed as floats, 10,000 of them are 1000.0000000001588."""
    c = make_customer(session)
    session.add_all(Order(external_id=f"DIME{i}", customer_id=c.id, ordered_at=datetime(2026, 6, 10, 9),
                          total_cents=10) for i in range(10_000))
    session.flush()
    k = compute_kpis(session=session, as_of=D, horizon_days=30)
    assert k["revenue"] == 1000.00 and k["average_order_value"] == 0.10
    assert monthly_sales(session=session, as_of=D, months=1)["revenue"].tolist() == [1000.00]


def test_an_imported_amount_is_rounded_to_the_cent_half_up_and_stored_in_cents(session: Session) -> None:
    _imp(session, "products", "sku,name,unit_price\nSOAP,Soap,3.995\n")
    _imp(session, "orders", "order_id,customer_id,ordered_at,total,sku,quantity,unit_price\n"
                            "M1,C1,2026-06-01T10:00:00,12.345,SOAP,1,4.125\n"
                            "M2,C1,2026-06-02T10:00:00,12.344,SOAP,2,\n"
                            "M3,C1,2026-06-03T10:00:00,-0.005,,,\n")
    session.commit()
    totals = dict(session.exec(select(Order.external_id, Order.total_cents)).all())
    assert totals == {"M1": 1235, "M2": 1234}  # 12.345 -> 12.35; 12.344 -> 12.34
    prices = sorted(session.exec(select(OrderLine.unit_price_cents)).all())
    assert prices == [400, 413]  # 4.125 -> 4.13; the empty price is the product's 3.995 -> 4.00
    assert session.exec(select(Product.unit_price_cents)).one() == 400
    assert session.exec(select(Refund.external_id, Refund.amount_cents)).all() == [("M3", 1)]  # -0.005 -> 0.01
    k = compute_kpis(session=session, as_of=D, horizon_days=30)
    assert (k["gross_sales"], k["refunds"], k["revenue"]) == (24.69, 0.01, 24.68)
    assert k["average_order_value"] == 12.35  # 24.69 / 2 orders = 12.345 -> 12.35


def test_the_same_file_imported_again_changes_nothing(session: Session) -> None:
    text = "customer_id,ordered_at,total\nC1,2026-06-01T10:00:00,0.1\nC1,2026-06-02T10:00:00,0.2\n"
    first = _imp(session, "orders", text)
    again = _imp(session, "orders", text)
    assert (first.inserted, again.inserted, again.updated, again.unchanged) == (2, 0, 0, 2)
    assert sorted(session.exec(select(Order.total_cents)).all()) == [10, 20]


def test_the_accounts_export_writes_two_decimal_places_from_cents(session: Session) -> None:
    c = make_customer(session, external_id="EXP-1")
    make_order(session, c, datetime(2026, 6, 1, 9), "0.10")
    make_order(session, c, datetime(2026, 6, 2, 9), "0.20")
    session.add(Refund(external_id="EXP-R", customer_id=c.id, refunded_at=datetime(2026, 6, 3, 9),
                       amount_cents=5))
    session.flush()
    frame = accounts_frame(session=session, as_of=D)
    row = frame.set_index("customer_id").loc["EXP-1"]
    assert (row["gross_sales"], row["refunds"], row["revenue"]) == (0.30, 0.05, 0.25)  # 0.1 + 0.2 is 0.3 here
    text = write_csv(frame.assign(currency="EUR")).decode()
    back = pd.read_csv(io.StringIO(text), dtype=str).set_index("customer_id").loc["EXP-1"]
    assert (back["gross_sales"], back["refunds"], back["revenue"]) == ("0.30", "0.05", "0.25")
