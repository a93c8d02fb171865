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
    # The newest month with revenue: in the first hours of a month its own bar has no height
    # (nothing sold yet, nothing to click), and Plotly draws it as an empty, hidden path.
    bars = chart.locator(".barlayer .point path").filter(visible=True)
    expect(bars.last).to_be_visible()
    _click(page, bars.last)
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
        re.compile(r"^Cohort [A-Z][a-z]{2} \d{4} \(.*\), month 0 after the first order$"))
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


def _rows_shown(table: Locator) -> int:
    """Data rows of a st.dataframe as the grid announces them (aria-rowcount counts the header)."""
    grid = table.locator('[role="grid"]').first
    expect(grid).to_have_attribute("aria-rowcount", re.compile(r"^\d+$"))
    return int(grid.get_attribute("aria-rowcount")) - 1


def test_a_manager_clicks_a_lifetime_value_bar_and_sees_its_customers(page: Page, app_url: str) -> None:
    log_in(page, app_url, "manager")
    page.goto(f"{app_url}/overview")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=180_000)
    wait_until_idle(page)
    page.locator('[data-testid="stMain"] button').filter(has_text=re.compile("^Lifetime value$")).first.click()
    # The first run of the section fits the lifetime-value models: allow for a loaded machine.
    chart = page.locator(".js-plotly-plot").filter(
        has=page.locator(".gtitle", has_text="Customers by 12-month lifetime value"))
    expect(chart).to_have_count(1, timeout=180_000)
    wait_until_idle(page)
    bars = chart.locator(".barlayer .point path")
    expect(bars.first).to_be_visible()
    heights = [(b.bounding_box() or {"height": 0})["height"] for b in bars.all()]
    _click(page, bars.nth(heights.index(max(heights))))  # the tallest bar
    wait_until_idle(page)
    box = page.get_by_role("combobox", name="Open a bar")
    expect(box).to_have_value(re.compile(r"^€[\d,]+ (to €[\d,]+|or more) \([\d,]+ customers\)$"))
    label = box.input_value()
    in_bar = int(re.search(r"\(([\d,]+) customers\)$", label).group(1).replace(",", ""))
    assert in_bar > 0
    # The customers a manager sees: as many as the bar counts, with their names and values.
    words = label.rsplit(" (", 1)[0]
    expect(page.get_by_text(f"{in_bar:,} customers with a 12-month value of {words}.")).to_be_visible()
    table = page.locator('[data-testid="stDataFrame"]').filter(has_text="Name").filter(has_text="12-month value")
    expect(table).to_be_visible()
    assert _rows_shown(table) == in_bar


def test_a_manager_clicks_a_point_of_the_nps_trend_split_by_segment(page: Page, app_url: str) -> None:
    log_in(page, app_url, "manager")
    page.goto(f"{app_url}/nps")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=180_000)
    wait_until_idle(page)
    page.get_by_role("combobox", name="Split").click()
    page.get_by_role("option", name="segment", exact=True).click()
    wait_until_idle(page)
    chart = page.locator(".js-plotly-plot").filter(
        has=page.locator(".gtitle", has_text="NPS per period with its 95 % interval"))
    expect(chart.locator(".legend")).to_be_visible()
    line = chart.locator(".scatterlayer .trace").first  # the first segment's line
    points = line.locator(".point")
    expect(points.last).to_be_attached()
    _click(page, points.last)  # its newest period
    wait_until_idle(page)
    box = page.get_by_role("combobox", name="Open a point")
    expect(box).to_have_value(
        re.compile(r"^Segment .+, the month of \w+ \d{4} \([\d,]+ answers, NPS [+-]?\d+\)$"))
    label = box.input_value()
    segment = re.match(r"^Segment (.+), the month of", label).group(1)
    in_point = int(re.search(r"\(([\d,]+) answers, NPS", label).group(1).replace(",", ""))
    # The answers of that segment in that month only: as many as the point counts.
    expect(page.get_by_text(f"{in_point:,} answers with a score (segment {segment}), newest first.")).to_be_visible()
    table = page.locator('[data-testid="stDataFrame"]').filter(has_text="Comment").first
    expect(table).to_be_visible()
    assert _rows_shown(table) == in_point
