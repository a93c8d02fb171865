"""Hearth: the router. Page config, production guard, login gate, navigation by role.

`st.navigation` runs on every run, before login too. The screens live in `views/`, not
`pages/`: while a `pages/` folder exists, Streamlit runs its files on their own (without
this router) until the first `st.navigation` call of the process, and AppTest resets that
on every run. Every page is registered for everyone (so a URL a role may not
see reaches the page's own server-side check and says "Not allowed"); the menu shows only
what the role may open.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import DBAPIError

from core.analytics.source import request_scope
from core.config import SettingsError, get_settings
from core.roles import can_view, landing_screen
from core.security import production_problems
from ui.auth import current_user, login_page, logout, write_pending_cookie
from ui.db import database_unavailable, get_session
from ui.filters import keep_filters
from ui.safe import md
from ui.worker import start_app_worker

# (screen, file, title, icon, shown in the menu)
SCREENS = [
    ("my_work", "views/my_work.py", "My work", ":material/task_alt:", True),
    ("overview", "views/overview.py", "Overview", ":material/monitoring:", True),
    ("accounts", "views/accounts.py", "Accounts", ":material/group:", True),
    ("account", "views/account.py", "Account", ":material/person:", False),
    ("feedback", "views/feedback.py", "Feedback inbox", ":material/inbox:", True),
    ("nps", "views/nps.py", "NPS", ":material/sentiment_satisfied:", True),
    ("loyalty", "views/loyalty.py", "Loyalty", ":material/loyalty:", True),
    ("outreach", "views/outreach.py", "Outreach", ":material/campaign:", True),
    ("data", "views/data.py", "Data", ":material/upload_file:", True),
    ("admin", "views/admin.py", "Admin", ":material/admin_panel_settings:", True),
]


def _refuse(problems: list[str]) -> None:
    def page() -> None:
        st.error("Hearth refuses to start in production:")
        for problem in problems:
            st.text(f"• {problem}")

    st.navigation([st.Page(page, title="Refused")], position="hidden").run()
    st.stop()


def _route() -> None:
    """One script run: production guard, login gate, navigation by role, the screen."""
    st.set_page_config(page_title="Hearth", page_icon=":material/home:", layout="wide")

    try:
        settings = get_settings()
    except SettingsError as exc:  # production with a default key, or a value that is not valid
        _refuse([str(exc)])
    if settings.is_production:
        with get_session() as session:
            refusals = production_problems(settings=settings, session=session,
                                           show_error_details=bool(st.get_option("client.showErrorDetails")
                                                                   not in (False, "none")))
        if refusals:
            _refuse(refusals)

    try:
        user = current_user()
    except DBAPIError as exc:
        failure = exc
        st.navigation([st.Page(lambda: database_unavailable(failure), title="Hearth", url_path="unavailable")],
                      position="hidden").run()
        st.stop()
    if settings.runs_app_worker:
        start_app_worker()
    if user is None:
        try:
            # Every screen's URL leads to the login form (no "page not found" for a bookmarked link).
            login_pages = [st.Page(login_page, title="Log in", icon=":material/login:", default=True)] + [
                st.Page(login_page, title="Log in", url_path=screen) for screen, *_ in SCREENS
            ]
            st.navigation(login_pages, position="hidden").run()
        except DBAPIError as exc:
            database_unavailable(exc)
        st.stop()

    pages = {screen: st.Page(path, title=title, icon=icon, url_path=screen) for screen, path, title, icon, _ in SCREENS}
    # The root URL forwards to the role's landing screen (My work for managers and support leads,
    # else the Overview), so every screen has its own URL.
    home = st.Page(lambda: st.switch_page(pages[landing_screen(user.roles)]), title="Hearth", url_path="home",
                   default=True)
    current = st.navigation([home, *pages.values()], position="hidden")

    with st.sidebar:
        st.markdown("### :material/home: Hearth")
        for screen, _path, _title, _icon, in_menu in SCREENS:
            if in_menu and can_view(user.roles, screen):
                st.page_link(pages[screen])
        st.divider()
        st.caption(f"Signed in as **{md(user.username)}** ({', '.join(sorted(r.value for r in user.roles))})")
        write_pending_cookie()
        if st.button("Log out", key="hearth_logout", icon=":material/logout:"):
            logout(user)
            st.rerun()

    if not settings.is_production:
        st.warning("Demo mode: this Hearth runs on generated demo data, not real customers.",
                   icon=":material/science:")

    keep_filters()
    try:
        with request_scope():  # the screen's figures share one read of each table (core.analytics)
            current.run()
    except DBAPIError as exc:
        database_unavailable(exc)


if __name__ == "app":
    # `streamlit run app.py` imports this file as the module `app` to find this st.App (a
    # script run has the name "__main__"): its lifespan builds the database (and the demo store)
    # before the server answers, with progress in the terminal. Each session then runs this file
    # as the script, which routes.
    from core.analytics.source import start_readers
    from ui.first_start import lifespan

    try:  # the SQLite reader processes once per app process, not on the first screen's first read
        start_readers(get_settings().database_url)
    except SettingsError:
        pass  # the first script run shows what is wrong with the settings
    app = st.App(__file__, lifespan=lifespan)
else:
    _route()
