"""Admin → Users → Add a user: a refused input keeps what was typed; a success says so."""

from __future__ import annotations

from sqlmodel import Session

from core.users import get_user
from db.engine import get_engine
from tests.pages.helpers import app_as, open_tab, page_text

PAGE = "views/admin.py"


def _fill(at, username: str, roles: list[str], password: str) -> None:  # noqa: ANN001
    at.text_input(key="add_username").input(username)
    at.text_input(key="add_name").input("Robin Ledger")
    at.text_input(key="add_email").input("robin@hearth.example")
    at.multiselect(key="add_roles").set_value(roles)
    at.text_input(key="add_password").input(password)


def _submit(at) -> None:  # noqa: ANN001
    next(b for b in at.button if b.label == "Add user").click()
    at.run()


def test_a_short_password_keeps_the_form_and_a_success_is_confirmed(demo_app: str) -> None:
    at = app_as("admin", PAGE)
    assert not at.exception, at.exception
    _fill(at, "robin", ["account_manager"], "short")
    _submit(at)
    assert not at.exception, at.exception
    assert any("12" in e.value for e in at.error), [e.value for e in at.error]
    # Everything typed is still there, the role included.
    assert at.text_input(key="add_username").value == "robin"
    assert at.text_input(key="add_name").value == "Robin Ledger"
    assert at.multiselect(key="add_roles").value == ["account_manager"]
    with Session(get_engine(demo_app)) as session:
        assert get_user(session=session, username="robin") is None

    # Only the password needs typing again; the role was kept, so no "no known role in []".
    at.text_input(key="add_password").input("a-long-enough-passphrase")
    _submit(at)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(s.value == "Added robin. They can log in now." for s in at.success), [s.value for s in at.success]
    assert at.text_input(key="add_username").value == ""  # emptied for the next one
    with Session(get_engine(demo_app)) as session:
        added = get_user(session=session, username="robin")
        assert added is not None and "account_manager" in added.roles


def test_no_role_chosen_says_so_in_words(demo_app: str) -> None:
    at = app_as("admin", PAGE)
    _fill(at, "sam", [], "a-long-enough-passphrase")
    _submit(at)
    assert any(e.value.startswith("choose at least one role") for e in at.error), [e.value for e in at.error]
    assert not any("[]" in e.value for e in at.error)
    assert at.text_input(key="add_username").value == "sam"


def test_the_audit_log_reads_as_words(demo_app: str) -> None:
    at = app_as("admin", PAGE)
    _fill(at, "robin", ["account_manager"], "a-long-enough-passphrase")
    _submit(at)
    open_tab(at, "admin_tab", "Audit log")
    log = next(df.value for df in at.dataframe if "detail" in df.value.columns)
    assert "customer_id" not in log.columns and "customer" in log.columns
    assert len(log) and not log["detail"].str.startswith(("{", "[")).any(), log["detail"].head()
    added = log[log["action"].str.startswith("user")]
    assert len(added), set(log["action"])


def test_an_admin_cannot_disable_themself_from_the_form(demo_app: str) -> None:
    at = app_as("admin", PAGE)
    at.selectbox(key="manage_user").set_value("admin")
    next(b for b in at.button if b.label == "Disable").click()
    at.run()
    assert not at.exception, at.exception
    assert any("cannot disable yourself" in e.value for e in at.error), [e.value for e in at.error]
    with Session(get_engine(demo_app)) as session:
        assert get_user(session=session, username="admin").disabled is False


def test_only_the_open_tab_runs(demo_app: str, monkeypatch) -> None:  # noqa: ANN001
    """The Admin screen opens on Users without reading the audit log (or any other tab's data);
    the log is read when its tab is opened."""
    from core import admin

    calls: list[int] = []
    real = admin.audit_table
    monkeypatch.setattr(admin, "audit_table", lambda **kw: calls.append(1) or real(**kw))
    at = app_as("admin", PAGE)
    assert not at.exception, at.exception
    assert calls == [] and "Add a user" in page_text(at)
    open_tab(at, "admin_tab", "Audit log")
    assert not at.exception, at.exception
    assert calls == [1] and "newest entries" in page_text(at) and "Add a user" not in page_text(at)
