"""Reactivation, defined once (design.md, "Definitions") and used by every figure that says it.

A customer is *inactive* at a moment t when they placed no order in the activity horizon up
to it: none in (t - H days, t], H = HEARTH_HORIZON_DAYS. A *reactivation* is an inactive
customer ordering within :data:`REACTIVATION_WINDOW_DAYS` (30) days after t: an order in
(t, t + 30 days].

Where it is used:

- the outreach campaigns (core.outreach.campaign_results): t is the outreach time;
- the Overview's "lapsed reactivated" (core.kpis.retention_extras): t is D - 30 days, the
  customers are those who had ordered before t (lapsed, not new), and the rate is the share of
  them who ordered in (D - 30 days, D];
- the Overview's revenue mix (core.kpis.revenue_split): a "reactivated" order is the order
  that reactivates, i.e. one placed H days or more after the customer's previous order (the
  customer was inactive just before placing it).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

REACTIVATION_WINDOW_DAYS = 30

# For DuckDB over orders with the previous order's time as prev_at: "the customer was inactive
# just before this order" (no order in the H days before it); one parameter, H in days.
INACTIVE_GAP_SQL = "prev_at <= ordered_at - to_days(CAST(? AS INTEGER))"


def reactivation_moment(as_of: date) -> datetime:
    """t for the Overview's reactivation at D: the end of day D - 30 (so (t, end of D] holds the
    30 calendar days D - 29 ... D)."""
    return datetime.combine(as_of - timedelta(days=REACTIVATION_WINDOW_DAYS - 1), time())


def inactive_window(moment: datetime, horizon_days: int) -> tuple[datetime, datetime]:
    """[start, end) of the H days up to ``moment`` in which an order means "active"."""
    return moment - timedelta(days=horizon_days), moment
