"""The app's engine (cached once per process) and short sessions for pages."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import get_settings
from core.setup import prepare_database
from db.engine import get_engine, session_scope

logger = logging.getLogger("hearth")


# The database URLs the server's start prepared (ui.first_start): the first page does not
# prepare them again, nor print the steps and the login line a second time.
PREPARED_AT_START: set[str] = set()


@st.cache_resource(show_spinner="Preparing the database…")
def _prepared_engine(url: str, demo: bool) -> Engine:
    engine = get_engine(url)
    if url in PREPARED_AT_START:
        return engine
    result = prepare_database(engine=engine, demo=demo, progress=terminal_progress())
    if demo:
        # Printed so the terminal that ran `streamlit run` says where to go and how to get in.
        where = str(getattr(st.context, "url", "") or "the address Streamlit printed above")
        print(f"Hearth is ready on demo data at {where}. Log in as manager, support, exec or admin "
              "with the password hearth-demo.", flush=True)
    if result.get("demo_data"):
        logger.info("demo store created: %s", result["demo_data"])
    return engine


def terminal_progress() -> Callable[[str], None]:
    """A progress callback that prints each step of preparing the database to the terminal that
    ran `streamlit run`, with the seconds since the start (the "hearth" logger has no handler of
    its own, so its INFO lines would not be seen there), and logs it too."""
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"Hearth first start [{time.perf_counter() - started:6.1f} s] {message}", flush=True)
        logger.info("database: %s", message)

    return say


def app_engine() -> Engine:
    settings = get_settings()
    return _prepared_engine(settings.database_url, not settings.is_production)


@contextmanager
def get_session() -> Iterator[Session]:
    """A short session on the app's engine; commits when the block ends without an error."""
    with session_scope(app_engine()) as session:
        yield session


def database_unavailable(exc: Exception) -> None:
    """What a user sees when the database is locked, restarting or gone: no traceback, a retry."""
    logger.error("database error on a screen: %s", exc)
    try:
        get_engine(get_settings().database_url).dispose()  # drop broken pooled connections
    except Exception:  # noqa: BLE001 - disposing is best effort
        pass
    st.error("The database is not reachable right now (it may be busy or restarting). "
             "Nothing you entered was lost; try again in a moment.", icon=":material/database:")
    if st.button("Try again", key="db_retry", type="primary"):
        st.rerun()
