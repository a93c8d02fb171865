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
from tests.pages.helpers import app_as, open_tab, page_text


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
    # one rounding rule: health whole, churn risk a percentage with one decimal
    assert (table["health_score"] == table["health_score"].round()).all()
    assert ((table["churn_percent"] * 10).round(6) == (table["churn_percent"] * 10).round()).all()
    assert table["next_order_date"].notna().any()

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
        snap = s.exec(select(ScoreSnapshot).order_by(ScoreSnapshot.value_at_risk_cents.desc())).first()
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
    assert snap.value_at_risk_cents % 100 == 0  # whole currency units, kept as cents
    assert metrics["Value at risk"] == f"€{snap.value_at_risk_cents // 100:,}"
    # Readable column names, and no "None" cell anywhere on the page.
    headers = {c.get("label") for df in at.dataframe if df.proto.columns
               for c in json.loads(df.proto.columns).values()}
    assert {"Times bought", "Last bought", "Lasts (days)", "Days until due", "When", "Detail"} <= headers
    assert not headers & {"bought (times)", "when", "last_bought", "offer_code"}
    assert not any((df.value.astype(str) == "None").any().any() for df in at.dataframe)
    # The consent history: the demo's consent at signup, one row per channel.
    with Session(get_engine(demo_app)) as s:
        c = s.get(Customer, cid)
        wanted = {("email", "given" if c.email_opt_in else "withdrawn"), ("SMS", "given" if c.sms_opt_in
                                                                          else "withdrawn")}
    history = next(d.value for d in at.dataframe if "consent" in d.value.columns)
    assert {(r.channel, r.consent) for r in history.itertuples()} == wanted
    assert set(history["source"]) == {"demo"}


def test_account_view_without_an_id_points_to_the_list(demo_app: str) -> None:
    at = app_as("manager", "views/account.py")
    assert not at.exception, at.exception
    assert "Open an account from the Accounts list" in page_text(at)
    at = app_as("manager", "views/account.py", id="999999")
    assert "no customer with id 999999" in page_text(at)


def test_admin_model_tab_rescore_shows_progress_result_and_audit(demo_app: str) -> None:
    _unscore(demo_app)
    at = open_tab(app_as("admin", "views/admin.py"), "admin_tab", "Churn model")
    assert not at.exception, at.exception
    assert "No scoring run yet" in page_text(at)
    at.button(key="model_rescore").click().run(timeout=180)
    assert not at.exception, at.exception
    text = page_text(at)
    assert "Scored 300 customers" in text
    assert "Rule-based score: only 300 customers (the model needs 500)" in text
    weights = next(d.value for d in at.dataframe if "component" in d.value.columns)
    assert "Recency against own cadence and refills" in set(weights["component"])
    assert weights["weight"].sum() == pytest.approx(100.0, abs=1)  # percent, shown as "30.0 %"
    with Session(get_engine(demo_app)) as s:
        assert s.exec(select(func.count()).select_from(ModelRun)).one() == 1
        assert s.exec(select(AuditLog).where(AuditLog.action == "scoring.run")).first().actor == "admin"


def test_exec_may_not_open_accounts(demo_app: str) -> None:
    at = app_as("exec", "views/accounts.py")
    assert "Not allowed" in page_text(at)
    assert not at.dataframe


def test_accounts_show_what_changed_since_the_last_scoring_run(demo_app: str) -> None:
    from datetime import UTC, datetime, timedelta

    from core.changes import what_changed
    from core.roles import Role

    today = datetime.now(UTC).date()
    score_all(engine=get_engine(demo_app), as_of=today - timedelta(days=14))
    _score(demo_app)
    with Session(get_engine(demo_app)) as s:
        feed = what_changed(session=s, roles=frozenset({Role.ADMIN}), owner="manager")
    at = app_as("manager", "views/accounts.py")
    assert not at.exception, at.exception
    since, as_of = f"{feed.since.day} {feed.since:%b}", f"{feed.as_of.day} {feed.as_of:%b %Y}"
    label = f"What changed since the last scoring run ({since} → {as_of}): " \
            f"{len(feed.rows):,} in your book"
    assert label in [e.label for e in at.expander]
    assert len(feed.rows) > 0
    changes = next(d.value for d in at.dataframe if "change" in d.value.columns)
    assert list(changes["external_id"]) == list(feed.rows["external_id"])
    assert list(changes["at"]) == sorted(changes["at"], reverse=True)  # newest first


def test_the_health_vs_churn_note_and_the_gauge_follow_the_configured_bands(demo_app: str, monkeypatch) -> None:  # noqa: ANN001
    """Health 75 with churn risk 70 %: Healthy by the default bands (70 / 40), so the screen says
    why it is shown as Watch; with HEARTH_HEALTH_BAND_HEALTHY=80 it is Watch by its score and
    there is nothing to explain, and the gauge's green starts at 80."""
    from core.config import get_settings

    _score(demo_app)
    with Session(get_engine(demo_app)) as s:
        snap = s.exec(select(ScoreSnapshot).order_by(ScoreSnapshot.customer_id)).first()
        snap.health_score, snap.churn_probability, snap.band = 75, 0.7, "watch"
        s.add(snap)
        s.commit()
        cid = snap.customer_id

    def gauge_steps(at) -> list:  # noqa: ANN001
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        gauges = [d for c in charts for d in c["data"] if d.get("type") == "indicator"]
        assert len(gauges) == 1
        return [step["range"] for step in gauges[0]["gauge"]["steps"]]

    at = app_as("manager", "views/account.py", id=str(cid))
    assert not at.exception, at.exception
    assert "Health 75 looks healthy, but the churn model" in page_text(at)
    assert gauge_steps(at) == [[0, 40], [40, 70], [70, 100]]

    monkeypatch.setenv("HEARTH_HEALTH_BAND_HEALTHY", "80")
    monkeypatch.setenv("HEARTH_HEALTH_BAND_WATCH", "50")
    get_settings.cache_clear()
    st.cache_data.clear()
    at = app_as("manager", "views/account.py", id=str(cid))
    assert not at.exception, at.exception
    assert "looks healthy" not in page_text(at)
    assert gauge_steps(at) == [[0, 50], [50, 80], [80, 100]]


def test_open_an_account_in_this_tab_and_come_back_to_the_same_queue_page(demo_app: str) -> None:
    _score(demo_app)
    at = app_as("manager", "views/accounts.py")
    at.toggle(key="acc_all").set_value(True).run()
    at.button(key="acc_next").click().run()
    assert not at.exception, at.exception
    caption = next(c.value for c in at.caption if " · page 2 of " in c.value)
    second_page = at.dataframe[0].value
    external_id = second_page["external_id"].iloc[3]
    with Session(get_engine(demo_app)) as s:
        customer = s.exec(select(Customer).where(Customer.external_id == external_id)).one()
    assert at.button(key="acc_open").disabled  # nothing chosen yet
    at.selectbox(key="acc_open_choice").set_value(customer.id).run()
    at.button(key="acc_open").click().run()
    assert not at.exception, at.exception
    # The same session (no new login) now shows that customer's account, by id in the URL.
    assert at.query_params["id"] == [str(customer.id)] or at.query_params["id"] == str(customer.id)
    assert at.title[0].value == "Account"
    assert f"{customer.name} · {external_id}" in page_text(at)
    # "Back to the queue" leads to the same page of the same (all accounts) queue.
    at.switch_page("views/accounts.py").run()
    assert not at.exception, at.exception
    assert caption in page_text(at)
    assert at.toggle(key="acc_all").value is True
    assert at.dataframe[0].value["external_id"].iloc[3] == external_id
