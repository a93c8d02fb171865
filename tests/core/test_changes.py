"""What changed since the last scoring run, on hand-made snapshots, feedback and loyalty."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlmodel import Session

from core.changes import weekly_lines, what_changed
from core.roles import NotAllowed, Role
from db.models import ScoreSnapshot
from tests.factories import make_customer, make_feedback, make_loyalty

BEFORE, NEWEST = date(2026, 6, 23), date(2026, 6, 30)
ADMIN = frozenset({Role.ADMIN})


def _snap(session: Session, customer, as_of: date, band: str, days_overdue: float | None = None) -> None:
    session.add(ScoreSnapshot(customer_id=customer.id, as_of=as_of, health_score=50, band=band,
                              churn_probability=0.5, days_overdue=days_overdue))


def test_band_drop_detractor_refill_and_expiring_points_newest_first(session: Session) -> None:
    dropped = make_customer(session, owner="ann", external_id="A1")
    steady = make_customer(session, owner="ann", external_id="A2")
    other = make_customer(session, owner="bob", external_id="B1")
    _snap(session, dropped, BEFORE, "healthy", -5)
    _snap(session, dropped, NEWEST, "watch", -1)  # dropped a band, refill not yet due
    _snap(session, steady, BEFORE, "watch", -3)
    _snap(session, steady, NEWEST, "watch", 4)  # refill ran out 4 days before June 30: June 26
    _snap(session, other, BEFORE, "watch", 10)
    _snap(session, other, NEWEST, "at_risk", 17)  # already overdue before: only the band drop
    make_feedback(session, steady, datetime(2026, 6, 28, 9), nps_score=3)  # since the last run
    make_feedback(session, dropped, datetime(2026, 6, 20, 9), nps_score=2)  # before it: not a change
    make_feedback(session, other, datetime(2026, 6, 29, 9), nps_score=9)  # a promoter
    # 100 points earned on 2025-07-10 expire 12 months later, within 30 days of June 30
    make_loyalty(session, other, datetime(2025, 7, 10, 12), "earn", 100, expires_at=datetime(2026, 7, 10, 12))
    session.commit()

    feed = what_changed(session=session, roles=ADMIN)
    assert (feed.as_of, feed.since) == (NEWEST, BEFORE)
    got = [(r.at, r.kind, r.external_id, r.detail) for r in feed.rows.itertuples()]
    assert got == [
        (NEWEST, "band_dropped", "A1", "from Healthy to Watch"),
        (NEWEST, "band_dropped", "B1", "from Watch to At risk"),
        (NEWEST, "points_expiring", "B1", "100 points expire on 2026-07-10"),
        (date(2026, 6, 28), "turned_detractor", "A2", "answered NPS 3"),
        (date(2026, 6, 26), "refill_overdue", "A2", "refill ran out 4 days before 2026-06-30"),
    ]
    ann = what_changed(session=session, roles=ADMIN, owner="ann")
    assert set(ann.rows["external_id"]) == {"A1", "A2"}
    lines = weekly_lines(session=session, as_of=NEWEST)
    assert "  ann: 1 band dropped, 1 turned detractor, 1 refill became overdue, 0 points about to expire" in lines
    assert "  bob: 1 band dropped, 0 turned detractor, 0 refill became overdue, 1 points about to expire" in lines
    assert not any("A1" in line or "Customer" in line for line in lines)  # counts only
    with pytest.raises(NotAllowed):
        what_changed(session=session, roles=frozenset({Role.EXEC}))


def test_one_scoring_run_has_nothing_to_compare(session: Session) -> None:
    c = make_customer(session)
    _snap(session, c, NEWEST, "watch")
    session.commit()
    feed = what_changed(session=session, roles=ADMIN)
    assert feed.since is None and feed.rows.empty
    assert "no two scoring runs yet" in weekly_lines(session=session, as_of=NEWEST)[-1]
