"""The main flows in a real browser: outreach from an account, resolving flagged feedback,
and a CSV upload on the Data screen. Each checks the database afterwards."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func
from sqlmodel import select

from core.outreach import TEMPLATE_LABELS
from db.engine import get_engine, session_scope
from db.models import Customer, Feedback, Outreach
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_manager_previews_and_queues_outreach_from_an_account(page: Page, app_url: str, e2e_db_url: str) -> None:
    with session_scope(get_engine(e2e_db_url)) as session:
        contacted = select(Outreach.customer_id)
        customer = session.exec(
            select(Customer).where(Customer.owner == "manager", Customer.email_opt_in,
                                   Customer.email.is_not(None), Customer.id.not_in(contacted))
            .order_by(Customer.id)).first()
        customer_id = customer.id
    log_in(page, app_url, "manager")
    page.goto(f"{app_url}/account?id={customer_id}")
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("heading", name="Outreach")).to_be_visible()
    buttons = [main.get_by_role("button", name=label, exact=True) for label in TEMPLATE_LABELS.values()]
    expect(buttons[0]).to_be_visible()
    enabled = next(b for b in buttons if b.count() and b.is_enabled())
    label = enabled.inner_text().strip()
    enabled.click()
    expect(main.get_by_text(f"Preview: {label}")).to_be_visible()
    main.get_by_role("button", name="Send", exact=True).click()
    expect(main.get_by_text(re.compile(rf"{re.escape(label)}: .*queued"))).to_be_visible()
    with session_scope(get_engine(e2e_db_url)) as session:
        rows = session.exec(select(Outreach).where(Outreach.customer_id == customer_id)).all()
    # The app's own delivery worker (demo mode) may already have sent it.
    assert [(r.status in ("queued", "sending", "sent"), r.triggered_by) for r in rows] == [(True, "manager")]


def test_support_lead_resolves_a_flagged_item(page: Page, app_url: str, e2e_db_url: str) -> None:
    log_in(page, app_url, "support")
    page.goto(f"{app_url}/feedback")
    main = page.locator('[data-testid="stMain"]')
    heading = main.get_by_role("heading", name=re.compile(r"Item #\d+"))
    expect(heading).to_be_visible()
    item_id = int(re.search(r"#(\d+)", heading.inner_text()).group(1))
    main.get_by_role("button", name="Resolve").click()
    expect(main.get_by_text(re.compile("resolved", re.I)).first).to_be_visible()
    with session_scope(get_engine(e2e_db_url)) as session:
        for _ in range(300):  # a condition polled for up to a minute, not a clock
            item = session.get(Feedback, item_id)
            session.refresh(item)
            if item.state == "resolved":
                break
            page.wait_for_timeout(200)
    assert item.state == "resolved" and item.resolved_at is not None and item.resolution


def test_admin_uploads_a_csv_on_the_data_screen(page: Page, app_url: str, e2e_db_url: str) -> None:
    log_in(page, app_url, "admin")
    page.goto(f"{app_url}/data")
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text("What the file holds")).to_be_visible()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        str(ROOT / "examples" / "customers.csv"))
    expect(main.get_by_text("The file is valid")).to_be_visible()
    main.get_by_role("button", name="Import", exact=True).click()
    expect(main.get_by_text(re.compile(r"3 records were inserted")).first).to_be_visible()
    with session_scope(get_engine(e2e_db_url)) as session:
        n = session.exec(select(func.count()).select_from(Customer).where(Customer.external_id == "C1001")).one()
    assert n == 1
