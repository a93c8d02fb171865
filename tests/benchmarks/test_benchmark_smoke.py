"""The benchmark runs end to end on a small store and prints every figure (never a timing
assertion: speed goals live in the benchmark's table, not in the suite)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_prints_every_figure_and_every_screen_without_an_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_") and k != "DATABASE_URL"}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--customers", "300", "--backend", "sqlite"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)  # screens in Chromium
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    from benchmarks.run import GOALS

    for figure in GOALS:
        row = next((line for line in out.splitlines() if line.startswith(f"| {figure} ")), None)
        assert row is not None, f"no row for {figure!r} in:\n{out}"
        assert re.search(r"\d+\.\d\d (s|MB)", row), row
    for screen in ("overview", "accounts", "account", "feedback", "nps", "loyalty", "outreach", "data", "admin"):
        assert re.search(rf"^  {screen} +\d", out, re.MULTILINE), f"no timing for {screen}:\n{out}"
    assert "ERROR" not in out
    assert "300 customers" in out
