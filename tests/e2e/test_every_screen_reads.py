"""What a person sees on every screen, as every demo role, at 1440 and 1024 px (issue 20's visual
check): no "None", "nan" or "NaT" in a cell, label or chart; no internal snake_case name (offer_code,
win_back, small_business) in visible text, table headers or chart labels; no raw JSON; no metric
value cut off in its tile; every chart with a title and axis titles. One login per role, one page
reused for every screen; a screenshot of each screen, role and width goes to test-artifacts/.

Table cells are read from the grid's own accessible table (the cells it draws on its canvas are
also in the DOM for screen readers), so a table's visible rows are checked too."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import log_in, sidebar_links, wait_until_idle

pytestmark = pytest.mark.e2e

SCREENS = {  # menu title -> url path
    "My work": "my_work", "Overview": "overview", "Accounts": "accounts", "Feedback inbox": "feedback",
    "NPS": "nps", "Loyalty": "loyalty", "Outreach": "outreach", "Data": "data", "Admin": "admin",
}
WIDTHS = [1440, 1024]

# Everything a person reads on the main area, in pieces the checks below look at.
READ_SCREEN = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const visible = e => e.offsetParent !== null || e.closest('svg');
  // Prose and labels, one text node a line, without code (commands to type are code on purpose),
  // tables and charts (read below) and what the user typed.
  const skip = 'code, pre, [data-testid="stCode"], .js-plotly-plot, [data-testid="stDataFrame"], '
               + '[data-testid="stTable"], textarea, input, script, style, '
               + '[data-testid="stIconMaterial"], [data-testid*="Icon"], .material-symbols-rounded';
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  const lines = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || el.offsetParent === null) continue;
    const t = n.textContent.trim();
    if (t) lines.push(t);
  }
  const prose = lines.join('\\n');
  const cells = [...main.querySelectorAll('[data-testid="stDataFrame"] td, [data-testid="stDataFrame"] th,'
                                           + ' [data-testid="stTable"] td, [data-testid="stTable"] th')]
      .map(e => e.innerText.trim()).filter(t => t);
  const charts = [...main.querySelectorAll('.js-plotly-plot')].filter(visible).map(p => {
    const texts = sel => [...p.querySelectorAll(sel)].map(e => e.textContent.trim()).filter(t => t);
    const cartesian = p.querySelector('.cartesianlayer .xy') !== null;
    return {title: texts('.gtitle').join(' '), x: texts('.g-xtitle text, .g-x2title text').join(' '),
            y: texts('.g-ytitle text').join(' '), cartesian,
            labels: texts('.xtick text, .ytick text, .legendtext, .colorbar text, .annotation-text')};
  });
  const cut = [...main.querySelectorAll('[data-testid="stMetricValue"] div, [data-testid="stMetricLabel"] p')]
      .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1).map(e => e.innerText);
  return {prose, cells, charts, cut};
}"""

MISSING = re.compile(r"^(None|nan|NaN|NaT|<NA>|null)$")
# "None" as a value (alone, or before punctuation), not the English word ("None taken", "None of").
MISSING_IN_TEXT = re.compile(r"(?<![\w-])(nan|NaN|NaT|<NA>)(?![\w-])|(?<![\w-])None(?![\w-])(?!\s+[a-z])")
SNAKE = re.compile(r"(?<![\w@./:-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w@/-]|\.[a-z])")
JSON = re.compile(r"[\[{]\s*\"[^\"]+\"\s*:")


def _findings(seen: dict, where: str) -> list[str]:
    out: list[str] = []
    for line in seen["prose"].splitlines():
        if MISSING_IN_TEXT.search(line):
            out.append(f"{where}: a missing value shown as text: {line.strip()[:120]!r}")
        for name in SNAKE.findall(line):
            out.append(f"{where}: internal name {name!r} in {line.strip()[:120]!r}")
        if JSON.search(line):
            out.append(f"{where}: raw JSON in {line.strip()[:120]!r}")
    for cell in seen["cells"]:
        if MISSING.match(cell) or MISSING_IN_TEXT.search(cell):
            out.append(f"{where}: a table cell reads {cell!r}")
        if JSON.search(cell):
            out.append(f"{where}: raw JSON in a table cell: {cell[:120]!r}")
        if "@" not in cell and "/" not in cell:
            out.extend(f"{where}: internal name {n!r} in a table cell" for n in SNAKE.findall(cell))
    for i, chart in enumerate(seen["charts"]):
        if not chart["title"]:
            out.append(f"{where}: chart {i + 1} has no title")
        if chart["cartesian"] and not (chart["x"] and chart["y"]):
            out.append(f"{where}: chart {chart['title']!r} lacks an axis title (x {chart['x']!r}, y {chart['y']!r})")
        for text in [chart["title"], chart["x"], chart["y"], *chart["labels"]]:
            if MISSING.match(text) or MISSING_IN_TEXT.search(text):
                out.append(f"{where}: chart {chart['title']!r} shows {text!r}")
            out.extend(f"{where}: internal name {n!r} in chart {chart['title']!r}" for n in SNAKE.findall(text))
    out.extend(f"{where}: cut off in its tile: {t!r}" for t in seen["cut"])
    return out


