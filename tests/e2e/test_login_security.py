"""Lockout and two-factor login in a real browser."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Page, expect

from core import mfa, users
from db.engine import get_engine, session_scope
from tests.e2e.helpers import sidebar_links

pytestmark = pytest.mark.e2e
PASSWORD = "a long staff password"


def _add(db_url: str, username: str, role: str) -> None:
    with session_scope(get_engine(db_url)) as session:
        users.add_user(session=session, username=username, name=username.title(), password=PASSWORD, roles=[role])


def _submit(page: Page, username: str, password: str) -> None:
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _wait_for_failures(page: Page, db_url: str, username: str, attempt: int) -> None:
    """Each submit is one run on the server; wait until it was counted before the next."""
    for _ in range(600):  # up to a minute on a loaded machine
        with session_scope(get_engine(db_url)) as session:
            user = users.get_user(session=session, username=username)
            if user.failed_logins >= attempt or user.locked_until is not None:
                return
        page.wait_for_timeout(100)
    raise AssertionError(f"attempt {attempt} was not counted")


def test_five_wrong_passwords_lock_even_the_right_one_out(page: Page, app_url: str, e2e_db_url: str) -> None:
    _add(e2e_db_url, "lockme", "exec")
    page.goto(app_url)
    for attempt in range(1, 6):
        _submit(page, "lockme", "wrong password!")
        expect(page.get_by_text("Login failed")).to_be_visible()
        _wait_for_failures(page, e2e_db_url, "lockme", attempt)
    _submit(page, "lockme", PASSWORD)
    expect(page.get_by_text("Login failed")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    # A new tab (new session) does not reset it: the lock is in the database.
    other = page.context.new_page()
    other.goto(app_url)
    _submit(other, "lockme", PASSWORD)
    expect(other.get_by_text("Login failed")).to_be_visible()


def test_totp_enrolment_and_login(page: Page, app_url: str, e2e_db_url: str) -> None:
    _add(e2e_db_url, "twofa", "support_lead")
    with session_scope(get_engine(e2e_db_url)) as session:
        mfa.set_required_roles(session=session, roles=["support_lead"], actor="e2e")
    try:
        page.goto(app_url)
        _submit(page, "twofa", PASSWORD)
        expect(page.get_by_text("Set up two-factor login")).to_be_visible()
        expect(page.locator('[data-testid="stImage"] img')).to_be_visible()  # the QR code
        secret = page.locator('[data-testid="stCode"] code').first.inner_text().strip()
        page.get_by_role("textbox", name="6-digit code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_text("recovery codes")).to_be_visible()
        page.get_by_role("button", name="I have saved them: continue").click()
        page.get_by_role("textbox", name="Code from your authenticator app, or a recovery code").fill(
            pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_text("Signed in as twofa")).to_be_visible()
        assert "Feedback inbox" in sidebar_links(page)
    finally:
        with session_scope(get_engine(e2e_db_url)) as session:
            mfa.set_required_roles(session=session, roles=[], actor="e2e")
