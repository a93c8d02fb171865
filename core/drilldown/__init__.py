"""Drill-down: the records behind a count or a chart bar on the Overview, NPS and Loyalty screens.

Each count has two readers: one with the records themselves (names, ids, comments: personal
data, so it raises core.roles.NotAllowed for a role that may not see it, e.g. exec) and one
with the same records as aggregates only (how many per segment and region, any role). Both
use the definitions of the count they open (core.kpis, core.nps, core.loyalty, core.clv), so the
rows behind a count always add up to it.

One module per capability, all names importable from here (``from core.drilldown import X``):

- :mod:`core.drilldown.orders`: the Overview's customer counts and charts (KPI tiles, revenue by
  month and by kind of customer, cohorts, health bands, campaigns);
- :mod:`core.drilldown.answers`: survey answers (NPS groups, trend points, themes);
- :mod:`core.drilldown.loyalty`: loyalty members (tiers, expiring points, top balances, flows);
- :mod:`core.drilldown.lifetime_value`: the Overview's lifetime-value histogram (fixed money bins);
- :mod:`core.drilldown.programme`: the members behind the loyalty programme's tiles and liability line;
- :mod:`core.drilldown.extras`: the customers behind onboarding, reactivation, subscription and ticket tiles;
- :mod:`core.drilldown.sales`: the orders and refunds behind the money tiles and offer-code revenue;
- :mod:`core.drilldown.people`: names for a record list, or its breakdown by segment and region;
- :mod:`core.drilldown.labels`: words a screen shows before any drill-down is opened.

Each name is imported from its module on first use (see ``__getattr__`` below).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for readers and type checkers; at run time each is imported on first use
    from core.drilldown.answers import (
        NPS_ANSWER_COLUMNS,
        NPS_GROUPS,
        NPS_SPLITS,
        month_answer_breakdown,
        month_answers,
        nps_answers,
        nps_breakdown,
        period_answer_breakdown,
        period_answers,
        period_window,
        theme_answers,
        theme_breakdown,
        window_answer_breakdown,
        window_answers,
    )
    from core.drilldown.extras import EXTRA_DRILLS, extra_records
    from core.drilldown.labels import NPS_TILE_DRILL
    from core.drilldown.lifetime_value import (
        ClvBins,
        clv_bin_customers,
        clv_bin_edges,
        clv_customers,
        clv_histogram,
    )
    from core.drilldown.loyalty import LOYALTY_DRILLS, TOP_BALANCES, loyalty_breakdown, loyalty_flow_members
    from core.drilldown.orders import (
        CAMPAIGN_GROUPS,
        KPI_CUSTOMER_COLUMNS,
        KPI_DRILLS,
        MIX_KINDS,
        band_customers,
        campaign_customers,
        cohort_customers,
        kpi_breakdown,
        kpi_customers,
        mix_orders,
        month_breakdown,
        month_customers,
    )
    from core.drilldown.people import breakdown, with_people
    from core.drilldown.programme import PROGRAMME_DRILLS, month_end_members, programme_members, programme_records
    from core.drilldown.sales import SALES_DRILLS, offer_code_orders, sales_breakdown, sales_records

# name -> the submodule that defines it. A name is imported on first use (PEP 562), so the
# Overview's first screen, which needs the count labels of .orders, .extras, .sales and
# .programme, does not import .answers (core.feedback: the flag model, scikit-learn) or
# .lifetime_value until a drill-down needs them.
_MODULES: dict[str, tuple[str, ...]] = {
    "answers": ("NPS_ANSWER_COLUMNS", "NPS_GROUPS", "NPS_SPLITS", "month_answer_breakdown",
                "month_answers", "nps_answers", "nps_breakdown", "period_answer_breakdown", "period_answers",
                "period_window", "theme_answers", "theme_breakdown", "window_answer_breakdown", "window_answers"),
    "extras": ("EXTRA_DRILLS", "extra_records"),
    "labels": ("NPS_TILE_DRILL",),
    "lifetime_value": ("ClvBins", "clv_bin_customers", "clv_bin_edges", "clv_customers", "clv_histogram"),
    "loyalty": ("LOYALTY_DRILLS", "TOP_BALANCES", "loyalty_breakdown", "loyalty_flow_members"),
    "orders": ("CAMPAIGN_GROUPS", "KPI_CUSTOMER_COLUMNS", "KPI_DRILLS", "MIX_KINDS", "band_customers",
               "campaign_customers", "cohort_customers", "kpi_breakdown", "kpi_customers", "mix_orders",
               "month_breakdown", "month_customers"),
    "people": ("breakdown", "with_people"),
    "programme": ("PROGRAMME_DRILLS", "month_end_members", "programme_members", "programme_records"),
    "sales": ("SALES_DRILLS", "offer_code_orders", "sales_breakdown", "sales_records"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whatever the submodule defines
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'core.drilldown' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"core.drilldown.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "CAMPAIGN_GROUPS", "EXTRA_DRILLS", "extra_records",
    "KPI_CUSTOMER_COLUMNS", "KPI_DRILLS", "LOYALTY_DRILLS", "MIX_KINDS", "NPS_ANSWER_COLUMNS",
    "NPS_GROUPS", "NPS_SPLITS", "NPS_TILE_DRILL", "PROGRAMME_DRILLS", "SALES_DRILLS", "TOP_BALANCES", "ClvBins",
    "band_customers",
    "breakdown",
    "campaign_customers",
    "clv_bin_customers", "clv_customers",
    "clv_bin_edges", "clv_histogram", "cohort_customers", "kpi_breakdown", "kpi_customers",
    "loyalty_breakdown", "loyalty_flow_members", "mix_orders", "offer_code_orders", "month_answer_breakdown",
    "month_answers", "month_end_members", "programme_members", "programme_records",
    "month_breakdown", "month_customers", "nps_answers", "nps_breakdown", "period_answer_breakdown",
    "period_answers", "period_window", "sales_breakdown", "sales_records", "theme_answers",
    "theme_breakdown", "window_answer_breakdown", "window_answers", "with_people",
]
