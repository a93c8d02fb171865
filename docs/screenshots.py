"""Retake the README's screenshots from the real app in Chromium, on a fresh demo store.

    .venv/bin/python docs/screenshots.py            # writes docs/overview.png, my_work.png, account.png

It builds the demo store (2,000 customers, as the first start does) in a temporary SQLite
database, runs `streamlit run app.py` on a free port, logs in as the demo manager in Debian's
Chromium (/usr/bin/chromium, or HEARTH_CHROMIUM) at 1440 px and captures each screen once its
script run has finished.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, running_app  # noqa: E402
from tests.e2e.helpers import log_in, wait_until_idle  # noqa: E402

DOCS = ROOT / "docs"


def _phone_only_account(db_url: str) -> int:
    """A customer of the manager's book who may not be emailed but has a phone number (the
    account page then offers a call task): the first of the queue so filtered."""
    os.environ["DATABASE_URL"] = db_url
    from sqlmodel import Session

    from core.accounts import QueueFilters, queue_page
    from core.roles import Role
    from db.engine import get_engine

    with Session(get_engine(db_url)) as session:
        page = queue_page(session=session, roles=frozenset({Role.ACCOUNT_MANAGER}), username="manager",
                          filters=QueueFilters(scope="own", contact="phone"), page_size=1)
    return int(page.rows["customer_id"].iloc[0])


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    work = Path(tempfile.mkdtemp(prefix="hearth-shots-"))
    db_url = f"sqlite:///{work / 'hearth.db'}"
    env = {**os.environ, "DATABASE_URL": db_url, "HEARTH_ENV": "demo", "HEARTH_OUTBOX_DIR": str(work / "outbox"),
           "HEARTH_COOKIE_KEY": "screenshots-cookie-key-" + "x" * 32, "HEARTH_PRECOMPUTE_AFTER_IMPORT": "0"}
    subprocess.run([sys.executable, "-m", "core", "init", "--demo"], cwd=ROOT, env=env, check=True)
    account = _phone_only_account(db_url)
    expect.set_options(timeout=120_000)
    with running_app(env, work / "streamlit.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        page.set_default_timeout(120_000)
        log_in(page, url, "manager")
        for name, path in (("my_work", "/my_work"), ("overview", "/overview"), ("account", f"/account?id={account}")):
            page.goto(url + path)
            expect(page.locator('[data-testid="stMainBlockContainer"] h1').first).to_be_visible()
            wait_until_idle(page)
            if name != "my_work":  # the charts have drawn
                expect(page.locator(".js-plotly-plot").first).to_be_visible()
            page.screenshot(path=str(DOCS / f"{name}.png"))
            print(f"wrote docs/{name}.png")
        browser.close()


if __name__ == "__main__":
    main()
