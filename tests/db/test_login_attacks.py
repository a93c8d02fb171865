"""Logins under attack: parallel guesses cannot slip past the lockout (SQLite and PostgreSQL),
and every refusal costs the same time, so timing does not tell who exists (issue 19, 1 and 2)."""

from __future__ import annotations

import statistics
import threading
import time
from datetime import datetime, timedelta

from sqlmodel import Session, select

from core import auth, users
from db.engine import get_engine
from db.models import AuditLog, StaffUser

T0 = datetime(2026, 11, 1, 9, 0, 0)
RIGHT = "correct horse battery"


def _add(session: Session, username: str, *, disabled: bool = False, locked: bool = False) -> None:
    users.add_user(session=session, username=username, name=username.title(), password=RIGHT,
                   roles=["account_manager"])
    user = users.get_user(session=session, username=username)
    user.disabled = disabled
    user.locked_until = T0 + timedelta(days=365) if locked else None
    session.add(user)
    session.commit()


def _parallel_wrong_guesses(db_url: str, username: str, now: datetime, n: int = 12) -> list[auth.LoginOutcome]:
    """n wrong passwords sent at the same moment, each from its own connection (as n browser
    tabs or n replicas would), released together by a barrier."""
    engine = get_engine(db_url)
    barrier = threading.Barrier(n)
    outcomes: list[auth.LoginOutcome] = []
    errors: list[BaseException] = []

    def guess(i: int) -> None:
        try:
            with Session(engine, expire_on_commit=False) as s:
                barrier.wait(timeout=30)
                outcome, _ = auth.check_password_login(session=s, username=username,
                                                       password=f"guess-{i}", now=now)
                outcomes.append(outcome)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test below
            errors.append(exc)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return outcomes


def test_three_rounds_of_twelve_parallel_guesses_lock_the_user(db_url: str, session: Session) -> None:
    _add(session, "alice")
    for round_no in range(3):
        # Each round starts after the previous lock ran out (15 minutes), as a patient attacker would.
        now = T0 + timedelta(minutes=20 * round_no)
        outcomes = _parallel_wrong_guesses(db_url, "alice", now)
        assert outcomes == [auth.LoginOutcome.FAILED] * 12
        outcome, _ = auth.check_password_login(session=session, username="alice", password=RIGHT,
                                               now=now + timedelta(seconds=1))
        assert outcome is auth.LoginOutcome.FAILED, f"round {round_no + 1}: the right password got in"
        session.expire_all()
        locked_until = session.exec(select(StaffUser.locked_until).where(StaffUser.username == "alice")).one()
        assert locked_until == now + auth.LOCKOUT
    actions = session.exec(select(AuditLog.action).where(AuditLog.actor == "alice")).all()
    # Every one of the 36 guesses and the 3 right-password tries is on record.
    assert len(actions) == 39
    assert actions.count("login.lockout") >= 3
    # After the last lock runs out, the right password works again.
    outcome, _ = auth.check_password_login(session=session, username="alice", password=RIGHT,
                                           now=T0 + timedelta(minutes=60))
    assert outcome is auth.LoginOutcome.OK


def test_every_refusal_costs_the_same_time(db_url: str, session: Session) -> None:
    if not db_url.startswith("sqlite"):
        return  # one backend is enough to time bcrypt; the database part is the same
    _add(session, "known")
    _add(session, "gone", disabled=True)
    _add(session, "shut", locked=True)
    cases = {
        "unknown user": ("nobody-here", "whatever"),
        "wrong password": ("known", "wrong password"),
        "disabled user": ("gone", "wrong password"),
        "locked user": ("shut", "wrong password"),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for i in range(9):
        # Interleaved and rotated, so a busy moment of the machine falls on every kind alike.
        for name in names[i % 4:] + names[: i % 4]:
            username, password = cases[name]
            # `known` must not lock itself during the measurement: five failures would.
            if name == "wrong password" and i % 4 == 3:
                users.get_user(session=session, username="known").failed_logins = 0
                session.commit()
            # CPU time of this process: the work a refusal does (the bcrypt check is nearly all of
            # it), which is what a stranger's stopwatch measures on an idle server; wall time on
            # this shared test machine would mostly measure the other jobs.
            start = time.process_time()
            outcome, _ = auth.check_password_login(session=session, username=username, password=password,
                                                   now=T0)
            times[name].append(time.process_time() - start)
            assert outcome is auth.LoginOutcome.FAILED
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    fastest, slowest = min(medians.values()), max(medians.values())
    assert slowest <= fastest * 1.3, medians


def test_one_recovery_code_sent_twelve_times_at_once_logs_in_once(db_url: str, session: Session) -> None:
    import pyotp

    from core import mfa

    users.add_user(session=session, username="ada", name="Ada", password=RIGHT, roles=["admin"])
    session.commit()
    secret, _uri = mfa.start_enrolment(session=session, username="ada")
    codes = mfa.confirm_enrolment(session=session, username="ada", code=pyotp.TOTP(secret).at(T0), now=T0)
    engine = get_engine(db_url)
    barrier = threading.Barrier(12)
    results: list[bool] = []

    def use(_i: int) -> None:
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait(timeout=30)
            results.append(mfa.verify_login_code(session=s, username="ada", code=codes[0], now=T0))

    threads = [threading.Thread(target=use, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results.count(True) == 1, results
    assert len(results) == 12
    # The eleven refused attempts counted as failures: locked. After the lock, the other seven
    # codes still work, once each.
    later = T0 + auth.LOCKOUT + timedelta(minutes=1)
    assert not mfa.verify_login_code(session=session, username="ada", code=codes[1], now=T0)
    assert mfa.verify_login_code(session=session, username="ada", code=codes[1], now=later)
    assert not mfa.verify_login_code(session=session, username="ada", code=codes[1], now=later)
