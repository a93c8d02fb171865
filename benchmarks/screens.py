"""Time every screen in real Chromium, logged in as admin, with nothing computed ahead.

Run by benchmarks/run.py in its own process, with DATABASE_URL pointing at the store to
measure (or by hand: `DATABASE_URL=sqlite:////tmp/i17b/h100k.db python -m benchmarks.screens`).
Starts a fresh `streamlit run app.py` (figures are kept only in the app process, by
core.readcache, so nothing is computed ahead), drives Debian's Chromium through Playwright
and prints one JSON object. Per screen:

- first_s: the first load of the screen in this app process (a click in the menu; the Account
  screen by its address), from the click until the script run has finished;
- revisit_s: the same screen opened again after every other screen;
- filter_s: on the Overview, the second segment picked after its revisit (a filter
  combination not computed before); None elsewhere (bench_kpis.py times many combinations);
- cold_s: the same as first_s (kept for benchmarks/run.py's table).

No disk copy of the reads (core.analytics.diskcopy) unless ``--disk-copy DIR`` is given: then a
second run in the same DIR times the app restarted on unchanged data, and a run with
``--write-first N`` as well the app restarted after a small write (:func:`write_some`: what an
import of N orders and N loyalty entries, with N earlier orders corrected, writes), which
brings its copies up to date from the change log (core.analytics.changelog).

Waits are conditions: a MutationObserver notes when Streamlit's script state goes from
running to notRunning (tests/e2e/helpers.py wait_until_idle reads the same attribute).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# (url path, title in the menu); the Account screen is opened by its address.
SCREENS = [("my_work", "My work"), ("overview", "Overview"), ("accounts", "Accounts"),
           ("feedback", "Feedback inbox"), ("nps", "NPS"), ("loyalty", "Loyalty"), ("outreach", "Outreach"),
           ("data", "Data"), ("admin", "Admin"), ("account", None)]

_WATCH = """() => {
  const el = document.querySelector('[data-testid="stApp"]');
  window.__run = {started: false, done: false};
  new MutationObserver(() => {
    const s = el.getAttribute('data-test-script-state');
    if (s === 'running') window.__run.started = true;
    else if (window.__run.started && s === 'notRunning') window.__run.done = true;
  }).observe(el, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


# The same watcher from the very start of a page load (an address opened in the tab): the
# script's first run is noted however soon it starts after the page has booted.
_WATCH_FROM_START = """(() => {
  window.__run = {started: false, done: false};
  new MutationObserver((records) => {
    for (const r of records) {
      const s = r.target.getAttribute('data-test-script-state');
      // oldValue too: an app mounted already running still counts its run's end
      if (s === 'running') window.__run.started = true;
      else if ((window.__run.started || r.oldValue === 'running') && s === 'notRunning') window.__run.done = true;
    }
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
})();"""
# Done: a run has finished, the sidebar says who is signed in and no run is going on.
_SIGNED_IN_AND_IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const side = document.querySelector('[data-testid="stSidebar"]');
  return window.__run && window.__run.done && app && app.getAttribute('data-test-script-state') === 'notRunning'
    && side && side.textContent.includes('Signed in as');
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _app(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    port = _free_port()
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                 "--server.headless", "true", "--browser.gatherUsageStats", "false",
                                 "--server.fileWatcherType", "none"],
                                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("streamlit did not start: " + log.read_text()[-2000:]) from None
                    time.sleep(0.3)
            yield url, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


# A click that starts no run at all (seen twice at 1,000,000 customers: the app idle, the
# benchmark waiting ten minutes for a run that never began) is made again once; a run starts
# within a second of a click that took (the server answers while a figure is computed).
_START_WAIT_MS = 30_000


def _timed(page, action) -> float:  # noqa: ANN001
    """Seconds from ``action()`` until the script run it started has finished. When no run has
    started within _START_WAIT_MS, the action is made once more and timed from then on (said
    on stderr)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate(_WATCH)
    t0 = time.perf_counter()
    action()
    try:
        page.wait_for_function("window.__run && (window.__run.started || window.__run.done)",
                               timeout=_START_WAIT_MS, polling=50)
    except PlaywrightTimeout:
        print(f"no script run started within {_START_WAIT_MS / 1000:.0f} s of the action: made again",
              file=sys.stderr, flush=True)
        page.evaluate(_WATCH)
        t0 = time.perf_counter()
        action()
    page.wait_for_function("window.__run && window.__run.done", timeout=600_000, polling=50)
    return time.perf_counter() - t0


def _open(page, url: str, screen: str, title: str | None) -> float:  # noqa: ANN001
    if title is None:  # not in the menu: by its address (a new page load; the login cookie signs in)
        # Polled every 50 ms like a click (_timed): locator.wait_for polls at 0, 20, 50, 100,
        # 100 ms and then every 500 ms, which added 0.1 to 0.7 s after the page was done.
        t0 = time.perf_counter()
        page.goto(f"{url}/{screen}?id=1", wait_until="commit")
        page.wait_for_function(_SIGNED_IN_AND_IDLE, timeout=600_000, polling=50)
        return time.perf_counter() - t0
    link = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]').filter(has_text=title)
    return _timed(page, lambda: link.first.click())


def _pick_segment(page) -> None:  # noqa: ANN001
    """Open the Overview's Segment box and pick its second entry (the first segment)."""
    page.locator(".st-key-ov_segment").get_by_role("combobox").click()
    page.get_by_role("option").nth(1).click()


def _log_in(page, url: str) -> float:  # noqa: ANN001
    """Log in on the Account screen's address, so the login lands there (a light screen) and
    every other screen's first load is a click; returns the seconds from "Log in" until the
    Account screen has finished (the password check included)."""
    from core.users import DEMO_PASSWORD

    page.goto(f"{url}/account?id=1")
    page.get_by_role("textbox", name="Username").fill("admin")
    page.get_by_role("textbox", name="Password").fill(DEMO_PASSWORD)
    seconds = _timed(page, lambda: page.get_by_role("button", name="Log in").click())
    page.get_by_text("Signed in as admin").wait_for(timeout=600_000)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=600_000)
    for _ in range(600):  # the re-login cookie is written a moment after login: a condition
        if any(c["name"] == "hearth_session" for c in page.context.cookies()):
            break
        page.wait_for_timeout(100)
    return seconds


def write_some(url: str, n: int) -> dict[str, int]:
    """Before the app starts: ``n`` new orders and ``n`` new loyalty earns for the ``n`` customers
    with the newest orders, and ``n`` of the newest orders' totals raised by one cent, each as
    one statement of plain SQL (as an import of a small file writes). Returns the rows written."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    stamp = int(time.time() * 1000)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, customer_id, ordered_at FROM orders ORDER BY id DESC LIMIT :n"),
                            {"n": n}).all()
        ids = [r[0] for r in rows]
        conn.execute(text(f"UPDATE orders SET total_cents = total_cents + 1 WHERE id IN ({','.join(map(str, ids))})"))
        conn.execute(text("INSERT INTO orders (external_id, customer_id, ordered_at, total_cents) "
                          "VALUES (:e, :c, :t, 2500)"),
                     [{"e": f"BENCH-{stamp}-{i}", "c": r[1], "t": r[2]} for i, r in enumerate(rows)])
        conn.execute(text("INSERT INTO loyalty_entry (external_id, customer_id, occurred_at, kind, points, computed) "
                          "VALUES (:e, :c, :t, 'earn', 25, false)"),
                     [{"e": f"BENCH-{stamp}-{i}", "c": r[1], "t": r[2]} for i, r in enumerate(rows)])
    engine.dispose()
    return {"orders_updated": len(ids), "orders_inserted": len(rows), "loyalty_inserted": len(rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="kept for benchmarks/run.py: every load is cold")
    parser.add_argument("--disk-copy", metavar="DIR", default=None,
                        help="keep the reads and the ledger's history in DIR between runs (core.analytics.diskcopy): "
                             "a second run times an app restarted on unchanged data. Default: no disk copy, "
                             "every first load from the database")
    parser.add_argument("--write-first", metavar="N", type=int, default=0,
                        help="before starting the app, write N new orders, N new loyalty entries and N corrected "
                             "orders (write_some): with --disk-copy, the app restarted after a small import")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    env = {**os.environ, "HEARTH_DISK_CACHE_DIR": args.disk_copy or "off"}
    result: dict[str, object] = {"screens": {}, "disk_copy": bool(args.disk_copy)}
    if args.write_first:
        result["written"] = write_some(os.environ["DATABASE_URL"], args.write_first)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"hearth-screens-{os.getpid()}.log"
    with _app(env, log) as (url, pid), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_init_script(_WATCH_FROM_START)
        page = context.new_page()
        landing = _log_in(page, url)
        result["login_s"] = round(landing, 3)
        for rnd in ("first_s", "revisit_s"):
            for screen, title in SCREENS:
                if rnd == "first_s" and title is None:
                    seconds = landing  # the Account screen's first load was the login's landing
                else:
                    seconds = _open(page, url, screen, title)
                errors = page.locator('[data-testid="stException"]').count()
                entry = result["screens"].setdefault(screen, {"filter_s": None, "error": None, "max_table_rows": 0})
                entry[rnd] = round(seconds, 3)
                if errors:
                    entry["error"] = f"{errors} exception(s) on the page"
                print(f"{screen:<10} {rnd:<10} {seconds:6.2f} s", file=sys.stderr, flush=True)
        _open(page, url, "overview", "Overview")
        result["screens"]["overview"]["filter_s"] = round(_timed(page, lambda: _pick_segment(page)), 3)
        for entry in result["screens"].values():
            entry["cold_s"] = entry["first_s"]
        result["peak_rss_mb"] = _peak_rss_mb(pid)
        browser.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
