"""Each demo role logs in through a real browser and sees exactly its screens, without error."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import log_in, sidebar_links

pytestmark = pytest.mark.e2e

MENUS = {
    "manager": {"My work", "Overview", "Accounts", "Feedback inbox", "NPS", "Loyalty", "Outreach"},
    "support": {"My work", "Overview", "Accounts", "Feedback inbox", "NPS", "Outreach"},
    "exec": {"Overview", "NPS", "Loyalty", "Outreach"},
    "admin": {"My work", "Overview", "Accounts", "Feedback inbox", "NPS", "Loyalty", "Outreach", "Data", "Admin"},
}


@pytest.mark.parametrize("username", sorted(MENUS))
def test_role_sees_exactly_its_screens(page: Page, app_url: str, username: str) -> None:
    log_in(page, app_url, username)
    expect(page.get_by_text("Demo mode")).to_be_visible()
    assert sidebar_links(page) == MENUS[username]
    for title in sorted(MENUS[username]):
        page.locator('[data-testid="stSidebar"]').get_by_text(title, exact=True).click()
        expect(page.locator('[data-testid="stMainBlockContainer"] h1').first).to_be_visible()
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_a_screen_outside_the_role_says_not_allowed(page: Page, app_url: str) -> None:
    log_in(page, app_url, "exec")
    page.goto(app_url + "/admin")
    expect(page.get_by_text("Not allowed")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(0)


def test_logout_returns_to_the_login_form(page: Page, app_url: str) -> None:
    log_in(page, app_url, "manager")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()
    page.reload()
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()


@pytest.mark.parametrize("screen", ["my_work", "overview", "accounts", "account", "feedback", "nps", "loyalty",
                                    "outreach", "data", "admin"])
def test_a_visitor_who_is_not_logged_in_gets_only_the_login_form(page: Page, app_url: str, screen: str) -> None:
    page.goto(f"{app_url}/{screen}")
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(0)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(0)
    expect(page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]')).to_have_count(0)
