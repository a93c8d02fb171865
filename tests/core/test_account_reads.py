"""The Account screen's kept reads: the template fit, the timeline and the points balance are the
same as the uncached, per-template computation, and a write shows at once (issue 17)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlmodel import Session

from core import audit, readcache
from core import timeline as tl
from core.loyalty import ledger_summary
from core.outreach import TEMPLATES, customer_contexts, expiring_points, fitting_templates
from core.outreach.contexts import _unreachable
from db.engine import get_engine
from tests.factories import make_customer, make_feedback, make_loyalty, make_order, make_product, make_ticket

NOON = datetime(2026, 6, 30, 12)


@pytest.fixture
def book(session: Session) -> dict[str, int]:
    make_product(session, sku="LAU", name="Laundry liquid", category="laundry", replenishment_days=30)
    ids = {}
    ids["no_consent"] = make_customer(session, email_opt_in=False).id
    ids["no_email"] = make_customer(session, email=None).id
    ids["bad_email"] = make_customer(session, email="not an address").id
    ids["plain"] = make_customer(session).id
    ids["vip"] = make_customer(session, segment="VIP").id
    for key in ("no_consent", "plain", "vip"):
        c = session.get(tl.Customer, ids[key])
        for k in range(3):
            make_order(session, c, NOON - timedelta(days=20 + 50 * k), total=40.0, lines=[("LAU", 1, 40.0)])
        make_loyalty(session, c, NOON - timedelta(days=400), "earn", 100, expires_at=NOON + timedelta(days=10))
        make_loyalty(session, c, NOON - timedelta(days=30), "earn", 50, expires_at=NOON + timedelta(days=300))
        make_loyalty(session, c, NOON - timedelta(days=5), "redeem", -30)
        make_feedback(session, c, NOON - timedelta(days=3), nps_score=2, state="new")
        make_ticket(session, c, NOON - timedelta(days=2), topic="late", status="open")
    session.commit()
    return ids


def _old_fit(session: Session, cid: int, now: datetime) -> dict[str, str | None]:
    """The fit as it was computed before: each template's own context, then consent/address."""
    out = {}
    for t in TEMPLATES:
        row = customer_contexts(session=session, customer_ids=[cid], template=t, now=now).iloc[0]
        out[t] = _unreachable(row) or (None if bool(row["fits"]) else str(row["not_fit_reason"]))
    return out


def _old_timeline(session: Session, cid: int) -> pd.DataFrame:
    """account_timeline as it was before the split into kept rows and audit rows."""
    tl._customer(session, cid)
    conn = session.connection()
    parts = [events(conn, cid) for events in (*tl._DATA_EVENTS, tl._audit_events)]
    parts = [p for p in parts if p is not None and not p.empty]
    if not parts:
        return tl._frame([])
    frame = pd.concat(parts, ignore_index=True)
    frame["at"] = pd.to_datetime(frame["at"], format="ISO8601")
    return frame.sort_values("at", ascending=False, kind="stable").reset_index(drop=True)[tl.TIMELINE_COLUMNS]


@pytest.mark.parametrize("days", [0, 15, 45, 200])
def test_fit_same_as_per_template(session: Session, book: dict[str, int], days: int) -> None:
    now = NOON + timedelta(days=days, minutes=7)
    for cid in book.values():
        assert fitting_templates(session=session, customer_id=cid, now=now) == _old_fit(session, cid, now)
    unreachable = fitting_templates(session=session, customer_id=book["no_consent"], now=now)
    assert set(unreachable.values()) == {"no email consent"}


def test_timeline_same_as_before(session: Session, book: dict[str, int]) -> None:
    audit.record(session=session, actor="manager", action="viewed", customer_id=book["plain"])
    session.commit()
    for cid in book.values():
        pd.testing.assert_frame_equal(tl.account_timeline(session=session, customer_id=cid),
                                      _old_timeline(session, cid))
    with pytest.raises(tl.AccountNotFound):
        tl.account_timeline(session=session, customer_id=999_999)


def test_points_by_hand_and_as_the_whole_ledger(session: Session, book: dict[str, int]) -> None:
    cid = book["plain"]
    for day in (date(2026, 6, 30), date(2026, 7, 5)):
        now = datetime.combine(day, datetime.min.time()) + timedelta(hours=9)
        one = expiring_points(session=session, customer_ids=[cid], now=now)
        assert int(one.loc[cid, "balance"]) == 100 + 50 - 30  # by hand
        whole = ledger_summary(session=session, as_of=day).balances.set_index("customer_id")
        assert int(one.loc[cid, "balance"]) == int(whole.loc[cid, "balance"])
        assert int(one.loc[cid, "expiring_points"]) == int(whole.loc[cid, "expiring_points"])


def test_points_fresh_after_write(session: Session, book: dict[str, int]) -> None:
    cid = book["plain"]
    now = NOON + timedelta(hours=1)
    assert int(expiring_points(session=session, customer_ids=[cid], now=now).loc[cid, "balance"]) == 120
    make_loyalty(session, session.get(tl.Customer, cid), NOON, "earn", 25, expires_at=NOON + timedelta(days=300))
    session.commit()
    assert int(expiring_points(session=session, customer_ids=[cid], now=now).loc[cid, "balance"]) == 145


