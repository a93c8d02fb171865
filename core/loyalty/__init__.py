"""Loyalty points: lots, oldest-first redemption, expiry, balances, tiers, liability.

The rules (design.md, "Definitions"), computed from the ledger entries alone:

- Every credit (an ``earn``, or an ``adjust`` or ``reverse`` with positive points) is a *lot*.
  It expires at its ``expires_at``; an empty ``expires_at`` means the months of Hearth's rule
  in force when the entry was stored (its ``expiry_months``: ``HEARTH_POINTS_EXPIRY_MONTHS``
  then; the setting now for an entry not stamped yet) after it was earned, and never when
  that is 0 (a programme without expiry; an ``expires_at`` before the earning time counts as
  the earning time). A change of the setting applies to entries stored after it: it cannot
  expire, after the fact, points a member has already redeemed.
- Every debit (a ``redeem``, an ``adjust`` or ``reverse`` with negative points, and an
  ``expire`` written by the loyalty programme itself) consumes the oldest unexpired lots first;
  "oldest" is the earning time (then the earlier expiry, then entry order). ``reverse`` is the
  points of a refunded order taken back.
- At its expiry instant a lot's unconsumed points expire. Within one instant, credits come
  first, then expiries, then debits: a redemption at the very instant a lot expires can no
  longer use it, a redemption at the instant points are earned can.
- "As of date D" is the state at the end of D: every event before D + 1 day, 00:00 (UTC).
- Stored ``expire`` entries marked ``computed`` are what Hearth's own rule wrote (the expiry
  job :func:`expire_points`, the demo): the computation ignores them and the job writes only
  what the computation says is missing. An ``expire`` entry from the programme's own file
  (``computed`` false) counts as written: its points are expired then, oldest first, so they
  neither expire again nor show as "about to expire". A member whose ledger holds such rows
  has their points expired by the programme only (an ``expires_at`` of their own still
  counts; when every lot of the member has one, the programme's rows record those expiries
  and take nothing more): programmes that write expiry rows mostly expire after months of
  inactivity, which Hearth's rule of months since earning would get wrong. A frame without a ``computed``
  column is taken as Hearth's own records (the old meaning).
- A debit larger than the balance at that moment is refused on entry
  (:func:`record_redemption`) and on import (:func:`ledger_problems`). Should a ledger hold one
  anyway, the shortfall is carried as a negative balance that the next credits pay off first,
  so ``balance = credited - debited - expired`` holds for every ledger.

Balance = earned + adjusted - reversed - redeemed - expired. Liability = outstanding points x
``HEARTH_POINT_VALUE``. Breakage = expired / earned; redemption rate = redeemed / earned
(both over all time up to the as-of date).

How it stays fast: when a customer's lots expire in the order they were earned (always true
with the default expiry), the consumed points form one prefix of the customer's lots on the
cumulative-points axis, so expiry is a running maximum: after lot k expires, the customer's
cumulative expired points are ``max(0, max_{j<=k} (S_j - D(e_j)))`` where ``S_j`` is the
cumulative credit up to lot j and ``D(e_j)`` the cumulative debits before lot j's expiry.
That is a grouped ``cummax`` over all customers at once. Customers whose lots expire out of
order (an imported promotion that expires before older points) are replayed event by event.
The rules are causal (nothing at an instant depends on a later entry), so the screens compute
the lots of the whole ledger once per data generation (history) and read every as-of date
from them by a filter and grouped sums.

The package by capability (every name below is importable from core.loyalty as before):

- rules: entry kinds, settings, tiers, errors, the normalised entries;
- lots: the computation (lots, balances, tiers, expiry events, ledger_problems);
- history: the whole ledger's lots computed once, and any as-of date's sums, lots, expiries
  and months read from them;
- ledger: reading the entries, the ledger state of a date, monthly point flows, tier mix;
- summary: the cached summary, KPIs, liability, one customer, the Loyalty screen's reads;
- writes: redemptions and the expiry run.
"""

from __future__ import annotations

from core.loyalty.ledger import (
    FLOW_COLUMNS,
    LedgerState,
    ledger_balances,
    ledger_history,
    ledger_kept,
    ledger_state,
    ledger_totals,
    member_flows,
    normalised_ledger,
    point_flows,
    read_entries,
    summary_by_month,
    tier_mix,
)
from core.loyalty.lots import compute_lots, customer_balances, expiry_events, ledger_problems
from core.loyalty.rules import (
    EXPIRING_WINDOW_DAYS,
    KIND_SYNONYMS,
    KINDS,
    NEVER,
    REQUIRED_COLUMNS,
    TIER_WINDOW_MONTHS,
    InsufficientPoints,
    LoyaltyError,
    Tier,
    cutoff_for,
    normalise_entries,
    parse_tiers,
    points_value_cents,
)
from core.loyalty.summary import (
    SUMMARY_MONTHS,
    LedgerSummary,
    customer_balance,
    customer_by_external_id,
    customer_ledger,
    kpis_from_state,
    ledger_summary,
    loyalty_export_frame,
    loyalty_kpis,
    loyalty_overview,
    member_balances,
    monthly_summary,
)
from core.loyalty.writes import expire_points, missing_expiries, pending_expiries, record_redemption

__all__ = [
    "KINDS",
    "KIND_SYNONYMS",
    "NEVER",
    "REQUIRED_COLUMNS",
    "EXPIRING_WINDOW_DAYS",
    "TIER_WINDOW_MONTHS",
    "LoyaltyError",
    "InsufficientPoints",
    "Tier",
    "parse_tiers",
    "cutoff_for",
    "normalise_entries",
    "compute_lots",
    "customer_balances",
    "expiry_events",
    "ledger_problems",
    "read_entries",
    "LedgerState",
    "ledger_state",
    "ledger_history",
    "ledger_kept",
    "SUMMARY_MONTHS",
    "LedgerSummary",
    "ledger_summary",
    "kpis_from_state",
    "ledger_balances",
    "ledger_totals",
    "normalised_ledger",
    "points_value_cents",
    "loyalty_kpis",
    "loyalty_export_frame",
    "customer_balance",
    "customer_ledger",
    "monthly_summary",
    "FLOW_COLUMNS",
    "point_flows",
    "member_flows",
    "summary_by_month",
    "tier_mix",
    "record_redemption",
    "missing_expiries",
    "expire_points",
    "loyalty_overview",
    "member_balances",
    "customer_by_external_id",
    "pending_expiries",
]
