"""Property-based tests of the loyalty ledger against a point-by-point reference.

The reference below is the rule book read literally: every point is a unit, a debit takes
units one at a time from the oldest unexpired lot, a lot's units left at its expiry instant
expire. Within an instant: credits, then expiries, then debits. A debit that finds no unit
(only possible in a ledger the app refuses) becomes debt that later credits pay first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.loyalty import compute_lots, customer_balances, cutoff_for, ledger_problems, normalise_entries

BASE = datetime(2025, 1, 1)


@dataclass
class Reference:
    """Replays one customer's entries point by point."""

    rows: list[dict]
    cutoff: datetime
    clamp: bool = False  # shrink debits to the balance at that moment (makes a valid ledger)
    lots: list[dict] = field(default_factory=list)
    overdrawn: list[int] = field(default_factory=list)  # row numbers of debits beyond the balance
    balance_before: dict[int, int] = field(default_factory=dict)
    debt: int = 0

    def run(self) -> Reference:
        events = []
        credits = [r for r in self.rows if r["points"] > 0 and r["kind"] != "expire"]
        credits.sort(key=lambda r: (r["occurred_at"], r["exp"], r["n"]))
        for fifo, r in enumerate(credits):
            lot = {"n": r["n"], "points": r["points"], "remaining": 0, "expired": 0, "fifo": fifo,
                   "credited": False, "gone": False, "exp": r["exp"]}
            self.lots.append(lot)
            if r["occurred_at"] < self.cutoff:
                events.append((r["occurred_at"], 0, fifo, "credit", lot))
                if r["exp"] < self.cutoff:
                    events.append((r["exp"], 1, fifo, "expire", lot))
        for r in self.rows:
            if r["points"] < 0 and r["kind"] != "expire" and r["occurred_at"] < self.cutoff:
                events.append((r["occurred_at"], 2, r["n"], "debit", r))
        events.sort(key=lambda e: e[:3])
        for _t, _o, _tie, what, obj in events:
            if what == "credit":
                obj["credited"] = True
                obj["remaining"] = obj["points"]
                while self.debt and obj["remaining"]:
                    self.debt -= 1
                    obj["remaining"] -= 1
            elif what == "expire":
                obj["expired"] = obj["remaining"]
                obj["remaining"] = 0
                obj["gone"] = True
            else:
                need = -obj["points"]
                available = sum(lot["remaining"] for lot in self.lots) - self.debt
                self.balance_before[obj["n"]] = available
                if need > available:
                    self.overdrawn.append(obj["n"])
                    if self.clamp:
                        need = max(available, 0)
                        obj["points"] = -need
                for _ in range(need):
                    live = [lot for lot in self.lots
                            if lot["credited"] and not lot["gone"] and lot["remaining"]]
                    if live:
                        min(live, key=lambda lot: lot["fifo"])["remaining"] -= 1
                    else:
                        self.debt += 1
        return self


@st.composite
def ledgers(draw, *, max_customers: int = 3, monotone: bool = False) -> pd.DataFrame:
    rows = []
    for customer in range(1, draw(st.integers(1, max_customers)) + 1):
        for _ in range(draw(st.integers(0, 14))):
            day = draw(st.integers(0, 60))
            kind = draw(st.sampled_from(["earn", "earn", "redeem", "redeem", "adjust"]))
            if kind == "earn":
                points = draw(st.integers(1, 40))
            elif kind == "redeem":
                points = -draw(st.integers(1, 40))
            else:
                points = draw(st.integers(-20, 20).filter(bool))
            if monotone:
                expires = BASE + timedelta(days=day + 30)
            else:
                expires = draw(st.one_of(
                    st.none(), st.integers(-3, 70).map(lambda d, day=day: BASE + timedelta(days=day + d))))
            hour = draw(st.sampled_from([0, 0, 12]))
            rows.append({"customer_id": customer, "occurred_at": BASE + timedelta(days=day, hours=hour),
                         "kind": kind, "points": points, "expires_at": expires})
    frame = pd.DataFrame(rows, columns=["customer_id", "occurred_at", "kind", "points", "expires_at"])
    return frame.sample(frac=1, random_state=draw(st.integers(0, 1000))) if len(frame) else frame