@pytest.fixture
def book_app(app_env: str, db_url: str, book: dict[str, int],  # noqa: ARG001
             monkeypatch: pytest.MonkeyPatch) -> str:
    """The app (its settings, so the ui readers) pointed at the book's own database (SQLite or
    PostgreSQL), with nothing kept from before; its URL."""
    from core.config import get_settings

    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    readcache.clear()
    return db_url


def test_screen_timeline_fresh_after_write(book_app: str, book: dict[str, int]) -> None:
    """On the book's own database (SQLite or PostgreSQL): the app is pointed at it."""
    from ui import accounts as ui_accounts

    app_env = book_app
    cid = book["plain"]
    roles = ("account_manager",)
    before = ui_accounts.account_timeline(roles, cid)
    assert "Points earn +100" in set(before["title"])  # the book's own entries: its database is read
    assert (before["kind"] == "audit").sum() == 0
    with Session(get_engine(app_env), expire_on_commit=False) as s:
        make_loyalty(s, s.get(tl.Customer, cid), NOON + timedelta(hours=1), "earn", 7)
        s.commit()
    after = ui_accounts.account_timeline(roles, cid)
    assert "Points earn +7" in set(after["title"])
    with Session(get_engine(app_env), expire_on_commit=False) as s:
        audit.record(session=s, actor="manager", action="exported", customer_id=cid)
        s.commit()
    # The audit log has no data generation: its rows are read each time, never kept.
    assert "Exported by manager" in set(ui_accounts.account_timeline(roles, cid)["title"])
    with Session(get_engine(app_env)) as s:
        pd.testing.assert_frame_equal(ui_accounts.account_timeline(roles, cid), _old_timeline(s, cid))


def test_screen_readers_fresh_after_a_write_to_what_they_read_and_kept_after_others(
        book_app: str, book: dict[str, int]) -> None:
    """The Account screen's readers are keyed by the generation of the tables they read only
    (ui.accounts, ui.outreach): a write to one of those shows at once; a write elsewhere (a
    task) keeps them. On the book's own database (SQLite or PostgreSQL)."""
    import json

    from db.models import ConsentChange, Outreach, ScoreSnapshot, Task
    from ui import accounts as ui_accounts
    from ui import outreach as ui_outreach

    app_env = book_app
    cid = book["plain"]
    roles = ("account_manager",)

    def reads() -> tuple:
        return (ui_accounts.account_overview(roles, cid), ui_accounts.score_history(cid),
                ui_accounts.consent_history(cid), ui_outreach._customer_log(roles, cid),
                ui_accounts.next_due(cid, date(2026, 7, 1)))

    def write(*rows: object) -> None:
        with Session(get_engine(app_env), expire_on_commit=False) as s:
            for row in rows:
                s.merge(row) if isinstance(row, tl.Customer) else s.add(row)
            s.commit()

    overview, history, consent, log, due = reads()
    assert overview["score"] is None and history.empty and consent.empty and log.empty
    assert list(due["times_bought"]) == [3]

    misses = readcache.stats()["misses"]
    write(Task(customer_id=cid, reason="at_risk", signal_key="test", why="test", assignee="manager",
               due_date=date(2026, 7, 2)))
    reads()
    assert readcache.stats()["misses"] == misses, "a write to a table they do not read kept them"

    # Each table on its own: every reader sees a write to each table it reads.
    with Session(get_engine(app_env), expire_on_commit=False) as s:
        s.add(Outreach(customer_id=cid, template="win_back", channel="email", triggered_by="manager",
                       idempotency_key="test-fresh-1", status="queued"))
        s.commit()
    assert list(reads()[3]["template"]) == ["win_back"]
    with Session(get_engine(app_env), expire_on_commit=False) as s:
        customer = s.get(tl.Customer, cid)
        customer.phone, customer.name = "+44 20 7946 0000", "Renamed Person"
        s.commit()
    overview, _h, _c, log, _d = reads()
    assert overview["phone"] == "+44 20 7946 0000" and list(log["name"]) == ["Renamed Person"]
    write(ScoreSnapshot(customer_id=cid, as_of=date(2026, 6, 30), health_score=41.0, band="watch",
                        churn_probability=0.35, value_at_risk_cents=1234,
                        drivers=json.dumps(["fewer orders"]), components=json.dumps({})))
    overview, history, _c, _l, _d = reads()
    assert overview["score"]["health_score"] == 41.0 and overview["score"]["value_at_risk"] == 12.34
    assert list(history["health_score"]) == [41.0]
    write(ConsentChange(customer_id=cid, channel="sms", granted=True, changed_at=NOON, source="manual"))
    assert list(reads()[2]["channel"]) == ["SMS"]

    with Session(get_engine(app_env), expire_on_commit=False) as s:
        make_order(s, s.get(tl.Customer, cid), NOON, total=40.0, lines=[("LAU", 1, 40.0)])
        s.commit()
    assert list(ui_accounts.next_due(cid, date(2026, 7, 1))["times_bought"]) == [4]
