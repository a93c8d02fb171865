"""Task rules and task actions on SQLite and PostgreSQL: which signals make a task, no
duplicates, due dates from the rule's SLA, snooze, reassign, close, calls, outreach."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core import tasks
from core.roles import Role
from core.timeline import account_timeline
from db.models import AuditLog, Customer, Outreach, ScoreSnapshot, StaffUser, Task
from tests.factories import make_customer, make_feedback, make_loyalty, make_order, make_ticket

AS_OF = date(2026, 6, 10)
NOON = datetime(2026, 6, 10, 12, 0)
MANAGER = frozenset({Role.ACCOUNT_MANAGER})
SUPPORT = frozenset({Role.SUPPORT_LEAD})
ADMIN = frozenset({Role.ADMIN})


def _staff(session: Session, username: str, roles: str) -> None:
    session.add(StaffUser(username=username, name=username.title(), password_hash="x", roles=roles))
    session.flush()


def _snap(session: Session, customer_id: int, as_of: date, band: str, value: float = 100.0,
          days_overdue: float | None = None) -> None:
    session.add(ScoreSnapshot(customer_id=customer_id, as_of=as_of, health_score=30.0 if band == "at_risk" else 55.0,
                              band=band, churn_probability=0.7, value_at_risk_cents=round(value * 100),
                              days_overdue=days_overdue,
                              drivers=json.dumps(["no order for 80 days"])))
    session.flush()


def _open(session: Session) -> list[Task]:
    return list(session.execute(select(Task).where(Task.closed_at.is_(None)).order_by(Task.id)).scalars())


def test_a_task_when_an_account_enters_the_at_risk_band_due_after_the_sla(session: Session) -> None:
    entering = make_customer(session, owner="manager")
    staying = make_customer(session, owner="manager")
    small = make_customer(session, owner="alex")
    day1, day2 = AS_OF - timedelta(days=7), AS_OF
    _snap(session, entering.id, day1, "watch")
    _snap(session, entering.id, day2, "at_risk", value=140.0)
    _snap(session, staying.id, day1, "at_risk")
    _snap(session, staying.id, day2, "at_risk")
    _snap(session, small.id, day1, "watch")
    _snap(session, small.id, day2, "at_risk", value=10.0)  # below the default minimum of 25
    session.commit()

    report = tasks.generate_tasks(session=session, as_of=AS_OF, now=NOON)

    assert report.created["at_risk"] == 1
    (task,) = _open(session)
    assert (task.customer_id, task.reason, task.assignee) == (entering.id, "at_risk", "manager")
    assert task.due_date == date(2026, 6, 13)  # made 10 June, SLA 3 days
    assert "value at risk 140" in task.why and "no order for 80 days" in task.why


def test_running_the_rules_again_makes_no_duplicate_even_after_the_task_is_closed(session: Session) -> None:
    _staff(session, "support", "support_lead")
    c = make_customer(session)
    make_feedback(session, c, NOON - timedelta(days=2), nps_score=3)
    session.commit()
    assert tasks.generate_tasks(session=session, as_of=AS_OF, now=NOON).created["detractor"] == 1
    again = tasks.generate_tasks(session=session, as_of=AS_OF, now=NOON)
    assert (again.created["detractor"], again.already["detractor"]) == (0, 1)
    (task,) = _open(session)
    tasks.close_task(session=session, task_id=task.id, outcome="reached", actor="support", roles=SUPPORT)
    # The same answer never makes a second task...
    assert tasks.generate_tasks(session=session, as_of=AS_OF, now=NOON).created["detractor"] == 0
    assert _open(session) == []
    # ...a new detractor answer does.
    make_feedback(session, c, NOON - timedelta(hours=1), nps_score=5)
    session.commit()
    assert tasks.generate_tasks(session=session, as_of=AS_OF, now=NOON).created["detractor"] == 1
    assert len(session.execute(select(Task)).scalars().all()) == 2


def test_one_open_task_per_customer_and_reason_assigned_to_a_support_lead(session: Session) -> None:
    _staff(session, "zed", "support_lead")
    _staff(session, "bea", "support_lead,account_manager")
    _staff(session, "al", "account_manager")
    c = make_customer(session, owner="al")
    make_feedback(session, c, NOON - timedelta(days=5), nps_score=2)
    newest = make_feedback(session, c, NOON - timedelta(days=1), nps_score=6)
    make_feedback(session, c, NOON - timedelta(days=1), nps_score=7)  # passive: not a detractor
    make_feedback(session, c, NOON - timedelta(days=30), nps_score=0)  # older than the 14-day lookback
    session.commit()
    tasks.generate_tasks(session=session, as_of=AS_OF, now=NOON)
    (task,) = _open(session)
    assert task.feedback_id == newest.id
    assert task.assignee == "bea"  # the first support lead by username, not the account's owner
    assert task.due_date == date(2026, 6, 12)  # SLA 2 days


def test_the_database_refuses_a_second_open_task_for_the_same_customer_and_reason(session: Session) -> None:
    c = make_customer(session)
    session.add(Task(customer_id=c.id, reason="at_risk", signal_key="entered:2026-06-01", open_key=f"{c.id}:at_risk",
                     why="w", due_date=AS_OF))
    session.commit()
    session.add(Task(customer_id=c.id, reason="at_risk", signal_key="entered:2026-06-08", open_key=f"{c.id}:at_risk",
                     why="w", due_date=AS_OF))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_tickets_open_too_long_and_overdue_refills_of_valuable_customers(session: Session) -> None:
    slow = make_customer(session, owner="manager")
    fresh = make_customer(session, owner="manager")
    done = make_customer(session, owner="manager")
    make_ticket(session, slow, NOON - timedelta(days=10), topic="late delivery", status="open")
    make_ticket(session, fresh, NOON - timedelta(days=3), status="open")
    make_ticket(session, done, NOON - timedelta(days=20), status="closed", closed_at=NOON - timedelta(days=15))
    big = make_customer(session, owner="priya")
    modest = make_customer(session, owner="priya")
    make_order(session, big, NOON - timedelta(days=60), total=250.0)
    make_order(session, modest, NOON - timedelta(days=60), total=150.0)
    for c in (slow, fresh, done, big, modest):
        _snap(session, c.id, AS_OF, "watch", days_overdue=1.0)
    session.execute(ScoreSnapshot.__table__.update()
                    .where(ScoreSnapshot.customer_id.in_([big.id, modest.id])).values(days_overdue=12.0))
    session.commit()
    report = tasks.generate_tasks(session=session, as_of=AS_OF, now=NOON)
    got = {(t.customer_id, t.reason, t.due_date) for t in _open(session)}
    assert got == {(slow.id, "ticket_open", date(2026, 6, 12)), (big.id, "refill_overdue", date(2026, 6, 15))}
    assert report.created["ticket_open"] == 1 and report.created["refill_overdue"] == 1
    refill = next(t for t in _open(session) if t.reason == "refill_overdue")
    assert refill.signal_key == "ran_out:2026-05-29"  # 12 days before 10 June
    assert refill.why.startswith("Every refill they bought had run out by about 29 May 2026 (12 days before "
                                 "10 Jun 2026; the first ran out earlier, see Why on the account)")


def test_rules_and_slas_are_settings_an_admin_edits(session: Session) -> None:
    _staff(session, "support", "support_lead")
    c = make_customer(session)
    t = make_customer(session)
    make_feedback(session, c, NOON - timedelta(days=1), nps_score=1)
    make_ticket(session, t, NOON - timedelta(days=10), status="open")
    session.commit()
    tasks.save_task_rules(session=session, rules={"detractor": {"sla_days": 5},
                                                  "ticket_open": {"enabled": False}}, actor="admin")
    assert tasks.task_rules(session=session)["detractor"]["sla_days"] == 5
    tasks.generate_tasks(session=session, as_of=AS_OF, now=NOON)
    (task,) = _open(session)
    assert (task.reason, task.due_date) == ("detractor", date(2026, 6, 15))
    entry = session.execute(select(AuditLog).where(AuditLog.action == "task.rules")).scalars().one()
    assert entry.actor == "admin" and '"sla_days": 5' in entry.detail
    with pytest.raises(tasks.TaskError, match="New detractor answer: sla_days must be 0 or more"):
        tasks.save_task_rules(session=session, rules={"detractor": {"sla_days": -1}}, actor="admin")
    with pytest.raises(tasks.TaskError, match="unknown task rule 'birthday'"):
        tasks.save_task_rules(session=session, rules={"birthday": {"sla_days": 1}}, actor="admin")


def _one_task(session: Session, owner: str = "manager", **customer) -> Task:
    c = make_customer(session, owner=owner, **customer)
    session.add(Task(customer_id=c.id, reason="at_risk", signal_key="entered:2026-06-10",
                     open_key=f"{c.id}:at_risk", why="Entered the at-risk band", assignee=owner,
                     due_date=AS_OF + timedelta(days=3)))
    session.commit()
    return session.execute(select(Task).where(Task.customer_id == c.id)).scalars().one()


def test_snooze_hides_a_task_until_its_day_and_needs_a_reason(session: Session) -> None:
    task = _one_task(session)
    with pytest.raises(tasks.TaskError, match="say why"):
        tasks.snooze_task(session=session, task_id=task.id, until=date(2026, 6, 20), reason=" ", actor="manager",
                          roles=MANAGER, today=AS_OF)
    with pytest.raises(tasks.TaskError, match="a day after today"):
        tasks.snooze_task(session=session, task_id=task.id, until=AS_OF, reason="holiday", actor="manager",
                          roles=MANAGER, today=AS_OF)
    tasks.snooze_task(session=session, task_id=task.id, until=date(2026, 6, 20), reason="on holiday",
                      actor="manager", roles=MANAGER, today=AS_OF)
    assert tasks.open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF).empty
    assert tasks.task_counts(session=session, username="manager", today=AS_OF)["snoozed"] == 1
    back = tasks.open_tasks(session=session, roles=MANAGER, username="manager", today=date(2026, 6, 20))
    assert back["task_id"].tolist() == [task.id]
    assert back.loc[0, "days_overdue"] == 7  # due 13 June, seen on 20 June
    timeline = account_timeline(session=session, customer_id=task.customer_id)
    assert timeline["title"].str.contains("Task snoozed by manager").any()
    assert timeline["detail"].str.contains("on holiday").any()


def test_close_reassign_and_who_may_change_a_task(session: Session) -> None:
    _staff(session, "manager", "account_manager")
    _staff(session, "alex", "account_manager")
    task = _one_task(session)
    with pytest.raises(tasks.TaskError, match="assigned to manager"):
        tasks.close_task(session=session, task_id=task.id, outcome="reached", actor="alex", roles=MANAGER)
    with pytest.raises(tasks.TaskError, match="unknown outcome 'done'"):
        tasks.close_task(session=session, task_id=task.id, outcome="done", actor="manager", roles=MANAGER)
    with pytest.raises(tasks.TaskError, match="not an enabled account manager"):
        tasks.reassign_task(session=session, task_id=task.id, to="nobody", actor="manager", roles=MANAGER)
    tasks.reassign_task(session=session, task_id=task.id, to="alex", actor="manager", roles=MANAGER)
    closed = tasks.close_task(session=session, task_id=task.id, outcome="not_a_problem", actor="alex",
                              roles=MANAGER, note="moved abroad")
    assert (closed.outcome, closed.closed_by, closed.open_key) == ("not_a_problem", "alex", None)
    with pytest.raises(tasks.TaskError, match="already closed"):
        tasks.close_task(session=session, task_id=task.id, outcome="reached", actor="alex", roles=ADMIN)
    actions = session.execute(select(AuditLog.action, AuditLog.actor).where(AuditLog.customer_id == task.customer_id)
                              .order_by(AuditLog.id)).all()
    assert [tuple(a) for a in actions] == [("task.reassign", "manager"), ("task.close", "alex")]


def test_a_call_is_logged_with_its_outcome_and_note_on_the_timeline(session: Session) -> None:
    task = _one_task(session, email_opt_in=False, phone="+44 20 7946 0000")
    with pytest.raises(tasks.TaskError, match="reached, no_answer"):
        tasks.log_call(session=session, task_id=task.id, outcome="offer_sent", note="", actor="manager",
                       roles=MANAGER)
    tasks.log_call(session=session, task_id=task.id, outcome="reached", note="will reorder next week",
                   actor="manager", roles=MANAGER)
    assert session.get(Task, task.id).outcome == "reached"
    timeline = account_timeline(session=session, customer_id=task.customer_id)
    call = timeline[timeline["title"] == "Call logged by manager"]
    assert len(call) == 1 and "will reorder next week" in call.iloc[0]["detail"]
    assert "Reached" in call.iloc[0]["detail"]


def test_sending_the_suggested_email_closes_the_task_as_offer_sent(session: Session) -> None:
    ok = _one_task(session)
    make_order(session, session.get(Customer, ok.customer_id), datetime.now() - timedelta(days=60))
    session.commit()
    tasks_frame = tasks.open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF)
    assert tasks_frame.loc[0, "next_action"] == "email" and tasks_frame.loc[0, "next_template"] == "win_back"
    task, said = tasks.send_task_outreach(session=session, task_id=ok.id, actor="manager", roles=MANAGER)
    assert task.outcome == "offer_sent" and said.startswith("queued")
    (outreach,) = session.execute(select(Outreach).where(Outreach.customer_id == ok.customer_id)).scalars().all()
    assert (outreach.template, outreach.status, outreach.triggered_by) == ("win_back", "queued", "manager")

    no_consent = _one_task(session, email_opt_in=False)
    task, said = tasks.send_task_outreach(session=session, task_id=no_consent.id, actor="manager", roles=MANAGER)
    assert task.closed_at is None and "suppressed" in said and "consent" in said


def test_my_work_lists_overdue_first_then_by_due_date_then_priority(session: Session) -> None:
    rows = []
    for due, value, phone, opt_in in ((AS_OF + timedelta(days=2), 10.0, None, True),
                                      (AS_OF - timedelta(days=1), 5.0, "+1 555", False),
                                      (AS_OF + timedelta(days=2), 300.0, None, False),
                                      (AS_OF, 50.0, None, True)):
        c = make_customer(session, owner="manager", phone=phone, email_opt_in=opt_in)
        _snap(session, c.id, AS_OF, "at_risk", value=value)
        session.add(Task(customer_id=c.id, reason="at_risk", signal_key="k", open_key=f"{c.id}:at_risk", why="w",
                         assignee="manager", due_date=due))
        rows.append(c.id)
    other = make_customer(session, owner="alex")
    session.add(Task(customer_id=other.id, reason="at_risk", signal_key="k", open_key=f"{other.id}:at_risk",
                     why="w", assignee="alex", due_date=AS_OF - timedelta(days=9)))
    session.commit()
    frame = tasks.open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF)
    # overdue (due 9 June), due today, then the two due 12 June by priority (300 before 10)
    assert frame["customer_id"].tolist() == [rows[1], rows[3], rows[2], rows[0]]
    assert frame["contact"].tolist() == ["phone", "email", "none", "email"]
    assert frame["next_action"].tolist() == ["call", "email", "close", "email"]
    by_phone = tasks.open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF, contact="phone")
    assert by_phone["customer_id"].tolist() == [rows[1]]
    nowhere = tasks.open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF, contact="none")
    assert nowhere["customer_id"].tolist() == [rows[2]]


def test_the_first_tasks_are_the_list_s_head_with_priority_only_where_it_orders(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # Overdue (value 5), then three due 12 June (values 10, 300, 70: ordered 300, 70, 10), then
    # two due 20 June (values 900, 1): by hand, the first three rows are the overdue one and the
    # 12 June ones with values 300 and 70.
    ids = {}
    for name, due, value in (("a", AS_OF + timedelta(days=2), 10.0), ("late", AS_OF - timedelta(days=1), 5.0),
                             ("b", AS_OF + timedelta(days=2), 300.0), ("c", AS_OF + timedelta(days=2), 70.0),
                             ("d", AS_OF + timedelta(days=10), 900.0), ("e", AS_OF + timedelta(days=10), 1.0)):
        c = make_customer(session, owner="manager")
        _snap(session, c.id, AS_OF, "at_risk", value=value)
        session.add(Task(customer_id=c.id, reason="at_risk", signal_key="k", open_key=f"{c.id}:at_risk", why="w",
                         assignee="manager", due_date=due))
        ids[name] = c.id
    session.commit()
    asked: list[list[int]] = []
    real = tasks.reading.priority_scores

    def spy(**kwargs):  # noqa: ANN003, ANN202
        asked.append(sorted(kwargs["customer_ids"]))
        return real(**kwargs)

    monkeypatch.setattr(tasks.reading, "priority_scores", spy)
    first, total = tasks.first_open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF, limit=3)
    assert total == 6
    assert first["customer_id"].tolist() == [ids["late"], ids["b"], ids["c"]]
    assert first["value_at_risk"].tolist() == [5.0, 300.0, 70.0]
    # Priority was worked out for the overdue task and the whole 12 June group, not for 20 June.
    assert asked == [sorted([ids["late"], ids["a"], ids["b"], ids["c"]])]
    whole = tasks.open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF)
    assert whole["customer_id"].tolist() == [ids["late"], ids["b"], ids["c"], ids["a"], ids["d"], ids["e"]]
    for limit in (1, 2, 4, 5, 6, 50):
        head, n = tasks.first_open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF,
                                         limit=limit)
        assert n == 6
        assert head.equals(whole.head(limit).reset_index(drop=True)), limit
    empty, n = tasks.first_open_tasks(session=session, roles=MANAGER, username="nobody", today=AS_OF, limit=3)
    assert n == 0 and empty.empty and list(empty.columns) == tasks.TASK_COLUMNS


def test_priority_adds_a_recent_detractor_and_expiring_points(session: Session) -> None:
    plain = make_customer(session)
    unhappy = make_customer(session)
    _snap(session, plain.id, AS_OF, "watch", value=120.0)
    _snap(session, unhappy.id, AS_OF, "watch", value=40.0)
    make_feedback(session, unhappy, NOON - timedelta(days=20), nps_score=4)
    session.commit()
    frame = tasks.priority_scores(session=session, customer_ids=[plain.id, unhappy.id], as_of=AS_OF)
    assert frame.loc[plain.id, "priority"] == pytest.approx(120.0)
    assert frame.loc[unhappy.id, "priority"] == pytest.approx(140.0)  # 40 + 100
    # 500 points at 0.01 each, counted ten times: 50
    assert tasks.priority_value(0.0, False, 500, point_value=0.01) == pytest.approx(50.0)


def test_the_suggested_step_follows_consent_phone_and_role() -> None:
    step = tasks.suggested_step
    assert step(reason="at_risk", contact="email", has_phone=True)["template"] == "win_back"
    assert step(reason="at_risk", contact="phone")["text"] == "Call the customer (email is not allowed)"
    assert step(reason="ticket_open", contact="email", has_phone=True)["text"] == "Call the customer"
    assert step(reason="ticket_open", contact="email", has_phone=False)["action"] == "close"
    # A support lead may send only the apology: an at-risk task of theirs is a call.
    assert step(reason="at_risk", contact="email", has_phone=True, roles=SUPPORT)["action"] == "call"
    assert step(reason="detractor", contact="email", has_phone=False, roles=SUPPORT)["template"] == "apology"
    assert step(reason="detractor", contact="none")["text"].startswith("No way to reach them")


def test_two_runs_at_once_make_each_task_once(engine, session: Session) -> None:  # noqa: ANN001
    import threading

    _staff(session, "support", "support_lead")
    for _ in range(30):
        c = make_customer(session)
        make_feedback(session, c, NOON - timedelta(days=1), nps_score=2)
    session.commit()
    reports, errors = [], []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            with Session(engine) as own:
                start.wait()
                reports.append(tasks.generate_tasks(session=own, as_of=AS_OF, now=NOON))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(r.created["detractor"] for r in reports) == 30  # between them, each answer once
    assert len(session.execute(select(Task)).scalars().all()) == 30
    creates = session.execute(select(AuditLog).where(AuditLog.action == "task.create")).scalars().all()
    assert len(creates) == 30


def test_the_queue_priority_covers_every_account_not_only_the_first_5000(session: Session) -> None:
    """5,010 accounts in one book. The one with the smallest value at risk (0) gave a detractor
    answer 20 days ago: priority 0 + 100 = 100, above everyone else's (60 to 65, no bonus), so it
    heads the priority order, though it is 5,010th by value at risk (beyond the 5,000 the order
    used to cover). Then the others follow by value at risk."""
    from sqlalchemy import insert

    from core.accounts import QueueFilters, queue_page

    n = 5_010
    session.execute(insert(Customer), [{"external_id": f"Q{i:05d}", "name": f"Q {i}", "owner": "manager",
                                        "email_opt_in": False} for i in range(n)])
    ids = dict(session.execute(select(Customer.external_id, Customer.id)
                               .where(Customer.external_id.like("Q%"))).all())
    # Q00000 has the most at risk (65.00), Q05008 the least of the others (14.92), Q05009 nothing;
    # whole cents, one cent apart.
    values = {f"Q{i:05d}": (0 if i == n - 1 else 6500 - i) for i in range(n)}
    session.execute(insert(ScoreSnapshot), [
        {"customer_id": ids[ext], "as_of": AS_OF, "health_score": 30.0, "band": "at_risk", "churn_probability": 0.7,
         "value_at_risk_cents": v, "drivers": "[]"} for ext, v in values.items()])
    make_feedback(session, session.get(Customer, ids["Q05009"]), NOON - timedelta(days=20), nps_score=3)
    session.commit()
    page = queue_page(session=session, roles=MANAGER, username="manager", filters=QueueFilters(scope="own"),
                      page=1, page_size=3, as_of=AS_OF, order="priority")
    assert page.total == n
    assert page.rows["external_id"].tolist() == ["Q05009", "Q00000", "Q00001"]
    assert page.rows["priority"].tolist() == pytest.approx([100.0, 65.0, 64.99])
    last = queue_page(session=session, roles=MANAGER, username="manager", filters=QueueFilters(scope="own"),
                      page=1_670, page_size=3, as_of=AS_OF, order="priority")  # 5,010 = 3 × 1,670
    # The last page: the three smallest values at risk after Q05009 moved to the top.
    assert last.rows["external_id"].tolist() == ["Q05006", "Q05007", "Q05008"]


@pytest.mark.parametrize("chunk", [5000, 2])
def test_priority_counts_only_points_expiring_within_30_days_by_the_ledger_rules(
        session: Session, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Points expire 12 months after they are earned unless the entry says when; "expiring" is
    within the 30 days after AS_OF (10 Jun 2026): before 11 Jul 2026 00:00. By hand:
    - by_rule: 300 earned 2025-07-10 23:00 (expire 2026-07-10 23:00, inside) and 50 earned
      2025-07-11 (expire 2026-07-11, just outside): 300 expiring;
    - stored: 200 with expires_at 2026-06-20, 80 redeemed since (oldest first): 120 expiring;
    - gone: 400 earned 2025-06-10 expired on 2026-06-10, before the window: 0;
    - later: 500 with expires_at 2026-08-01: 0.
    The same figures as core.loyalty's whole-ledger computation (ledger_summary), for a few
    accounts and as for a whole book (more than the chunk: chunk 2 here), where only the
    accounts with a lot expiring in the window are computed."""
    from core import loyalty
    from core.tasks import priority

    monkeypatch.setattr(priority, "_PRIORITY_CHUNK", chunk)

    by_rule, stored, gone, later = (make_customer(session) for _ in range(4))
    make_loyalty(session, by_rule, datetime(2025, 7, 10, 23, 0), "earn", 300)
    make_loyalty(session, by_rule, datetime(2025, 7, 11, 0, 0), "earn", 50)
    make_loyalty(session, stored, datetime(2026, 5, 1, 9, 0), "earn", 200, expires_at=datetime(2026, 6, 20))
    make_loyalty(session, stored, datetime(2026, 5, 15, 9, 0), "redeem", -80)
    make_loyalty(session, gone, datetime(2025, 6, 10, 8, 0), "earn", 400)
    make_loyalty(session, later, datetime(2026, 5, 1, 9, 0), "earn", 500, expires_at=datetime(2026, 8, 1))
    session.commit()
    ids = [by_rule.id, stored.id, gone.id, later.id]
    frame = tasks.priority_scores(session=session, customer_ids=ids, as_of=AS_OF)
    assert frame["expiring_points"].to_dict() == {by_rule.id: 300, stored.id: 120, gone.id: 0, later.id: 0}
    whole = loyalty.ledger_summary(session=session, as_of=AS_OF).balances.set_index("customer_id")
    assert whole["expiring_points"].reindex(ids).fillna(0).astype(int).tolist() == [300, 120, 0, 0]


