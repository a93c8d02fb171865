"""Platform export presets (issue 14, kind 5) on SQLite and PostgreSQL.

Every expected value is read by hand off the sample files in examples/.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.__main__ import main
from core.importing import ImportFailed, import_csv, read_csv_bytes
from core.presets import PRESETS, detect_preset
from db.engine import get_engine
from db.models import Customer, Feedback, LoyaltyEntry, Order, OrderLine, Refund

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def imp(session: Session, kind: str, name: str, preset: str | None, data: bytes | None = None):
    data = data if data is not None else (EXAMPLES / f"{name}.csv").read_bytes()
    return import_csv(session=session, kind=kind, data=data, filename=f"{name}.csv", actor="admin",
                      preset=preset)


def by_ext(session: Session, model, ext: str):
    return session.exec(select(model).where(model.external_id == ext)).one()


@pytest.mark.parametrize("name, kind", [("shopify_orders", "orders"), ("shopify_customers", "customers"),
                                        ("woocommerce_orders", "orders"), ("smile_points", "loyalty"),
                                        ("delighted_nps", "feedback"), ("typeform_nps", "feedback")])
def test_each_sample_is_detected_from_its_header(name, kind):
    columns = read_csv_bytes((EXAMPLES / f"{name}.csv").read_bytes()).columns
    assert detect_preset(columns, kind) == name
    # Hearth's own layout is never taken for a platform's.
    own = read_csv_bytes((EXAMPLES / f"{kind}.csv").read_bytes()).columns
    assert detect_preset(own, kind) is None


def test_older_shopify_customer_exports_say_accepts_marketing():
    assert detect_preset(["First Name", "Last Name", "Email", "Accepts Marketing", "Phone"],
                         "customers") == "shopify_customers"


def test_shopify_customers_then_orders(session):
    customers = imp(session, "customers", "shopify_customers", "shopify_customers")
    assert customers.inserted == 3
    ada = by_ext(session, Customer, "7012000001")
    bruno = by_ext(session, Customer, "7012000002")
    assert (ada.name, ada.email, ada.email_opt_in, ada.sms_opt_in) == ("Ada Lovelace", "ada@example.com", True,
                                                                       False)
    assert (bruno.email_opt_in, bruno.sms_opt_in, bruno.phone) == (False, True, "+34 91 123 45 67")

    orders = imp(session, "orders", "shopify_orders", "shopify_orders")
    # 5 rows, 3 orders: #1001 and #1002 have two line items each; no new customers (matched by email,
    # also "Ada@Example.com" in another case). #1003 is voided: a cancellation, not an order (its line
    # is not stored); #1002 is partially refunded, 6.00 of 28.00.
    assert (orders.inserted, orders.lines, orders.customers_created) == (2, 4, 0)
    assert orders.cancellations == 1
    assert session.exec(select(Order).where(Order.external_id == "#1003")).first() is None
    refunds = {(r.kind, r.order_ref, r.amount_cents) for r in session.exec(select(Refund)).all()}
    assert refunds == {("refund", "#1002", 600), ("cancellation", "#1003", 900)}  # whole cents
    first = by_ext(session, Order, "#1001")
    assert (first.customer_id, first.total_cents) == (ada.id, 3100)
    lines = session.exec(select(OrderLine).where(OrderLine.order_id == first.id).order_by(OrderLine.sku)).all()
    assert [(li.sku, li.quantity, li.unit_price_cents) for li in lines] == [("CANDLE-L", 1, 1400), ("DET-1L", 2, 850)]
    # 18:40:11 at -05:00 is 23:40:11 UTC; 10:15:22 at +01:00 is 09:15:22 UTC.
    assert by_ext(session, Order, "#1002").ordered_at == datetime(2025, 3, 4, 23, 40, 11)
    assert first.ordered_at == datetime(2025, 3, 1, 9, 15, 22)
    assert by_ext(session, Order, "#1002").offer_code == "SPRING10"


def test_woocommerce_orders_key_guests_by_email(session):
    imp(session, "customers", "shopify_customers", "shopify_customers")
    orders = imp(session, "orders", "woocommerce_orders", "woocommerce_orders")
    # 4 rows, 3 orders; dana@example.com (a guest, customer_id 0) is new. 2203 is cancelled: not an
    # order; 2202 had 4.00 of its 20.00 refunded.
    assert (orders.inserted, orders.lines, orders.customers_created) == (2, 3, 1)
    assert orders.cancellations == 1
    refunds = {(r.kind, r.order_ref, r.amount_cents) for r in session.exec(select(Refund)).all()}
    assert refunds == {("refund", "2202", 400), ("cancellation", "2203", 900)}  # whole cents
    dana = by_ext(session, Customer, "dana@example.com")
    o = by_ext(session, Order, "2202")
    assert (o.customer_id, o.total_cents, o.offer_code) == (dana.id, 2000, "SPRING10")
    lines = session.exec(select(OrderLine).where(OrderLine.order_id == o.id).order_by(OrderLine.sku)).all()
    # item_total / item_quantity: 12.00 / 1 and 8.00 / 2.
    assert [(li.sku, li.quantity, li.unit_price_cents) for li in lines] == [("CANDLE-L", 1, 1200),
                                                                            ("SPONGE-4", 2, 400)]
    assert by_ext(session, Order, "2201").customer_id == by_ext(session, Customer, "7012000001").id


def test_smile_points_activity(session):
    imp(session, "customers", "shopify_customers", "shopify_customers")
    summary = imp(session, "loyalty", "smile_points", "smile_points")
    assert (summary.inserted, summary.customers_created) == (5, 0)
    rows = {e.external_id: (e.kind, e.points) for e in session.exec(select(LoyaltyEntry)).all()}
    assert rows == {"pa_501": ("earn", 310), "pa_502": ("redeem", -200), "pa_503": ("earn", 280),
                    "pa_504": ("adjust", -60), "pa_505": ("earn", 100)}
    assert by_ext(session, LoyaltyEntry, "pa_503").occurred_at == datetime(2025, 3, 5, 0, 0)
    assert by_ext(session, LoyaltyEntry, "pa_501").customer_id == by_ext(session, Customer, "7012000001").id


def test_smile_rewards_that_earn_or_come_back_are_not_redemptions(session):
    # "Referral reward" earns 200; a cancelled reward gives its 250 back: by hand 300 + 200 - 250
    # + 250 = 500 (both were read as redemptions and the file refused: "a redeem must have
    # negative points").
    head = "Activity ID,Date,Customer email,Activity type,Description,Points change,Order ID\n"
    data = (head + "pa_1,2025-03-01 10:00:00 +0000,ada@example.com,Points earned,Placed an order,300,#1\n"
            "pa_2,2025-03-02 10:00:00 +0000,ada@example.com,Points earned,Referral reward,200,\n"
            "pa_3,2025-03-03 10:00:00 +0000,ada@example.com,Points redeemed,Reward: 5 EUR off,-250,\n"
            "pa_4,2025-03-04 10:00:00 +0000,ada@example.com,Points adjusted,Reward cancelled,250,\n").encode()
    imp(session, "loyalty", "smile_points", "smile_points", data=data)
    rows = {e.external_id: (e.kind, e.points) for e in session.exec(select(LoyaltyEntry)).all()}
    assert rows == {"pa_1": ("earn", 300), "pa_2": ("earn", 200), "pa_3": ("redeem", -250),
                    "pa_4": ("adjust", 250)}
    assert sum(points for _kind, points in rows.values()) == 500


def test_smile_expiry_that_says_unredeemed_and_a_refunded_redemption(session):
    # The activity type decides: "Points expired" with "Unredeemed points expired ..." is an
    # expiry (it was read as a redemption: redemption rate 700 / 900), and "Points refunded"
    # (+200, a cancelled redemption's points coming back) is an adjustment (the file was refused:
    # "a redeem must have negative points"). By hand, as of 1 Oct 2024: Ada 500 - 200 + 200 - 500
    # = 0; Bo 300 + 100 = 400; redeemed 200 of 900 earned.
    from core.kpis import compute_kpis

    head = "Activity ID,Date,Customer email,Customer name,Activity type,Description,Points change,Order ID\n"
    data = (head + "pa_1,2024-01-10 10:00:00 +0000,ada@example.com,Ada L,Points earned,Placed an order,500,#1001\n"
            "pa_2,2024-02-01 10:00:00 +0000,ada@example.com,Ada L,Points redeemed,Redeemed for 5 EUR off,-200,\n"
            "pa_3,2024-02-03 10:00:00 +0000,ada@example.com,Ada L,Points refunded,Points returned for cancelled "
            "redemption,200,\n"
            "pa_4,2024-09-01 00:00:00 +0000,ada@example.com,Ada L,Points expired,Unredeemed points expired after 6 "
            "months of inactivity,-500,\n"
            "pa_5,2024-01-15 10:00:00 +0000,bo@example.com,Bo K,Points earned,Placed an order,300,#1002\n"
            "pa_6,2024-01-20 10:00:00 +0000,bo@example.com,Bo K,Points earned,Placed an order,100,#1003\n").encode()
    imp(session, "loyalty", "smile_points", "smile_points", data=data)
    rows = {e.external_id: e.kind for e in session.exec(select(LoyaltyEntry)).all()}
    assert (rows["pa_2"], rows["pa_3"], rows["pa_4"]) == ("redeem", "adjust", "expire")
    k = compute_kpis(session=session, as_of=datetime(2024, 10, 1).date(), horizon_days=90)
    assert k["loyalty_outstanding_points"] == 400
    assert k["redemption_rate"] == pytest.approx(200 / 900)


def test_delighted_and_typeform_nps_exports(session):
    imp(session, "customers", "shopify_customers", "shopify_customers")
    assert imp(session, "feedback", "delighted_nps", "delighted_nps").inserted == 3
    assert imp(session, "feedback", "typeform_nps", "typeform_nps").inserted == 2
    answers = {f.external_id: (f.nps_score, f.comment) for f in session.exec(select(Feedback)).all()}
    assert answers == {"dl_9001": (10, "Great detergent, arrived fast"),
                       "dl_9002": (6, "Sponges were smaller than shown"), "dl_9003": (9, None),
                       "tf_a1b2c3": (9, "Good value"), "tf_d4e5f6": (3, 'Lid cracked, "sturdy" my foot')}
    # Unix seconds 1741600800 = 2025-03-10 10:00:00 UTC.
    assert by_ext(session, Feedback, "dl_9002").submitted_at == datetime(2025, 3, 10, 10, 0)
    assert by_ext(session, Feedback, "tf_d4e5f6").customer_id == by_ext(session, Customer, "7012000002").id


def test_a_bad_cell_is_named_by_the_file_s_own_column(session):
    text = (EXAMPLES / "shopify_orders.csv").read_text().replace(",2,Laundry detergent", ",two,Laundry detergent")
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "shopify_orders", "shopify_orders", data=text.encode())
    assert [(p.row, p.column, p.value) for p in err.value.problems] == [(2, "Lineitem quantity (quantity)", "two")]
    assert session.exec(select(Order)).all() == []


def test_a_missing_layout_column_is_named(session):
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "x", "shopify_orders", data=b"Name,Email,Created at,Total\n#1,a@b.c,2025-01-01,5\n")
    assert "Lineitem sku" in str(err.value) and "Shopify orders export" in str(err.value)
    with pytest.raises(ImportFailed, match="is for customers files, not orders"):
        imp(session, "orders", "shopify_customers", "shopify_customers")


def test_cli_preset_flag_and_detection(app_env, capsys):
    assert main(["import", "customers", str(EXAMPLES / "shopify_customers.csv"), "--preset",
                 "shopify_customers"]) == 0
    assert main(["import", "orders", str(EXAMPLES / "shopify_orders.csv")]) == 0
    out = capsys.readouterr().out
    assert "read as Shopify orders export (preset shopify_orders)" in out
    assert "2 orders were inserted" in out
    with Session(get_engine(app_env)) as s:
        assert len(s.exec(select(Order)).all()) == 2  # the third, #1003, was voided
    assert set(PRESETS) == {"shopify_orders", "shopify_customers", "woocommerce_orders", "smile_points",
                            "delighted_nps", "typeform_nps"}


def test_shopify_orders_then_customers_give_the_same_accounts(session):
    # The same two sample files the other way round: the orders meet Ada ("Ada@Example.com"), Bruno
    # and Chen (#1003, voided) by email address first, so they are stored by address; the
    # customers file then names those addresses with Shopify's ids, and each record takes its id:
    # three customers, not six, with #1001 Ada's (31.00) and her consent as the customers file says.
    orders = imp(session, "orders", "shopify_orders", "shopify_orders")
    assert orders.customers_created == 3
    customers = imp(session, "customers", "shopify_customers", "shopify_customers")
    assert (customers.inserted, customers.updated) == (0, 3)
    assert len(session.exec(select(Customer)).all()) == 3
    ada = by_ext(session, Customer, "7012000001")
    assert (ada.name, ada.email, ada.email_opt_in) == ("Ada Lovelace", "ada@example.com", True)
    first = by_ext(session, Order, "#1001")
    assert (first.customer_id, first.total_cents) == (ada.id, 3100)
    # Imported again, nothing moves.
    again = imp(session, "customers", "shopify_customers", "shopify_customers")
    assert (again.inserted, again.unchanged) == (0, 3)


def test_a_customer_met_by_address_is_merged_into_the_stored_customer_the_customers_file_names(session):
    # Shopify's refunds arrive first (customer 7012000001 is created from its id), then the orders
    # (keyed by address: ana@example.com is created), then the customers file, naming 7012000001
    # with that address. By hand, one customer: #5002 60.00 and #5001 40.00, refunded on 10 Nov
    # (the listed refund and the order's refunded total are the same 40.00, counted once):
    # gross sales 100.00, refunds 40.00, revenue 60.00 over the 90 days to 30 Nov 2026.
    from core.kpis import compute_kpis

    import_csv(session=session, kind="refunds", filename="refunds.csv", actor="admin",
               data=b"refund_id,order_id,customer_id,refunded_at,amount\nR1,#5001,7012000001,2026-11-10,40.00\n")
    imp(session, "orders", "shop_orders", "shopify_orders", data=(
        b"Name,Email,Financial Status,Total,Created at,Lineitem quantity,Lineitem price,Lineitem sku,"
        b"Refunded Amount\n"
        b"#5001,ana@example.com,refunded,40.00,2026-10-02 10:00:00 +0000,1,40.00,SKU1,40.00\n"
        b"#5002,ana@example.com,paid,60.00,2026-10-01 10:00:00 +0000,1,60.00,SKU1,0.00\n"))
    assert len(session.exec(select(Customer)).all()) == 2
    summary = imp(session, "customers", "shop_customers", "shopify_customers", data=(
        b"Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Phone,Accepts SMS Marketing\n"
        b"7012000001,Ana,Lopez,ana@example.com,yes,,no\n"))
    assert any("merged into the customer this file names" in n for n in summary.notes)
    people = session.exec(select(Customer)).all()
    assert [(c.external_id, c.email, c.email_opt_in) for c in people] == [("7012000001", "ana@example.com", True)]
    assert {o.customer_id for o in session.exec(select(Order)).all()} == {people[0].id}
    k = compute_kpis(session=session, as_of=datetime(2026, 11, 30).date(), horizon_days=90)
    assert (k["customers"], k["gross_sales"], k["refunds"], k["revenue"]) == (1, 100.0, 40.0, 60.0)


def test_an_unsubscribe_on_a_customer_met_by_address_holds_after_the_merge(session):
    # A survey file meets Ada by address (ana@example.com is created), she unsubscribes in Hearth,
    # a tickets file had already created 7012000001; then the Shopify customers file names
    # 7012000001 with her address and "yes". One customer, and still out: the file repeats the
    # shop's state, which never heard of the unsubscribe (design.md, consent).
    from core import consent

    import_csv(session=session, kind="tickets", filename="t.csv", actor="admin",
               data=b"ticket_id,customer_id,opened_at,topic\nT-1,7012000001,2025-03-06T09:00:00Z,broken lid\n")
    imp(session, "feedback", "delighted", "delighted_nps", data=(
        b"Response ID,Email,Name,Score,Comment,Survey type,Response Timestamp,Tags\n"
        b"dl_1,ana@example.com,Ana Lopez,3,Lid broke after a week,email,2025-03-05T09:00:00Z,\n"))
    met = by_ext(session, Customer, "ana@example.com")
    consent.set_consent(session=session, customer_id=met.id, channel="email", granted=False, source="unsubscribe",
                        by="admin", at=datetime(2026, 11, 1, 9, 0))
    session.commit()
    summary = imp(session, "customers", "shop_customers", "shopify_customers", data=(
        b"Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Phone,Accepts SMS Marketing\n"
        b"7012000001,Ana,Lopez,ana@example.com,yes,,no\n"))
    people = session.exec(select(Customer)).all()
    assert [(c.external_id, c.email_opt_in) for c in people] == [("7012000001", False)]
    assert summary.consent_conflicts == ["7012000001: file says opted in, unsubscribed in Hearth on 1 Nov 2026; "
                                         "kept out"]
    history = consent.history(session=session, customer_id=people[0].id)
    assert "unsubscribe" in set(history["source"])
    assert len(session.exec(select(Feedback)).all()) == 1


def test_a_dated_opt_out_holds_against_a_later_file_that_gives_no_date(session):
    # An email tool's unsubscribe export dates C1's opt-out (20 Nov); the shop's nightly export,
    # which carries no dates, still says yes for both: C1 stays out, C2 stays in.
    def customers(name: str, body: bytes):
        return import_csv(session=session, kind="customers", filename=name, actor="admin", data=body)

    customers("k1.csv", b"customer_id,name,email,email_opt_in\nC1,Mara,mara@example.net,yes\n"
                        b"C2,Teo,teo@example.net,yes\n")
    customers("mc.csv", b"customer_id,email,email_opt_in,email_consent_at\n"
                        b"C1,mara@example.net,no,2026-11-20T08:15:00Z\n")
    nightly = customers("sh.csv", b"customer_id,email,email_opt_in\nC1,mara@example.net,yes\n"
                                  b"C2,teo@example.net,yes\n")
    assert {c.external_id: c.email_opt_in for c in session.exec(select(Customer)).all()} == {"C1": False, "C2": True}
    assert nightly.consent_conflicts == ["C1: file says opted in without a date, opted out on 20 Nov 2026 by an "
                                         "earlier file that dated it; kept out"]
    # A later file that dates the opt-in after the opt-out gives it back.
    customers("back.csv", b"customer_id,email,email_opt_in,email_consent_at\nC1,mara@example.net,yes,"
                          b"2026-11-25T10:00:00Z\n")
    assert by_ext(session, Customer, "C1").email_opt_in is True


def _woo(rows: list[tuple[str, str, str]]) -> bytes:
    # The sample file's first row with the order id, status and currency of each row changed.
    head, first = (EXAMPLES / "woocommerce_orders.csv").read_text().splitlines()[:2]
    cells = first.split(",")
    out = [head]
    for order, status, currency in rows:
        row = list(cells)
        row[0] = row[1] = order
        row[3], row[14] = status, currency
        out.append(",".join(row))
    return ("\n".join(out) + "\n").encode()


def test_woocommerce_checkout_drafts_and_trashed_orders_are_no_orders(session):
    # 3001 completed and 3022 on hold are orders (17.00 each: 34.00); a checkout left unfinished
    # (checkout-draft) and an order the shop deleted (trash) are not (they counted: 4 orders, 68.00).
    imp(session, "orders", "woo", "woocommerce_orders", data=_woo([
        ("3001", "completed", "EUR"), ("3020", "checkout-draft", "EUR"), ("3021", "trash", "EUR"),
        ("3022", "wc-on-hold", "EUR")]))
    stored = {o.external_id: o.total_cents for o in session.exec(select(Order)).all()}
    assert stored == {"3001": 1700, "3022": 1700}


def test_orders_in_another_currency_are_refused_naming_the_rows(session):
    # 17.00 EUR and 17.00 GBP were added up as 34.00 EUR.
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "woo", "woocommerce_orders", data=_woo([("3001", "completed", "EUR"),
                                                                      ("3002", "completed", "GBP")]))
    [problem] = err.value.problems
    assert (problem.row, problem.column, problem.value) == (3, "order_currency", "GBP")
    assert "EUR" in problem.message
    assert session.exec(select(Order)).all() == []


def test_consent_withdrawals_hold_whatever_else_the_files_said_before(session):
    # (a) The customer a file named C1 and opted in (undated) before the merge: the unsubscribe
    # made on the address-only record still holds (an undated opt-in repeats older state).
    from core import consent

    def customers(name: str, body: str):
        return import_csv(session=session, kind="customers", filename=name, actor="admin", data=body.encode())

    imp(session, "feedback", "delighted", "delighted_nps", data=(
        b"Response ID,Email,Name,Score,Comment,Survey type,Response Timestamp,Tags\n"
        b"dl_1,Ann@X.com,Ann,9,Great,email,2025-03-05T09:00:00Z,\n"))
    consent.set_consent(session=session, customer_id=by_ext(session, Customer, "ann@x.com").id, channel="email",
                        granted=False, source="unsubscribe", by="admin", at=datetime(2026, 11, 1, 9, 0))
    session.commit()
    customers("c1.csv", "customer_id,name,email_opt_in\nC1,Ann,true\n")
    merged = customers("c2.csv", "customer_id,name,email,email_opt_in\nC1,Ann,ann@x.com,true\n")
    assert by_ext(session, Customer, "C1").email_opt_in is False
    assert merged.consent_conflicts == ["C1: file says opted in, unsubscribed in Hearth on 1 Nov 2026; kept out"]
    # (b) A dated opt-out of a customer already out is recorded all the same, and holds against a
    # later undated opt-in (it left no mark: the later file gave consent back).
    customers("d1.csv", "customer_id,email_opt_in\nD1,false\n")
    customers("d2.csv", "customer_id,email_opt_in,email_consent_at\nD1,false,2026-11-20\n")
    customers("d2.csv", "customer_id,email_opt_in,email_consent_at\nD1,false,2026-11-20\n")  # not twice
    later = customers("d3.csv", "customer_id,email_opt_in\nD1,true\n")
    assert by_ext(session, Customer, "D1").email_opt_in is False and later.consent_conflicts
    assert len(consent.history(session=session, customer_id=by_ext(session, Customer, "D1").id)) == 2
    # (c) A consent date column left empty in every row dates nothing (it crashed the import).
    customers("e1.csv", "customer_id,email_opt_in,email_consent_at\nE1,true,\n")
    assert by_ext(session, Customer, "E1").email_opt_in is True


def test_refunds_by_id_after_orders_by_address_import_in_any_order(session):
    # Shopify's orders name Ada by address; the refunds file names her by Shopify's id. Refunds
    # after orders were refused ("not the customer of order #1001") while every other order of
    # the three files imported; by hand the same figures whichever comes first.
    from core.kpis import compute_kpis

    imp(session, "orders", "shopify_orders", "shopify_orders")
    import_csv(session=session, kind="refunds", filename="refunds.csv", actor="admin",
               data=b"refund_id,order_id,customer_id,refunded_at,amount\nRF1,#1001,7012000001,2025-03-05T10:00:00Z,"
                    b"10.00\n")
    imp(session, "customers", "shopify_customers", "shopify_customers")
    # By hand: #1001 31.00 and #1002 28.00 (6.00 refunded); #1003 voided; RF1 10.00 of #1001:
    # gross 59.00, refunds 16.00, revenue 43.00.
    k = compute_kpis(session=session, as_of=datetime(2025, 3, 31).date(), horizon_days=90)
    assert (k["orders"], k["gross_sales"], k["refunds"], k["revenue"]) == (2, 59.0, 16.0, 43.0)
    ada = by_ext(session, Customer, "7012000001")
    assert by_ext(session, Refund, "RF1").customer_id == ada.id


def test_woocommerce_saved_with_semicolons_and_decimal_commas_keeps_its_line_prices(session):
    # The sample re-saved as Excel does where a comma is the decimal mark: the lines were stored
    # at 0.00 each. By hand: 17,00 / 2 = 8.50; 8,00 / 2 = 4.00; 12,00 / 1 = 12.00.
    import csv
    import io

    rows = list(csv.reader(io.StringIO((EXAMPLES / "woocommerce_orders.csv").read_text())))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(rows[0])
    for row in rows[1:]:
        writer.writerow([c.replace(".", ",") if c.replace(".", "", 1).isdigit() and "." in c else c for c in row])
    imp(session, "orders", "woo_semi", "woocommerce_orders", data=out.getvalue().encode())
    prices = {line.sku: line.unit_price_cents for line in session.exec(select(OrderLine)).all()}
    assert prices == {"DET-1L": 850, "SPONGE-4": 400, "CANDLE-L": 1200}


_SHOPIFY_HEADER = ("Name,Email,Financial Status,Created at,Currency,Total,Refunded Amount,Lineitem quantity,"
                   "Lineitem name,Lineitem price,Lineitem sku,Phone\n")


def test_point_of_sale_and_guest_orders_without_any_contact_are_left_out_and_said(session):
    # #1002 is a two-line point-of-sale sale and #1004 a guest checkout refunded in full, both with
    # neither email nor phone: the shop cannot mend that, and the whole file was refused. Now the
    # other orders import and the summary names what was left out: 2 orders on rows 3, 4 and 6,
    # sales 15.00 + 9.50 = 24.50 EUR. Orders #1001 (20.00) and #1003 (30.00) by ann, #1005 (8.00)
    # by phone only: 3 orders, 58.00.
    data = (_SHOPIFY_HEADER
            + "#1001,ann@example.com,paid,2025-01-05 10:00:00 +0100,EUR,20.00,0.00,1,Soap,20.00,SOAP,\n"
            + "#1002,,paid,2025-01-06 10:00:00 +0100,EUR,15.00,0.00,1,Candle,10.00,CANDLE,\n"
            + "#1002,,,,,,,1,Wick,5.00,WICK,\n"
            + "#1003,ann@example.com,paid,2025-02-05 10:00:00 +0100,EUR,30.00,0.00,1,Soap,30.00,SOAP,\n"
            + "#1004,,refunded,2025-02-07 10:00:00 +0100,EUR,9.50,9.50,1,Soap,9.50,SOAP,\n"
            + "#1005,,paid,2025-02-08 10:00:00 +0100,EUR,8.00,0.00,1,Soap,8.00,SOAP,+31 6 1234 5678\n").encode()
    summary = imp(session, "orders", "shopify", "shopify_orders", data=data)
    stored = {o.external_id: o.total_cents for o in session.exec(select(Order)).all()}
    assert stored == {"#1001": 2000, "#1003": 3000, "#1005": 800}
    assert session.exec(select(Refund)).all() == []
    assert summary.skipped == 3
    [reason] = [r for r in summary.skipped_reasons if "no customer" in r]
    assert "rows 3, 4, 6" in reason and "#1002, #1004" in reason and "24.50 EUR" in reason


def test_a_problem_after_a_left_out_order_names_its_own_row(session):
    # Leaving row 3 out must not shift the row numbers of the rows after it.
    data = (_SHOPIFY_HEADER
            + "#1001,ann@example.com,paid,2025-01-05 10:00:00 +0100,EUR,20.00,0.00,1,Soap,20.00,SOAP,\n"
            + "#1002,,paid,2025-01-06 10:00:00 +0100,EUR,15.00,0.00,1,Candle,15.00,CANDLE,\n"
            + "#1003,bo@example.com,paid,not a date,EUR,30.00,0.00,1,Soap,30.00,SOAP,\n").encode()
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", "shopify", "shopify_orders", data=data)
    assert [p.row for p in err.value.problems] == [4]
    assert session.exec(select(Order)).all() == []


def test_a_file_whose_orders_all_lack_a_customer_is_refused_saying_so(session):
    data = (_SHOPIFY_HEADER
            + "#1002,,paid,2025-01-06 10:00:00 +0100,EUR,15.00,0.00,1,Candle,15.00,CANDLE,\n").encode()
    with pytest.raises(ImportFailed, match="no order in the file names its customer"):
        imp(session, "orders", "shopify", "shopify_orders", data=data)


def test_delighted_answers_of_a_csat_survey_are_left_out_not_read_as_nps(session):
    # CSAT 5 ("very satisfied") read as NPS 5 made NPS -100 from 3 answers and flagged every
    # happy customer a detractor. The NPS answer (9) imports: 1 answer, NPS 100; the three CSAT
    # rows are left out and named (rows 2 to 4); "email" is the NPS answer's channel.
    data = (b"Response ID,Email,Name,Score,Comment,Survey type,Response Timestamp,Tags\n"
            b"cs1,a@example.com,A,5,Perfect,csat,2025-03-05T09:00:00Z,\n"
            b"cs2,b@example.com,B,5,Love it,csat,2025-03-06T09:00:00Z,\n"
            b"cs3,c@example.com,C,4,Good,CSAT,2025-03-07T09:00:00Z,\n"
            b"np1,d@example.com,D,9,Fine,email,2025-03-08T09:00:00Z,\n")
    summary = imp(session, "feedback", "delighted", "delighted_nps", data=data)
    stored = [(f.external_id, f.nps_score, f.channel, f.flagged) for f in session.exec(select(Feedback)).all()]
    assert stored == [("np1", 9, "email", False)]
    assert summary.skipped == 3
    [reason] = summary.skipped_reasons
    assert "CSAT survey" in reason and "rows 2, 3, 4" in reason
    with pytest.raises(ImportFailed, match="every row is left out"):
        imp(session, "feedback", "delighted", "delighted_nps", data=b"\n".join(data.splitlines()[:4]) + b"\n")


def test_a_typeform_comment_asked_in_other_words_is_kept(session):
    # "What could we do better?" has no why, reason or comment in it: the comment was dropped
    # without a word and the complaint went unflagged but for its score.
    data = (b'#,"On a scale from 0 to 10, how likely are you to recommend Hearth Home to a friend?",'
            b"What could we do better?,email,Start Date (UTC),Submit Date (UTC),Network ID,Tags,Token\n"
            b'abc1,2,"Parcel arrived broken, twice. Refund still not here",k@example.com,2025-03-20 10:00:00,'
            b"2025-03-20 10:01:10,4f2a,,abc1\n")
    imp(session, "feedback", "typeform", "typeform_nps", data=data)
    [answer] = session.exec(select(Feedback)).all()
    assert (answer.nps_score, answer.comment) == (2, "Parcel arrived broken, twice. Refund still not here")


def test_a_bad_typeform_date_is_named_by_the_typeform_column(session):
    data = (b"#,How likely are you to recommend us?,Why?,email,Start Date (UTC),Submit Date (UTC),Network ID,Token\n"
            b"1,9,Good,a@example.com,20/03/2025 10:00,20/03/2025 10:01,4f2a,t1\n")
    with pytest.raises(ImportFailed) as err:
        imp(session, "feedback", "typeform", "typeform_nps", data=data)
    assert [(p.row, p.column) for p in err.value.problems] == [(2, "Submit Date (UTC) (submitted_at)")]


def test_a_shopify_guest_with_only_a_billing_phone_is_a_customer(session):
    # #1003's phone is in Billing Phone, Phone empty: it was left out as having no phone.
    header = ("Name,Email,Financial Status,Created at,Currency,Total,Lineitem quantity,Lineitem name,"
              "Lineitem price,Lineitem sku,Phone,Billing Phone\n")
    data = (header + "#1001,ann@example.com,paid,2025-01-05 10:00:00 +0100,EUR,20.00,1,Soap,20.00,SOAP,,\n"
            + "#1003,,paid,2025-01-06 10:00:00 +0100,EUR,10.00,1,Soap,10.00,SOAP,,+49 151 7654321\n").encode()
    summary = imp(session, "orders", "shopify", "shopify_orders", data=data)
    assert summary.skipped == 0
    assert sorted(o.external_id for o in session.exec(select(Order)).all()) == ["#1001", "#1003"]
    assert by_ext(session, Customer, "+49 151 7654321") is not None


def test_woocommerce_pending_payment_is_no_order_until_paid(session):
    # WooCommerce's "Pending payment" is an unpaid checkout, left out of its own reports: 3001
    # completed is the only order (17.00). Paid later (processing), 3004 becomes one.
    imp(session, "orders", "woo", "woocommerce_orders", data=_woo([("3001", "completed", "EUR"),
                                                                  ("3004", "pending", "EUR")]))
    assert [o.external_id for o in session.exec(select(Order)).all()] == ["3001"]
    imp(session, "orders", "woo", "woocommerce_orders", data=_woo([("3001", "completed", "EUR"),
                                                                  ("3004", "wc-processing", "EUR")]))
    assert sorted(o.external_id for o in session.exec(select(Order)).all()) == ["3001", "3004"]
