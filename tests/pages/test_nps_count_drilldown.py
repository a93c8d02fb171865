"""Drill-down of the NPS screen's answer tiles: "Answers (all)" and "Answers with a score" open one
list of the window's answers, unscored ones included (manager: the answers with their comments;
exec: counts by segment, region and channel only).

Every other answer of the demo store is removed; the answers below are built by hand, so the
expected tiles and rows are worked out by hand, not by the code under test."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import delete, update
from sqlmodel import Session

from db.engine import get_engine
from db.models import Feedback, Outreach, Task, utcnow
from tests.factories import make_customer, make_feedback
from tests.pages.helpers import app_as, page_text


@pytest.fixture
def store(demo_app: str) -> dict:
    """Answers in the last 12 months (the screen's default window): A 10 by email (3 days ago),
    B no score with the comment "Box arrived late" on the web (10 days ago), C 3 by email (20 days
    ago), an unknown customer with no score on the web (5 days ago). Outside the window: A 1,
    400 days ago. So: answers (all) 4, with a score 2 (NPS (1 - 1) / 2 = 0).
    By segment, region and channel: npsx/north-x/email 2 answers (A, C), 2 scored;
    npsx/south-x/web 1 (B), 0 scored; (none)/(none)/web 1 (unknown), 0 scored."""
    now = utcnow().replace(microsecond=0)
    with Session(get_engine(demo_app)) as s:
        s.execute(update(Outreach).values(feedback_id=None))
        s.execute(update(Task).values(feedback_id=None))
        s.execute(delete(Feedback))
        a, b, c = (make_customer(s, external_id=f"NPX-{k}", name=f"Npsperson {k}son", segment="npsx", region=r)
                   for k, r in (("A", "north-x"), ("B", "south-x"), ("C", "north-x")))
        make_feedback(s, a, now - timedelta(days=3), nps_score=10, channel="email", comment="Great", external_id="F-A")
        make_feedback(s, b, now - timedelta(days=10), nps_score=None, channel="web", comment="Box arrived late",
                      external_id="F-B")
        make_feedback(s, c, now - timedelta(days=20), nps_score=3, channel="email", external_id="F-C")
        make_feedback(s, None, now - timedelta(days=5), nps_score=None, channel="web", external_id="F-X")
        make_feedback(s, a, now - timedelta(days=400), nps_score=1, channel="email", external_id="F-old")
        s.commit()
    return {}


def _nps(username: str):  # noqa: ANN202
    at = app_as(username, "views/nps.py", timeout=120)
    assert not at.exception, at.exception
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Answers (all)"] == "4" and tiles["Answers with a score"] == "2"
    box = at.selectbox(key="nps_drill_count")
    assert box.options == ["Answers of the period (4 answers, 2 with a score)"]
    box.set_value("answers").run()
    assert not at.exception, at.exception
    return at


def _table(at, column: str):  # noqa: ANN001, ANN202
    tables = [df.value for df in at.dataframe if column in df.value.columns]
    assert len(tables) == 1, [list(df.value.columns) for df in at.dataframe]
    return tables[0]


def test_a_manager_opens_every_answer_of_the_window_unscored_included(store):
    at = _nps("manager")
    rows = _table(at, "comment")
    assert len(rows) == 4  # = "Answers (all)"
    assert int(rows["score"].notna().sum()) == 2  # = "Answers with a score"
    # Newest first: A (3 days), unknown (5), B (10), C (20); the old answer is outside the window.
    assert [None if pd_na(v) else v for v in rows["customer"]] == ["NPX-A", None, "NPX-B", "NPX-C"]
    assert [None if pd_na(v) else int(v) for v in rows["score"]] == [10, None, None, 3]
    assert "Box arrived late" in list(rows["comment"])


def test_an_exec_sees_the_answers_of_the_window_by_segment_region_and_channel(store):
    at = _nps("exec")
    rows = _table(at, "scored")
    got = {(r.segment, r.region, r.channel): (r.answers, r.scored) for r in rows.itertuples()}
    assert got == {("npsx", "north-x", "email"): (2, 2), ("npsx", "south-x", "web"): (1, 0),
                   ("(none)", "(none)", "web"): (1, 0)}
    assert int(rows["answers"].sum()) == 4 and int(rows["scored"].sum()) == 2
    text = page_text(at)
    assert "Box arrived late" not in text and "NPX-" not in text and "Npsperson" not in text


def pd_na(value) -> bool:  # noqa: ANN001
    return bool(pd.isna(value))


@pytest.fixture
def spike(demo_app: str) -> dict:
    """Detractor answers only (every other answer removed): one "Delivery was late again." a month
    over the last five months, and six "The bottle leaked all over the box." 60 days ago: the
    leaking theme stands out in that month (6 mentions, usually none)."""
    from core import feedback as fbk

    now = utcnow().replace(microsecond=0)
    with Session(get_engine(demo_app)) as s:
        s.execute(update(Outreach).values(feedback_id=None))
        s.execute(update(Task).values(feedback_id=None))
        s.execute(delete(Feedback))
        who = make_customer(s, external_id="NPX-S", name="Spikeperson Sson", segment="npsx", region="north-x")
        for m in range(1, 6):
            make_feedback(s, who, now - timedelta(days=30 * m + 3), nps_score=3, comment="Delivery was late again.")
        for i in range(6):
            make_feedback(s, who, now - timedelta(days=60, hours=i), nps_score=1,
                          comment="The bottle leaked all over the box.")
        s.commit()
        fbk.flag_unscored(session=s, now=now)
        s.commit()
    return {"month": f"{now - timedelta(days=60):%Y-%m}"}


def test_a_spike_warning_opens_the_answers_behind_it(spike):
    at = app_as("manager", "views/nps.py", timeout=120)
    assert not at.exception, at.exception
    assert any("Stands out: leaking" in w.value for w in at.warning), [w.value for w in at.warning]
    at.button(key="nps_spike_0").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="nps_drill_theme").value == f"leaking|{spike['month']}"
    rows = _table(at, "comment")
    assert len(rows) == 6 and set(rows["comment"]) == {"The bottle leaked all over the box."}