def test_a_book_larger_than_one_statement_s_parameters_reads_the_day_s_scores_whole(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 1,000,000 customers an admin's list held 151,015 customers: their scores looked up by
    id overran PostgreSQL's 65,535 parameters per statement and My work failed. Past the
    chunk the day's scores are read whole; the list must be the one the lookup by id gives."""
    for due, value in ((AS_OF - timedelta(days=1), 5.0), (AS_OF, 50.0), (AS_OF + timedelta(days=2), 300.0)):
        c = make_customer(session, owner="manager")
        _snap(session, c.id, AS_OF, "at_risk", value=value)
        session.add(Task(customer_id=c.id, reason="at_risk", signal_key="k", open_key=f"{c.id}:at_risk", why="w",
                         assignee="manager", due_date=due))
    other = make_customer(session, owner="alex")  # scored that day, no task: must not appear
    _snap(session, other.id, AS_OF, "at_risk", value=999.0)
    session.commit()
    by_id = tasks.open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF)
    monkeypatch.setattr(tasks.reading, "_PRIORITY_CHUNK", 1)
    whole = tasks.open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF)
    assert whole["value_at_risk"].tolist() == [5.0, 50.0, 300.0]
    assert whole["band"].tolist() == ["at_risk"] * 3
    assert whole.equals(by_id)


