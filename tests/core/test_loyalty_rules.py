"""Hand-made ledgers, one per rule, with their exact answers."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from core.loyalty import (
    LoyaltyError,
    Tier,
    compute_lots,
    customer_balances,
    cutoff_for,
    ledger_problems,
    missing_expiries,
    normalise_entries,
    parse_tiers,
)

TIERS = [Tier("Bronze", 0), Tier("Silver", 500), Tier("Gold", 1500)]


def ledger(*rows: tuple) -> pd.DataFrame:
    """Rows of (customer, occurred_at, kind, points[, expires_at])."""
    return pd.DataFrame(
        [{"customer_id": r[0], "occurred_at": pd.Timestamp(r[1]), "kind": r[2], "points": r[3],
          "expires_at": pd.Timestamp(r[4]) if len(r) > 4 and r[4] else pd.NaT} for r in rows]
    )


def balance(frame: pd.DataFrame, as_of: date, customer: int = 1, **kw) -> dict:
    b = customer_balances(frame, as_of=as_of, tiers=TIERS, expiry_months=12, **kw)
    return b.set_index("customer_id").loc[customer].to_dict()


def lots(frame: pd.DataFrame, as_of: date) -> list[tuple[int, int, int]]:
    out = compute_lots(normalise_entries(frame, expiry_months=12), cutoff=cutoff_for(as_of))
    return list(zip(out["expired"], out["remaining"], out["consumed"], strict=True))


SCENARIO = ledger(
    (1, "2026-01-01", "earn", 100, "2026-07-01"),
    (1, "2026-03-01", "earn", 50, "2026-09-01"),
    (1, "2026-04-01", "redeem", -120),
)


def test_redemption_uses_the_oldest_lot_first_and_the_rest_expires():
    # (expired, remaining, consumed) per lot
    assert lots(SCENARIO, date(2026, 4, 1)) == [(0, 0, 100), (0, 30, 20)]
    b = balance(SCENARIO, date(2026, 8, 31))
    assert (b["balance"], b["expiring_points"], b["next_expiry_date"]) == (30, 30, date(2026, 9, 1))
    assert lots(SCENARIO, date(2026, 9, 1)) == [(0, 0, 100), (30, 0, 20)]
    b = balance(SCENARIO, date(2026, 9, 1))
    assert (b["earned"], b["redeemed"], b["expired"], b["balance"]) == (150, 120, 30, 0)
    assert pd.isna(b["next_expiry_date"])


def test_unredeemed_points_expire_at_the_lots_expiry():
    frame = ledger((1, "2026-01-01", "earn", 100, "2026-07-01"), (1, "2026-02-01", "redeem", -30))
    assert balance(frame, date(2026, 6, 30))["balance"] == 70
    b = balance(frame, date(2026, 7, 1))
    assert (b["expired"], b["balance"]) == (70, 0)


def test_expires_at_defaults_to_the_configured_months():
    frame = ledger((1, "2026-01-15 10:00", "earn", 40))
    assert balance(frame, date(2027, 1, 14))["balance"] == 40
    assert balance(frame, date(2027, 1, 14))["next_expiry_date"] == date(2027, 1, 15)
    assert balance(frame, date(2027, 1, 15))["balance"] == 0
    b = customer_balances(frame, as_of=date(2026, 7, 15), tiers=TIERS, expiry_months=6).iloc[0]
    assert (b["balance"], b["expired"]) == (0, 40)


def test_a_redemption_at_the_instant_of_expiry_cannot_use_the_lot():
    frame = ledger(
        (1, "2026-01-01", "earn", 100, "2026-07-01"),
        (1, "2026-02-01", "earn", 10, "2027-02-01"),
        (1, "2026-07-01", "redeem", -10),
    )
    assert lots(frame, date(2026, 7, 1)) == [(100, 0, 0), (0, 0, 10)]
    assert ledger_problems(frame) == []
    too_much = pd.concat([frame, ledger((1, "2026-07-01", "redeem", -1))], ignore_index=True)
    assert ledger_problems(too_much) == [
        (3, "redemption of 1 point is larger than the balance of 0 points at that moment, after 100 points "
            "expired (on a lot's expires_at, else by Hearth's expiry rule when the lot was stored, "
            "HEARTH_POINTS_EXPIRY_MONTHS: if the programme's rule differs, set it to that rule, or to 0 if its "
            "points never expire, before the lots are imported)")]


def test_points_earned_at_an_instant_can_be_redeemed_at_that_instant():
    frame = ledger((1, "2026-03-01 12:00", "redeem", -25), (1, "2026-03-01 12:00", "earn", 25))
    assert ledger_problems(frame) == []
    assert balance(frame, date(2026, 3, 1))["balance"] == 0


def test_a_promotion_expiring_before_older_points_still_waits_its_turn():
    # Oldest first means the January lot pays the redemption; the promotion expires whole.
    frame = ledger(
        (1, "2026-01-01", "earn", 100, "2026-12-31"),
        (1, "2026-02-01", "earn", 50, "2026-03-01"),
        (1, "2026-02-15", "redeem", -30),
    )
    assert lots(frame, date(2026, 3, 1)) == [(0, 70, 30), (50, 0, 0)]
    b = balance(frame, date(2026, 3, 1))
    assert (b["balance"], b["expired"]) == (70, 50)


def test_adjustments_credit_a_lot_or_debit_oldest_first():
    frame = ledger(
        (1, "2026-01-01", "earn", 100, "2026-07-01"),
        (1, "2026-02-01", "adjust", 20, "2026-12-01"),
        (1, "2026-03-01", "adjust", -110),
    )
    assert lots(frame, date(2026, 3, 1)) == [(0, 0, 100), (0, 10, 10)]
    b = balance(frame, date(2026, 7, 1))
    assert (b["earned"], b["adjusted"], b["redeemed"], b["expired"], b["balance"]) == (100, -90, 0, 0, 10)
    overdraw = pd.concat([frame, ledger((1, "2026-03-02", "adjust", -11))], ignore_index=True)
    assert ledger_problems(overdraw) == [
        (3, "negative adjustment of 11 points is larger than the balance of 10 points at that moment")]


def test_ledger_problems_report_redemptions_beyond_the_balance_and_bad_signs():
    frame = ledger(
        (1, "2026-01-01", "earn", 100),
        (1, "2026-01-02", "redeem", -100),
        (1, "2026-01-03", "redeem", -1),
        (2, "2026-01-01", "earn", -5),
        (2, "2026-01-01", "redeem", 5),
        (2, "2026-01-01", "bonus", 5),
        (3, "2026-01-01", "earn", 400),
        (3, "2026-05-01", "reverse", 100),  # a clawback written positive would add 100 points
    )
    frame.index = ["a", "b", "c", "d", "e", "f", "g", "h"]
    assert ledger_problems(frame) == [
        ("c", "redemption of 1 point is larger than the balance of 0 points at that moment"),
        ("d", "an earn must have positive points"),
        ("e", "a redeem must have negative points"),
        ("f", "kind must be one of earn, redeem, expire, adjust, reverse"),
        ("h", "a reverse (points of a refunded order taken back) must have negative points (points given "
              "back, as for a cancelled redemption, are kind adjust)"),
    ]


def test_stored_expire_entries_are_not_counted_twice():
    frame = pd.concat([SCENARIO, ledger((1, "2026-09-01", "expire", -30))], ignore_index=True)
    b = balance(frame, date(2026, 9, 30))
    assert (b["expired"], b["balance"]) == (30, 0)
    assert missing_expiries(frame, as_of=date(2026, 9, 30)).empty
    todo = missing_expiries(SCENARIO, as_of=date(2026, 9, 30))
    assert todo[["customer_id", "at", "points"]].to_dict("records") == [
        {"customer_id": 1, "at": pd.Timestamp("2026-09-01"), "points": 30}]


def test_tier_by_points_earned_in_the_last_twelve_months_and_the_drop_date():
    frame = ledger(
        (1, "2025-03-10", "earn", 300, "2027-01-01"),
        (1, "2025-08-01", "earn", 300, "2027-01-01"),
        (1, "2025-09-01", "redeem", -500),  # redeeming does not lower the tier
        (2, "2025-06-01", "earn", 1600, "2027-01-01"),
        (3, "2025-01-01", "earn", 10),
    )
    b = customer_balances(frame, as_of=date(2025, 12, 31), tiers=TIERS, expiry_months=12)
    b = b.set_index("customer_id")
    assert b.loc[1, "earned_12m"] == 600 and b.loc[1, "tier"] == "Silver"
    assert b.loc[1, "tier_drop_date"] == date(2026, 3, 10)
    assert b.loc[2, "tier"] == "Gold" and b.loc[2, "tier_drop_date"] == date(2026, 6, 1)
    assert b.loc[3, "tier"] == "Bronze" and pd.isna(b.loc[3, "tier_drop_date"])
    assert balance(frame, date(2026, 3, 9))["tier"] == "Silver"
    assert balance(frame, date(2026, 3, 10))["tier"] == "Bronze"


def test_tiers_come_from_the_setting():
    assert parse_tiers("Gold:1500, Bronze:0 ,Silver:500") == TIERS
    with pytest.raises(LoyaltyError, match="not Name:points"):
        parse_tiers("Bronze")
    with pytest.raises(LoyaltyError, match="whole number"):
        parse_tiers("Bronze:zero")


def test_missing_columns_are_named():
    with pytest.raises(LoyaltyError, match="kind, points"):
        normalise_entries(pd.DataFrame({"customer_id": [1], "occurred_at": ["2026-01-01"]}))
