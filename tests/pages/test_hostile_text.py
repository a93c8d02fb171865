"""Hostile customer text (HTML, script, Markdown links and emphasis) in every place customer text
appears stays plain text on every screen that shows it: it may be shown by st.text, st.code or
st.dataframe, but never by an element that renders Markdown or HTML. Search filters with quotes
and `%` run as bound parameters."""

from __future__ import annotations

from datetime import timedelta

import pytest
import streamlit as st
from sqlmodel import Session

from core.feedback import add_note
from core.outreach import trigger_outreach
from core.roles import Role
from core.scoring import score_all
from db.engine import get_engine
from db.models import utcnow
from tests.factories import make_customer, make_feedback, make_loyalty, make_order, make_product, make_ticket
from tests.pages.helpers import app_as, open_tab, page_text

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
LINK = "[click](javascript:alert(1))"
BOLD = "**bold**"
HOSTILE = f"{IMG} {SCRIPT} {LINK} {BOLD}"

NAME = f"{BOLD}{SCRIPT} Mal {IMG} {LINK}"  # the first word (in subjects) is hostile too
# Markup that a valid address can hold (no <, >, brackets: core.email_address refuses those, and
# the worker would suppress such a stored address, so it could not show in a queued message).
EMAIL = f"mal{BOLD}`tick`|x|&amp{{1}}@example.com"
COMMENT = f"Kettle broke {HOSTILE} awful"
NOTE = f"Called back {HOSTILE}"
TOPIC = f"{IMG}{BOLD}"[:80]
PRODUCT = f"Towel {IMG} {SCRIPT} {LINK} {BOLD}"

# Substrings that mean the hostile text went into a Markdown/HTML element unescaped.
MARKERS = ("onerror", "<script", "](javascript:", BOLD)


def _walk(node):  # noqa: ANN001, ANN202
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def assert_no_markup(at) -> None:  # noqa: ANN001
    """No element that renders Markdown or HTML carries the hostile text; nothing allows HTML
    with customer text in it."""
    leaks, kinds = [], set()
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        kind = type(proto).__name__
        kinds.add(kind)
        if kind in ("Text", "Code", "Arrow", "DataFrame", "PlotlyChart", "Json"):
            continue  # plain text or cells: customer text belongs here
        fields = {f.name: v for f, v in proto.ListFields() if isinstance(v, str)}
        if getattr(proto, "allow_html", False) or getattr(proto, "unsafe_allow_html", False):
            if any(m in v for v in fields.values() for m in ("Mal", "Kettle", "Towel", *MARKERS)):
                leaks.append((kind, fields))
        for name, value in fields.items():
            if name in ("id", "form_id", "key"):
                continue
            if any(m in value for m in MARKERS):
                leaks.append((kind, name, value))
    assert "Markdown" in kinds, kinds  # the walk reached the page's elements (the title at least)
    assert not leaks, leaks


@pytest.fixture
def hostile(demo_app: str) -> dict:
    st.cache_data.clear()
    now = utcnow()
    engine = get_engine(demo_app)
    with Session(engine) as session:
        cust = make_customer(session, name=NAME, email=EMAIL, owner="manager", segment="family",
                             region="north", phone="+44 20 7946 0000")
        product = make_product(session, name=PRODUCT, category=None)
        make_order(session, cust, now - timedelta(days=200), total=40.0, lines=[(product.sku, 2, 20.0)])
        make_order(session, cust, now - timedelta(days=120), total=40.0, lines=[(product.sku, 2, 20.0)])
        fb = make_feedback(session, cust, now - timedelta(hours=3), nps_score=0, comment=COMMENT,
                           channel="email", flagged=True, state="new")
        make_ticket(session, cust, now - timedelta(days=10), topic=TOPIC)
        make_loyalty(session, cust, now - timedelta(days=100), "earn", 500)
        # A second one never contacted, so the outreach previews (To: the address) show.
        fresh = make_customer(session, name=NAME, email=EMAIL, owner="manager")
        make_order(session, fresh, now - timedelta(days=400), total=90.0, lines=[(product.sku, 1, 90.0)])
        fresh_fb = make_feedback(session, fresh, now - timedelta(hours=5), nps_score=1, comment=COMMENT,
                                 flagged=True, state="new")
        session.commit()
        score_all(engine=engine)  # real scores: their drivers name the product
        add_note(session=session, feedback_id=fb.id, actor="support", roles={Role.SUPPORT_LEAD}, text=NOTE)
        session.commit()
        res = trigger_outreach(session=session, customer_id=cust.id, template="apology", triggered_by="support",
                               feedback_id=fb.id, idempotency_key="hostile-test")
        assert res.outreach.status == "queued", res.describe()
        session.commit()
        return {"customer": cust.id, "external_id": cust.external_id, "feedback": fb.id,
                "fresh": fresh.id, "fresh_feedback": fresh_fb.id}


def _ok(at) -> None:  # noqa: ANN001
    assert not at.exception, at.exception
    assert_no_markup(at)


@pytest.mark.parametrize("user", ["admin", "manager", "support"])
def test_account_page_shows_hostile_text_as_text(hostile: dict, user: str) -> None:
    at = app_as(user, "views/account.py", id=str(hostile["customer"]))
    _ok(at)
    text = page_text(at)
    assert any(NAME in t.value for t in at.text)  # shown, as text
    assert PRODUCT in text  # what they buy
    assert TOPIC in text and COMMENT in text  # the timeline


