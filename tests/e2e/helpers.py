"""Browser steps shared by the end-to-end tests."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from core.users import DEMO_PASSWORD


def log_in(page: Page, base_url: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(base_url)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()
    wait_for_login_cookie(page)


def wait_for_login_cookie(page: Page, timeout_s: float = 60) -> None:
    """The re-login cookie is written by a component in the browser, a moment after login.

    A condition polled until it holds (a loaded CI machine may take many seconds), not a clock."""
    for _ in range(int(timeout_s * 10)):
        if any(c["name"] == "hearth_session" for c in page.context.cookies()):
            return
        page.wait_for_timeout(100)
    raise AssertionError("the login cookie was never set")


def wait_until_idle(page: Page) -> None:
    """Wait until the app's script run has finished (Streamlit marks it on the root element)."""
    expect(page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')).to_have_count(1)


def sidebar_links(page: Page) -> set[str]:
    links = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]')
    expect(links.first).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # Each link reads "<icon name>\n\n<title>"; the title is the last line.
    return {t.strip().splitlines()[-1].strip() for t in links.all_inner_texts()}
