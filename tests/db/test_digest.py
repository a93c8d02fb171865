"""The weekly digest: what it says (counted by hand), once per week, staff opt-out, and
kept apart from customer outreach."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.config import get_settings
from core.digest import send_weekly_digests, set_opt_out
from db.models import Outreach, ScoreSnapshot, StaffUser, Task
from tests.factories import make_customer

AS_OF = date(2026, 6, 10)  # a Wednesday; the week is 4 to 10 June


def test_each_manager_gets_one_digest_a_week(session: Session, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_OUTBOX_DIR", str(tmp_path / "outbox"))
    get_settings.cache_clear()
    for username, roles, email in (("manager", "account_manager", "m@shop.example"),
                                   ("support", "support_lead", "s@shop.example"),
                                   ("nomail", "account_manager", None),
                                   ("boss", "exec", "b@shop.example")):
        session.add(StaffUser(username=username, name=username.title(), password_hash="x", roles=roles, email=email))
    a, b, c = (make_customer(session, owner="manager") for _ in range(3))
    session.add_all([
        ScoreSnapshot(customer_id=a.id, as_of=AS_OF, health_score=20, band="at_risk", churn_probability=0.8,
                      value_at_risk_cents=12000),
        ScoreSnapshot(customer_id=b.id, as_of=AS_OF, health_score=30, band="at_risk", churn_probability=0.6,
                      value_at_risk_cents=3050),
        ScoreSnapshot(customer_id=c.id, as_of=AS_OF, health_score=80, band="healthy", churn_probability=0.1,
                      value_at_risk_cents=500),
        # open, overdue (due 8 June), made this week
        Task(customer_id=a.id, reason="at_risk", signal_key="k1", open_key=f"{a.id}:at_risk", why="w",
             assignee="manager", due_date=date(2026, 6, 8), created_at=datetime(2026, 6, 5, 9)),
        # closed this week as offer sent, made the week before
        Task(customer_id=b.id, reason="at_risk", signal_key="k2", why="w", assignee="manager",
             due_date=date(2026, 6, 3), created_at=datetime(2026, 5, 30, 9), closed_at=datetime(2026, 6, 9, 15),
             closed_by="manager", outcome="offer_sent"),
    ])
    session.commit()

    result = send_weekly_digests(session=session, as_of=AS_OF, now=datetime(2026, 6, 10, 7))
    assert result == {"manager": "sent", "nomail": "no email address", "support": "sent"}
    parsed = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in (tmp_path / "outbox").glob("*.eml")]
    files = {str(m["To"]): m for m in parsed}
    assert set(files) == {"Manager <m@shop.example>", "Support <s@shop.example>"}
    body = files["Manager <m@shop.example>"].get_content()
    assert "open: 1 (overdue: 1, due today: 0, snoozed: 0)" in body
    assert "new this week: 1" in body and "closed this week: Offer sent 1" in body
    assert "accounts at risk: 2 (value at risk €150)" in body  # 120 + 30.5, rounded, in euros (the default)
    assert files["Manager <m@shop.example>"]["Subject"] == "Hearth weekly digest: 1 open tasks, 1 overdue"
    # Staff mail is not customer outreach.
    assert session.execute(select(func.count()).select_from(Outreach)).scalar() == 0

    # Again in the same week: nothing new; the next week: again.
    again = send_weekly_digests(session=session, as_of=AS_OF + timedelta(days=2))
    assert again["manager"] == "already sent this week"
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    set_opt_out(session=session, username="support", opt_out=True, actor="admin")
    later = send_weekly_digests(session=session, as_of=AS_OF + timedelta(days=7))
    assert (later["manager"], later["support"]) == ("sent", "opted out")
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3
    get_settings.cache_clear()
