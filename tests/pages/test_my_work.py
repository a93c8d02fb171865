"""My work through AppTest on the small demo store: the landing page of managers and support
leads, their own tasks only, and acting on a task without leaving the screen."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from core.tasks import REASON_LABELS
from db.engine import get_engine
from db.models import AuditLog, Customer, Task
from tests.pages.helpers import app_as, open_tab, page_text


def _work_on(at):  # noqa: ANN001, ANN202
    return next(s for s in at.selectbox if s.label == "Work on")


def _open_tasks(url: str, username: str) -> list[Task]:
    with Session(get_engine(url)) as s:
        return list(s.execute(select(Task).where(Task.assignee == username, Task.closed_at.is_(None))).scalars())


def test_a_manager_lands_on_my_work_with_only_their_own_tasks(demo_app: str) -> None:
    at = app_as("manager")
    assert not at.exception, at.exception
    assert at.title[0].value == "My work"
    mine = _open_tasks(demo_app, "manager")
    assert mine, "the demo store gives the manager tasks"
    assert at.metric[0].value == str(len(mine))
    shown = at.dataframe[0].value
    with Session(get_engine(demo_app)) as s:
        owners = {s.get(Customer, t.customer_id).external_id for t in mine}
    assert set(shown["external_id"]) == owners
    assert "Priority = value at risk" in page_text(at)


def test_the_exec_is_refused_and_lands_on_the_overview(demo_app: str) -> None:
    at = app_as("exec")
    assert at.title[0].value != "My work"
    at = app_as("exec", "views/my_work.py")
    assert any("Not allowed" in e.value for e in at.error)
    assert not at.dataframe and not at.metric


def test_a_support_lead_closes_a_detractor_task_in_two_clicks(demo_app: str) -> None:
    at = app_as("support")
    assert at.title[0].value == "My work"
    text = page_text(at)
    assert REASON_LABELS["detractor"] in text
    before = len(_open_tasks(demo_app, "support"))
    top = _work_on(at).value
    at.selectbox(key="mw_close_outcome").set_value("not_a_problem")
    at.text_input(key="mw_close_note").input("answered by phone last week")
    at.button(key="FormSubmitter:mw_close_form-Close task").click().run()
    assert not at.exception, at.exception
    assert "Task closed: Not a problem." in page_text(at)
    assert len(_open_tasks(demo_app, "support")) == before - 1
    with Session(get_engine(demo_app)) as s:
        task = s.get(Task, top)
        assert (task.outcome, task.closed_by, task.note) == ("not_a_problem", "support", "answered by phone last week")
        entry = s.execute(select(AuditLog).where(AuditLog.action == "task.close",
                                                 AuditLog.record_id == str(top))).scalars().one()
        assert entry.customer_id == task.customer_id


def test_snoozing_the_top_task_takes_it_off_the_list(demo_app: str) -> None:
    at = app_as("manager")
    top = _work_on(at).value
    at.date_input(key="mw_snooze_until").set_value(datetime.now(UTC).date() + timedelta(days=3))
    at.text_input(key="mw_snooze_reason").input("on holiday")
    at.button(key="FormSubmitter:mw_snooze_form-Snooze").click().run()
    assert not at.exception, at.exception
    assert _work_on(at).value != top
    assert at.metric[3].value == "1"  # Snoozed
    assert len(_work_on(at).options) == len(_open_tasks(demo_app, "manager")) - 1


def test_a_snooze_without_a_reason_is_refused_in_a_sentence(demo_app: str) -> None:
    at = app_as("manager")
    top = _work_on(at).value
    at.date_input(key="mw_snooze_until").set_value(datetime.now(UTC).date() + timedelta(days=3))
    at.button(key="FormSubmitter:mw_snooze_form-Snooze").click().run()
    assert not at.exception, at.exception
    # A sentence with its capital and full stop (it read "say why the task is snoozed (...)").
    # (The element holds Markdown with every special character escaped: shown as typed.)
    assert [re.sub(r"\\(.)", r"\1", e.value) for e in at.error] == [
        "Say why the task is snoozed (for example: customer on holiday until then)."]
    assert _work_on(at).value == top


def test_an_admin_edits_a_rule_s_sla(demo_app: str) -> None:
    at = open_tab(app_as("admin", "views/admin.py"), "admin_tab", "Task rules")
    assert not at.exception, at.exception
    at.number_input(key="rule_detractor_sla_days").set_value(4)
    at.checkbox(key="rule_ticket_open_enabled").uncheck()
    at.button(key="FormSubmitter:task_rules_form-Save task rules").click().run()
    assert not at.exception, at.exception
    assert "Saved." in page_text(at)
    from core.tasks import task_rules

    with Session(get_engine(demo_app)) as s:
        rules = task_rules(session=s)
        assert rules["detractor"]["sla_days"] == 4 and rules["ticket_open"]["enabled"] is False
        assert s.execute(select(AuditLog).where(AuditLog.action == "task.rules")).scalars().one().actor == "admin"


def _no_email_customer(url: str) -> int:
    with Session(get_engine(url)) as s:
        return s.execute(select(Customer.id).where(Customer.email_opt_in.is_(False), Customer.phone.is_not(None),
                                                   Customer.owner == "manager").order_by(Customer.id)).scalars().first()


def test_an_account_that_cannot_be_emailed_offers_a_call_task(demo_app: str) -> None:
    cid = _no_email_customer(demo_app)
    at = app_as("manager", "views/account.py", id=str(cid))
    assert not at.exception, at.exception
    text = page_text(at)
    assert "This customer cannot be emailed: call them instead." in text
    at.button(key="acct_call_task").click().run()
    assert not at.exception, at.exception
    with Session(get_engine(demo_app)) as s:
        task = s.execute(select(Task).where(Task.customer_id == cid, Task.reason == "call")).scalars().one()
        assert (task.assignee, task.closed_at) == ("manager", None)
    assert "Call the customer" in page_text(at)


def test_the_queue_shows_consent_and_filters_by_contactability(demo_app: str) -> None:
    at = app_as("manager", "views/accounts.py")
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert {"contact", "email_opt_in", "sms_opt_in"} <= set(table.columns)
    at.selectbox(key="acc_contact").set_value("none").run()
    table = at.dataframe[0].value if at.dataframe else None
    with Session(get_engine(demo_app)) as s:
        from core.scores import latest_as_of
        from db.models import ScoreSnapshot

        as_of = latest_as_of(session=s)
        rows = s.execute(select(Customer).join(ScoreSnapshot, ScoreSnapshot.customer_id == Customer.id)
                         .where(ScoreSnapshot.as_of == as_of, Customer.owner == "manager")).scalars().all()
        unreachable = {c.external_id for c in rows if not (c.email_opt_in and c.email) and not c.phone}
    assert unreachable and table is not None
    shown = set(table["external_id"])
    assert shown <= unreachable and len(shown) == min(50, len(unreachable))  # one page of at most 50
    assert set(table["contact"]) == {"Cannot be contacted"}
    at.radio(key="acc_order").set_value("priority").run()
    assert not at.exception, at.exception
    prio = at.dataframe[0].value["priority"].tolist()
    assert prio == sorted(prio, reverse=True)


def test_a_hostile_name_stays_plain_text_on_my_work(demo_app: str) -> None:
    hostile = "Mallory <img src=x onerror=alert(1)> **bold** [link](javascript:alert(1))"
    with Session(get_engine(demo_app)) as s:
        from core.roles import Role
        from core.tasks import open_tasks

        top = open_tasks(session=s, roles=frozenset({Role.ACCOUNT_MANAGER}), username="manager").iloc[0]
        s.get(Customer, int(top["customer_id"])).name = hostile
        s.commit()
    at = app_as("manager")
    assert not at.exception, at.exception
    assert any(hostile in t.value for t in at.text)
    assert not any("Mallory" in m.value for m in at.markdown)


def test_an_admin_stops_the_weekly_digest_for_one_person(demo_app: str) -> None:
    from core.digest import opted_out

    at = open_tab(app_as("admin", "views/admin.py"), "admin_tab", "Task rules")
    at.multiselect(key="digest_opt_out").select("support")
    at.button(key="FormSubmitter:digest_form-Save digest settings").click().run()
    assert not at.exception, at.exception
    with Session(get_engine(demo_app)) as s:
        assert opted_out(session=s) == {"support"}
        entry = s.execute(select(AuditLog).where(AuditLog.action == "digest.opt_out")).scalars().one()
        assert (entry.actor, entry.record_id) == ("admin", "support")
