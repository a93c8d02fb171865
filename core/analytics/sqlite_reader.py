"""Read SQLite tables through ADBC in a helper process of their own, as Arrow.

Why a process of its own: the ADBC SQLite driver carries its own copy of SQLite, and two
copies of SQLite in one process corrupt a database that others write at the same time (POSIX
locks belong to the process, so when one copy closes its file it drops the locks the other
copy holds: https://www.sqlite.org/howtocorrupt.html, "Multiple copies of SQLite linked into
the same application"). It happened here: reading through ADBC in the app's process while
another process wrote gave "database disk image is malformed". In its own process the driver
is one more reader among the database's processes, which SQLite handles.

Two helpers are started once per process, on first use or by :func:`start` (about a third of
a second each), so two tables can be read at once; each serves one request at a time: a JSON
line {"uri": ..., "sql": ...} on its stdin; on its stdout a status byte (0 = done, 1 = failed),
an 8-byte length and the payload: the path of an Arrow IPC file it wrote (in /dev/shm when
there is one; the parent maps it and removes it) or the error message. The rows do not go
through the pipe: tens of megabytes in 64 KB turns took both processes taking turns about a
thousand times, slow on a busy machine. It exits when its parent closes the pipe (or dies).

Run as a script, this file is the helper; it imports only pyarrow and the ADBC driver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported where a table is made, not here: `python -m core kpis` starts the helpers
# before its own imports (core.__main__), and the helpers then start while the command imports.

# Where the helper leaves each result for the parent to map: memory (tmpfs) when there is one.
_SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class ReadError(RuntimeError):
    """The helper could not read (its message is the driver's)."""


class Reader:
    """The parent's end: one helper process, one request at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve())],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self._proc

    def read(self, uri: str, sql: str) -> pa.Table:
        """The rows of ``sql`` on the SQLite database at ``uri`` as an Arrow table.

        Raises ReadError with the helper's message when the query fails there, or when the
        helper process ended (the next read starts a new one)."""
        with self._lock:
            return self._read_locked(uri, sql)

    def start(self) -> None:
        """Start the helper process now, if it is not running (app start-up)."""
        with self._lock:
            self._start()

    def _read_locked(self, uri: str, sql: str) -> pa.Table:
        proc = self._start()
        proc.stdin.write((json.dumps({"uri": uri, "sql": sql}) + "\n").encode())
        proc.stdin.flush()
        head = proc.stdout.read(9)
        if len(head) < 9:
            self._proc = None
            raise ReadError("the SQLite reader process ended unexpectedly")
        size = int.from_bytes(head[1:], "little")
        payload = proc.stdout.read(size)
        if head[0] != 0:
            raise ReadError(payload.decode(errors="replace"))
        path = payload.decode()
        import pyarrow as pa

        try:  # mapped, not copied: the rows stay in the (memory) file's pages
            return pa.ipc.open_file(pa.memory_map(path)).read_all()
        finally:
            os.unlink(path)


# Two helpers: two tables are read at once (core.analytics.source.prefetch), one per core.
_readers = (Reader(), Reader())


def read(uri: str, sql: str) -> pa.Table:
    """Read through one of this process's helpers (a free one if any; started on first use)."""
    for reader in _readers:
        if reader._lock.acquire(blocking=False):
            try:
                return reader._read_locked(uri, sql)
            finally:
                reader._lock.release()
    return _readers[0].read(uri, sql)


def start() -> None:
    """Start the helper processes now rather than on the first read (app start-up: the first
    screen then does not wait for them)."""
    for reader in _readers:
        reader.start()


def is_sqlite_file(url: str) -> bool:
    """Whether the database URL names a SQLite file (the helpers' only use), told from its text
    alone: no SQLAlchemy import, for a command that starts the helpers before its imports."""
    scheme, _, rest = url.partition("://")
    path = rest.partition("?")[0].lstrip("/")
    return scheme.split("+")[0] == "sqlite" and bool(path) and path != ":memory:"


def _read_here(uri: str, sql: str) -> pa.Table:
    """In the helper: the rows through the driver's own API (its DB-API layer would import
    pandas, doubling the helper's start-up)."""
    import adbc_driver_manager
    import adbc_driver_sqlite
    import pyarrow as pa

    db = adbc_driver_sqlite.connect(uri)
    try:
        conn = adbc_driver_manager.AdbcConnection(db)
        try:
            stmt = adbc_driver_manager.AdbcStatement(conn)
            try:
                stmt.set_sql_query(sql)
                stream, _rows = stmt.execute_query()
                return pa.RecordBatchReader._import_from_c(stream.address).read_all()
            finally:
                stmt.close()
        finally:
            conn.close()
    finally:
        db.close()


def _serve() -> None:
    import adbc_driver_manager  # noqa: F401 - loaded before the first request, not during it
    import adbc_driver_sqlite  # noqa: F401
    import pyarrow as pa

    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            table = _read_here(request["uri"], request["sql"])
            fd, path = tempfile.mkstemp(prefix="hearth-read-", suffix=".arrow", dir=_SCRATCH)
            os.close(fd)
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            payload, status = path.encode(), 0
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller as text
            payload, status = f"{type(exc).__name__}: {exc}".encode(), 1
        out.write(bytes([status]) + len(payload).to_bytes(8, "little") + payload)
        out.flush()


if __name__ == "__main__":
    _serve()
