"""The Data screen through AppTest: an admin uploads, previews, checks, imports and sees the
summary; every other role is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from db.engine import get_engine
from db.models import AuditLog, Product
from tests.pages.helpers import app_as, page_text

PAGE = "views/data.py"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _upload(at, name: str, content: bytes, kind: str):  # noqa: ANN001, ANN202
    at.selectbox(key="data_kind").set_value(kind)
    at.run()
    at.file_uploader(key="data_upload").set_value((name, content, "text/csv"))
    at.run()
    return at


def test_admin_uploads_previews_checks_and_imports(demo_app: str) -> None:
    at = app_as("admin", PAGE)
    assert not at.exception
    assert "Choose the kind of records" in page_text(at)
    text = (b"SKU;Name;Colour\nNEW-1;Bamboo brush;green\nNEW-2;Lemon soap;yellow\n")
    _upload(at, "products.csv", text, "products")
    assert not at.exception, at.exception
    shown = page_text(at)
    assert "Bamboo brush" in shown  # the preview
    assert "The file is valid" in shown
    assert "2 records would be inserted" in shown
    assert "Ignored columns: Colour" in shown
    at.button(key="data_import_button").click()
    at.run()
    assert not at.exception, at.exception
    shown = page_text(at)
    assert "Imported" in shown and "2 records were inserted" in shown
    with Session(get_engine(demo_app)) as session:
        names = session.exec(select(Product.name).where(Product.sku.in_(["NEW-1", "NEW-2"]))).all()
        assert sorted(names) == ["Bamboo brush", "Lemon soap"]
        entry = session.exec(select(AuditLog).where(AuditLog.action == "import.products")).one()
        assert entry.actor == "admin" and json.loads(entry.detail)["inserted"] == 2


def test_the_overview_figure_kept_in_memory_shows_an_imported_order_at_once(demo_app: str) -> None:
    """No clearing by hand: the import's writes move the data generation, so the Overview's
    kept KPIs are computed afresh. Expected counts by plain SQL."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from ui import kpis as ui_kpis

    today = datetime.now(UTC)
    engine = get_engine(demo_app)

    def orders_by_sql() -> int:
        start = f"{today.date():%Y-%m-%d}"
        with engine.connect() as conn:  # orders of the window (D - 90, D]
            return conn.execute(text(
                "SELECT count(*) FROM orders WHERE ordered_at >= date(:d, '-89 days') "
                "AND ordered_at < date(:d, '+1 day')"), {"d": start}).scalar()

    def shown() -> int:
        table = ui_kpis.kpi_table(demo_app, today.date(), 90, None, None, None)
        return int(table.set_index("key").loc["orders", "current"])

    before = shown()
    assert before == orders_by_sql()
    at = app_as("admin", PAGE)
    _upload(at, "orders.csv", f"order_id,customer_id,ordered_at,total\nXO-BG-1,C000001,"
                              f"{today:%Y-%m-%d} 00:00:01,123.45\n".encode(), "orders")
    at.button(key="data_import_button").click()
    at.run()
    assert not at.exception, at.exception
    assert shown() == orders_by_sql() == before + 1


def test_bad_rows_are_listed_and_nothing_can_be_imported(demo_app: str) -> None:
    at = app_as("admin", PAGE)
    _upload(at, "feedback.csv", b"response_id,submitted_at,nps_score\nX1,2025-01-01,11\nX2,someday,5\n",
            "feedback")
    assert not at.exception, at.exception
    assert at.error and "2 problems; nothing was imported" in at.error[0].value
    problems = at.dataframe[-1].value
    assert problems[["row", "column", "value"]].values.tolist() == [[2, "nps_score", "11"],
                                                                      [3, "submitted_at", "someday"]]
    assert not [b for b in at.button if b.key == "data_import_button"]


def test_binary_file_gives_a_clear_error(demo_app: str) -> None:
    at = app_as("admin", PAGE)
    _upload(at, "orders.csv", b"PK\x03\x04\x00\x00binary spreadsheet", "orders")
    assert not at.exception
    assert at.error[0].value == "The file cannot be read:"
    assert "not a CSV text file" in at.text[0].value


@pytest.mark.parametrize("username", ["manager", "support", "exec"])
def test_other_roles_are_not_allowed(demo_app: str, username: str) -> None:
    at = app_as(username, PAGE)
    assert not at.exception
    assert "Not allowed" in page_text(at) or "not allowed" in page_text(at).lower()
    assert not at.file_uploader
    assert not at.dataframe


def test_unmatched_column_shows_in_the_mapping_and_the_check_says_what_is_missing(demo_app: str) -> None:
    # AppTest cannot edit st.data_editor cells, so the edit itself is covered by
    # test_mapping_edits_become_overrides below and by the core's mapping override tests.
    at = app_as("admin", PAGE)
    _upload(at, "products.csv", b"SKU,Product Name\nNEW-3,Dish rack\n", "products")
    assert not at.exception
    mapping = at.data_editor[0].value
    assert mapping.values.tolist() == [["SKU", "sku"], ["Product Name", "(ignore)"]]
    assert "required column(s) missing: name" in page_text(at)


def test_mapping_edits_become_overrides() -> None:
    import pandas as pd

    from ui.data import overrides_from_editor

    edited = pd.DataFrame({"file column": ["SKU", "Product Name", "Colour"],
                           "feeds field": ["sku", "name", "(ignore)"]})
    assert overrides_from_editor(edited, {"SKU": "sku"}) == {"Product Name": "name"}
    edited.loc[0, "feeds field"] = "(ignore)"
    assert overrides_from_editor(edited, {"SKU": "sku"}) == {"SKU": None, "Product Name": "name"}


def test_a_platform_export_is_detected_and_imported(demo_app: str) -> None:
    at = app_as("admin", PAGE)
    _upload(at, "shopify_customers.csv", (EXAMPLES / "shopify_customers.csv").read_bytes(), "customers")
    assert not at.exception, at.exception
    shown = page_text(at)
    assert "read as Shopify customers export" in shown
    assert "3 records would be inserted" in shown
    # Hearth's own layout can be chosen instead: then the names and consent columns feed nothing.
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("data_preset_"))).set_value(
        "Hearth's own columns")
    at.run()
    assert "Ignored columns: First Name, Last Name, Accepts Email Marketing" in page_text(at)


def test_an_unclosed_quote_is_refused_before_the_preview(demo_app: str) -> None:
    data = (Path(__file__).resolve().parents[1] / "data" / "cases" / "stray-quote-in-comment" /
            "feedback.csv").read_bytes()
    at = app_as("admin", PAGE)
    _upload(at, "feedback.csv", data, "feedback")
    assert not at.exception, at.exception
    shown = page_text(at)
    assert "The file cannot be read" in shown
    assert "row 4, column comment: 'Arrived late again' opens a quote" in shown
