"""The app's engine (cached once per process) and short sessions for pages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import get_settings
from core.setup import prepare_database
from db.engine import get_engine


@st.cache_resource(show_spinner="Preparing the database (first start: building the demo store)…")
def _prepared_engine(url: str, demo: bool) -> Engine:
    engine = get_engine(url)
    prepare_database(engine=engine, demo=demo)
    return engine


def app_engine() -> Engine:
    settings = get_settings()
    return _prepared_engine(settings.database_url, not settings.is_production)


@contextmanager
def get_session() -> Iterator[Session]:
    """A short session; commits when the block ends without an error, else rolls back."""
    with Session(app_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
