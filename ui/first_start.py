"""The server's start: build the database (in demo mode the demo store) before the first page.

`streamlit run app.py` finds the `st.App` in app.py and runs its lifespan before it accepts a
connection, so the first login does not wait for the demo store, and the terminal shows each
step and then how to log in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from sqlalchemy.exc import DBAPIError

from core.config import SettingsError, get_settings
from core.setup import prepare_database
from db.engine import get_engine
from ui.db import terminal_progress


def prepare_at_server_start() -> None:
    """Migrate the configured database to head; in demo mode create the demo logins and, on an
    empty store, the demo data (see core.setup.prepare_database). Prints progress lines."""
    try:
        settings = get_settings()
    except SettingsError:
        return  # the router refuses to start and says why, on the first page
    demo = not settings.is_production
    say = terminal_progress()
    say("preparing the database" + (" (first start: building the demo store)" if demo else ""))
    try:
        prepare_database(engine=get_engine(settings.database_url), demo=demo, progress=say)
    except DBAPIError as exc:  # database down or busy: start anyway; the first page tries again
        say(f"the database is not reachable now ({type(exc.orig).__name__}); the first page will try again")
        return
    say("done")
    if demo:
        print("Hearth is ready on demo data: open the Local URL printed above in a browser and log in "
              "as manager, support, exec or admin with the password hearth-demo.", flush=True)


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:  # noqa: ANN401 - st.App
    """st.App's lifespan: prepare the database in a worker thread before the server answers."""
    await anyio.to_thread.run_sync(prepare_at_server_start)
    yield
