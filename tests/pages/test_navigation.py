"""Each demo role, logged in through the real form, sees exactly its screens; a URL it may
not open says "Not allowed" and shows no data."""

from __future__ import annotations

import pytest

from core.roles import SCREEN_ACCESS, parse_roles
from core.users import DEMO_USERS
from tests.pages.helpers import app_as, log_in, logged_out_app, page_text

SCREENS = list(SCREEN_ACCESS)
ROLE_OF = {username: role for username, _name, role in DEMO_USERS}


def _menu(at) -> set[str]:
    """Screens linked from the sidebar menu (url path of each page link; "" is the default page)."""
    out = set()
    for el in at.sidebar:
        if type(el).__name__ == "PageLink":
            out.add(el.proto.page)
    return out


def test_logged_out_visitor_sees_only_the_login_form(demo_app: str) -> None:
    at = logged_out_app()
    assert not at.exception
    assert at.text_input(key="login_username")
    text = page_text(at)
    assert "Demo logins" in text
    assert not at.dataframe


def test_wrong_password_is_refused_without_saying_whether_the_user_exists(demo_app: str) -> None:
    known = log_in(logged_out_app(), "manager", "wrong-password")
    unknown = log_in(logged_out_app(), "nobody-here", "wrong-password")
    assert [e.value for e in known.error] == [e.value for e in unknown.error]
    assert known.error and "Login failed" in known.error[0].value
    assert known.text_input(key="login_username")  # still on the login page


@pytest.mark.parametrize("username", sorted(ROLE_OF))
def test_menu_lists_exactly_the_screens_of_the_role(demo_app: str, username: str) -> None:
    at = app_as(username)
    assert not at.exception
    expected = {s for s in SCREENS if parse_roles([ROLE_OF[username]]) & SCREEN_ACCESS[s]} - {"account"}
    assert _menu(at) == expected
    assert "Demo mode" in page_text(at)


@pytest.mark.parametrize("username", sorted(ROLE_OF))
@pytest.mark.parametrize("screen", SCREENS)
def test_every_screen_renders_or_refuses(demo_app: str, username: str, screen: str) -> None:
    at = app_as(username, f"views/{screen}.py")
    assert not at.exception, at.exception
    allowed = bool(parse_roles([ROLE_OF[username]]) & SCREEN_ACCESS[screen])
    refused = any("Not allowed" in e.value for e in at.error)
    assert refused is not allowed
    if not allowed:
        assert not at.dataframe and not at.metric


def test_logout_ends_the_session(demo_app: str) -> None:
    at = app_as("admin")
    at.sidebar.button(key="hearth_logout").click().run()
    assert at.text_input(key="login_username")
