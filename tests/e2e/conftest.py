"""End-to-end fixtures: the real app under `streamlit run` on a temporary demo database,
driven by Playwright in Debian's Chromium (no browser download)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("HEARTH_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("HEARTH_REQUIRE_BROWSER") == "1"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Start `streamlit run app.py` with `env` on a free port; yield its URL once /_stcore/health
    answers (a condition, up to two minutes on a loaded machine); stop it afterwards."""
    port = _free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             # Not watching the checkout: an edit made while the tests run must not reload modules
             # under the running app (db.models defined twice).
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("streamlit did not start: " + log_path.read_text()[-2000:]) from None
                    time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()



@pytest.fixture(scope="session")
def e2e_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('e2e-db') / 'hearth.db'}"


@pytest.fixture(scope="session")
def e2e_outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the app's own delivery worker writes the .eml files (no SMTP in the tests)."""
    return tmp_path_factory.mktemp("e2e-outbox")


@pytest.fixture(scope="session")
def app_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The terminal of the session's `streamlit run`: what it printed, warnings included."""
    return tmp_path_factory.mktemp("e2e") / "streamlit.log"


@pytest.fixture(scope="session")
def app_url(e2e_db_url: str, e2e_outbox: Path, app_log: Path) -> Iterator[str]:
    reason = _browser_missing()
    if reason:
        if REQUIRE_BROWSER:
            pytest.fail(reason + " and HEARTH_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    env = {
        **os.environ,
        "DATABASE_URL": e2e_db_url,
        "HEARTH_ENV": "demo",
        "HEARTH_COOKIE_KEY": "e2e-cookie-key-" + "x" * 32,
        "HEARTH_OUTBOX_DIR": str(e2e_outbox),
        "HEARTH_SECRETS_FILE": "/nonexistent/secrets.toml",
    }
    subprocess.run([sys.executable, "-m", "core", "init", "--demo", "--customers", "300", "--seed", "5"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    with running_app(env, app_log) as url:
        yield url


@pytest.fixture(scope="session")
def browser(app_url: str):  # noqa: ANN201
    from playwright.sync_api import expect, sync_playwright

    # A first page load on a busy 2-core machine can take longer than Playwright's 5 s default.
    expect.set_options(timeout=30_000)

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):  # noqa: ANN001, ANN201
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.rmtree(ARTIFACTS / request.node.name, ignore_errors=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
