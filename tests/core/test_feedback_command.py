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


def test_evaluate_prints_hearth_and_vader_side_by_side(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    labelled = tmp_path / "labelled.csv"
    # Worked by hand: VADER reads only "terrible" as negative (compound -0.48; the late parcel 0.0,
    # the towels +0.59); Hearth also names the late delivery.
    labelled.write_text("comment,needs_human\nTerrible service.,1\nParcel arrived a week late.,1\n"
                        "Lovely towels.,0\n")
    assert main(["feedback", "evaluate", str(labelled)]) == 0
    out = capsys.readouterr().out
    assert "Hearth flag                        precision 1.000  recall 1.000  F1 1.000  (TP 2, FP 0, FN 0, TN 1)" in out
    assert "plain VADER (compound < -0.05)     precision 1.000  recall 0.500  F1 0.667  (TP 1, FP 0, FN 1, TN 1)" in out
    labelled.write_text("comment,needs_human\nFine.,maybe\n")
    assert main(["feedback", "evaluate", str(labelled)]) == 1
    assert "row 2: needs_human must be 0 or 1, not 'maybe'" in capsys.readouterr().err
