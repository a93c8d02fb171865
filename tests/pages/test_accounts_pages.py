"""AppTest of the Accounts queue, the Account (360) view and Admin → Churn model, through the
real app and login on the small demo store."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from sqlmodel import Session, delete, func, select

from core.scoring import score_all
from db.engine import get_engine
from db.models import AuditLog, Customer, ModelRun, ScoreSnapshot
from tests.pages.helpers import app_as, page_text


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Cached readers are per process, and every test here has its own database."""
    st.cache_data.clear()


def _score(url: str) -> dict:
    return score_all(engine=get_engine(url))


def _owned_by(url: str, owner: str) -> int:
    with Session(get_engine(url)) as s:
        return int(s.exec(select(func.count()).select_from(Customer).where(Customer.owner == owner)).one())


def test_manager_sees_own_book_first_then_all_on_request(demo_app: str) -> None:
    _score(demo_app)
    at = app_as("manager", "views/accounts.py")
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert set(table["owner"]) == {"manager"}
    own = _owned_by(demo_app, "manager")
    assert f"{own:,} accounts in your book" in page_text(at)
    assert list(table["value_at_risk"]) == sorted(table["value_at_risk"], reverse=True)
    assert table["link"].str.startswith("/account?id=").all()

    at.toggle(key="acc_all").set_value(True).run()
    assert not at.exception, at.exception
    with Session(get_engine(demo_app)) as s:
        total = int(s.exec(select(func.count()).select_from(Customer)).one())
    assert f"{total:,} accounts" in page_text(at)
    assert len(at.dataframe[0].value) == 50  # one page, not the whole book
    first_page = list(at.dataframe[0].value["external_id"])
    at.button(key="acc_next").click().run()
    assert "page 2 of" in page_text(at)
    assert set(at.dataframe[0].value["external_id"]).isdisjoint(first_page)
    at.multiselect(key="acc_bands").set_value(["at_risk"]).run()
    assert "page 1 of" in page_text(at)  # new filters start again on page 1


def test_band_filter_and_empty_state(demo_app: str) -> None:
    _score(demo_app)
    at = app_as("manager", "views/accounts.py")
    at.multiselect(key="acc_bands").set_value(["at_risk"]).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) and set(table["band"]) == {"At risk"}
    at.text_input(key="acc_search").input("no such customer anywhere").run()
    assert "No accounts match" in page_text(at)


def _unscore(url: str) -> None:
    """The demo store is scored when it is built; these tests need a store before any scoring."""
    with Session(get_engine(url)) as s:
        s.exec(delete(ScoreSnapshot))
        s.exec(delete(ModelRun))
        s.commit()


def test_accounts_before_any_scoring_says_what_to_do(demo_app: str) -> None:
    _unscore(demo_app)
    at = app_as("admin", "views/accounts.py")
    assert not at.exception, at.exception
    assert "No scores yet" in page_text(at)


def test_admin_and_support_see_all_accounts_by_default(demo_app: str) -> None:
    _score(demo_app)
    for username in ("admin", "support"):
        at = app_as(username, "views/accounts.py")
        assert not at.exception, at.exception
        assert len(set(at.dataframe[0].value["owner"])) > 1


def test_account_view_shows_score_drivers_items_and_timeline(demo_app: str) -> None:
    _score(demo_app)
    with Session(get_engine(demo_app)) as s:
        snap = s.exec(select(ScoreSnapshot).order_by(ScoreSnapshot.value_at_risk.desc())).first()
        cid = snap.customer_id
        external = s.get(Customer, cid).external_id
    at = app_as("manager", "views/account.py", id=str(cid))
    assert not at.exception, at.exception
    text = page_text(at)
    assert external in text
    for driver in json.loads(snap.drivers):
        assert driver in text
    assert f"{snap.health_score:.0f} / 100" in text
    assert f"{snap.churn_probability * 100:.1f} %" in text  # one decimal, as in the queue
    assert "Next order expected" in text and f"{snap.next_order_date.day} {snap.next_order_date:%b %Y}" in text
    assert "Timeline" in text and "What they buy" in text
    kinds = set(at.dataframe[-1].value["kind"])
    assert "Order" in kinds  # a word, not the code "order"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Value at risk"] == f"€{snap.value_at_risk:,.0f}"
    # Readable column names, and no "None" cell anywhere on the page.
    headers = {c.get("label") for df in at.dataframe if df.proto.columns
               for c in json.loads(df.proto.columns).values()}
    assert {"Times bought", "Last bought", "Lasts (days)", "Days until due", "When", "Detail"} <= headers
    assert not headers & {"bought (times)", "when", "last_bought", "offer_code"}
    assert not any((df.value.astype(str) == "None").any().any() for df in at.dataframe)


def test_account_view_without_an_id_points_to_the_list(demo_app: str) -> None:
    at = app_as("manager", "views/account.py")
    assert not at.exception, at.exception
    assert "Open an account from the Accounts list" in page_text(at)
    at = app_as("manager", "views/account.py", id="999999")
    assert "no customer with id 999999" in page_text(at)


def test_admin_model_tab_rescore_shows_progress_result_and_audit(demo_app: str) -> None:
    _unscore(demo_app)
    at = app_as("admin", "views/admin.py")
    assert not at.exception, at.exception
    assert "No scoring run yet" in page_text(at)
    at.button(key="model_rescore").click().run(timeout=180)
    assert not at.exception, at.exception
    text = page_text(at)
    assert "Scored 300 customers" in text
    assert "Rule-based score: only 300 customers (the model needs 500)" in text
    weights = next(d.value for d in at.dataframe if "component" in d.value.columns)
    assert "Recency against own cadence and refills" in set(weights["component"])
    assert weights["weight"].sum() == pytest.approx(1.0, abs=0.01)
    with Session(get_engine(demo_app)) as s:
        assert s.exec(select(func.count()).select_from(ModelRun)).one() == 1
        assert s.exec(select(AuditLog).where(AuditLog.action == "scoring.run")).first().actor == "admin"


def test_exec_may_not_open_accounts(demo_app: str) -> None:
    at = app_as("exec", "views/accounts.py")
    assert "Not allowed" in page_text(at)
    assert not at.dataframe
