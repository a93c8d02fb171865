"""Loyalty against the real databases (SQLite and PostgreSQL): reads, writes, the expiry job."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlmodel import select

from core.__main__ import main
from core.config import get_settings
from core.loyalty import (
    InsufficientPoints,
    customer_balance,
    customer_ledger,
    expire_points,
    loyalty_export_frame,
    loyalty_kpis,
    monthly_summary,
    record_redemption,
)
from db.engine import get_engine, session_scope
from db.models import AuditLog, LoyaltyEntry
from tests.factories import make_customer, make_loyalty


def scenario(session):
    """The issue's example for one customer, a second member, and a customer without points."""
    ann = make_customer(session, external_id="ANN")
    make_loyalty(session, ann, datetime(2026, 1, 1), "earn", 100, expires_at=datetime(2026, 7, 1))
    make_loyalty(session, ann, datetime(2026, 3, 1), "earn", 50, expires_at=datetime(2026, 9, 1))
    make_loyalty(session, ann, datetime(2026, 4, 1), "redeem", -120)
    bob = make_customer(session, external_id="BOB")
    make_loyalty(session, bob, datetime(2026, 2, 1), "earn", 200, expires_at=datetime(2027, 2, 1))
    make_customer(session, external_id="CAT")
    session.commit()
    return ann, bob


def test_kpis_export_and_ledger(session):
    ann, bob = scenario(session)
    k = loyalty_kpis(session=session, as_of=date(2026, 9, 1))
    assert (k["earned"], k["redeemed"], k["expired"], k["outstanding_points"]) == (350, 120, 30, 200)
    assert get_settings().point_value == 0.01
    assert k["liability"] == 2.00 and k["liability_cents"] == 200  # 200 points x 0.01
    assert k["redemption_rate"] == pytest.approx(120 / 350)
    assert k["breakage"] == pytest.approx(30 / 350)
    assert k["enrolment_rate"] == pytest.approx(2 / 3)

    frame = loyalty_export_frame(session=session, as_of=date(2026, 8, 31))
    assert frame.to_dict("records") == [
        {"customer_id": "ANN", "balance": 30, "expiring_points": 30, "next_expiry_date": date(2026, 9, 1),
         "tier": "Bronze", "lifetime_earned": 150, "lifetime_redeemed": 120},
        {"customer_id": "BOB", "balance": 200, "expiring_points": 0, "next_expiry_date": date(2027, 2, 1),
         "tier": "Bronze", "lifetime_earned": 200, "lifetime_redeemed": 0},
    ]

    rows = customer_ledger(session=session, customer_id=ann.id, as_of=date(2026, 12, 31))
    assert list(zip(rows["kind"], rows["points"], rows["balance"], strict=True)) == [
        ("earn", 100, 100), ("earn", 50, 150), ("redeem", -120, 30), ("expire", -30, 0)]
    assert not rows["recorded"].iloc[-1]

    months = monthly_summary(session=session, as_of=date(2026, 9, 30), months=9)
    sept = months.iloc[-1]
    assert (sept["expired"], sept["outstanding_points"]) == (30, 200)
    assert months["earned"].sum() == 350 and months.iloc[3]["redeemed"] == 120


def test_expiry_job_writes_once_and_agrees(session):
    ann, _ = scenario(session)
    assert expire_points(session=session, as_of=date(2026, 8, 31), actor="ops") == 0
    assert expire_points(session=session, as_of=date(2026, 9, 1), actor="ops") == 1
    session.commit()
    assert expire_points(session=session, as_of=date(2026, 9, 1), actor="ops") == 0
    assert expire_points(session=session, as_of=date(2027, 1, 1), actor="ops") == 0
    session.commit()
    written = session.exec(select(LoyaltyEntry).where(LoyaltyEntry.kind == "expire")).all()
    assert [(e.customer_id, e.occurred_at, e.points) for e in written] == [
        (ann.id, datetime(2026, 9, 1), -30)]
    # The written entry changes no balance: the computation ignores stored expiries.
    assert customer_balance(session=session, customer_id=ann.id, as_of=date(2026, 9, 2))["balance"] == 0
    rows = customer_ledger(session=session, customer_id=ann.id, as_of=date(2026, 12, 31))
    assert rows["recorded"].iloc[-1] and rows["balance"].iloc[-1] == 0
    audit = session.exec(select(AuditLog).where(AuditLog.action == "loyalty.expire")).all()
    assert len(audit) == 1 and audit[0].actor == "ops"
    # Next February BOB's lot expires too: one more entry, then nothing again.
    assert expire_points(session=session, as_of=date(2027, 2, 1)) == 1
    session.commit()
    assert expire_points(session=session, as_of=date(2027, 2, 1)) == 0


