"""`python -m core feedback flag|reflag` on the app's database."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import Session, select

from core.__main__ import main
from db.engine import get_engine
from db.models import Feedback
from tests.factories import make_customer, make_feedback


def test_flag_and_reflag(app_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    with Session(get_engine(app_env)) as session:
        c = make_customer(session)
        make_feedback(session, c, datetime(2026, 11, 1), nps_score=9, comment="It arrived damaged.")
        make_feedback(session, c, datetime(2026, 11, 2), nps_score=10)
        session.commit()
    assert main(["feedback", "flag"]) == 0
    assert "scored 2 feedback answers" in capsys.readouterr().out
    assert main(["feedback", "flag"]) == 0
    assert "scored 0 feedback answers" in capsys.readouterr().out
    assert main(["feedback", "reflag"]) == 0
    assert "re-scored 2 feedback answers" in capsys.readouterr().out
    with Session(get_engine(app_env)) as session:
        flagged = session.exec(select(Feedback.flagged).order_by(Feedback.id)).all()
    assert flagged == [True, False]
