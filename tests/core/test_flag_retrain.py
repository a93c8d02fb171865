"""The flag learns from the team: triage decisions are labels, `feedback train` retrains on the
shared sentences plus those labels, switches only when not worse, and says so (both databases)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core import feedback as fbk
from core.flag_training import SHARED_SENTIMENT_DIR, retrain
from core.roles import Role
from db.models import AuditLog, Feedback, FeedbackModel, StaffUser
from tests.factories import make_customer, make_feedback

NOW = datetime(2026, 11, 20, 12, 0)
SUPPORT = {Role.SUPPORT_LEAD}
THINGS = ["mop", "kettle", "toaster", "dish rack", "bread bin", "spray bottle", "laundry basket", "peeler",
          "soap dispenser", "lunch box", "scrub brush", "watering can"]
# The shop's own words, which the shipped model reads wrongly: cleaning chores people hated
# before (praise), and complaints in plain words that name no problem theme.
PRAISES = ["Killed every stain, the {thing} is a monster.", "I used to dread washing up, the {thing} changed that."]
COMPLAINTS = ["The {thing} is wonky and the handle wobbles.", "Had to send the {thing} back twice now."]


def _answers(session: Session, texts: list[str]) -> list[int]:
    customer = make_customer(session)
    ids = [make_feedback(session, customer, NOW - timedelta(hours=i), comment=t).id for i, t in enumerate(texts)]
    fbk.flag_unscored(session=session, now=NOW)
    session.commit()
    return ids


def _label(session: Session, ids: list[int], negative: bool) -> None:
    for i in ids:
        fb = session.get(Feedback, i)
        if not negative:
            fbk.not_a_problem(session=session, feedback_id=i, actor="support", roles=SUPPORT, now=NOW)
        elif fb.flagged:
            fbk.confirm_flag(session=session, feedback_id=i, actor="support", roles=SUPPORT, now=NOW)
        else:
            fbk.flag_by_hand(session=session, feedback_id=i, actor="support", roles=SUPPORT, now=NOW)
    session.commit()


@pytest.fixture
def team(session: Session) -> Session:
    session.add(StaffUser(username="support", name="Support", password_hash="x", roles="support_lead"))
    session.commit()
    return session


def test_triage_labels_retrain_and_a_worse_model_is_refused(team: Session, tmp_path: Path) -> None:
    session = team
    praise = _answers(session, [p.format(thing=t) for p in PRAISES for t in THINGS])
    complaints = _answers(session, [c.format(thing=t) for c in COMPLAINTS for t in THINGS])
    wrong_before = sum(session.get(Feedback, i).flagged for i in praise)
    missed_before = sum(not session.get(Feedback, i).flagged for i in complaints)
    assert wrong_before + missed_before >= 30  # the shipped model does get these wrong

    _label(session, praise, negative=False)
    _label(session, complaints, negative=True)
    hand = session.get(Feedback, complaints[0])
    assert hand.flagged and hand.label == fbk.LABEL_NEGATIVE and hand.labelled_by == "support"

    first = retrain(session=session, actor="admin")
    shop = "shop labels held out"
    print({p: (first.before[p].f1, first.after[p].f1) for p in first.after})
    assert first.switched, first.reason
    assert first.labels_used + first.labels_held_out == 48
    assert first.after[shop].f1 > first.before[shop].f1  # the figures move
    model = session.get(FeedbackModel, first.model_id)
    assert model.active and model.labels_used == first.labels_used
    assert fbk.active_flag_model(session=session) is not None
    # The new model now flags the shop's plain-words complaint it missed before.
    fresh = _answers(session, ["The colander is wonky and the handle wobbles."])
    assert session.get(Feedback, fresh[0]).flagged

    # A retrain on the wrong folder (a twentieth of the sentences, as a half-copied download
    # leaves it) fits a model worse on the held-aside sentences: refused, the first one kept.
    # (Labels that call plain criticism "not a problem" no longer make a worse flag: what VADER
    # reads negative is flagged whatever the model says.)
    few = tmp_path / "few"
    few.mkdir()
    for path in SHARED_SENTIMENT_DIR.glob("*_GroundTruth.txt"):
        (few / path.name).write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[::20]))
    second = retrain(session=session, actor="admin", directory=str(few))
    print({p: (second.before[p].f1, second.after[p].f1) for p in second.after})
    assert not second.switched, second.reason
    assert "worse on shared sentences held aside" in second.reason
    assert session.get(FeedbackModel, second.model_id).active is False
    assert fbk.active_flag_model(session=session) is not None
    active = session.exec(select(FeedbackModel).where(FeedbackModel.active)).all()
    assert [m.id for m in active] == [first.model_id]
    actions = session.exec(select(AuditLog.action).where(AuditLog.action == "feedback.model_trained")).all()
    assert len(actions) == 2
