"""`python -m core tasks generate` run in-process on a small hand-made store."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import Session, select

from core.__main__ import main
from db.engine import get_engine
from db.models import StaffUser, Task
from tests.factories import make_customer, make_feedback, make_ticket


def test_generate_makes_tasks_once_and_says_how_many(app_env, capsys):
    with Session(get_engine(app_env)) as s:
        s.add(StaffUser(username="support", name="Sam", password_hash="x", roles="support_lead"))
        unhappy = make_customer(s, external_id="C-1", owner="manager")
        waiting = make_customer(s, external_id="C-2", owner="alex")
        make_feedback(s, unhappy, datetime(2026, 5, 30, 9, 0), nps_score=2)
        make_ticket(s, waiting, datetime(2026, 5, 20, 9, 0), status="open")
        s.commit()
    assert main(["tasks", "generate", "--as-of", "2026-06-01"]) == 0
    out = capsys.readouterr().out
    assert "tasks as of 2026-06-01: 2 new" in out
    assert "New detractor answer: 1 new, 0 already had a task" in out
    assert "Support ticket open too long: 1 new, 0 already had a task" in out
    assert main(["tasks", "generate", "--as-of", "2026-06-01"]) == 0
    out = capsys.readouterr().out
    assert "tasks as of 2026-06-01: 0 new" in out and "New detractor answer: 0 new, 1 already had a task" in out
    with Session(get_engine(app_env)) as s:
        got = {(t.reason, t.assignee, t.due_date.isoformat()) for t in s.exec(select(Task))}
    assert got == {("detractor", "support", "2026-06-03"), ("ticket_open", "alex", "2026-06-03")}


def test_a_bad_date_is_refused_with_a_reason(app_env, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tasks", "generate", "--as-of", "01/06/2026"])
    assert exc.value.code == 2
    assert "invalid fromisoformat value" in capsys.readouterr().err

