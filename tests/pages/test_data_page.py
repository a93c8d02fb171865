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


def test_an_import_recomputes_the_days_figures_in_the_background(demo_app: str, monkeypatch) -> None:  # noqa: ANN001
    from datetime import UTC, datetime

    from core import kpis, precomputed
    from core.config import get_settings
    from db.models import PrecomputedResult
    from ui.db import _precompute_runs

    monkeypatch.setenv("HEARTH_PRECOMPUTE_AFTER_IMPORT", "1")
    get_settings.cache_clear()
    today = datetime.now(UTC)
    engine = get_engine(demo_app)
    with Session(engine) as session:
        before = kpis.compute_kpis(session=session, as_of=today.date(), horizon_days=90)
    at = app_as("admin", PAGE)
    _upload(at, "orders.csv", f"order_id,customer_id,ordered_at,total\nXO-BG-1,C000001,"
                              f"{today:%Y-%m-%d} 00:00:01,123.45\n".encode(), "orders")
    at.button(key="data_import_button").click()
    at.run()
    assert not at.exception, at.exception
    proc = _precompute_runs()[demo_app]
    assert proc.wait(timeout=300) == 0
    with Session(engine) as session:
        version = precomputed.data_version(session, ("customer", "feedback", "loyalty_entry", "orders", "refund"))
        stored = session.exec(select(PrecomputedResult.data_version).where(
            PrecomputedResult.name == "kpis.compute_kpis",
            PrecomputedResult.params.contains(f'"as_of":"{today.date().isoformat()}"'),
            PrecomputedResult.params.contains('"segment":null'))).all()
        assert version in stored  # computed from the data with the new order, not before it
        after = kpis.compute_kpis(session=session, as_of=today.date(), horizon_days=90)
    assert after["orders"] == before["orders"] + 1
    assert after["revenue"] == pytest.approx(before["revenue"] + 123.45)


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


def _process_state(pid: int) -> str | None:
    """The state letter of a process from /proc (Z for a zombie), or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_the_precompute_started_by_an_import_leaves_no_zombie(demo_app: str, monkeypatch) -> None:  # noqa: ANN001
    import time

    from core.config import get_settings
    from ui.db import _precompute_runs

    monkeypatch.setenv("HEARTH_PRECOMPUTE_AFTER_IMPORT", "1")
    get_settings.cache_clear()
    at = app_as("admin", PAGE)
    _upload(at, "products.csv", b"SKU;Name\nZOMBIE-1;Tin bucket\n", "products")
    at.button(key="data_import_button").click()
    at.run()
    assert not at.exception, at.exception
    pid = _precompute_runs()[demo_app].pid
    assert _process_state(pid) is not None  # it was started (and is running or just ended)
    # The app must wait() for its child: once the process has exited, its entry leaves the process
    # table. A zombie (state Z) stays there for good. (No wait() here: that would reap it for the app.)
    deadline = time.monotonic() + 300
    while _process_state(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.2)  # polling a condition, with a deadline
    assert _process_state(pid) is None, f"process {pid} is still in the process table: {_process_state(pid)}"
