"""The disk copy of reads and of the ledger's history (core.analytics.diskcopy): a new process
reads what an earlier one kept, and never what another state of the data kept.

Each "new process" is a real one (`python -m core kpis --json`), on SQLite and PostgreSQL,
with its own HEARTH_DISK_CACHE_DIR; expected values are added up by hand from the rows written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.analytics import diskcopy
from core.config import SettingsError, get_settings
from core.loyalty.history import build_history, history_arrays, history_from_arrays
from core.loyalty.rules import normalise_entries
from tests.factories import make_customer, make_loyalty, make_order

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2026-06-30"


def _store(session: Session) -> None:
    """Orders 10.00 + 20.00 + 30.00 in the 90 days up to 2026-06-30; 1,000 points earned and
    200 redeemed (liability 800 x 0.01 = 8.00)."""
    a = make_customer(session, external_id="DC-A")
    b = make_customer(session, external_id="DC-B")
    make_order(session, a, datetime(2026, 6, 1, 10), 10.0, external_id="DC-O1")
    make_order(session, a, datetime(2026, 6, 20, 10), 20.0, external_id="DC-O2")
    make_order(session, b, datetime(2026, 6, 25, 10), 30.0, external_id="DC-O3")
    make_loyalty(session, a, datetime(2026, 6, 1, 10), "earn", 1000, expires_at=datetime(2027, 6, 1),
                 external_id="DC-L1")
    make_loyalty(session, a, datetime(2026, 6, 10, 10), "redeem", -200, external_id="DC-L2")
    session.commit()


def _kpis(db_url: str, folder: Path) -> dict:
    """The KPIs from a new process with its disk copy in ``folder``; waits for its copies."""
    env = {**os.environ, "DATABASE_URL": db_url, "HEARTH_DISK_CACHE_DIR": str(folder), "HEARTH_ENV": "demo"}
    done = subprocess.run([sys.executable, "-m", "core", "kpis", "--json", "--as-of", AS_OF, "--horizon-days", "90"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _copies(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.suffix in (".arrow", ".arrays")}


def test_a_new_process_reads_the_copy_and_any_write_makes_it_read_afresh(db_url: str, engine: Engine,
                                                                        tmp_path: Path) -> None:
    folder = tmp_path / "copies"
    with Session(engine) as session:
        _store(session)
    first = _kpis(db_url, folder)
    assert (first["orders"], first["revenue"], first["loyalty_liability"]) == (3, 60.0, 8.0)
    made = _copies(folder)
    # The orders, the ledger and the other tables read, the orders' periods at D
    # (core.kpis.activity), and the ledger normalised and its history.
    assert len([n for n in made if n.endswith(".arrow")]) >= 5
    assert len([n for n in made if n.endswith(".arrays")]) == 2  # the normalised ledger, its history
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert {oct((folder / name).stat().st_mode & 0o777) for name in made} == {"0o600"}  # this user's only

    again = _kpis(db_url, folder)
    assert again == first
    assert _copies(folder) == made  # read back, nothing new written

    # Raw writes, as psql would make them: each changes the figure in the next new process.
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 4500 WHERE external_id = 'DC-O3'"))
        conn.execute(text("DELETE FROM loyalty_entry WHERE external_id = 'DC-L2'"))
    after = _kpis(db_url, folder)
    assert (after["orders"], after["revenue"], after["loyalty_liability"]) == (3, 75.0, 10.0)  # 10+20+45; 1,000 pts
    now = _copies(folder)
    # The orders' and the ledger's copies were replaced (their groups keep only the newest);
    # the customers' copy, whose table no write touched, is the same file.
    assert len(now) == len(made)
    # Replaced: the orders, their periods at D, the loyalty entries and the members' totals at D,
    # each brought up to date from the change log (core.analytics.changelog). The normalised
    # ledger and its history were not needed: the members written were computed on their own.
    assert len(now & made) == len(made) - 4
    assert {n for n in made - now if n.endswith(".arrays")} == set()


def test_a_restored_backup_written_differently_never_reads_the_lost_copy(db_url: str, engine: Engine,
                                                                          tmp_path: Path) -> None:
    folder = tmp_path / "copies"
    with Session(engine) as session:
        _store(session)
    with engine.connect() as conn:
        backup = conn.execute(text("SELECT table_name, n, stamp FROM data_generation")).all()
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET total_cents = 4500 WHERE external_id = 'DC-O3'"))
    assert _kpis(db_url, folder)["revenue"] == 75.0  # kept on disk under the orders' next counter
    with engine.begin() as conn:  # the backup restored, its counters with it
        conn.execute(text("UPDATE orders SET total_cents = 3000 WHERE external_id = 'DC-O3'"))
        for name, n, stamp in backup:
            conn.execute(text("UPDATE data_generation SET n = :n, stamp = :s WHERE table_name = :t"),
                         {"n": n, "s": stamp, "t": name})
        conn.execute(text("UPDATE orders SET total_cents = 5000 WHERE external_id = 'DC-O3'"))
    assert _kpis(db_url, folder)["revenue"] == 80.0  # 10 + 20 + 50, not the 75.00 on disk


def test_an_unreadable_copy_is_read_again_from_the_database(db_url: str, engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "copies"
    with Session(engine) as session:
        _store(session)
    assert _kpis(db_url, folder)["revenue"] == 60.0
    for path in folder.iterdir():  # a disk that lost the files' ends
        path.write_bytes(path.read_bytes()[:40])
    again = _kpis(db_url, folder)
    assert (again["revenue"], again["loyalty_liability"]) == (60.0, 8.0)


def test_the_history_read_back_is_the_history_built(session: Session, tmp_path: Path) -> None:
    _store(session)
    from core.loyalty.ledger import read_entries

    norm = normalise_entries(read_entries(session=session, details=False, stored_expiries=False))
    built = build_history(norm)
    arrays = history_arrays(built)
    assert not any(a.dtype.hasobject for a in arrays.values())
    diskcopy._write_arrays(tmp_path / "h.arrays", arrays)
    back = history_from_arrays(diskcopy._read_arrays(tmp_path / "h.arrays"))
    for field in built.__dataclass_fields__:
        a, b = getattr(built, field), getattr(back, field)
        if isinstance(a, dict):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
        elif isinstance(a, np.ndarray):
            assert np.array_equal(a, b) and a.dtype == b.dtype
        else:
            assert a == b


def test_a_frame_of_dates_text_and_numbers_comes_back_as_it_was(tmp_path: Path) -> None:
    # The ledger summary's balances: Python dates with NaT where there is none, text with a
    # missing value, whole numbers; written to a real file and mapped back.
    import datetime as dt

    frame = pd.DataFrame({
        "customer_id": np.array([3, 1, 2], dtype="int64"),
        "balance": np.array([800, 0, -5], dtype="int64"),
        "next_expiry_date": pd.Series([dt.date(2027, 6, 1), pd.NaT, dt.date(2026, 12, 31)], dtype=object),
        "tier": pd.array(["gold", None, "silver"], dtype="str"),
    })
    diskcopy._write_table(tmp_path / "b.arrow", diskcopy.frame_table(frame))
    back = diskcopy.table_frame(pa.ipc.open_file(pa.memory_map(str(tmp_path / "b.arrow"))).read_all())
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert back["next_expiry_date"].iloc[1] is pd.NaT


@pytest.mark.parametrize(("value", "words"), [("relative/dir", "absolute path"),
                                               ("shared", "writable by other users")])
def test_a_disk_copy_directory_others_could_write_to_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path, value: str, words: str) -> None:
    if value == "shared":
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o777)
        value = str(shared)
    monkeypatch.setenv("HEARTH_DISK_CACHE_DIR", value)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match=words):
            get_settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_off_keeps_nothing_on_disk(db_url: str, engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        _store(session)
    env = {**os.environ, "DATABASE_URL": db_url, "HEARTH_DISK_CACHE_DIR": "off", "HEARTH_ENV": "demo",
           "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "core", "kpis", "--json", "--as-of", AS_OF], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["revenue"] == 60.0
    assert not (tmp_path / "cache").exists()


def _export_loyalty(db_url: str, folder: Path, out: Path) -> str:
    env = {**os.environ, "DATABASE_URL": db_url, "HEARTH_DISK_CACHE_DIR": str(folder), "HEARTH_ENV": "demo"}
    done = subprocess.run([sys.executable, "-m", "core", "export", "loyalty", "--out", str(out), "--as-of", AS_OF],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out.read_text()


def test_the_loyalty_balances_read_back_from_disk_are_the_ones_computed(db_url: str, engine: Engine,
                                                                         tmp_path: Path) -> None:
    folder = tmp_path / "copies"
    with Session(engine) as session:
        _store(session)
    first = _export_loyalty(db_url, folder, tmp_path / "first.csv")
    kept = _copies(folder)
    assert len({n for n in kept if n.endswith(".arrays")}) == 2  # the normalised ledger and its history
    # The ledger's entries as read, and the members' balances and monthly flows at the date
    # (core.loyalty.ledger_summary).
    assert len({n for n in kept if n.endswith(".arrow")}) == 3
    again = _export_loyalty(db_url, folder, tmp_path / "again.csv")
    assert again == first
    assert _copies(folder) == kept  # read back, not written again
    rows = {line.split(",")[0]: line for line in first.splitlines()[1:]}
    header = first.splitlines()[0].split(",")
    balance = header.index("balance")
    assert rows["DC-A"].split(",")[balance] == "800"  # 1,000 earned - 200 redeemed
