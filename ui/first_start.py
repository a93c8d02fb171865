"""The server's start: build the database (in demo mode the demo store) before the first page.

`streamlit run app.py` finds the `st.App` in app.py and runs its lifespan before it accepts a
connection, so the first login does not wait for the demo store, and the terminal shows each
step and then how to log in."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from sqlalchemy.exc import DBAPIError

from core.config import SettingsError, get_settings
from core.setup import prepare_database
from db.engine import get_engine
from ui.db import PREPARED_AT_START, terminal_progress
from ui.safe import warm_charts


def prepare_at_server_start() -> None:
    """Migrate the configured database to head; in demo mode create the demo logins and, on an
    empty store, the demo data (see core.setup.prepare_database). Prints progress lines."""
    try:
        settings = get_settings()
    except SettingsError:
        return  # the router refuses to start and says why, on the first page
    demo = not settings.is_production
    say = terminal_progress()
    say("preparing the database")
    try:
        prepare_database(engine=get_engine(settings.database_url), demo=demo, progress=say)
    except DBAPIError as exc:  # database down or busy: start anyway; the first page tries again
        say(f"the database is not reachable now ({type(exc.orig).__name__}); the first page will try again")
        return
    PREPARED_AT_START.add(settings.database_url)
    say("done")
    settle_heap()
    # Library work, no data: Plotly's template and first figure, whatever HEARTH_READ_AHEAD says.
    threading.Thread(target=warm_charts, name="hearth-warm-charts", daemon=True).start()
    if settings.read_ahead:
        read_ahead(settings.database_url)
    if demo:
        print("Hearth is ready on demo data: open the Local URL printed above in a browser and log in "
              "as manager, support, exec or admin with the password hearth-demo.", flush=True)


def settle_heap() -> None:
    """Collect once, then move every object alive now (the modules the app imported: Streamlit,
    pandas, SQLAlchemy, Plotly, ~200,000 objects) into the collector's permanent generation
    (gc.freeze), so that no later collection walks them again.

    Streamlit runs a full collection after every script run (runner.postScriptGC) on the script
    thread, holding the interpreter lock: walking ~250,000 objects took 0.1 to 0.4 s, during
    which the run's last messages (and its "finished") wait to be sent; over the few tens of
    thousands of objects made since, it takes a few milliseconds. Every later object is still
    collected as before. Called once, at server start, before any session and before the
    reads ahead start (no object of a run in progress is frozen). An object frozen here is
    never freed by the cycle collector: only a module dropped from sys.modules (Streamlit
    reloading an edited file in development) would stay in memory."""
    gc.collect()
    gc.freeze()


def read_ahead(url: str) -> None:
    """Start the columnar reads of the tables the first screens read (core.analytics.source.warm),
    in the background: a screen opened in the first seconds after the start finds them read or
    reading. Only reads, kept by data generation like any read (a write before a screen asks
    makes it read afresh); nothing is computed ahead. The caller asks only when the setting
    HEARTH_READ_AHEAD is on (the default; off to time a truly cold first screen)."""
    from core.analytics import source

    try:
        source.warm(get_engine(url))
    except DBAPIError as exc:  # the first screen reads for itself
        logging.getLogger(__name__).warning("reading ahead failed: %s", exc)


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:  # noqa: ANN401 - st.App
    """st.App's lifespan: prepare the database in a worker thread before the server answers."""
    await anyio.to_thread.run_sync(prepare_at_server_start)
    yield
