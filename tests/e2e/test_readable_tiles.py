"""In a real browser at 1440 and 1024 px: the Overview's and Loyalty's metric tiles are not cut
off, money carries its currency and no tile reads "None". Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import log_in, wait_until_idle

# For every metric label and value: is its text wider than its box (cut off with an ellipsis)?
CUT_OFF = """() => [...document.querySelectorAll(
    '[data-testid="stMetricValue"] div, [data-testid="stMetricLabel"] p')]
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.innerText)"""


@pytest.mark.parametrize("width", [1440, 1024])
@pytest.mark.parametrize("screen", ["overview", "loyalty"])
def test_metric_tiles_fit_and_show_the_currency(browser, app_url: str, width: int, screen: str) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        log_in(page, app_url, "admin")
        page.goto(f"{app_url}/{screen}")
        if screen == "loyalty":  # the programme's figures are on their own tab
            page.get_by_role("tab", name="Programme").click()
        values = page.locator('[data-testid="stMetricValue"]:visible')
        expect(values.first).to_be_visible()
        wait_until_idle(page)  # every tile has rendered
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"tiles-{screen}-{width}.png"), full_page=True)
        texts = values.all_inner_texts()
        assert not [t for t in texts if "None" in t or "nan" in t], texts
        money_tile = "Revenue" if screen == "overview" else "Liability"
        tile = page.locator('[data-testid="stMetric"]:visible').filter(has_text=money_tile).first
        assert "€" in tile.locator('[data-testid="stMetricValue"]').inner_text()
        assert page.evaluate(CUT_OFF) == []
    finally:
        context.close()
