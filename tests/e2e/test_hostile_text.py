"""Customer text with HTML, script and Markdown stays text in a real browser: nothing runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from db.engine import get_engine, session_scope
from db.models import Customer, Feedback, utcnow
from tests.e2e.helpers import log_in, wait_until_idle

pytestmark = pytest.mark.e2e

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=2</script>"
LINK = "[click me](javascript:window.__xss=3)"


@pytest.fixture(scope="module")
def hostile_customer(app_url: str, e2e_db_url: str) -> int:
    now = utcnow()
    with session_scope(get_engine(e2e_db_url)) as session:
        customer = Customer(external_id="XSS-1", name=f"Mallory {IMG}", email="mallory@example.com",
                            owner="manager", email_opt_in=True, signup_date=(now - timedelta(days=400)).date())
        session.add(customer)
        session.flush()
        session.add(Feedback(external_id="XSS-F1", customer_id=customer.id, submitted_at=now - timedelta(hours=1),
                             channel="web", nps_score=0, comment=f"{SCRIPT} {IMG} {LINK} broken and leaking",
                             sentiment=-0.9, flagged=True, flag_reasons="detractor 0", severity=999.0,
                             state="new"))
        return customer.id


def _watch(page: Page) -> list[str]:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return dialogs


def _nothing_ran(page: Page, dialogs: list[str]) -> None:
    wait_until_idle(page)  # the whole page has rendered: anything injected would have run by now
    assert dialogs == []
    assert page.evaluate("window.__xss === undefined")
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator('a[href^="javascript:"]').count() == 0


def test_hostile_comment_and_name_stay_text_in_the_inbox(page: Page, app_url: str, hostile_customer: int) -> None:
    dialogs = _watch(page)
    log_in(page, app_url, "support")
    page.goto(f"{app_url}/feedback")
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text(SCRIPT, exact=False).first).to_be_visible()  # shown literally
    _nothing_ran(page, dialogs)


def test_hostile_name_stays_text_on_the_account(page: Page, app_url: str, hostile_customer: int) -> None:
    dialogs = _watch(page)
    log_in(page, app_url, "manager")
    page.goto(f"{app_url}/account?id={hostile_customer}")
    expect(page.locator('[data-testid="stMain"]').get_by_text("Mallory <img", exact=False).first).to_be_visible()
    _nothing_ran(page, dialogs)
