"""The app's engine (cached once per process) and short sessions for pages."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


@st.cache_resource
def _precompute_runs() -> dict[str, subprocess.Popen]:
    return {}


def precompute_in_background(*, asked: bool = False) -> subprocess.Popen | None:
    """Start `python -m core precompute` in its own process (after an import, or when an admin
    asks): the heavy aggregates are recomputed off the request path, without holding the
    server's GIL. A run still going from earlier is stopped first; its work is stale anyway.
    After an import only when HEARTH_PRECOMPUTE_AFTER_IMPORT is on."""
    settings = get_settings()
    if not asked and not settings.precompute_after_import:
        return None
    runs = _precompute_runs()
    earlier = runs.get(settings.database_url)
    if earlier is not None and earlier.poll() is None:
        earlier.terminate()
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    proc = subprocess.Popen([sys.executable, "-m", "core", "precompute"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs[settings.database_url] = proc
    # Someone must wait() for the child or it stays a zombie in the process table after it
    # exits: a daemon thread reaps it and logs how it ended.
    threading.Thread(target=_reap, args=(proc,), name=f"reap-precompute-{proc.pid}", daemon=True).start()
    logger.info("precomputing the day's figures in process %s", proc.pid)
    return proc


def _reap(proc: subprocess.Popen) -> None:
    code = proc.wait()
    logger.info("precompute process %s ended with exit code %s", proc.pid, code)