def _rows(norm: pd.DataFrame, customer: int) -> list[dict]:
    part = norm[norm["customer_id"] == customer]
    return [{"n": int(r["_pos"]), "occurred_at": r["occurred_at"].to_pydatetime(), "kind": r["kind"],
             "points": int(r["points"]), "exp": r["exp"].to_pydatetime()} for r in part.to_dict("records")]


def _valid(frame: pd.DataFrame) -> pd.DataFrame:
    """The same ledger with each debit shrunk to the balance at its moment."""
    norm = normalise_entries(frame, expiry_months=1)
    out = frame.copy()
    for customer in norm["customer_id"].unique():
        ref = Reference(_rows(norm, customer), datetime.max, clamp=True).run()
        by_pos = {r["n"]: r["points"] for r in ref.rows}
        for label, pos in zip(norm.index, norm["_pos"], strict=True):
            if norm.at[label, "customer_id"] == customer and pos in by_pos:
                out.at[label, "points"] = by_pos[pos]
    return out[out["points"] != 0]


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(frame=ledgers(), cut_day=st.integers(0, 140), replay=st.booleans())
def test_lots_match_the_point_by_point_reference(frame, cut_day, replay):
    norm = normalise_entries(frame, expiry_months=1)
    cutoff = pd.Timestamp(BASE + timedelta(days=cut_day))
    lots = compute_lots(norm, cutoff=cutoff, force_replay=replay)
    for customer in norm["customer_id"].unique():
        ref = Reference(_rows(norm, customer), cutoff.to_pydatetime()).run()
        expected = {lot["n"]: (lot["expired"], lot["remaining"]) for lot in ref.lots if lot["credited"]}
        mine = lots[lots["customer_id"] == customer]
        got = {int(norm.loc[e, "_pos"]): (int(x), int(r))
               for e, x, r in zip(mine["entry"], mine["expired"], mine["remaining"], strict=True)}
        assert got == expected


@PROPERTY
@given(frame=ledgers(monotone=True), cut_day=st.integers(0, 140))
def test_fast_path_and_replay_agree(frame, cut_day):
    norm = normalise_entries(frame, expiry_months=1)
    cutoff = pd.Timestamp(BASE + timedelta(days=cut_day))
    fast = compute_lots(norm, cutoff=cutoff)
    slow = compute_lots(norm, cutoff=cutoff, force_replay=True)
    pd.testing.assert_frame_equal(fast, slow)


@PROPERTY
@given(frame=ledgers())
def test_ledger_problems_name_exactly_the_overdrawing_debits(frame):
    norm = normalise_entries(frame, expiry_months=1)
    expected = set()
    for customer in norm["customer_id"].unique():
        ref = Reference(_rows(norm, customer), datetime.max).run()
        expected |= {norm.index[norm["_pos"] == n][0] for n in ref.overdrawn}
    problems = ledger_problems(frame, expiry_months=1)
    assert {label for label, _ in problems} == expected
    assert all("larger than the balance" in msg for _, msg in problems)


@PROPERTY
@given(frame=ledgers().map(_valid), days=st.lists(st.integers(0, 140), min_size=1, max_size=5))
def test_valid_ledger_invariants(frame, days):
    assert ledger_problems(frame, expiry_months=1) == []
    for day in days:
        as_of = date(2025, 1, 1) + timedelta(days=day)
        b = customer_balances(frame, as_of=as_of, expiry_months=1)
        # Balance never negative; every point earned is redeemed, expired or still there.
        assert (b["balance"] >= 0).all()
        assert (b["earned"] + b["adjusted"] == b["redeemed"] + b["expired"] + b["balance"]).all()
        lots = compute_lots(normalise_entries(frame, expiry_months=1), cutoff=cutoff_for(as_of))
        # A lot never expires points already used: the three parts add up and none is negative.
        assert (lots[["expired", "remaining", "consumed"]] >= 0).all().all()
        assert (lots["expired"] + lots["remaining"] + lots["consumed"] == lots["points"]).all()
        assert (lots.loc[lots["expires_at"] < cutoff_for(as_of), "remaining"] == 0).all()
        # Oldest first: behind an unexpired lot that still has points, no younger lot was touched.
        live = lots[lots["expires_at"] >= cutoff_for(as_of)]
        for _, own in live.groupby("customer_id"):
            seen_points = False
            for remaining, consumed in zip(own["remaining"], own["consumed"], strict=True):
                if seen_points:
                    assert consumed == 0
                seen_points = seen_points or remaining > 0
