"""The scale benchmark's table (benchmarks/scale.py): ratio 1M/100k beside the goal, '!' on a
figure over its goal at 1M or a ratio over linear. Figures made up by hand; the benchmark
itself needs a 1,000,000-customer PostgreSQL store and is never run in the suite."""

from __future__ import annotations

import re

import pytest

from benchmarks.scale import Figure, StoreRun, print_table


def _row(out: str, figure: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(f"| {figure} |"))


def test_ratio_goal_and_marks(capsys: pytest.CaptureFixture[str]) -> None:
    small = StoreRun("100k", sizes={"customer": 100_000}, figures={
        "kpis from cold, fresh process": Figure(2.0, "s", 1.5),
        "screen overview, first load": Figure(0.5, "s", 2.0),
        "screen admin, first load": Figure(1.0, "s", 2.0),
        "app peak memory (screens)": Figure(1000.0, "MB", 2.0),
    })
    large = StoreRun("1M", sizes={"customer": 1_000_000}, figures={
        "kpis from cold, fresh process": Figure(12.0, "s", 3.0),  # ratio 6: within linear, no goal
        "screen overview, first load": Figure(5.5, "s", 3.5),  # over 5 s and ratio 11: both marked
        "screen admin, first load": Figure(4.0, "s", 3.5),  # under 5 s, ratio 4: nothing marked
        "app peak memory (screens)": Figure(4200.0, "MB", 3.5),  # over 4 GB, ratio 4.2
    })
    print_table(small, large)
    out = capsys.readouterr().out
    kpis = _row(out, "kpis from cold, fresh process")
    assert re.search(r"\| 2\.00 s \| 12\.00 s \| 6\.0 \| – \| 1\.5 / 3\.0 \|$", kpis), kpis
    assert re.search(r"\| 0\.50 s \| 5\.50 s ! \| 11\.0 ! \| < 5 s at 1M \|", _row(out, "screen overview, first load"))
    assert "!" not in _row(out, "screen admin, first load")
    assert re.search(r"\| 1,000 MB \| 4,200 MB ! \| 4\.2 \| < 4 GB at 1M \|", _row(out, "app peak memory (screens)"))
    assert re.search(r"\d+ cores, \d+ GB RAM", out) and "load now" in out


def test_a_figure_missing_on_one_store_reads_na() -> None:
    from benchmarks.scale import _cell

    assert _cell(None) == "n/a" and _cell(Figure(None, "s")) == "n/a"
