"""Imports and exports against a real database, once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlmodel import Session, SQLModel, select

from core.exporting import export_csv, export_frame
from core.importing import ImportFailed, ImportSummary, import_csv
from core.roles import Role
from db.models import AuditLog, Customer, Feedback, LoyaltyEntry, Order, OrderLine, Product, SupportTicket

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ORDER = ("products", "customers", "orders", "feedback", "loyalty", "tickets")
ADMIN = frozenset({Role.ADMIN})
DOMAIN = [Customer, Product, Order, OrderLine, Feedback, LoyaltyEntry, SupportTicket]


def imp(session: Session, kind: str, text: str | bytes, **kw) -> ImportSummary:
    data = text.encode() if isinstance(text, str) else text
    return import_csv(session=session, kind=kind, data=data, filename=kw.pop("filename", f"{kind}.csv"),
                      actor=kw.pop("actor", "admin"), **kw)


def example(session: Session, kind: str) -> ImportSummary:
    return imp(session, kind, (EXAMPLES / f"{kind}.csv").read_bytes())


def load_examples(session: Session, upto: str = "tickets") -> None:
    for kind in ORDER[: ORDER.index(upto) + 1]:
        example(session, kind)


def snapshot(session: Session) -> dict[str, list]:
    out = {}
    for model in DOMAIN:
        table: SQLModel = model.__table__  # type: ignore[assignment]
        rows = session.connection().execute(select(table).order_by(table.c.id)).all()
        out[table.name] = [tuple(r) for r in rows]
    return out


def test_examples_import_in_order_then_reimport_changes_nothing(session):
    results = {kind: example(session, kind) for kind in ORDER}
    assert {k: (r.inserted, r.updated, r.unchanged) for k, r in results.items()} == {
        "products": (3, 0, 0), "customers": (3, 0, 0), "orders": (4, 0, 0), "feedback": (3, 0, 0),
        "loyalty": (4, 0, 0), "tickets": (2, 0, 0)}
    assert results["orders"].customers_created == 1  # C1099 was never seen
    assert results["orders"].lines == 5
    before = snapshot(session)
    again = {kind: example(session, kind) for kind in ORDER}
    assert all(r.inserted == r.updated == 0 and r.unchanged == r.records for r in again.values())
    assert again["orders"].customers_created == 0
    assert snapshot(session) == before


def test_customers_round_trip_through_accounts_export(session):
    load_examples(session, "orders")
    accounts = export_frame(session=session, kind="accounts", roles=ADMIN).set_index("customer_id")
    source = pd.read_csv(EXAMPLES / "customers.csv", dtype=str, keep_default_na=False).set_index("customer_id")
    for cid in source.index:
        got, want = accounts.loc[cid], source.loc[cid]
        for column in ("name", "email", "segment", "region"):
            assert got[column] == want[column]
        for column in ("owner", "phone", "subscription_status"):
            assert ("" if pd.isna(got[column]) else got[column]) == want[column]
    assert accounts.loc["C1002", "signup_date"] == "2024-04-10"  # given as 20240410
    assert accounts.loc["C1002", "consent"] == "email+sms"
    assert accounts.loc["C1003", "consent"] == "none"
    # Orders: hand-computed from examples/orders.csv.
    assert accounts.loc["C1001", ["orders", "revenue", "last_order_at"]].tolist() == [2, 28.70,
                                                                                       "2025-03-01 00:00:00"]
    assert accounts.loc["C1002", ["orders", "revenue"]].tolist() == [1, 14.00]
    assert accounts.loc["C1099", ["orders", "revenue", "last_order_at"]].tolist() == [1, 3.20,
                                                                                       "2025-03-02 09:00:00"]
    assert pd.isna(accounts.loc["C1099", "name"])  # a minimal customer


def test_order_lines_are_stored_per_order(session):
    load_examples(session, "orders")
    lines = pd.read_sql(select(Order.external_id, OrderLine.sku, OrderLine.quantity, OrderLine.unit_price_cents)
                        .join(OrderLine, OrderLine.order_id == Order.id)
                        .order_by(Order.external_id, OrderLine.sku), session.connection())
    assert lines.values.tolist() == [["O5001", "DET-1L", 2, 850], ["O5001", "SPONGE-6", 1, 320],
                                     ["O5002", "CANDLE-L", 1, 1400], ["O5003", "DET-1L", 1, 850],
                                     ["O5004", "SPONGE-6", 1, 320]]  # whole cents
    offer = session.exec(select(Order.offer_code).where(Order.external_id == "O5002")).one()
    assert offer == "WELCOME10"


def test_feedback_round_trip_through_export(session):
    load_examples(session, "feedback")
    out = export_frame(session=session, kind="feedback", roles=ADMIN)
    source = pd.read_csv(EXAMPLES / "feedback.csv", dtype=str, keep_default_na=False)
    assert out["response_id"].tolist() == source["response_id"].tolist()
    assert out["customer_id"].fillna("").tolist() == source["customer_id"].tolist()
    assert out["comment"].tolist() == source["comment"].tolist()
    assert out["nps_score"].astype("float").fillna(-1).tolist() == [9, 3, -1]
    assert out["submitted_at"].tolist() == ["2025-01-20 12:00:00", "2025-02-20 08:30:00", "2025-03-01 00:00:00"]
    assert set(out["state"]) == {"new"}
    # core.feedback.flag_unscored ran after the import: every answer has a sentiment, and the
    # angry detractor is flagged for a human.
    assert out["sentiment"].notna().all()
    assert out.set_index("response_id").loc["R9002", "flagged"]
    exec_view = export_frame(session=session, kind="feedback", roles={Role.EXEC})
    assert "comment" not in exec_view.columns and len(exec_view) == 3


def test_loyalty_round_trip_through_export(session):
    load_examples(session, "loyalty")
    out = export_frame(session=session, kind="loyalty", roles=ADMIN, as_of=date(2025, 6, 1))
    got = out.set_index("customer_id")[["balance", "lifetime_earned", "lifetime_redeemed"]]
    assert got.loc["C1001"].tolist() == [50, 200, 150]
    assert got.loc["C1002"].tolist() == [150, 150, 0] or got.loc["C1002", "balance"] == 150
    refs = session.exec(select(LoyaltyEntry.external_id, LoyaltyEntry.order_ref, LoyaltyEntry.points)
                        .order_by(LoyaltyEntry.external_id)).all()
    assert [tuple(r) for r in refs] == [("L7001", "O5001", 200), ("L7002", "O5002", 140),
                                        ("L7003", None, -150), ("L7004", None, 10)]


def test_tickets_and_products_are_stored_as_given(session):
    load_examples(session, "tickets")
    tickets = session.exec(select(SupportTicket).order_by(SupportTicket.external_id)).all()
    assert [(t.external_id, t.status, t.topic, str(t.closed_at)) for t in tickets] == [
        ("T3001", "closed", "damaged item", "2025-02-23 16:00:00"), ("T3002", "open", "delivery", "None")]
    candle = session.exec(select(Product).where(Product.sku == "CANDLE-L")).one()
    assert (candle.name, candle.category, candle.replenishment_days, candle.unit_price_cents) == (
        "Scented candle large", "decor", None, 1400)


BAD_ROWS = [
    ("orders", "order_id,customer_id,ordered_at,total\nO1,C1001,2025-01-01,10\nO2,C1001,2025-13-01,10\n",
     (3, "ordered_at", "2025-13-01"), "is not a date"),
    ("orders", "order_id,customer_id,ordered_at,total\nO1,C1001,2025-01-01,€10\n",
     (2, "total", "€10"), "is not a number"),
    ("feedback", "response_id,submitted_at,nps_score\nR1,2025-01-01,9\nR2,2025-01-02,11\n",
     (3, "nps_score", "11"), "is outside 0 to 10"),
    ("loyalty", "entry_id,customer_id,occurred_at,kind,points\nL1,C1001,2025-01-01,bonus,10\n",
     (2, "kind", "bonus"), "is not one of earn, redeem, expire, adjust"),
    ("customers", "customer_id,name\nC9,Nine\n,Nobody\n", (3, "customer_id", None), "is required but empty"),
    ("tickets", "ticket_id,customer_id,opened_at\nT1,C1001,\n", (2, "opened_at", None), "is required but empty"),
    ("products", "sku,name,replenishment_days\nP1,Soap,often\n", (2, "replenishment_days", "often"),
     "is not a number"),
]


@pytest.mark.parametrize(("kind", "text", "where", "message"), BAD_ROWS,
                         ids=["bad-date", "bad-amount", "nps-11", "loyalty-kind", "missing-id",
                              "missing-date", "bad-days"])
def test_a_bad_row_imports_nothing_and_names_row_column_value(session, kind, text, where, message):
    load_examples(session, "customers")
    before = snapshot(session)
    with pytest.raises(ImportFailed) as err:
        imp(session, kind, text)
    first = err.value.problems[0]
    assert (first.row, first.column, first.value) == where
    assert message in first.message
    assert f"row {where[0]}, column {where[1]}" in str(err.value)
    assert "nothing was imported" in str(err.value).splitlines()[0]
    assert snapshot(session) == before
    rejected = session.exec(select(AuditLog).where(AuditLog.action == f"import.{kind}.rejected")).all()
    assert len(rejected) == 1 and json.loads(rejected[0].detail)["file"] == f"{kind}.csv"


def test_good_rows_before_a_bad_one_are_not_written(session):
    rows = "\n".join(f"O{i},C{i},2025-01-0{1 + i % 9},{i}.50" for i in range(30))
    text = "order_id,customer_id,ordered_at,total\n" + rows + "\nO99,C1,someday,1\n"
    with pytest.raises(ImportFailed):
        imp(session, "orders", text)
    assert snapshot(session) == {t: [] for t in snapshot(session)}


def test_only_the_first_twenty_problems_are_listed(session):
    rows = "\n".join(f"R{i},2025-01-01,{11 + i}" for i in range(25))
    with pytest.raises(ImportFailed) as err:
        imp(session, "feedback", "response_id,submitted_at,nps_score\n" + rows)
    assert err.value.total == 25 and len(err.value.problems) == 20
    assert err.value.problems[0].row == 2 and err.value.problems[-1].row == 21
    assert str(err.value).splitlines()[0] == "feedback.csv: 25 problems (first 20 listed); nothing was imported"


def test_redemption_larger_than_balance_is_a_bad_row(session):
    load_examples(session, "customers")
    text = ("entry_id,customer_id,occurred_at,kind,points\nL1,C1001,2025-01-01,earn,100\n"
            "L2,C1001,2025-02-01,redeem,-150\n")
    with pytest.raises(ImportFailed) as err:
        imp(session, "loyalty", text)
    p = err.value.problems[0]
    assert (p.row, p.column, p.value) == (3, "points", "-150")
    assert "larger than the balance of 100" in p.message
    assert session.exec(select(LoyaltyEntry)).all() == []


def test_redemption_checked_against_entries_already_stored(session):
    load_examples(session, "loyalty")  # C1001: 200 earned, 150 redeemed
    with pytest.raises(ImportFailed, match="larger than the balance of 50"):
        imp(session, "loyalty", "entry_id,customer_id,occurred_at,kind,points\nL9,C1001,2025-04-01,redeem,-60\n")
    ok = imp(session, "loyalty", "entry_id,customer_id,occurred_at,kind,points\nL9,C1001,2025-04-01,redeem,-50\n")
    assert ok.inserted == 1


def test_a_changed_row_updates_only_that_record(session):
    load_examples(session, "customers")
    text = (EXAMPLES / "customers.csv").read_text().replace("ada@example.com", "ada@new.example")
    result = imp(session, "customers", text)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 2)
    ada = session.exec(select(Customer).where(Customer.external_id == "C1001")).one()
    session.refresh(ada)
    assert ada.email == "ada@new.example"
    # A file without the email column leaves stored emails as they are.
    partial = imp(session, "customers", "customer_id,segment\nC1001,vip\n")
    assert (partial.updated, partial.unchanged) == (1, 0)
    session.refresh(ada)
    assert (ada.email, ada.segment, ada.name) == ("ada@new.example", "vip", "Ada Lovelace")


def test_changed_order_lines_replace_the_old_ones(session):
    load_examples(session, "orders")
    text = (EXAMPLES / "orders.csv").read_text().replace("SPONGE-6,1,3.20,\nO5002", "SPONGE-6,3,3.20,\nO5002")
    result = imp(session, "orders", text)
    assert (result.inserted, result.updated, result.unchanged, result.lines) == (0, 1, 3, 2)
    order = session.exec(select(Order).where(Order.external_id == "O5001")).one()
    lines = session.exec(select(OrderLine.sku, OrderLine.quantity).where(OrderLine.order_id == order.id)
                         .order_by(OrderLine.sku)).all()
    assert [tuple(x) for x in lines] == [("DET-1L", 2), ("SPONGE-6", 3)]
    total = imp(session, "orders", "order_id,customer_id,ordered_at,total\nO5003,C1001,20250301,9.00\n")
    assert (total.updated, total.unchanged) == (1, 0)
    assert session.exec(select(Order.total_cents).where(Order.external_id == "O5003")).one() == 900


def test_orders_without_order_id_get_a_stable_derived_key(session):
    text = ("customer_id,ordered_at,total,sku,quantity,unit_price\n"
            "C1,2025-01-05T10:00:00,11.70,DET-1L,1,8.50\nC1,2025-01-05T10:00:00,11.70,SPONGE-6,1,3.20\n"
            "C2,2025-01-06,5.00,,,\n")
    first = imp(session, "orders", text)
    assert (first.inserted, first.lines, first.customers_created) == (2, 2, 2)
    keys = sorted(session.exec(select(Order.external_id)).all())
    assert all(k.startswith("auto-") and len(k) == 45 for k in keys)
    # Same content, lines in another order: the same orders.
    swapped = ("customer_id,ordered_at,total,sku,quantity,unit_price\n"
               "C2,2025-01-06,5.00,,,\nC1,2025-01-05T10:00:00,11.70,SPONGE-6,1,3.20\n"
               "C1,2025-01-05 10:00:00,11.70,DET-1L,1,8.50\n")
    again = imp(session, "orders", swapped)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert sorted(session.exec(select(Order.external_id)).all()) == keys


def test_feedback_and_tickets_without_ids_are_idempotent(session):
    fb = "submitted_at,customer_id,nps_score,comment\n2025-01-01,C1,4,slow\n2025-01-02,,10,\n"
    assert imp(session, "feedback", fb).inserted == 2
    assert imp(session, "feedback", fb).unchanged == 2
    tk = "customer_id,opened_at,topic\nC1,2025-01-03,refund\n"
    assert imp(session, "tickets", tk).inserted == 1
    assert imp(session, "tickets", tk).unchanged == 1


def test_bom_and_semicolon_file_imports(session):
    text = "\ufeffCustomer ID;Name;Signup Date;E-mail opt in\nC1;Zoë Kraus;20250102;ja\n"
    with pytest.raises(ImportFailed, match="is not yes/no"):
        imp(session, "customers", text.encode("utf-8"))
    text = text.replace(";ja", ";yes")
    result = imp(session, "customers", text.encode("utf-8"))
    assert result.inserted == 1
    zoe = session.exec(select(Customer)).one()
    assert (zoe.external_id, zoe.name, zoe.signup_date, zoe.email_opt_in) == ("C1", "Zoë Kraus",
                                                                              date(2025, 1, 2), True)


def test_extra_columns_are_reported_and_ignored(session):
    result = imp(session, "products", "SKU,Name,Colour\nP1,Soap,blue\n")
    assert result.extra_columns == ["Colour"]
    assert any("ignored columns: Colour" in line for line in result.lines_of_text())


def test_repeated_rows_are_skipped_and_conflicting_ones_refused(session):
    result = imp(session, "products", "sku,name\nP1,Soap\nP1,Soap\nP2,Brush\n")
    assert (result.inserted, result.skipped) == (2, 1)
    assert result.skipped_reasons == {"repeats an earlier row with the same sku": 1}
    with pytest.raises(ImportFailed) as err:
        imp(session, "products", "sku,name\nP3,Soap\nP3,Sponge\n")
    assert (err.value.problems[0].row, err.value.problems[0].column) == (3, "sku")
    assert "first at row 2" in err.value.problems[0].message


def test_rows_of_one_order_must_agree(session):
    text = "order_id,customer_id,ordered_at,total,sku\nO1,C1,2025-01-01,10,A\nO1,C1,2025-01-01,12,B\n"
    with pytest.raises(ImportFailed) as err:
        imp(session, "orders", text)
    p = err.value.problems[0]
    assert (p.row, p.column, p.value) == (3, "total", "12.00")
    assert "differs from the other rows of order O1" in p.message


def test_dry_run_reports_and_writes_nothing(session):
    load_examples(session, "customers")
    before = snapshot(session)
    audit_before = len(session.exec(select(AuditLog)).all())
    result = example(session, "orders") if False else imp(
        session, "orders", (EXAMPLES / "orders.csv").read_bytes(), dry_run=True)
    assert (result.inserted, result.customers_created, result.lines, result.dry_run) == (4, 1, 5, True)
    assert "dry run" in result.lines_of_text()[0]
    assert snapshot(session) == before
    assert len(session.exec(select(AuditLog)).all()) == audit_before


def test_imports_and_exports_are_audited(session, tmp_path):
    load_examples(session, "orders")
    entries = session.exec(select(AuditLog).where(AuditLog.action == "import.orders")).all()
    assert len(entries) == 1
    detail = json.loads(entries[0].detail)
    assert (entries[0].actor, detail["file"], detail["inserted"], detail["customers_created"]) == (
        "admin", "orders.csv", 4, 1)
    rows, _ = export_csv(session=session, kind="accounts", roles={Role.EXEC}, actor="exec",
                         out=tmp_path / "a.csv")
    session.commit()
    assert rows == 4
    written = pd.read_csv(tmp_path / "a.csv")
    assert not {"name", "email", "phone"} & set(written.columns)
    entry = session.exec(select(AuditLog).where(AuditLog.action == "export.accounts")).one()
    assert entry.actor == "exec" and json.loads(entry.detail)["rows"] == 4


def test_formula_cells_export_safely(session, tmp_path):
    imp(session, "customers", 'customer_id,name,email\nC1,"=HYPERLINK(""http://evil"",""x"")",=cmd@x.example\n'
                              "C2,-Minus,+plus@x.example\n")  # valid addresses that start like formulas
    export_csv(session=session, kind="accounts", roles=ADMIN, actor="admin", out=tmp_path / "a.csv")
    back = pd.read_csv(tmp_path / "a.csv", dtype=str)
    assert back["name"].tolist() == ["'=HYPERLINK(\"http://evil\",\"x\")", "'-Minus"]
    assert back["email"].tolist() == ["'=cmd@x.example", "'+plus@x.example"]
    assert back["revenue"].tolist() == ["0.00", "0.00"]  # money: two places (core.money)


def test_scores_export_takes_the_latest_snapshot(session):
    from db.models import ScoreSnapshot

    load_examples(session, "customers")
    ids = dict(session.exec(select(Customer.external_id, Customer.id)).all())
    for day, score in ((date(2025, 1, 1), 50.0), (date(2025, 2, 1), 72.0)):  # stored whole (scoring rounds)
        session.add(ScoreSnapshot(customer_id=ids["C1001"], as_of=day, health_score=score, band="watch",
                                  churn_probability=0.3, drivers=json.dumps(["late", "fewer orders", "x", "y"])))
    session.commit()
    latest = export_frame(session=session, kind="scores", roles=ADMIN)
    assert latest[["customer_id", "as_of", "health_score", "top_drivers"]].values.tolist() == [
        ["C1001", "2025-02-01", 72, "late; fewer orders; x"]]
    older = export_frame(session=session, kind="scores", roles=ADMIN, as_of=date(2025, 1, 15))
    assert older["health_score"].tolist() == [50.0]


def test_download_bytes_are_role_filtered_and_audited(session):
    from core.exporting import export_bytes

    load_examples(session, "customers")
    data = export_bytes(session=session, kind="accounts", roles={Role.EXEC}, actor="exec")
    session.commit()
    header = data.decode().splitlines()[0].split(",")
    assert header[0] == "customer_id" and "email" not in header and "name" not in header
    entry = session.exec(select(AuditLog).where(AuditLog.action == "export.accounts")).one()
    assert json.loads(entry.detail)["file"] == "accounts.csv"
