"""The app's engine (cached once per process) and short sessions for pages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import get_settings
from core.setup import prepare_database
from db.engine import get_engine, session_scope

logger = logging.getLogger("hearth")


@st.cache_resource(show_spinner="Preparing the database (first start: building the demo store)…")
def _prepared_engine(url: str, demo: bool) -> Engine:
    engine = get_engine(url)
    result = prepare_database(engine=engine, demo=demo,
                              progress=lambda msg: logger.info("database: %s", msg))
    if demo:
        # Printed so the terminal that ran `streamlit run` says how to get in.
        print("Hearth is ready on demo data. Log in as manager, support, exec or admin "
              "with the password hearth-demo.", flush=True)
    if result.get("demo_data"):
        logger.info("demo store created: %s", result["demo_data"])
    return engine


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
