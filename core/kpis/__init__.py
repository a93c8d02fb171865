"""Retention KPIs, exactly as design.md's "Definitions" fix them, and the Overview's analytics.

Every number the Overview, `python -m core kpis` and the weekly summary show comes from
this module, so they agree to the cent. Windows are half-open on the left and closed on
the right in days: (D - H, D] covers the calendar days D - H + 1 ... D, each to its end,
i.e. the timestamps [D - H + 1 00:00, D + 1 00:00).

All reads are SQL aggregates or one narrow read plus vectorised pandas; nothing loops
over orders in Python.

The package by capability (every name below is importable from core.kpis as before):

- definitions: the KPI keys and definitions, windows, the customer filter, shared helpers;
- activity: every buyer's order activity around D, one pass the order figures share;
- figures: compute_kpis, period_kpis, compare_kpis, retention_extras (and the per-customer facts);
- trends: kpi_trend, monthly_sales, cohort_matrix, revenue_split, nps_trend, offer_code_revenue;
- bands: band_mix, band_moves and the accounts behind a band move;
- presentation: format_value, format_change, kpi_unit, kpi_table_csv, weekly_summary.
"""

from __future__ import annotations

from core.kpis.bands import band_mix, band_move_accounts, band_move_breakdown, band_moves
from core.kpis.definitions import (
    BANDS,
    KPI_INFO,
    KPI_KEYS,
    REFUNDS_RULE,
    KpiError,
    KpiInfo,
    customer_conditions,
    day_start,
    default_horizon,
    filter_options,
    filtered,
    latest_activity_date,
    window_bounds,
)
from core.kpis.figures import (
    compare_kpis,
    compute_kpis,
    customer_facts,
    filtered_customer_facts,
    period_kpis,
    retention_extras,
)
from core.kpis.presentation import format_change, format_value, kpi_table_csv, kpi_unit, weekly_summary
from core.kpis.trends import cohort_matrix, kpi_trend, monthly_sales, nps_trend, offer_code_revenue, revenue_split

__all__ = [
    "KPI_KEYS",
    "REFUNDS_RULE",
    "KpiInfo",
    "KPI_INFO",
    "BANDS",
    "KpiError",
    "day_start",
    "window_bounds",
    "customer_conditions",
    "filtered",
    "customer_facts",
    "filtered_customer_facts",
    "compute_kpis",
    "compare_kpis",
    "period_kpis",
    "retention_extras",
    "kpi_trend",
    "monthly_sales",
    "cohort_matrix",
    "revenue_split",
    "band_mix",
    "band_moves",
    "band_move_accounts",
    "band_move_breakdown",
    "nps_trend",
    "offer_code_revenue",
    "filter_options",
    "latest_activity_date",
    "default_horizon",
    "format_value",
    "format_change",
    "weekly_summary",
    "kpi_unit",
    "kpi_table_csv",
]
