"""A manager's and a support lead's day on the demo store, in a real browser: land on My
work, open the top task and see why, see that email is not allowed and log a call, snooze
another task, send the suggested offer from a third (delivered into the outbox by the app's
own worker), then find all of it on the accounts' timelines and in the audit log."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from core.delivery import outbox_path
from core.outreach import preview_outreach, record_unsubscribe
from core.roles import Role
from core.tasks import open_tasks
from core.users import DEMO_PASSWORD
from db.engine import get_engine
from db.models import Customer, Outreach, Task
from tests.e2e.helpers import log_in, wait_for_login_cookie, wait_until_idle

pytestmark = pytest.mark.e2e
MANAGER = frozenset({Role.ACCOUNT_MANAGER})
SUPPORT = frozenset({Role.SUPPORT_LEAD})


def _wait_until(condition, what: str, timeout: float = 60.0):  # noqa: ANN001, ANN202
    """Poll a condition (a file on disk, a row in the database) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _sent_eml(db_url: str, outbox: Path, task_id: int, customer_id: int, template: str) -> str:
    """The .eml the worker wrote for the task's outreach (the outreach must end as sent)."""
    def sent() -> Outreach | None:
        with Session(get_engine(db_url)) as s:
            return s.exec(select(Outreach).where(Outreach.idempotency_key == f"task:{task_id}:{template}",
                                                 Outreach.customer_id == customer_id,
                                                 Outreach.status == "sent")).first()
    outreach = _wait_until(sent, f"the {template} outreach to be sent")
    with Session(get_engine(db_url)) as s:
        email = s.get(Customer, customer_id).email
    path = outbox_path(SimpleNamespace(outbox_dir=str(outbox)), outreach.message_id)
    assert path.exists(), f"no .eml for {outreach.message_id} in the outbox"
    text = path.read_text()
    assert "To: " in text and email in text
    return text


def _main(page: Page):  # noqa: ANN202
    return page.locator('[data-testid="stMain"]')


def _work_on(page: Page):  # noqa: ANN202
    return _main(page).get_by_role("combobox", name="Work on")


def _choose_task(page: Page, label_part: str) -> None:
    """Pick a task in "Work on" by typing part of its label and taking the one match with Enter
    (the list redraws while it filters, so a click on an option can land on a detached element);
    tried again if the page's run replaced the box meanwhile."""
    wanted = re.compile(re.escape(label_part))
    for attempt in range(3):
        wait_until_idle(page)
        _work_on(page).click()
        _work_on(page).press_sequentially(label_part.lstrip("· "))  # the list is long: type to filter it
        expect(page.get_by_role("option", name=wanted)).to_have_count(1)
        page.keyboard.press("Enter")
        try:
            expect(_work_on(page)).to_have_value(wanted, timeout=10_000)
            return
        except AssertionError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")


