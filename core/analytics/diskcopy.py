"""The columnar reads and the loyalty ledger's history, kept on this machine's disk between processes.

Why (issue 17): at 1,000,000 customers on PostgreSQL, reading the orders (15 M rows) and the
loyalty ledger (10.7 M entries) through ADBC took 8 to 9 s each, and the ledger's history
another 5 s; every new app process (a restart, a deploy, a second replica on the machine) paid
all of it again before its first Overview. A copy kept here is read back in a fraction of a
second: a read as an Arrow IPC file, the history as NumPy arrays in one file (:func:`save_arrays`),
both memory-mapped: no copy, no decoding, and the pages shared by every process on the machine.

Never stale, by the same key as memory (core.readcache): a file's name is a hash of

    (format, the code's version, what it is, the database, the data generation of its table
     with its random stamps (db.generation), and for the history the settings that change it)

so a write anywhere, by any process, a restore followed by another write, a changed setting
or a new version of Hearth's code all give another name: the old file is simply never asked
for again (and is removed when its table's next copy is written, or when the directory is over
its size). Nothing is pickled: Arrow's format, and raw arrays described by a JSON header (no
object arrays).

Where: HEARTH_DISK_CACHE_DIR (default ``$XDG_CACHE_HOME/hearth`` or ``~/.cache/hearth``),
created readable by this user only; at most HEARTH_DISK_CACHE_MB (default 4096; 0 or the
directory ``off`` turns the copy off). core.config refuses a directory other users could
write to (they could plant a file that changes the figures).
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa

from core.config import PROJECT_ROOT, disk_cache_path, get_settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("hearth.diskcopy")
T = TypeVar("T")

FORMAT = 1
CODE_KEY = b"hearth.code"  # a copied table's schema metadata: the code version that wrote it
_SUFFIXES = (".arrow", ".arrays")
_MAGIC = b"HEARTHA1"  # the arrays file: magic, header length (8 bytes), JSON header, data
_ALIGN = 64
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
    """A hash of the name, size and modification time of every file of Hearth's core and db
    code: a copy written by another version (an upgrade, an edit) is never read. Stat calls
    only (a few milliseconds), not the files' contents."""
    digest = hashlib.sha256()
    for folder in ("core", "db"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            st = path.stat()
            digest.update(f"{path.relative_to(PROJECT_ROOT)}:{st.st_size}:{st.st_mtime_ns};".encode())
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


def previous_table(where: tuple[str, str] | None) -> pa.Table | None:
    """The newest other copy of the group of ``where`` (the same read at another data
    generation), written by this version of the code, memory-mapped; None when there is none.
    Its schema metadata says which state it holds (core.analytics.source keeps it there), so a
    reader can bring it up to date from the change log (core.analytics.changelog)."""
    folder = directory()
    if where is None or folder is None:
        return None
    own = f"{where[0]}-{where[1]}.arrow"
    older = []
    for path in folder.glob(f"{where[0]}-*.arrow"):
        if path.name != own:
            try:
                older.append((path.stat().st_mtime, path))
            except OSError:
                continue
    if not older:
        return None
    try:
        table = pa.ipc.open_file(pa.memory_map(str(max(older)[1]))).read_all()
    except (OSError, pa.ArrowInvalid):
        return None
    return table if (table.schema.metadata or {}).get(CODE_KEY) == code_version().encode() else None


def load_arrays(where: tuple[str, str] | None) -> dict[str, np.ndarray] | None:
    """The arrays kept under ``where`` (from :func:`slot`), memory-mapped and read-only, or None."""
    path = None if where is None else _path(where, ".arrays")
    if path is None or not path.is_file():
        return None
    try:
        arrays = _read_arrays(path)
        os.utime(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("disk copy %s unreadable (%s); computing afresh", path.name, exc)
        _drop(path)
        return None
    return arrays


def kept_table(where: tuple[str, str] | None, compute: Callable[[], pa.Table]) -> pa.Table:
    """The table kept under ``where`` (from :func:`slot`; None: not kept), else ``compute()``,
    then written under ``where`` in the background for the next process."""
    kept = load_table(where)
    if kept is not None:
        return kept
    table = compute()
    save_table(where, table)
    return table


def kept_arrays(where: tuple[str, str] | None, compute: Callable[[], T],
                to_arrays: Callable[[T], dict[str, np.ndarray]],
                from_arrays: Callable[[dict[str, np.ndarray]], T]) -> T:
    """``from_arrays`` of the arrays kept under ``where`` (from :func:`slot`; None: not kept),
    else ``compute()``, then ``to_arrays`` of it written under ``where`` in the background; a
    value ``to_arrays`` refuses (ValueError: Python objects, which would need pickling) is not
    kept."""
    arrays = load_arrays(where)
    if arrays is not None:
        return from_arrays(arrays)
    value = compute()
    if where is not None:
        try:
            save_arrays(where, to_arrays(value))
        except ValueError:
            pass
    return value


def frame_arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A frame of numeric, boolean, datetime and categorical columns (categories as text) as
    named arrays for :func:`save_arrays`; :func:`frame_from_arrays` gives it back. Raises
    ValueError for another column type (object text would need pickling)."""
    import pandas as pd  # here: a command's reads start before pandas is loaded (core.__main__)

    out = {"~columns": np.array([str(c) for c in frame.columns], dtype=str),
           "~index_name": np.array(frame.index.name or "", dtype=str), "~index": frame.index.to_numpy()}
    for i, name in enumerate(frame.columns):
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            out[f"{i}.codes"] = column.cat.codes.to_numpy()
            out[f"{i}.categories"] = np.array([str(c) for c in column.cat.categories], dtype=str)
        else:
            out[f"{i}"] = column.to_numpy()
    if any(a.dtype.hasobject for a in out.values()):
        raise ValueError("a column of Python objects cannot be kept on disk without pickling")
    return out


def frame_from_arrays(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """The frame :func:`frame_arrays` gave ``arrays`` for (same columns, order, dtypes, index);
    the columns share the arrays' memory (copy=False)."""
    import pandas as pd  # here: a command's reads start before pandas is loaded (core.__main__)

    columns: dict[str, Any] = {}
    for i, name in enumerate(arrays["~columns"].tolist()):
        if f"{i}.codes" in arrays:
            categories = pd.Index(arrays[f"{i}.categories"].tolist(), dtype="str")
            columns[name] = pd.Categorical.from_codes(arrays[f"{i}.codes"], categories=categories)
        else:
            columns[name] = arrays[f"{i}"]
    index = pd.Index(arrays["~index"], name=str(arrays["~index_name"]) or None)
    return pd.DataFrame(columns, index=index, copy=False)


def frame_table(frame: pd.DataFrame) -> pa.Table:
    """A frame with any column pandas and Arrow both type (numbers, text, dates as Python
    dates, timestamps) as an Arrow table for :func:`save_table`, its index kept;
    :func:`table_frame` gives it back."""
    return pa.Table.from_pandas(frame, preserve_index=True)


def table_frame(table: pa.Table) -> pd.DataFrame:
    """The frame :func:`frame_table` was given: same columns, dtypes and index; a missing date
    in a column of Python dates is NaT again, as it was (Arrow gives None)."""
    import pandas as pd  # here: a command's reads start before pandas is loaded (core.__main__)

    frame = table.to_pandas()
    for field in table.schema:
        if pa.types.is_date(field.type) and field.name in frame.columns:
            column = frame[field.name].astype(object)
            column[column.isna()] = pd.NaT
            frame[field.name] = column
    return frame


def _ceil(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The file :func:`_write_arrays` wrote; ValueError when it is not whole."""
    with path.open("rb") as fh:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    if mm[:8] != _MAGIC:
        raise ValueError("not a Hearth arrays file")
    size = int.from_bytes(mm[8:16], "little")
    header = json.loads(bytes(mm[16:16 + size]))
    start = _ceil(16 + size)
    out: dict[str, np.ndarray] = {}
    for entry in header:
        dtype = np.dtype(entry["dtype"])
        if dtype.hasobject:
            raise ValueError("object arrays are never read from disk")
        shape = tuple(int(n) for n in entry["shape"])
        count = int(np.prod(shape, dtype="int64"))
        at = start + int(entry["offset"])
        if at + count * dtype.itemsize > len(mm):
            raise ValueError(f"array {entry['name']!r} runs past the end of the file")
        out[entry["name"]] = np.frombuffer(mm, dtype=dtype, count=count, offset=at).reshape(shape)
    return out


def save_table(where: tuple[str, str] | None, table: pa.Table) -> None:
    """Write ``table`` under ``where`` in the background (nothing when the copy is off)."""
    if where is not None:
        _submit(where, ".arrow", lambda tmp: _write_table(tmp, table))


def save_arrays(where: tuple[str, str] | None, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` under ``where`` in the background (nothing when the copy is off).
    Raises ValueError for an object array (it could not be kept without pickling)."""
    if where is None:
        return
    if any(a.dtype.hasobject for a in arrays.values()):
        raise ValueError("object arrays cannot be kept on disk without pickling")
    _submit(where, ".arrays", lambda tmp: _write_arrays(tmp, arrays))


def _write_table(tmp: Path, table: pa.Table) -> None:
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _write_arrays(tmp: Path, arrays: dict[str, np.ndarray]) -> None:
    header, offset = [], 0
    for name, values in arrays.items():
        offset = _ceil(offset)
        header.append({"name": name, "dtype": values.dtype.str, "shape": list(values.shape), "offset": offset})
        offset += values.nbytes
    head = json.dumps(header).encode()
    start = _ceil(16 + len(head))
    with tmp.open("wb") as fh:
        fh.write(_MAGIC + len(head).to_bytes(8, "little") + head)
        for entry, values in zip(header, arrays.values(), strict=True):
            fh.seek(start + entry["offset"])
            fh.write(np.ascontiguousarray(values).reshape(-1).view("uint8").data)
        fh.truncate(start + offset)


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
    """Write to a temporary name readable by this user only and rename (a reader never sees half
    a file), then remove the group's older copies and keep the directory within its size."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _WRITER_NICENESS)
    except (AttributeError, OSError):
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.touch(mode=0o600)
        os.chmod(tmp, 0o600)
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
