"""Every screen, as every role, with hostile text in every customer- and staff-controlled field
and every query parameter: nothing from outside renders as a link, an image, bold, colour or
HTML (issue 19, point 4).

Hostile values go into customer names, segments and regions, product names and categories,
feedback channels and comments, ticket topics, a campaign name, a staff username (who logs in
with it and owns accounts) and the query parameters (`?id=`, `?customer=`). Then each role walks
every screen it may open (and the ones it may not) and the Overview filtered by the hostile
segment, region and owner. Two things are inspected in the element tree AppTest gives:

- every element that renders Markdown (markdown, captions, headings, alerts, labels, help
  texts): a value carrying hostile text must have its Markdown escaped: no unescaped `](`,
  `**`, `:red[`, `<b>`, `<a`, or bare `https://` next to it;
- every Plotly figure's JSON: a string carrying hostile text (trace names, legends, hover text
  and templates, categories) must hold no tag Plotly renders (`<a href>`, `<b>`, `<span style>`).
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from core import users
from core.outreach import create_campaign
from db.engine import get_engine
from db.models import Customer, Feedback, Product, SupportTicket
from tests.pages.helpers import APP, log_in

HOSTILE = ("EVIL[link](https://evil.example/a) ![img](https://evil.example/b.png) **EVILBOLD** "
           ":red[EVILRED] <b>EVILHTML</b> <a href='https://evil.example/c'>x</a> www.evil.example "
           ":material/EVILICON: :EVIL_EMOJI:")
SEGMENT = "S**EVILB**[x](https://evil.example)"
REGION = "R:red[EVILR]![i](https://evil.example)"
CHANNEL = "C<b>EVILH</b><a href=//evil.example>"
CATEGORY = "K**EVILB**:red[EVILR]<b>EVILH</b>[x](https://evil.example/k)"
OWNER = "u**EVILB**[x](https://evil.example):material/EVILICON:"
PASSWORD = "a long enough password"
SCREENS = ["overview", "accounts", "account", "feedback", "nps", "loyalty", "outreach", "data", "admin"]

# Markdown that renders something, not preceded by a backslash (an escaped character is text).
_RENDERED = [
    ("a link or image", re.compile(r"(?<!\\)\]\(")),
    ("bold", re.compile(r"(?<!\\)\*\*EVIL")),
    ("colour", re.compile(r"(?<!\\):red(?<!\\)\[")),
    ("HTML", re.compile(r"(?<!\\)<(?:b|a)[\s>]")),
    ("an autolink", re.compile(r"(?<![\\/])(?:https?://|www\.)evil")),
    # Streamlit's icon and emoji codes, which a backslash before the colon does not stop.
    ("an icon or emoji", re.compile(r":(?:material/)?EVIL[\w\\]*:")),
]
# A tag Plotly renders (our own templates use only <br> and <extra>).
_TAG = re.compile(r"<(?:b|a|i|span|img|sup|sub|em|s|u)[\s>/]", re.IGNORECASE)
_PLAIN_KINDS = {"Text", "Code", "Arrow", "DataFrame", "Json", "PlotlyChart"}
# The fields Streamlit renders as Markdown (a widget's value, default or options are plain).
_MARKDOWN_FIELDS = {"body", "label", "help", "text", "caption"}


def _hostile(value: str) -> bool:
    return "EVIL" in value or "evil.example" in value


def _walk(node):  # noqa: ANN001, ANN202
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def _strings(value):  # noqa: ANN001, ANN202
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


INSPECTED: dict[str, int] = {"markdown": 0, "figure": 0}


def rendered_leaks(at) -> list[tuple[str, str, str]]:  # noqa: ANN001
    """(element kind, what rendered, the value) for every hostile value that would render.
    Counts the hostile values it inspected in INSPECTED (so a walk that saw none fails)."""
    leaks = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        kind = type(proto).__name__
        if kind == "PlotlyChart":
            spec = json.loads(proto.spec or "{}")
            hostile = [s for s in _strings(spec) if _hostile(s)]
            INSPECTED["figure"] += len(hostile)
            leaks += [(kind, "HTML in a figure", s) for s in hostile if _TAG.search(s)]
            continue
        if kind in _PLAIN_KINDS:
            continue
        for field, value in proto.ListFields():
            if not isinstance(value, str) or field.name not in _MARKDOWN_FIELDS or not _hostile(value):
                continue
            INSPECTED["markdown"] += 1
            leaks += [(kind, what, value) for what, pattern in _RENDERED if pattern.search(value)]
    return leaks


@pytest.fixture
def hostile_store(demo_app: str) -> dict:
    engine = get_engine(demo_app)
    with Session(engine) as session:
        ids = session.execute(select(Customer.id).order_by(Customer.id)).scalars().all()
        victim = ids[0]
        users.add_user(session=session, username=OWNER, name=HOSTILE[:200], password=PASSWORD,
                       roles=["account_manager"])
        session.execute(update(Customer).where(Customer.id.in_(ids[::3])).values(segment=SEGMENT))
        session.execute(update(Customer).where(Customer.id.in_(ids[::4])).values(region=REGION))
        session.execute(update(Customer).where(Customer.id.in_(ids[::5])).values(owner=OWNER))
        session.execute(update(Customer).where(Customer.id == victim).values(name=HOSTILE, owner=OWNER,
                                                                             segment=SEGMENT, region=REGION))
        session.execute(update(Product).where(Product.id.in_(
            session.execute(select(Product.id).order_by(Product.id)).scalars().all()[::2]))
            .values(category=CATEGORY, name="P " + HOSTILE[:150]))
        session.execute(update(Feedback).where(Feedback.id % 3 == 0).values(channel=CHANNEL))
        session.execute(update(Feedback).where(Feedback.customer_id == victim).values(
            comment=HOSTILE, flagged=True, state="new", channel=CHANNEL))
        session.execute(update(SupportTicket).where(SupportTicket.customer_id == victim).values(topic=HOSTILE[:80]))
        session.commit()  # in-place edits: the data generation makes every screen read the new text
        create_campaign(session=session, name="Camp " + HOSTILE, template="win_back", customer_ids=ids[10:40],
                        audience_rule={"segment": SEGMENT}, holdout_share=0.1, created_by=OWNER)
        session.commit()
        external = session.get(Customer, victim).external_id
    return {"id": victim, "external_id": external}


@pytest.mark.parametrize("username", ["admin", "manager", "support", "exec", OWNER])
def test_no_hostile_text_renders_anywhere(hostile_store: dict, username: str) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    log_in(at, username, PASSWORD if username == OWNER else "hearth-demo")
    assert not at.exception, at.exception
    INSPECTED.update(markdown=0, figure=0)
    seen: dict[str, list] = {}
    visits = [(screen, {}) for screen in SCREENS]
    visits += [("account", {"id": HOSTILE}), ("account", {"id": str(hostile_store["id"])}),
               ("loyalty", {"customer": HOSTILE}), ("loyalty", {"customer": hostile_store["external_id"]}),
               ("overview", {"segment": HOSTILE, "region": HOSTILE})]
    for screen, query in visits:
        at.query_params.clear()
        for k, v in query.items():
            at.query_params[k] = v
        at.switch_page(f"views/{screen}.py")
        at.run()
        assert not at.exception, (screen, at.exception)
        seen[f"{screen} {query}"] = rendered_leaks(at)
    # The Overview filtered by each hostile value: the subheader names the scope.
    at.query_params.clear()
    at.switch_page("views/overview.py")
    at.run()
    for key, value in (("ov_segment", SEGMENT), ("ov_region", REGION), ("ov_owner", OWNER)):
        box = at.selectbox(key=key)
        if value in box.options:
            box.set_value(value).run()
            assert not at.exception, at.exception
            seen[f"overview {key}"] = rendered_leaks(at)
    # NPS split by each imported name: one trace, legend entry and hover label per group.
    at.switch_page("views/nps.py")
    at.run()
    for split in ("segment", "region", "channel", "category"):
        at.selectbox(key="nps_split").set_value(split).run()
        assert not at.exception, at.exception
        seen[f"nps split {split}"] = rendered_leaks(at)
    leaks = {visit: found for visit, found in seen.items() if found}
    assert not leaks, json.dumps(leaks, indent=1)[:4000]
    # The walk did meet the hostile text, escaped: in Markdown (query parameters echoed, the
    # Overview's scope, "Signed in as") and in figures (legends of segments and regions, the
    # campaign chart, categories).
    assert INSPECTED["markdown"] > 0 and INSPECTED["figure"] > 0, INSPECTED


def test_the_check_finds_what_it_looks_for() -> None:
    """The detector itself: unescaped hostile text is caught, md() output is not."""
    from ui.safe import md

    for value in (HOSTILE, SEGMENT, REGION, CHANNEL, CATEGORY, OWNER):
        assert [what for what, p in _RENDERED if p.search(value)], value
        assert not [what for what, p in _RENDERED if p.search(md(value))], md(value)


def test_a_hostile_file_name_in_the_check_error_is_text(demo_app: str) -> None:
    from tests.pages.helpers import app_as

    name = "f**EVILBOLD**[x](https://evil.example)![i](https://evil.example/t.png).csv"
    at = app_as("admin", "views/data.py")
    at.selectbox(key="data_kind").set_value("feedback").run()
    at.file_uploader(key="data_upload").set_value(
        (name, b"response_id,submitted_at,nps_score\nX1,2025-01-01,11\n", "text/csv")).run()
    assert not at.exception, at.exception
    INSPECTED.update(markdown=0, figure=0)
    assert not rendered_leaks(at)
    errors = [e.value for e in at.error]
    assert any("EVILBOLD" in e for e in errors), errors  # the check names the file, escaped
    assert INSPECTED["markdown"] > 0