@pytest.mark.parametrize("user", ["admin", "manager", "support"])
def test_outreach_preview_and_send_from_the_account(hostile: dict, user: str) -> None:
    at = app_as(user, "views/account.py", id=str(hostile["fresh"]))
    _ok(at)
    buttons = [b for b in at.button if b.key and b.key.startswith("outreach_btn_") and not b.disabled]
    assert buttons, [(b.key, b.disabled) for b in at.button]
    buttons[0].click().run()
    _ok(at)
    assert EMAIL in page_text(at)  # the preview's To: line, as text
    at.button(key=f"outreach_send_{hostile['fresh']}_0").click().run()
    _ok(at)
    assert any(s for s in at.success), page_text(at)  # "queued (...)"


@pytest.mark.parametrize("user", ["admin", "manager"])
def test_accounts_queue(hostile: dict, user: str) -> None:
    at = app_as(user, "views/accounts.py")
    _ok(at)
    assert NAME in page_text(at)
    at.text_input(key="acc_search").input("O'Brien 100%").run()
    _ok(at)
    at.text_input(key="acc_search").input("Mal <img").run()
    _ok(at)
    assert NAME in page_text(at)


@pytest.mark.parametrize("user", ["admin", "manager", "support"])
def test_feedback_inbox(hostile: dict, user: str) -> None:
    at = app_as(user, "views/feedback.py")
    _ok(at)
    at.selectbox(key="fb_item").set_value(hostile["feedback"]).run()
    _ok(at)
    text = page_text(at)
    assert COMMENT in text and NOTE in text and NAME in text
    # The other item's customer was never contacted: the apology preview names the address.
    at.selectbox(key="fb_item").set_value(hostile["fresh_feedback"]).run()
    _ok(at)
    assert EMAIL in page_text(at)


@pytest.mark.parametrize("user", ["admin", "support"])
def test_nps_comment_search(hostile: dict, user: str) -> None:
    at = app_as(user, "views/nps.py")
    _ok(at)
    at.text_input(key="nps_search").input("Kettle broke <img").run()
    _ok(at)
    assert COMMENT in page_text(at)
    for word in ("O'Brien 100%", "100%", "'; drop table feedback; --", "a_b", '"quoted"', IMG, LINK,
                 "[x](javascript:alert(2)) **no such comment**"):
        at.text_input(key="nps_search").input(word).run()
        _ok(at)
    at.text_input(key="nps_search").input("100%").run()
    assert "No comment contains" in page_text(at)  # `%` is a literal, not a wildcard matching everything
    at.text_input(key="nps_search").input("a_b").run()
    assert "No comment contains" in page_text(at)  # `_` too
    at.text_input(key="nps_search").input("Kettle").run()  # the table is still there
    assert COMMENT in page_text(at)


def test_loyalty(hostile: dict) -> None:
    at = app_as("admin", "views/loyalty.py")
    _ok(at)
    assert NAME in page_text(at)
    at.text_input(key="loy_search").input("O'Brien 100%").run()
    _ok(at)
    open_tab(at, "loy_tab", "Customer ledger")
    at.text_input(key="loy_ledger_customer").input(hostile["external_id"]).run()
    _ok(at)
    assert any(NAME in t.value for t in at.text)


@pytest.mark.parametrize("user", ["admin", "manager", "support"])
def test_outreach_message_log(hostile: dict, user: str) -> None:
    at = app_as(user, "views/outreach.py")
    _ok(at)
    log = next(df.value for df in at.dataframe if "subject" in df.value.columns)
    assert NAME in set(log["name"])
    assert log["subject"].str.contains(f"{BOLD}{SCRIPT}", regex=False).any()  # "<first name>, we are sorry"


def _audit_rows(at):  # noqa: ANN001, ANN202 - the audit tab's table and its "N newest entries" caption
    table = next(df.value for df in at.dataframe if {"actor", "action", "detail"} <= set(df.value.columns))
    shown = next(int(c.value.split()[0].replace(",", "")) for c in at.caption if c.value.endswith("newest entries"))
    return table, shown


def test_admin_audit_log(hostile: dict) -> None:
    at = open_tab(app_as("admin", "views/admin.py"), "admin_tab", "Audit log")
    _ok(at)
    table, shown = _audit_rows(at)
    # The note's hostile text is in the log, whole, as a table cell (plain text, never rendered).
    notes = table[table["action"] == "feedback.note"]
    assert list(notes["detail"]) == [f"Note: {NOTE}"], list(notes["detail"])
    assert shown == len(table) > 1
    # Quotes and % are literal text in the filters, not SQL and not wildcards: nobody is called
    # O'Brien 100%, and no action starts with the four characters "feed" + "back%".
    at.text_input(key="audit_actor").input("O'Brien 100%").run()
    _ok(at)
    assert _audit_rows(at)[1] == 0
    at.text_input(key="audit_actor").input("support").run()
    at.text_input(key="audit_action").input("feedback%").run()
    _ok(at)
    assert _audit_rows(at)[1] == 0
    at.text_input(key="audit_action").input("feedback").run()
    _ok(at)
    table, shown = _audit_rows(at)
    assert shown == len(table) >= 1 and set(table["actor"]) == {"support"}
    assert all(a.startswith("feedback.") for a in table["action"]) and f"Note: {NOTE}" in set(table["detail"])
