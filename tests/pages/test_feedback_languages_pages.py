"""The inbox's language filter and "needs a read" queue, triage labels from the page, and
Admin → Feedback model, through the real app (AppTest)."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st
from sqlmodel import Session, select

from core.feedback import flag_unscored
from db.engine import get_engine
from db.models import Feedback, utcnow
from tests.factories import make_customer, make_feedback
from tests.pages.helpers import app_as, open_tab, page_text

GERMAN = "Die Lieferung war schnell und alles gut verpackt. <b>x</b>"
FRENCH = "Le colis est arrivé cassé et personne ne répond à mes mails"


def _store(url: str) -> dict:
    st.cache_data.clear()
    now = utcnow()
    with Session(get_engine(url)) as session:
        c = make_customer(session, owner="manager")
        german = make_feedback(session, c, now - timedelta(hours=1), nps_score=None, comment=GERMAN)
        french = make_feedback(session, c, now - timedelta(hours=2), nps_score=7, comment=FRENCH)
        session.commit()
        flag_unscored(session=session)
        session.commit()
        return {"german": german.id, "french": french.id}


def test_needs_a_read_queue_and_flagging_by_hand(demo_app: str) -> None:
    ids = _store(demo_app)
    at = app_as("support", "views/feedback.py")
    assert not at.exception, at.exception
    at.selectbox(key="fb_language").set_value("fr").run()
    table = at.dataframe[0].value
    assert table["comment"].tolist() == [FRENCH] and table["language"].tolist() == ["French"]
    at.selectbox(key="fb_language").set_value("all").run()
    at.radio(key="fb_queue").set_value("needs_read").run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["comment"].tolist() == [GERMAN]
    assert GERMAN in [t.value for t in at.text]  # plain text, never Markdown
    assert "German" in page_text(at)
    at.button(key="fb_flag_hand").click().run()
    assert not at.exception, at.exception
    with Session(get_engine(demo_app)) as session:
        fb = session.get(Feedback, ids["german"])
        assert fb.flagged and fb.label == "negative" and fb.labelled_by == "support"
        assert "flagged by hand by support" in fb.flag_reasons


def test_admin_sees_the_feedback_model(demo_app: str) -> None:
    ids = _store(demo_app)
    at = open_tab(app_as("admin", "views/admin.py"), "admin_tab", "Feedback model")
    assert not at.exception, at.exception
    text = page_text(at)
    assert "Model in use: shipped with Hearth" in text
    assert "Hutto" in text  # the data source is named
    figures = next(df.value for df in at.dataframe if {"part", "model", "F1"} <= set(df.value.columns))
    assert set(figures["model"]) == {"Hearth flag", "plain VADER"}
    hearth = figures.loc[figures["model"] == "Hearth flag", "F1"].iloc[0]
    vader = figures.loc[figures["model"] == "plain VADER", "F1"].iloc[0]
    assert hearth >= vader + 0.10
    with Session(get_engine(demo_app)) as session:
        assert session.exec(select(Feedback.label).where(Feedback.id == ids["german"])).one() is None


def test_a_missed_complaint_is_flagged_by_hand_from_the_inbox(demo_app: str) -> None:
    _store(demo_app)
    now = utcnow()
    with Session(get_engine(demo_app)) as session:
        missed = make_feedback(session, make_customer(session), now - timedelta(hours=1), nps_score=9,
                               comment="Lovely towels, but the colours are nothing like the website.")
        session.commit()
        flag_unscored(session=session)
        session.commit()
        missed_id = missed.id
        assert not session.get(Feedback, missed_id).flagged  # a promoter: the flag let it through
    at = app_as("support", "views/feedback.py")
    at.number_input(key="fb_missed_id").set_value(missed_id)
    form_button = next(b for b in at.button if b.label == "Flag as a complaint")
    form_button.click().run()
    assert not at.exception, at.exception
    assert f"Answer #{missed_id} flagged by hand." in page_text(at)
    with Session(get_engine(demo_app)) as session:
        fb = session.get(Feedback, missed_id)
        assert fb.flagged and fb.label == "negative" and fb.state == "new"
