"""In Chromium: a row chosen in the NPS screen's "Figures per period" opens the answers of that
period under "Open a point" (the same answers a click on the trend's point opens)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import log_in, wait_until_idle

pytestmark = pytest.mark.e2e


def test_a_manager_chooses_a_row_of_figures_per_period_and_sees_its_answers(page: Page, app_url: str) -> None:
    log_in(page, app_url, "manager")
    page.goto(f"{app_url}/nps")
    expander = page.get_by_text("Figures per period")
    expect(expander).to_be_visible(timeout=180_000)
    wait_until_idle(page)
    expander.click()
    table = page.locator("[data-testid='stDataFrame']").filter(
        has=page.locator("[data-testid='stDataFrameResizable']")).last
    expect(table).to_be_visible()
    # The grid draws its rows after it appears: a click before that selects nothing (seen once in
    # CI under load). Its accessible cells are there once the rows are.
    expect(table.locator("[role='gridcell']").first).to_be_attached()
    # The first row's selection box: the grid's leftmost column, under the header row (35 px each).
    # A click the grid does not take yet (its canvas still drawing under load: seen once in CI, the
    # choice stayed empty for 30 s) is made again, as a person would, at most three times.
    chosen = page.get_by_role("combobox", name="Open a point")
    label = re.compile(r"^The month of \w+ \d{4} \([\d,]+ answers, NPS [+-]?\d+\)$")
    for _ in range(3):
        # Measured again before each click: under load the expander may still be opening, and the
        # grid below where it was measured first (the choice stayed empty in CI after three clicks).
        # Scrolled into view first: a mouse click outside the viewport reaches nothing (the grid
        # can sit below the fold once the expander has opened).
        table.scroll_into_view_if_needed()
        box = table.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)
        wait_until_idle(page)
        try:
            expect(chosen).not_to_have_value("", timeout=10_000)
            break
        except AssertionError:
            continue  # nothing chosen: the click was not taken (a second click would undo one that was)
    expect(chosen).to_have_value(label)
    expect(page.get_by_text(re.compile(r"^[\d,]+ answers with a score, newest first\.$"))).to_be_visible()
