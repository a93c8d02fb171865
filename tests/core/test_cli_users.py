"""`python -m core init` and `users` from the command line, in-process."""

from __future__ import annotations

import pytest

from core.__main__ import main


def test_users_add_list_set_password_disable(app_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    assert main(["users", "add", "lee", "--name", "Lee Lead", "--role", "support_lead",
                 "--password", "a long enough password"]) == 0
    assert main(["users", "list"]) == 0
    out = capsys.readouterr().out
    assert "lee" in out and "support_lead" in out and "1 users" in out
    assert main(["users", "set-password", "lee", "--password", "short"]) == 1
    assert "12 characters" in capsys.readouterr().err
    assert main(["users", "disable", "lee"]) == 0
    main(["users", "list"])
    assert "disabled" in capsys.readouterr().out


def test_unknown_role_is_a_one_line_error(app_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init"])
    assert main(["users", "add", "x", "--name", "X", "--role", "wizard", "--password", "p" * 12]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no known role") and "\n" not in err
