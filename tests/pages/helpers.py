"""Drive the real app through AppTest, logged in through the real login form."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.users import DEMO_PASSWORD

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def logged_out_app(timeout: float = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    return at


def log_in(at: AppTest, username: str, password: str = DEMO_PASSWORD) -> AppTest:
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click()  # the form's "Log in" button
    at.run()
    return at


def app_as(username: str, page: str | None = None, timeout: float = 60, **query: str) -> AppTest:
    """An AppTest logged in as `username` (a demo login) and, if given, switched to `page`
    (e.g. "views/accounts.py"). Needs the `demo_app` fixture (or another app database)."""
    at = log_in(logged_out_app(timeout), username)
    assert not at.exception, at.exception
    if page:
        for key, value in query.items():
            at.query_params[key] = value
        at.switch_page(page)
        at.run()
    return at


def page_text(at: AppTest) -> str:
    """Everything a person could read on the page, for 'is X shown' assertions."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "error", "warning",
                 "info", "success", "metric", "code", "json"):
        for el in getattr(at, kind):
            parts.append(str(getattr(el, "value", "")))
            parts.append(str(getattr(el, "label", "")))
    for df in at.dataframe:
        parts.append(df.value.to_csv())
    for tbl in at.table:
        parts.append(tbl.value.to_csv())
    return "\n".join(parts)


def open_tab(at: AppTest, key: str, label: str) -> AppTest:
    """Open the tab `label` of the lazy tabs with `key` (st.tabs(..., key=key, on_change="rerun"):
    only the open tab runs) as a click on it would, and rerun."""
    at.session_state[key] = label
    at.run()
    return at