def test_a_redemption_above_the_balance_is_refused(session):
    ann, _ = scenario(session)
    with pytest.raises(InsufficientPoints, match="31 points is larger than the balance of 30"):
        record_redemption(session=session, customer_id=ann.id, points=31, at=datetime(2026, 5, 1),
                          actor="manager")
    entry = record_redemption(session=session, customer_id=ann.id, points=30, at=datetime(2026, 5, 1),
                              actor="manager", order_ref="O-1")
    session.commit()
    assert entry.points == -30 and entry.order_ref == "O-1"
    assert customer_balance(session=session, customer_id=ann.id, as_of=date(2026, 5, 1))["balance"] == 0
    # A backdated redemption that would leave the later one uncovered is refused too.
    with pytest.raises(InsufficientPoints, match="later entry"):
        record_redemption(session=session, customer_id=ann.id, points=10, at=datetime(2026, 3, 15),
                          actor="manager")
    assert session.exec(select(AuditLog).where(AuditLog.action == "loyalty.redeem")).one().actor == "manager"


def test_cli_expire_and_balance(app_env, capsys):
    with session_scope(get_engine(app_env)) as session:
        scenario(session)
    assert main(["loyalty", "balance", "--customer", "ANN", "--as-of", "2026-08-31"]) == 0
    out = capsys.readouterr().out
    assert "balance          30 points" in out and "next expiry 2026-09-01" in out
    assert main(["loyalty", "expire", "--as-of", "2026-09-01"]) == 0
    assert "written as of 2026-09-01: 1" in capsys.readouterr().out
    assert main(["loyalty", "expire", "--as-of", "2026-09-01"]) == 0
    assert "written as of 2026-09-01: 0" in capsys.readouterr().out
    assert main(["loyalty", "balance", "--customer", "NOBODY"]) == 1
    assert "no customer with id NOBODY" in capsys.readouterr().err


def test_what_the_expiry_job_would_write_before_and_after_it_runs(session):
    """The Admin screen's "due" figures: ANN's 30 unused points of the lot expiring on 1 Sep 2026
    (100 + 50 earned, 120 redeemed oldest first), then nothing once the job wrote them; next
    February BOB's 200, ANN's written 30 still counted as recorded."""
    from core.loyalty import pending_expiries

    scenario(session)
    nothing = {"entries": 0, "points": 0, "customers": 0}
    assert pending_expiries(session=session, as_of=date(2026, 8, 31)) == nothing
    assert pending_expiries(session=session, as_of=date(2026, 9, 1)) == {"entries": 1, "points": 30, "customers": 1}
    assert expire_points(session=session, as_of=date(2026, 9, 1), actor="ops") == 1
    session.commit()
    assert pending_expiries(session=session, as_of=date(2026, 9, 1)) == nothing
    assert pending_expiries(session=session, as_of=date(2027, 2, 1)) == {"entries": 1, "points": 200, "customers": 1}


def test_the_member_list_names_each_member_and_follows_a_rename_at_once(session):
    """The Loyalty screen's list (member_balances): who each member is comes from the customer
    table read as columns and kept by its data generation; a rename committed later shows in the
    very next read. ANN: 150 earned, 120 redeemed, 30 left; BOB: 200; CAT has no points (not a
    member)."""
    from core.loyalty import member_balances
    from core.roles import Role

    ann, bob = scenario(session)
    as_of = date(2026, 5, 1)
    first = member_balances(session=session, as_of=as_of, roles={Role.ADMIN})
    assert first[["customer", "name", "balance"]].values.tolist() == [
        ["BOB", bob.name, 200], ["ANN", ann.name, 30]]
    ann.name = "Ann Renamed"
    session.add(ann)
    session.commit()
    again = member_balances(session=session, as_of=as_of, roles={Role.ADMIN})
    assert again.loc[again["customer"] == "ANN", "name"].tolist() == ["Ann Renamed"]
