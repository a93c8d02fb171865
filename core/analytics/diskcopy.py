"""The columnar reads and the loyalty ledger's history, kept on this machine's disk between processes.

Why (issue 17): at 1,000,000 customers on PostgreSQL, reading the orders (15 M rows) and the
loyalty ledger (10.7 M entries) through ADBC took 8 to 9 s each, and the ledger's history
another 5 s; every new app process (a restart, a deploy, a second replica on the machine) paid
all of it again before its first Overview. A copy kept here is read back in a fraction of a
second: a read as an Arrow IPC file, memory-mapped (no copy, no decoding), the history as
NumPy arrays.

Never stale, by the same key as memory (core.readcache): a file's name is a hash of

    (format, the code's version, what it is, the database, the data generation of its table
     with its random stamps (db.generation), and for the history the settings that change it)

so a write anywhere, by any process, a restore followed by another write, a changed setting
or a new version of Hearth's code all give another name: the old file is simply never asked
for again (and is removed when its table's next copy is written, or when the directory is over
its size). Nothing is pickled: Arrow's format and ``np.load(allow_pickle=False)``.

Where: HEARTH_DISK_CACHE_DIR (default ``$XDG_CACHE_HOME/hearth`` or ``~/.cache/hearth``),
created readable by this user only; at most HEARTH_DISK_CACHE_MB (default 4096; 0 or the
directory ``off`` turns the copy off). core.config refuses a directory other users could
write to (they could plant a file that changes the figures).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from core.config import PROJECT_ROOT, disk_cache_path, get_settings

log = logging.getLogger("hearth.diskcopy")

FORMAT = 1
_SUFFIXES = (".arrow", ".npz")
# Files are written by one background thread at a low priority (nice + 10): a copy is for the
# next process, so writing it never holds up the screen that read the data.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-diskcopy")
_WRITER_NICENESS = 10
_lock = threading.Lock()
_pending: set[str] = set()


def directory() -> Path | None:
    """The directory copies are kept in (created, mode 0700), or None when the copy is off."""
    settings = get_settings()
    path = disk_cache_path(settings)
    if path is None or settings.disk_cache_mb <= 0:
        return None
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("no disk copy: cannot create %s (%s)", path, exc)
        return None
    return path


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of Hearth's core and db code: a copy written by another version is never read."""
    digest = hashlib.sha256()
    for folder in ("core", "db"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _hash(value: Any) -> str:  # noqa: ANN401 - a tuple of plain values
    return hashlib.sha256(repr(value).encode()).hexdigest()


def slot(kind: str, database: str, name: str, key: Iterable[Any]) -> tuple[str, str] | None:
    """(group, file key) of one copy, or None when the copy is off. ``group`` names what is
    copied (kind, database, name): a new copy of the same group replaces the older ones;
    ``key`` everything its value depends on (the data generation, settings)."""
    if directory() is None:
        return None
    group = _hash((FORMAT, kind, database, name))[:16]
    return group, _hash((FORMAT, code_version(), kind, database, name, tuple(key)))[:40]


def _path(where: tuple[str, str], suffix: str) -> Path | None:
    folder = directory()
    return None if folder is None else folder / f"{where[0]}-{where[1]}{suffix}"


def _drop(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def load_table(where: tuple[str, str] | None) -> pa.Table | None:
    """The Arrow table kept under ``where`` (from :func:`slot`), memory-mapped, or None."""
    path = None if where is None else _path(where, ".arrow")
    if path is None or not path.is_file():
        return None
    try:
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        os.utime(path)  # used now: the last to go when the directory is over its size
    except (OSError, pa.ArrowInvalid) as exc:
        log.warning("disk copy %s unreadable (%s); reading the database", path.name, exc)
        _drop(path)
        return None
    return table


def load_arrays(where: tuple[str, str] | None) -> dict[str, np.ndarray] | None:
    """The arrays kept under ``where`` (from :func:`slot`), read into memory, or None."""
    path = None if where is None else _path(where, ".npz")
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        os.utime(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("disk copy %s unreadable (%s); computing afresh", path.name, exc)
        _drop(path)
        return None
    return arrays


def save_table(where: tuple[str, str] | None, table: pa.Table) -> None:
    """Write ``table`` under ``where`` in the background (nothing when the copy is off)."""
    if where is not None:
        _submit(where, ".arrow", lambda tmp: _write_table(tmp, table))


def save_arrays(where: tuple[str, str] | None, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (no object arrays) under ``where`` in the background."""
    if where is None:
        return
    if any(a.dtype.hasobject for a in arrays.values()):
        raise ValueError("object arrays cannot be kept on disk without pickling")
    _submit(where, ".npz", lambda tmp: _write_arrays(tmp, arrays))


def _write_table(tmp: Path, table: pa.Table) -> None:
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _write_arrays(tmp: Path, arrays: dict[str, np.ndarray]) -> None:
    with tmp.open("wb") as fh:
        np.savez(fh, allow_pickle=False, **arrays)


def _submit(where: tuple[str, str], suffix: str, write: Any) -> None:  # noqa: ANN401 - a callable
    path = _path(where, suffix)
    if path is None or path.exists():
        return
    with _lock:
        if str(path) in _pending:
            return
        _pending.add(str(path))
    _writer.submit(_write, path, write)


def _write(path: Path, write: Any) -> None:  # noqa: ANN401 - a callable
    """Write to a temporary name and rename (a reader never sees half a file), then remove the
    group's older copies and keep the directory within its size."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _WRITER_NICENESS)
    except (AttributeError, OSError):
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
        group = path.name.split("-", 1)[0]
        for other in path.parent.iterdir():
            if other != path and other.name.startswith(group + "-") and other.suffix in _SUFFIXES:
                _drop(other)
        _trim(path.parent, keep=path)
    except OSError as exc:  # a full disk, a removed directory: the next process reads again
        log.warning("disk copy %s not written (%s)", path.name, exc)
        _drop(tmp)
    finally:
        with _lock:
            _pending.discard(str(path))


def _trim(folder: Path, keep: Path) -> None:
    """Remove the least recently used copies while the directory is over HEARTH_DISK_CACHE_MB."""
    limit = get_settings().disk_cache_mb * 1024 * 1024
    files = []
    for p in folder.iterdir():
        if p.suffix in _SUFFIXES:
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
    total = sum(size for _t, size, _p in files)
    for _t, size, p in sorted(files, key=lambda f: f[0]):
        if total <= limit:
            break
        if p != keep:
            _drop(p)
            total -= size


def wait() -> None:
    """Wait until every copy submitted so far is written (tests, benchmarks)."""
    _writer.submit(lambda: None).result()


def clear() -> int:
    """Remove every copy in the directory; returns how many files went."""
    folder = directory()
    if folder is None:
        return 0
    wait()
    gone = 0
    for p in folder.iterdir():
        if p.suffix in _SUFFIXES:
            _drop(p)
            gone += 1
    return gone