def _audit_rows(browser, app_url: str, action_prefix: str) -> list[dict]:  # noqa: ANN001
    """An admin (in a browser of their own) downloads the audit log filtered by action."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(app_url)
        page.get_by_role("textbox", name="Username").fill("admin")
        page.get_by_role("textbox", name="Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        # Through the menu, in the same session, once the login has settled: the cookie is written
        # and the page's run has finished (a click during either can be lost).
        expect(page.get_by_text("Signed in as")).to_be_visible()
        wait_for_login_cookie(page)  # writing it reruns the app; a click before that can be undone
        wait_until_idle(page)
        page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Admin").click()
        return _download_audit(page, app_url, action_prefix)
    finally:
        context.close()


def _download_audit(page: Page, app_url: str, action_prefix: str) -> list[dict]:
    expect(_main(page).get_by_role("heading", name="Admin", exact=True)).to_be_visible()
    _main(page).get_by_role("tab", name="Audit log").click()
    caption = _main(page).get_by_text(re.compile(r"[\d,]+ newest entries"))
    expect(caption).to_be_visible()
    unfiltered = caption.inner_text()
    box = _main(page).get_by_label("Action starts with (e.g. login, outreach, import)")
    box.fill(action_prefix)
    box.press("Enter")
    # The filtered table has fewer entries: wait for that rerun to finish before downloading.
    expect(caption).not_to_have_text(unfiltered)
    # The caption changes before the run ends; the download button's file is replaced when the
    # run draws it again, which cancels a download started from the old one.
    wait_until_idle(page)
    with page.expect_download() as dl:
        _main(page).get_by_test_id("stDownloadButton").get_by_role("button", name="Download as CSV").click()
    text = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _timeline_shows(page: Page, app_url: str, customer_id: int, *texts: str | re.Pattern) -> None:
    page.goto(f"{app_url}/account?id={customer_id}")
    main = _main(page)
    expect(main.get_by_role("heading", name="Timeline")).to_be_visible()
    for text in texts:
        if isinstance(text, re.Pattern):
            # An outreach row: show only outreach, so the table's scrolling cannot hide it below the
            # newer audit rows (the table draws only the rows in view).
            main.get_by_role("combobox", name=re.compile("Show")).click()
            page.keyboard.type("outreach")
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            wait_until_idle(page)
        expect(main.get_by_text(text, exact=False).first).to_be_attached()


def test_a_managers_day(page: Page, browser, app_url: str, e2e_db_url: str,  # noqa: ANN001
                        e2e_outbox: Path) -> None:
    engine = get_engine(e2e_db_url)
    with Session(engine, expire_on_commit=False) as s:
        tasks = open_tasks(session=s, roles=MANAGER, username="manager")
        assert len(tasks) >= 3, "the demo store gives the manager at least three tasks"
        top = tasks.iloc[0]
        # The demo store decides who consented; make sure the top account is one that cannot be emailed.
        customer = s.get(Customer, int(top["customer_id"]))
        if customer.email_opt_in:
            record_unsubscribe(session=s, customer_id=customer.id, actor="e2e-setup", source="reply")
        if not customer.phone:
            customer.phone = "+44 20 7946 0018"
            s.add(customer)
            s.commit()
        second = tasks.iloc[1]
        third = next(r for r in tasks.iloc[2:].itertuples()
                     if r.next_action == "email" and r.next_template == "win_back"
                     and preview_outreach(session=s, customer_id=int(r.customer_id), template="win_back").would_send)

    log_in(page, app_url, "manager")
    main = _main(page)
    expect(main.get_by_role("heading", name="My work", exact=True)).to_be_visible()
    # The top task is open, with why.
    due = top["due_date"]
    expect(_work_on(page)).to_have_value(
        re.compile("^" + re.escape(f"1. Due {due.day} {due:%b} · {top['reason_label']} · {top['external_id']}")))
    expect(main.get_by_text(top["why"], exact=True)).to_be_visible()
    # Email is not allowed: the page says so and suggests a call.
    expect(main.get_by_text("Email: not allowed (no email consent)")).to_be_visible()
    expect(main.get_by_text("This customer cannot be emailed. Call them instead.")).to_be_visible()
    expect(main.get_by_text("Suggested next step: Call the customer")).to_be_visible()
    expect(main.get_by_role("button", name=re.compile("^Send the"))).to_have_count(0)

    # Log the call with its outcome (this closes the task).
    main.get_by_test_id("stRadio").get_by_text("Reached", exact=True).click()
    main.get_by_role("textbox", name="Note", exact=True).fill("Spoke to them: moving house, will reorder next month")
    main.get_by_role("button", name="Log call").click()
    expect(main.get_by_text("Call logged (Reached) and task closed.")).to_be_visible()

    # The next task is now on top: snooze it.
    expect(_work_on(page)).to_have_value(re.compile(re.escape(f"· {second['external_id']}")))
    main.get_by_role("tab", name="Snooze").click()
    main.get_by_role("textbox", name="Reason for snoozing").fill("Customer on holiday")
    main.get_by_role("button", name="Snooze", exact=True).click()
    expect(main.get_by_text(re.compile(r"Task snoozed until \d{1,2} \w+ \d{4}\."))).to_be_visible()

    # A third task: send the suggested win-back offer, which closes it as "offer sent".
    # By reason and customer: a customer may have two tasks (say, a refill and a detractor).
    _choose_task(page, f"· {third.reason_label} · {third.external_id}")
    main.get_by_role("button", name=re.compile("^Send the “Win-back offer” email")).click()
    expect(main.get_by_text("Task closed: offer sent.")).to_be_visible()
    eml = _sent_eml(e2e_db_url, e2e_outbox, int(third.task_id), int(third.customer_id), "win_back")
    assert "Subject:" in eml and "15 % off" in eml.replace("=\n", "")

    with Session(engine) as s:
        got = {int(t.id): (t.outcome, t.snoozed_until is not None, t.closed_at is not None)
               for t in s.exec(select(Task).where(Task.id.in_([int(top["task_id"]), int(second["task_id"]),
                                                              int(third.task_id)])))}
    assert got == {int(top["task_id"]): ("reached", False, True), int(second["task_id"]): (None, True, False),
                   int(third.task_id): ("offer_sent", False, True)}

    # All of it on the accounts' timelines...
    _timeline_shows(page, app_url, int(top["customer_id"]), "Call logged by manager", "will reorder next month",
                    "Task closed by manager")
    _timeline_shows(page, app_url, int(second["customer_id"]), "Task snoozed by manager", "Customer on holiday")
    _timeline_shows(page, app_url, int(third.customer_id), "Task closed by manager",
                    re.compile(r"Win-back offer by [\w ()]+ · "))  # the outreach itself: template, channel, status

    # ...and in the audit log.
    rows = _audit_rows(browser, app_url, "task.")
    mine = {(r["action"], r["record_id"]) for r in rows if r["actor"] == "manager"}
    assert {("task.close", str(top["task_id"])), ("task.snooze", str(second["task_id"])),
            ("task.close", str(third.task_id))} <= mine
    calls = _audit_rows(browser, app_url, "call.")
    assert any(r["action"] == "call.log" and r["actor"] == "manager" and r["record_id"] == str(top["task_id"])
               and "will reorder next month" in r["detail"] and "Reached" in r["detail"] for r in calls)


def test_a_support_leads_detractor_task(page: Page, browser, app_url: str, e2e_db_url: str,  # noqa: ANN001
                                        e2e_outbox: Path) -> None:
    with Session(get_engine(e2e_db_url)) as s:
        tasks = open_tasks(session=s, roles=SUPPORT, username="support")
        emailable = tasks[(tasks["reason"] == "detractor") & (tasks["next_action"] == "email")]
        assert not emailable.empty, "the demo store gives the support lead a detractor task"
        task = emailable.iloc[0]
    log_in(page, app_url, "support")
    main = _main(page)
    expect(main.get_by_role("heading", name="My work", exact=True)).to_be_visible()
    _choose_task(page, f"· {task['reason_label']} · {task['external_id']}")
    expect(main.get_by_text(task["why"], exact=True)).to_be_visible()
    expect(main.get_by_text("Email: allowed")).to_be_visible()
    main.get_by_role("button", name=re.compile("^Send the “Apology” email")).click()
    expect(main.get_by_text("Task closed: offer sent.")).to_be_visible()
    eml = _sent_eml(e2e_db_url, e2e_outbox, int(task["task_id"]), int(task["customer_id"]), "apology")
    assert "10 % off" in eml.replace("=\n", "")
    _timeline_shows(page, app_url, int(task["customer_id"]), "Task closed by support",
                    re.compile(r"Apology by [\w ()]+ · "))
    rows = _audit_rows(browser, app_url, "task.close")
    assert any(r["action"] == "task.close" and r["actor"] == "support" and r["record_id"] == str(task["task_id"])
               and "Offer sent" in r["detail"]
               for r in rows)
