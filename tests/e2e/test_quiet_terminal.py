"""The terminal that runs `streamlit run` stays quiet while people use the app: after every
screen has been opened as the admin (who sees them all), it holds no warning and no stack
trace, and says once that it is ready. An operator reads that terminal; a warning printed on every start teaches them to
ignore the one that matters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import log_in, sidebar_links, wait_until_idle

pytestmark = pytest.mark.e2e

NOISE = re.compile(r"Traceback|Warning|WARNING|Error|ERROR|was created with a default value")


def test_no_warning_or_stack_trace_after_every_screen(page: Page, app_url: str, app_log: Path) -> None:
    # What the terminal says while this admin goes through the screens. The app is shared by the
    # worker's other browser tests, whose closing tabs can make Streamlit's own websocket server
    # print a traceback ("Cannot call 'send' once a close message has been sent", a tab closed
    # while it connected: seen once in a full run, in starlette's code, not ours).
    before = len(app_log.read_text())
    log_in(page, app_url, "admin")
    titles = sorted(sidebar_links(page))
    assert len(titles) >= 9  # every screen, so every filter and widget is drawn once
    for title in titles:
        page.locator('[data-testid="stSidebar"]').get_by_text(title, exact=True).click()
        expect(page.locator('[data-testid="stMainBlockContainer"] h1').first).to_be_visible()
        wait_until_idle(page)
    terminal = app_log.read_text()
    during = terminal[before:]
    start = terminal[:terminal.find("Hearth is ready")]  # the server's start, before any browser
    noisy = [line for line in (start + "\n" + during).splitlines() if NOISE.search(line)]
    # On failure the terminal's end is shown whole: the first noisy line alone (a "Traceback")
    # does not say what broke.
    assert noisy == [], "\n".join(during.splitlines()[-80:])
    # The store was built before the server started: no start says it builds it, and the steps
    # and the login line are printed once, by the server's start, not again by the first page.
    assert "building the demo store" not in terminal
    assert terminal.count("Hearth is ready") == 1
    assert terminal.count("schema is at the newest migration") == 1
