"""In Chromium: a click on a chart's bar or cell opens the records behind it (st.plotly_chart's
on_select), for a manager with names and for exec by segment and region only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import log_in, wait_until_idle

pytestmark = pytest.mark.e2e


def _chart(page: Page, title: str) -> Locator:
    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".gtitle", has_text=title))
    expect(chart).to_have_count(1)
    return chart


def _click(page: Page, target: Locator) -> None:
    """Move onto the mark, then click where it is (Plotly picks the point under the pointer; its
    drag layer lies on top of the marks, so the click goes to the position, not the element)."""
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def test_a_manager_clicks_a_month_bar_and_sees_its_customers(page: Page, app_url: str) -> None:
    log_in(page, app_url, "manager")
    page.goto(f"{app_url}/overview")
    # The Overview's first run computes its figures: on a loaded machine well over 30 s.
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=180_000)
    wait_until_idle(page)
    chart = _chart(page, "Revenue (net of refunds) by calendar month")
    bars = chart.locator(".barlayer .point path")
    expect(bars.last).to_be_visible()
    _click(page, bars.last)  # the newest month
    wait_until_idle(page)
    # The box under the chart now holds the clicked month (a combobox's value is its text).
    expect(page.get_by_role("combobox", name="Open a month")).to_have_value(re.compile(r"^\d{4}-\d{2}$"))
    table = page.locator('[data-testid="stDataFrame"]').filter(has_text="Order totals")
    expect(table).to_be_visible()
    expect(table).to_contain_text("Customer id")


def test_exec_clicks_a_cohort_cell_and_sees_it_by_segment_and_region(page: Page, app_url: str) -> None:
    log_in(page, app_url, "exec")
    page.goto(f"{app_url}/overview")
    # The Overview's first run computes its figures: on a loaded machine well over 30 s.
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=180_000)
    wait_until_idle(page)
    page.locator('[data-testid="stMain"] button').filter(has_text=re.compile("^Cohorts$")).first.click()
    chart = _chart(page, "Share of each cohort ordering again")
    cells = chart.locator(".scatterlayer .point")
    expect(cells.first).to_be_attached()
    _click(page, cells.first)  # the oldest cohort, month 0
    wait_until_idle(page)
    expect(page.get_by_role("combobox", name="Open a cell")).to_have_value(
        re.compile(r"^Cohort \d{4}-\d{2} \(.*\), month 0 after the first order$"))
    expect(page.get_by_text("Your role sees aggregates only: the customers of cohort")).to_be_visible()
    table = page.locator('[data-testid="stDataFrame"]').last
    expect(table).to_contain_text("Segment")
    expect(table).not_to_contain_text("Customer id")


def test_exec_clicks_a_tier_bar_and_sees_its_members_by_segment_and_region(page: Page, app_url: str) -> None:
    log_in(page, app_url, "exec")
    page.goto(f"{app_url}/loyalty")
    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".gtitle", has_text="Members per tier"))
    expect(chart).to_have_count(1, timeout=180_000)
    wait_until_idle(page)
    bar = chart.locator(".barlayer .point path").first
    expect(bar).to_be_visible()
    tier = chart.locator(".xtick text").first.text_content()
    _click(page, bar)
    wait_until_idle(page)
    # exact: the flows chart's "Open a bar" box is on the same screen.
    box = page.get_by_role("combobox", name="Open", exact=True)
    expect(box).to_have_value("All members (the bars of Members per tier)")
    expect(page.get_by_role("combobox", name="Tier")).to_have_value(tier)
    table = page.locator('[data-testid="stDataFrame"]').last
    expect(table).to_contain_text("Segment")
    expect(table).to_contain_text(tier)


def test_a_manager_clicks_a_period_of_the_nps_trend_and_sees_its_answers(page: Page, app_url: str) -> None:
    log_in(page, app_url, "manager")
    page.goto(f"{app_url}/nps")
    chart = page.locator(".js-plotly-plot").filter(
        has=page.locator(".gtitle", has_text="NPS per period with its 95 % interval"))
    expect(chart).to_have_count(1, timeout=180_000)
    wait_until_idle(page)
    bars = chart.locator(".barlayer .point path")  # the answers per period, under the NPS line
    expect(bars.last).to_be_visible()
    _click(page, bars.last)  # the newest period
    wait_until_idle(page)
    expect(page.get_by_role("combobox", name="Open a point")).to_have_value(
        re.compile(r"^The month of \w+ \d{4} \([\d,]+ answers, NPS [+-]?\d+\)$"))
    expect(page.get_by_text(re.compile(r"^[\d,]+ answers with a score, newest first\.$"))).to_be_visible()


def test_exec_clicks_a_health_band_bar_and_sees_it_by_segment_and_region(page: Page, app_url: str) -> None:
    log_in(page, app_url, "exec")
    page.goto(f"{app_url}/overview")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=180_000)
    wait_until_idle(page)
    page.locator('[data-testid="stMain"] button').filter(has_text=re.compile("^Health bands$")).first.click()
    chart = _chart(page, "Accounts per health band at each scoring run")
    bars = chart.locator(".barlayer .point path")
    expect(bars.last).to_be_visible()
    _click(page, bars.last)
    wait_until_idle(page)
    expect(page.get_by_role("combobox", name="Open a bar")).to_have_value(
        re.compile(r"^(Healthy|Watch|At risk) on .+ \([\d,]+ accounts\)$"))
    expect(page.get_by_text("Your role sees aggregates only: the customers in the")).to_be_visible()
    table = page.locator('[data-testid="stDataFrame"]').filter(has_text="Segment").last
    expect(table).not_to_contain_text("Customer id")
