"""The one cache between requests: figures kept in memory, keyed so that they are never stale.

A figure is a pure function of the data and its parameters. :func:`cached` keeps a function's
result in this process's memory under the key

    (function, database, its parameters, the settings that change figures, today's date,
     the data generation of the tables it reads)

where the data generation (db.generation) is a counter per table that a database trigger moves
on every INSERT, UPDATE and DELETE, whoever writes: an import, the app, another replica, a psql
session. A write therefore changes the key, and the next read computes afresh; nothing has to
be cleared by hand, and two processes on one database can never disagree for longer than a
request. Checking the key costs one read of a ~20-row table per call (see :func:`stats`).

Nothing is stored in the database and nothing is pickled. The cache is bounded (least recently
used entries go first, by count and by approximate size: HEARTH_READ_CACHE_MB) and each caller
gets its own copy of a cached value, so a caller that changes a frame cannot change the figure
for the next one. While a session has uncommitted writes its reads are computed, never kept
(they may be rolled back).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection
from sqlmodel import Session

from core.config import get_settings
from db import generation
from db.engine import get_engine, session_writing

log = logging.getLogger("hearth.readcache")

T = TypeVar("T")

# The settings a figure's value depends on (not the mail server, the outbox or the secret).
FIGURE_SETTINGS: tuple[str, ...] = ("horizon_days", "point_value", "points_expiry_months", "loyalty_tiers",
                                    "health_band_healthy", "health_band_watch", "frequency_cap_days")
MAX_ENTRIES = 4096

_MISSING = object()
_lock = threading.Lock()
_entries: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
_inflight: dict[tuple, threading.Lock] = {}
_counters = {"hits": 0, "misses": 0, "bytes": 0, "check_seconds": 0.0, "checks": 0}


def settings_key() -> tuple[tuple[str, Any], ...]:
    """The values of :data:`FIGURE_SETTINGS` now (part of every key)."""
    settings = get_settings()
    return tuple((name, getattr(settings, name)) for name in FIGURE_SETTINGS)


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a parameter value; TypeError if there is none."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted((_freeze(v) for v in value), key=repr)))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__qualname__,
                tuple((f.name, _freeze(getattr(value, f.name))) for f in dataclasses.fields(value)))
    if isinstance(value, pd.DataFrame | pd.Series | np.ndarray):
        raise TypeError("a frame or array is not a cache key")
    hash(value)
    return (type(value).__name__, value)


def _size(value: Any, depth: int = 0) -> int:
    """Approximate bytes held by ``value`` (frames and arrays by their buffers)."""
    if isinstance(value, pd.DataFrame | pd.Series | pd.Index):
        usage = value.memory_usage(index=True, deep=False)
        return int(usage.sum() if hasattr(usage, "sum") else usage)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if depth > 4:
        return sys.getsizeof(value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(_size(k, depth + 1) + _size(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return sys.getsizeof(value) + sum(_size(v, depth + 1) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(_size(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    return sys.getsizeof(value)


def _copy(value: T) -> T:
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 - a value that cannot be copied (a fitted model's handle): share it
        return value


def _state_of(connection: Connection, tables: Iterable[str] | None) -> tuple[tuple[str, int], ...]:
    started = time.perf_counter()
    try:
        return generation.read(connection, tables)
    finally:
        with _lock:
            _counters["check_seconds"] += time.perf_counter() - started
            _counters["checks"] += 1


def _database_state(session: Session | None,
                    tables: Iterable[str] | None) -> tuple[str, tuple[tuple[str, int], ...]] | None:
    """(database, generation) for the key, or None when the read must not be kept."""
    if session is not None:
        if session_writing(session):
            return None
        conn = session.connection()
        return str(conn.engine.url), _state_of(conn, tables)
    engine = get_engine(get_settings().database_url)
    with engine.connect() as conn:
        return str(engine.url), _state_of(conn, tables)


@contextmanager
def _computing(key: tuple) -> Iterator[None]:
    """One computation per key at a time in this process: a second request waits for the first."""
    with _lock:
        lock = _inflight.setdefault(key, threading.Lock())
    with lock:
        yield
    with _lock:
        if _inflight.get(key) is lock and not lock.locked():
            _inflight.pop(key, None)


def _get(key: tuple) -> Any:
    with _lock:
        entry = _entries.get(key, _MISSING)
        if entry is _MISSING:
            return _MISSING
        _entries.move_to_end(key)
        _counters["hits"] += 1
        return entry[0]


def _put(key: tuple, value: Any) -> None:
    size = _size(value)
    limit = int(get_settings().read_cache_mb) * 1024 * 1024
    if size > limit:
        # Not kept: computed again on every use. Said in the log, so that a store that outgrew
        # the setting shows why its screens are slow (at 1,000,000 customers the normalised
        # loyalty ledger alone is over the default 512 MB).
        log.warning("not kept in memory: %s is %.0f MB, over HEARTH_READ_CACHE_MB (%d MB); it is computed "
                    "again on every use: raise HEARTH_READ_CACHE_MB", key[0] if key else "a value",
                    size / 2**20, limit // 2**20)
        return
    with _lock:
        old = _entries.pop(key, None)
        if old is not None:
            _counters["bytes"] -= old[1]
        _entries[key] = (value, size)
        _counters["bytes"] += size
        while _entries and (len(_entries) > MAX_ENTRIES or _counters["bytes"] > limit):
            _, (_, dropped) = _entries.popitem(last=False)
            _counters["bytes"] -= dropped


def fits(value: Any) -> bool:
    """Whether ``value`` is small enough to be kept (its approximate size within
    HEARTH_READ_CACHE_MB): a value over it is computed again on every use."""
    return _size(value) <= int(get_settings().read_cache_mb) * 1024 * 1024


def cached(*, tables: Iterable[str] | None = None,
           shared: bool = False) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a function whose result depends only on the data in ``tables`` (default: every
    watched table, db.generation.WATCHED) and its arguments, so that it is computed once per
    key (see the module doc) and served from memory after that.

    A ``session`` argument, if the function takes one, is used to read the generation (and is
    left out of the key); otherwise the configured database is read. Arguments must be
    hashable values (dates, strings, numbers, tuples, frozen dataclasses): a call with a frame
    or another unhashable argument is simply computed. Raises what the function raises (a
    failed computation is not kept) and KeyError for a table that is not watched.

    Every caller gets its own copy of the kept value, unless ``shared``: then the value itself is
    handed out, for large values whose callers only read them (a million-row frame copied on
    every call would cost more than computing a figure from it)."""
    watched = None if tables is None else tuple(sorted(set(tables)))
    if watched is not None:
        unknown = [t for t in watched if t not in generation.WATCHED]
        if unknown:
            raise KeyError(f"tables without a data generation: {', '.join(unknown)}")

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        signature = inspect.signature(fn)
        name = f"{fn.__module__}.{fn.__qualname__}"

        def key_of(args: tuple, kwargs: dict) -> tuple | None:
            """The key of a call, None when it is not kept (unhashable arguments, no generation)."""
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            params = {k: v for k, v in bound.arguments.items() if k != "session"}
            try:
                frozen = _freeze(params)
            except TypeError:
                return None
            state = _database_state(bound.arguments.get("session"), watched)
            if state is None:
                return None
            return (name, state[0], frozen, settings_key(), date.today(), datetime.now(UTC).date(), state[1])

        def kept(*args: Any, **kwargs: Any) -> bool:
            """Whether a call with these arguments would be answered from memory now."""
            key = key_of(args, kwargs)
            with _lock:
                return key is not None and key in _entries

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> T:
            key = key_of(args, kwargs)
            if key is None:
                return fn(*args, **kwargs)
            value = _get(key)
            if value is _MISSING:
                with _computing(key):
                    value = _get(key)
                    if value is _MISSING:
                        with _lock:
                            _counters["misses"] += 1
                        value = fn(*args, **kwargs)
                        _put(key, value)
            return value if shared else _copy(value)

        inner.uncached = fn  # type: ignore[attr-defined]
        inner.kept = kept  # type: ignore[attr-defined]
        return inner

    return wrap


def clear() -> None:
    """Forget every kept figure in this process (tests and benchmarks that time a cold start;
    never needed for correctness)."""
    with _lock:
        _entries.clear()
        _counters.update(hits=0, misses=0, bytes=0, check_seconds=0.0, checks=0)


def stats() -> dict[str, float]:
    """hits, misses, entries, bytes kept, and the mean seconds a generation check took."""
    with _lock:
        checks = _counters["checks"]
        return {"hits": _counters["hits"], "misses": _counters["misses"], "entries": len(_entries),
                "bytes": _counters["bytes"],
                "mean_check_seconds": (_counters["check_seconds"] / checks) if checks else 0.0}
