"""The screens that show accounts, scores, feedback and loyalty offer the same exports as the
command line, to the roles that may have them."""

from __future__ import annotations

import pytest

from tests.pages.helpers import app_as


def _downloads(at) -> set[str]:  # noqa: ANN001
    return {el.proto.label for el in at.get("download_button")}


@pytest.mark.parametrize(("username", "screen", "label", "shown"), [
    ("support", "feedback", "Download all feedback as CSV", True),
    ("manager", "feedback", "Download all feedback as CSV", False),
    ("manager", "loyalty", "Download balances as CSV", True),
    ("exec", "loyalty", "Download balances as CSV", False),
    ("manager", "accounts", "Download every account's latest scores as CSV", True),
])
def test_export_downloads_by_role(demo_app: str, username: str, screen: str, label: str, shown: bool) -> None:
    at = app_as(username, f"views/{screen}.py")
    assert not at.exception, at.exception
    assert (label in _downloads(at)) is shown
