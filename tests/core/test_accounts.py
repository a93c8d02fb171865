"""The at-risk queue and the account timeline on hand-made data, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlmodel import Session

from core import audit
from core.accounts import (
    AccountsError,
    QueueFilters,
    accounts_export_frame,
    queue_customer_ids,
    queue_page,
    segment_counts,
)
from core.roles import NotAllowed, Role
from core.scoring import score_all
from core.timeline import AccountNotFound, account_overview, account_timeline, next_due_items, score_history
from db.models import Customer, Outreach
from tests.factories import make_customer, make_feedback, make_loyalty, make_order, make_product, make_ticket

D = date(2026, 6, 30)
NOON = datetime(2026, 6, 30, 12)
MANAGER = frozenset({Role.ACCOUNT_MANAGER})


@pytest.fixture
def book(session: Session, engine) -> dict[str, int]:
    make_product(session, sku="LAU", name="Laundry liquid", category="laundry", replenishment_days=30)
    ids = {}
    # mine: big and lapsed, small and lapsed, steady; theirs: lapsed
    for key, owner, last_days_ago, total, region in (
        ("big_lapsed", "manager", 70, 100.0, "north"),
        ("small_lapsed", "manager", 70, 10.0, "south"),
        ("steady", "manager", 1, 50.0, "north"),
        ("theirs", "alex", 70, 60.0, "north"),
    ):
        c = make_customer(session, owner=owner, region=region, segment="consumer")
        for k in range(12):
            make_order(session, c, NOON - timedelta(days=last_days_ago + 14 * k), total=total,
                       lines=[("LAU", 1, total)])
        ids[key] = c.id
    c = session.get(Customer, ids["small_lapsed"])
    make_feedback(session, c, NOON - timedelta(days=10), nps_score=2, state="new")
    big = session.get(Customer, ids["big_lapsed"])
    make_feedback(session, big, NOON - timedelta(days=10), nps_score=3, state="resolved")
    session.commit()
    score_all(engine=engine, as_of=D)
    return ids


def test_own_book_sorted_by_value_at_risk(session: Session, book: dict[str, int]) -> None:
    page = queue_page(session=session, roles=MANAGER, username="manager")
    assert page.as_of == D
    ids = list(page.rows["customer_id"])
    assert book["theirs"] not in ids
    assert ids[:2] == [book["big_lapsed"], book["small_lapsed"]]  # the big one slipping first
    assert page.rows["link"].iloc[0] == f"/account?id={book['big_lapsed']}"
    everyone = queue_page(session=session, roles=MANAGER, username="manager", filters=QueueFilters(scope="all"))
    assert book["theirs"] in set(everyone.rows["customer_id"])
    assert everyone.total == page.total + 1


def test_filters(session: Session, book: dict[str, int]) -> None:
    def ids(**kw) -> set[int]:
        f = QueueFilters(scope="all", **kw)
        return set(queue_page(session=session, roles=MANAGER, username="x", filters=f).rows["customer_id"])

    lapsed = {book["big_lapsed"], book["small_lapsed"], book["theirs"]}
    assert ids(overdue_only=True) == lapsed
    assert ids(open_detractor_only=True) == {book["small_lapsed"]}  # the other detractor is resolved
    assert ids(regions=("south",)) == {book["small_lapsed"]}
    assert ids(owners=("alex",)) == {book["theirs"]}
    assert ids(bands=("healthy",)) == {book["steady"]}
    assert book["steady"] not in ids(bands=("at_risk", "watch"))
    with pytest.raises(AccountsError, match="unknown band"):
        ids(bands=("purple",))


def test_paging_never_returns_more_than_a_page(session: Session, book: dict[str, int]) -> None:
    f = QueueFilters(scope="all")
    first = queue_page(session=session, roles=MANAGER, username="m", filters=f, page=1, page_size=3)
    second = queue_page(session=session, roles=MANAGER, username="m", filters=f, page=2, page_size=3)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (4, 2, 3, 1)
    assert set(first.rows["customer_id"]).isdisjoint(second.rows["customer_id"])
    assert queue_customer_ids(session=session, roles=MANAGER, username="m", filters=f)[:1] == [book["big_lapsed"]]


def test_segment_counts_cover_the_filtered_queue(session: Session, book: dict[str, int]) -> None:
    counts = segment_counts(session=session, roles=MANAGER, username="manager")
    assert counts["customers"].sum() == 3
    assert "hibernating" in set(counts["segment"]) and "champions" in set(counts["segment"])


def test_exec_gets_no_personal_data(session: Session, book: dict[str, int]) -> None:
    with pytest.raises(NotAllowed):
        queue_page(session=session, roles=frozenset({Role.EXEC}), username="exec")
    with pytest.raises(NotAllowed):
        accounts_export_frame(session=session, roles=frozenset({Role.EXEC}), customer_ids=[book["steady"]])


def test_export_of_a_selection(session: Session, book: dict[str, int]) -> None:
    frame = accounts_export_frame(session=session, roles=MANAGER, customer_ids=[book["steady"], book["theirs"]])
    assert len(frame) == 2 and frame["as_of"].eq("2026-06-30").all()
    assert frame.iloc[0]["band"] == "at_risk"  # highest value at risk first
    # Written as `export scores` writes it: a whole number ("36", not "36.0").
    assert all(isinstance(v, int) for v in frame["health_score"].tolist())
    written = pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype=str)["health_score"]
    assert not written.str.contains(".", regex=False).any()


def test_timeline_interleaves_everything_newest_first(session: Session, engine) -> None:
    make_product(session, sku="LAU", name="Laundry liquid", category="laundry", replenishment_days=30)
    make_product(session, sku="VASE", name="Vase", category="home decor", replenishment_days=365)
    c = make_customer(session, subscription_status="paused", sms_opt_in=False)
    make_order(session, c, datetime(2026, 6, 1, 9), total=42.0, lines=[("LAU", 2, 15.0), ("VASE", 1, 12.0)])
    make_feedback(session, c, datetime(2026, 6, 3), nps_score=4, comment="Leaked all over the box")
    make_ticket(session, c, datetime(2026, 6, 4), topic="product")
    make_loyalty(session, c, datetime(2026, 6, 1, 9, 1), "earn", 42)
    session.add(Outreach(customer_id=c.id, template="apology", channel="outbox", triggered_by="manager",
                         triggered_at=datetime(2026, 6, 5), idempotency_key="k1", status="queued"))
    audit.record(session=session, actor="support", action="feedback.assign", customer_id=c.id,
                 detail={"from": None, "to": "sam", "due": "2026-06-09"})
    session.commit()

    tl = account_timeline(session=session, customer_id=c.id)
    # the audit entry is written now, after everything else
    assert list(tl["kind"]) == ["audit", "outreach", "ticket", "feedback", "loyalty", "order"]
    assert set(tl["kind"]) == {"order", "feedback", "ticket", "loyalty", "outreach", "audit"}
    order = tl[tl["kind"] == "order"].iloc[0]
    assert order["detail"] == "2 x Laundry liquid, 1 x Vase" and "€42.00" in order["title"]
    assert tl[tl["kind"] == "feedback"].iloc[0]["detail"] == "Leaked all over the box"
    # The audit entry in words, as the Admin audit log shows it, not its code and JSON.
    entry = tl[tl["kind"] == "audit"].iloc[0]
    assert (entry["title"], entry["detail"]) == ("Feedback assigned by support", "Due: 9 Jun 2026; To: sam")

    items = next_due_items(session=session, customer_id=c.id, as_of=D).set_index("sku")
    assert items.loc["LAU", "next_due"] == date(2026, 7, 31)  # 1 June + 2 x 30 days
    assert items.loc["LAU", "days_until_due"] == 31
    assert items.loc["VASE", "next_due"] is None  # decor is not a refill

    score_all(engine=engine, as_of=D)
    info = account_overview(session=session, roles=MANAGER, customer_id=c.id)
    assert info["subscription_status"] == "paused" and info["sms_opt_in"] is False
    assert info["score"]["as_of"] == D and "subscription" in info["score"]["components"]
    assert list(score_history(session=session, customer_id=c.id)["health_score"]) == [info["score"]["health_score"]]
    with pytest.raises(AccountNotFound):
        account_timeline(session=session, customer_id=999_999)


def test_search_takes_quotes_and_wildcards_literally(session: Session, book: dict[str, int]) -> None:
    c = session.get(Customer, book["steady"])
    c.name = "Siobhan O'Brien 100%_x\\"
    session.add(c)
    session.commit()
    everyone = frozenset({Role.ADMIN})
    for text, expected in (("o'brien", [book["steady"]]), ("100%", [book["steady"]]), ("%_x\\", [book["steady"]]),
                           ("%", [book["steady"]]), ("_", [book["steady"]]), ("' or '1'='1", []),
                           ('"; drop table customer; --', [])):
        page = queue_page(session=session, roles=everyone, username="admin",
                          filters=QueueFilters(scope="all", search=text))
        assert list(page.rows["customer_id"]) == expected, text
