"""The demo store's loyalty ledger obeys the same rules as any other (a small store)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from core.demo import generate_demo
from core.loyalty import (
    compute_lots,
    customer_balances,
    cutoff_for,
    ledger_problems,
    missing_expiries,
    normalise_entries,
)

TODAY = date(2026, 6, 30)


def test_demo_loyalty_passes_the_ledger_invariants():
    frames = generate_demo(customers=400, seed=3, today=TODAY)
    entries = frames["loyalty_entry"].set_index("id")
    assert len(entries) > 100 and set(entries["kind"]) >= {"earn", "redeem", "expire"}
    # No redemption above the balance at its moment; signs and kinds are right.
    assert ledger_problems(entries) == []
    for as_of in (TODAY - timedelta(days=400), TODAY - timedelta(days=120), TODAY):
        b = customer_balances(entries, as_of=as_of)
        assert (b["balance"] >= 0).all()
        assert (b["earned"] + b["adjusted"] == b["redeemed"] + b["expired"] + b["balance"]).all()
        lots = compute_lots(normalise_entries(entries), cutoff=cutoff_for(as_of))
        assert (lots[["expired", "remaining", "consumed"]] >= 0).all().all()
    # The generator's own expire entries are exactly what the computation expires: the expiry
    # job has nothing to add, and the stored entries add up to the computed expiries.
    assert missing_expiries(entries, as_of=TODAY).empty
    stored = -entries.loc[entries["kind"] == "expire"].groupby("customer_id")["points"].sum()
    computed = customer_balances(entries, as_of=TODAY).set_index("customer_id")["expired"]
    pd.testing.assert_series_equal(stored.sort_index(), computed[computed > 0].sort_index(),
                                   check_names=False, check_dtype=False)
