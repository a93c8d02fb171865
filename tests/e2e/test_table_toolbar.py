"""No st.dataframe toolbar offers Streamlit's own "Download as CSV" (raw cells, no audit entry;
issue 19, point 7): the Accounts queue, the Feedback inbox, the Loyalty and Outreach tables."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import log_in

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("screen", ["accounts", "feedback"])
def test_table_toolbars_have_no_csv_download(page: Page, app_url: str, screen: str) -> None:
    log_in(page, app_url, "admin")
    page.goto(f"{app_url}/{screen}")
    table = page.locator('[data-testid="stDataFrame"]').first
    expect(table).to_be_visible()
    table.hover()
    toolbar = page.locator('[data-testid="stElementToolbarButton"] button')
    expect(toolbar.first).to_be_visible()  # the toolbar is there
    labels = [b.get_attribute("aria-label") or "" for b in toolbar.all()]
    assert "Search" in labels and "Fullscreen" in labels, labels  # the walk found the real buttons
    assert "Download as CSV" not in labels, labels
