"""The Overview's first screen computes its other figures on side threads while the script
computes the KPI table (ui.kpis.start_first_screen): each figure is computed once (the
script's readers find what the side threads computed), and the figures are those computed
without the side threads."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pandas as pd
import pytest

from core import readcache
from core.analytics import orders as analytics_orders
from core.analytics import source
from core.config import get_settings
from ui import kpis as ui_kpis

D = date(2026, 11, 29)


def _screen(db: str, segment: str | None) -> dict:
    args = (db, D, 90, segment, None, None)
    return {"table": ui_kpis.kpi_table(*args), "extras": ui_kpis.extras(*args), "trend": ui_kpis.trend(*args),
            "monthly": ui_kpis.monthly(*args)}


@pytest.mark.parametrize("segment", [None, "vip"])
def test_each_figure_is_computed_once_and_as_without_side_threads(demo_app, monkeypatch, segment):
    # Every figure computed here, twice: none read back from the disk copy the first run wrote.
    monkeypatch.setenv("HEARTH_DISK_CACHE_DIR", "off")
    get_settings.cache_clear()
    readcache.clear()
    source.forget_reads()
    plain = _screen(demo_app, segment)  # no side threads
    readcache.clear()
    source.forget_reads()
    calls: Counter[str] = Counter()
    for name in ("order_activity", "period_aggregates", "daily_sales", "monthly_sales", "reactivation_counts",
                 "score_counts"):
        real = getattr(analytics_orders, name)
        monkeypatch.setattr(analytics_orders, name,
                            lambda *a, _real=real, _name=name, **k: (calls.update([_name]), _real(*a, **k))[1])
    with source.request_scope():
        futures = ui_kpis.start_first_screen(D, 90, segment, None, None, trends=True)
        shown = _screen(demo_app, segment)
        assert [f.result(timeout=120) for f in futures] == [None] * 4
    # Two passes over the orders (periods, history) for every figure; D and D - H once each (the extras
    # share D's), one trend, one month table, NPS at D and D - H.
    assert calls == Counter(order_activity=2, period_aggregates=2, daily_sales=1, monthly_sales=1,
                            reactivation_counts=1, score_counts=2)
    pd.testing.assert_frame_equal(shown["table"], plain["table"])
    assert shown["extras"] == plain["extras"]
    pd.testing.assert_frame_equal(shown["trend"], plain["trend"])
    pd.testing.assert_frame_equal(shown["monthly"], plain["monthly"])