def _open(page: Page, title: str) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_text(title, exact=True).click()
    expect(page.locator('[data-testid="stMainBlockContainer"] h1').first).to_have_text(
        re.compile(re.escape(title.split()[0]), re.IGNORECASE))
    wait_until_idle(page)


OVERVIEW_SECTIONS = ["Cohorts", "Revenue mix", "Health bands", "NPS and loyalty", "Outreach results",
                     "Lifetime value", "Trends"]


def _select_tab(page: Page, tab: Locator) -> None:
    """Click ``tab`` until it is the selected one: a click that lands as a run starts is lost
    (seen once in CI under load: the Loyalty screen's Programme tab stayed unselected for 30 s
    after the click). Each try waits for the tab to be enabled; a lost click is made again once
    the run that swallowed it has ended, three tries in all."""
    for _ in range(2):
        expect(tab).not_to_have_attribute("aria-disabled", "true")
        tab.click()
        try:
            expect(tab).to_have_attribute("aria-selected", "true", timeout=10_000)
            return
        except AssertionError:
            wait_until_idle(page)
    expect(tab).not_to_have_attribute("aria-disabled", "true")
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")


def _other_views(page: Page, title: str, where: str, sections: bool) -> list[str]:
    """What the screen shows behind its tabs (no rerun) and, for the Overview when `sections`,
    behind each section of "Show" (a rerun each)."""
    out: list[str] = []
    tabs = page.locator('[data-testid="stMain"] [role="tab"]')
    for i in range(1, tabs.count()):
        tab = tabs.nth(i)
        name = tab.inner_text().strip()
        # A tab that runs only when open (st.tabs(on_change="rerun")) reruns the screen, and the
        # tabs are disabled while a run goes on: a click then is lost. Click when enabled, then
        # wait for the run the click started to end, so the tab's content is drawn.
        _select_tab(page, tab)
        expect(tab).not_to_have_attribute("aria-disabled", "true")
        wait_until_idle(page)
        out += _findings(page.evaluate(READ_SCREEN), f"{where}, tab {name}")
    if tabs.count() > 1:
        expect(tabs.first).not_to_have_attribute("aria-disabled", "true")
        tabs.first.click()
    if title == "Overview" and sections:
        for name in OVERVIEW_SECTIONS:
            page.locator('[data-testid="stMain"] button').filter(
                has_text=re.compile(f"^{re.escape(name)}$")).first.click()
            wait_until_idle(page)
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)
            out += _findings(page.evaluate(READ_SCREEN), f"{where}, {name}")
    return out


@pytest.mark.parametrize("username", ["manager", "support", "exec", "admin"])
def test_every_screen_reads_like_a_product(browser, app_url: str, username: str) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    findings: list[str] = []
    try:
        log_in(page, app_url, username)
        screens = [t for t in SCREENS if t in sidebar_links(page)]
        ARTIFACTS.mkdir(exist_ok=True)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 1000})
            for title in screens:
                _open(page, title)
                expect(page.locator('[data-testid="stException"]')).to_have_count(0)
                page.screenshot(path=str(ARTIFACTS / f"screen-{SCREENS[title]}-{username}-{width}.png"),
                                full_page=True)
                findings += _findings(page.evaluate(READ_SCREEN), f"{title} as {username} at {width} px")
                findings += _other_views(page, title, f"{title} as {username} at {width} px",
                                         # the sections' charts are the same for every role: once
                                         width == WIDTHS[0] and username == "admin")
            if "Accounts" in screens:  # the account page: from the queue's first row, in this tab
                page.goto(f"{app_url}/account?id=1")
                expect(page.locator('[data-testid="stMainBlockContainer"] h1').first).to_be_visible()
                wait_until_idle(page)
                expect(page.locator('[data-testid="stException"]')).to_have_count(0)
                page.screenshot(path=str(ARTIFACTS / f"screen-account-{username}-{width}.png"), full_page=True)
                findings += _findings(page.evaluate(READ_SCREEN), f"Account as {username} at {width} px")
    finally:
        context.close()
    assert findings == [], "\n".join(dict.fromkeys(findings))
