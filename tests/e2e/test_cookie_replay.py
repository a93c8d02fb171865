"""A login cookie copied before logout does not come back on another replica (issue 19, 3).

The first app (the session fixture) gives cookies a lifetime of 1 day. A second app process on
the same database is started with HEARTH_COOKIE_EXPIRY_DAYS=0.5, as a replica configured
differently would be. Before the fix, revocation compared sessions_valid_after with "expiry
minus this process's lifetime", which the second process put 12 hours in the future, so it
took the revoked cookie. Now the cookie carries its issue time and every process checks that.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import running_app
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def replica_url(app_url: str, e2e_db_url: str, tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "DATABASE_URL": e2e_db_url,
        "HEARTH_ENV": "demo",
        "HEARTH_COOKIE_KEY": "e2e-cookie-key-" + "x" * 32,  # the same key: a real replica
        "HEARTH_COOKIE_EXPIRY_DAYS": "0.5",  # but a different lifetime
        "HEARTH_OUTBOX_DIR": str(tmp_path / "outbox"),
        "HEARTH_SECRETS_FILE": "/nonexistent/secrets.toml",
    }
    with running_app(env, tmp_path / "replica.log") as url:
        yield url


def test_revoked_cookie_replayed_on_a_replica_with_another_lifetime(
    page: Page, app_url: str, replica_url: str
) -> None:
    log_in(page, app_url, "support")
    stolen = [c for c in page.context.cookies() if c["name"] == "hearth_session"]
    assert stolen
    # Before logout the cookie is good on the replica too (so the refusal below is revocation).
    before = page.context.new_page()
    before.goto(replica_url + "/overview")
    expect(before.get_by_text("Signed in as support")).to_be_visible()
    before.close()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()

    # The attacker's browser: a fresh context holding only the copied cookie.
    attacker = page.context.browser.new_context()
    attacker.add_cookies(stolen)
    replay = attacker.new_page()
    for url in (replica_url + "/overview", app_url + "/overview"):
        replay.goto(url)
        expect(replay.get_by_role("button", name="Log in")).to_be_visible()
        expect(replay.get_by_text("Signed in as")).to_have_count(0)
    attacker.close()