@pytest.mark.parametrize("chunk", [5000, 1])
def test_the_first_tasks_of_a_large_due_date_group_rank_by_their_true_points(
        session: Session, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """A screen shows the first tasks only. When the last due date reached holds more tasks than
    places left, the ledger's rules run only for the tasks that may reach a place (an upper
    bound from the credits that may expire in the window); the rest must still come after. By
    hand, priority = value at risk + 10 x 0.01 x points expiring within 30 days of AS_OF:
    - E (overdue, an earlier due date): 1.0, always first;
    - due AS_OF + 2: A 100 (no points); B 60 + 500 points expiring 20 Jun = 110; C 90 + 2,000
      earned expiring 20 Jun of which 1,900 redeemed = 100 (its bound, 290, says maybe); G 80;
      D 30 with 300 points expiring 1 Aug (outside the window: bound 0); F 20.
    With 4 places: E, B, A, C (A and C tie at 100: the older task first); the same head as the
    whole list computed for every task (chunk 1: scores read by the tasks' query, not by id)."""
    monkeypatch.setattr(tasks.reading, "_PRIORITY_CHUNK", chunk)
    rows = {}
    for name, due, value in (("E", AS_OF - timedelta(days=1), 1.0), ("A", AS_OF + timedelta(days=2), 100.0),
                             ("B", AS_OF + timedelta(days=2), 60.0), ("C", AS_OF + timedelta(days=2), 90.0),
                             ("G", AS_OF + timedelta(days=2), 80.0), ("D", AS_OF + timedelta(days=2), 30.0),
                             ("F", AS_OF + timedelta(days=2), 20.0)):
        c = make_customer(session, owner="manager")
        _snap(session, c.id, AS_OF, "at_risk", value=value)
        session.add(Task(customer_id=c.id, reason="at_risk", signal_key="k", open_key=f"{c.id}:at_risk", why="w",
                         assignee="manager", due_date=due))
        rows[name] = c
    make_loyalty(session, rows["B"], datetime(2026, 5, 1, 9, 0), "earn", 500, expires_at=datetime(2026, 6, 20))
    make_loyalty(session, rows["C"], datetime(2026, 5, 1, 9, 0), "earn", 2000, expires_at=datetime(2026, 6, 20))
    make_loyalty(session, rows["C"], datetime(2026, 5, 15, 9, 0), "redeem", -1900)
    make_loyalty(session, rows["D"], datetime(2026, 5, 1, 9, 0), "earn", 300, expires_at=datetime(2026, 8, 1))
    session.commit()

    first, total = tasks.first_open_tasks(session=session, roles=MANAGER, username="manager", limit=4, today=AS_OF)
    ids = {c.id: name for name, c in rows.items()}
    assert total == 7
    assert [ids[i] for i in first["customer_id"]] == ["E", "B", "A", "C"]
    assert first["priority"].tolist() == [1.0, 110.0, 100.0, 100.0]
    assert first["expiring_points"].tolist() == [0, 500, 0, 100]
    whole = tasks.open_tasks(session=session, roles=MANAGER, username="manager", today=AS_OF)
    assert [ids[i] for i in whole["customer_id"]] == ["E", "B", "A", "C", "G", "D", "F"]
    assert first.equals(whole.head(4))
