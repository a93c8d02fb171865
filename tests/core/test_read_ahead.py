"""Reading ahead (issue 17): the reads the app and `python -m core kpis` start before anything
asks for them are kept by data generation like any read, so they are used once and a write
made after them is seen; and core.drilldown's names load on first use, so naming a count does
not import the readers (the flag model, scikit-learn) behind other counts."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session

import core.drilldown
from core.analytics import source, sqlite_reader
from db.models import Order
from tests.core.test_analytics import _total_of_orders, committed  # noqa: F401 - the fixture
from tests.core.test_kpis import store  # noqa: F401 - the hand-made store, as a fixture

ROOT = Path(__file__).resolve().parents[2]


def _kept(engine, name: str) -> bool:  # noqa: ANN001
    key = (source._adbc_uri(engine.connect())[1], name)
    with source._lock:
        return key in source._process_reads and key not in source._pending


def test_a_read_started_at_start_is_used_once_and_a_later_write_is_seen(committed, engine):  # noqa: F811
    s, customers, calls = committed
    s.commit()
    source.forget_reads()
    assert source.warm(engine, ["orders"]) == 1
    assert source.warm(engine, ["orders"]) == 0  # under way (or kept) already: not started twice
    deadline = time.monotonic() + 60
    while not _kept(engine, "orders"):  # kept when done, before any session asks
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with Session(engine) as fresh:
        assert _total_of_orders(fresh) == 256.75  # A 60.50, B 40, C 15, D 30.25, G 99 (after D), H 12
    assert calls.count("orders") == 1  # the read made ahead, not a second one
    with Session(engine) as writer:
        writer.execute(update(Order).where(Order.customer_id == customers["A"].id,
                                           Order.ordered_at == datetime(2026, 6, 30, 23, 30)).values(total_cents=2050))
        writer.commit()
    with Session(engine) as fresh:
        assert _total_of_orders(fresh) == 266.75  # 256.75 - 10.50 + 20.50: read anew after the write
    # Anew: the one row written, by the change log (core.analytics.changelog), not the whole table.
    assert calls.count("orders") == 1
    assert "data_change WHERE table_name = 'orders'" in calls[-2] and calls[-1].endswith("row_id IS NOT NULL)")
    source.forget_reads()


def test_a_read_started_ahead_of_a_write_is_not_used_after_it(committed, engine):  # noqa: F811
    s, customers, calls = committed
    s.commit()
    source.forget_reads()
    assert source.warm(engine, ["orders"]) == 1
    with Session(engine) as writer:  # committed while the read may still be under way
        writer.execute(update(Order).where(Order.customer_id == customers["A"].id,
                                           Order.ordered_at == datetime(2026, 6, 30, 23, 30)).values(total_cents=2050))
        writer.commit()
    with Session(engine) as fresh:
        assert _total_of_orders(fresh) == 266.75
    source.forget_reads()


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:////tmp/x.db", True), ("sqlite:///relative.db", True), ("sqlite+pysqlite:////tmp/a.db?x=1", True),
    ("sqlite://", False), ("sqlite:///:memory:", False), ("sqlite:///", False),
    ("postgresql://u@h/db", False), ("postgresql+psycopg://u@h/db", False),
])
def test_the_reader_processes_are_for_sqlite_files_only(url, expected):
    assert sqlite_reader.is_sqlite_file(url) is expected


def test_every_drilldown_name_is_its_module_s_own():
    # Independently of the package's table: look for each name in the package's modules.
    modules = [importlib.import_module(f"core.drilldown.{p.stem}")
               for p in sorted((ROOT / "core" / "drilldown").glob("*.py")) if p.stem != "__init__"]
    for name in core.drilldown.__all__:
        owners = [m for m in modules if name in vars(m)]
        assert owners, name
        assert all(getattr(core.drilldown, name) is getattr(m, name) for m in owners), name
    with pytest.raises(AttributeError):
        core.drilldown.no_such_name  # noqa: B018
    assert set(core.drilldown.__all__) <= set(dir(core.drilldown))


def test_naming_the_overview_s_counts_imports_no_answer_or_model_reader():
    code = ("import sys\n"
            "from core.drilldown import EXTRA_DRILLS, KPI_DRILLS, NPS_TILE_DRILL, PROGRAMME_DRILLS, SALES_DRILLS\n"
            "print(sorted(m for m in ('core.feedback', 'core.flag_model', 'sklearn', 'core.clv', "
            "'core.drilldown.answers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from core.drilldown.answers import NPS_TILE_DRILL

    assert NPS_TILE_DRILL == core.drilldown.NPS_TILE_DRILL == "Answers behind the NPS (with a score, in the period)"
