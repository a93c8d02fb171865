"""Dump every loyalty figure for many as-of dates, to compare two versions of the ledger code.

    python benchmarks/ledger_dump.py --db /tmp/x.db --out /tmp/before.pkl [--dates 2026-11-29,...]
    python benchmarks/ledger_dump.py --compare /tmp/before.pkl /tmp/after.pkl

Per as-of date: ledger_totals, ledger_summary (balances with tiers and expiry dates, the
24 monthly flows, the customer count), loyalty_kpis, pending_expiries, monthly flows of the
whole state (point_flows summed by month and member), member_flows of a few months. With
--tricky it first adds hand-made entries to the store (programme expiry rows, out-of-order
expiries, backdated rows, same-instant credits and debits, odd kind spellings, reversals).
Issue 17: every figure must be identical before and after a rewrite.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _dates(session) -> list[date]:
    from sqlalchemy import text

    lo, hi = session.execute(text("SELECT min(occurred_at), max(occurred_at) FROM loyalty_entry")).one()
    lo, hi = pd.Timestamp(lo).date(), pd.Timestamp(hi).date()
    out = {lo - timedelta(days=1), lo, hi, hi + timedelta(days=400)}
    span = (hi - lo).days
    for k in range(1, 12):
        out.add(lo + timedelta(days=span * k // 12))
    out |= {hi - timedelta(days=30), hi - timedelta(days=90), hi - timedelta(days=365)}
    return sorted(out)


def add_tricky(url: str) -> None:
    """Hand-made entries on the first customers of a store (direct inserts, as any import)."""
    from sqlmodel import Session, select

    from db.engine import get_engine
    from db.models import Customer, LoyaltyEntry

    engine = get_engine(url)
    with Session(engine) as s:
        ids = [c for c in s.exec(select(Customer.id).order_by(Customer.id).limit(40)).all()]
        rows = []
        n = [0]

        def add(cid, at, kind, points, expires=None, computed=False):
            n[0] += 1
            rows.append(LoyaltyEntry(external_id=f"TRICKY-{n[0]}", customer_id=cid, occurred_at=at, kind=kind,
                                     points=points, expires_at=expires, computed=computed))

        t0 = datetime(2025, 3, 1, 10, 0)
        for i, cid in enumerate(ids):
            d = t0 + timedelta(days=7 * i)
            if i % 8 == 0:  # the programme's own expiry row: by_programme
                add(cid, d, "earn", 400)
                add(cid, d + timedelta(days=60), "expire", -150)
            elif i % 8 == 1:  # out-of-order expiries (a promotion expiring before older points)
                add(cid, d, "earn", 300, d + timedelta(days=200))
                add(cid, d + timedelta(days=5), "earn", 100, d + timedelta(days=20))
                add(cid, d + timedelta(days=10), "redeem", -50)
                add(cid, d + timedelta(days=30), "redeem", -120)
            elif i % 8 == 2:  # a redemption and a credit in the same instant; expiry at midnight
                add(cid, d, "earn", 80, datetime(2025, 6, 1))
                add(cid, datetime(2025, 6, 1), "earn", 50)
                add(cid, datetime(2025, 6, 1), "redeem", -60)
            elif i % 8 == 3:  # backdated entries, and a reversal
                add(cid, datetime(2023, 1, 5), "earn", 70)
                add(cid, datetime(2023, 3, 5), "reverse", -30)
                add(cid, datetime(2023, 4, 5), "reverse", 10)
            elif i % 8 == 4:  # odd spellings of kinds, an unknown kind, a computed expiry spelled oddly
                add(cid, d, " Earn", 90)
                add(cid, d + timedelta(days=3), "REDEEM ", -20)
                add(cid, d + timedelta(days=4), "bonus", 15)
                add(cid, d + timedelta(days=400), "Expire", -70, computed=True)
            elif i % 8 == 5:  # overdrawn debit (debt), then a credit that pays it
                add(cid, d, "redeem", -10000)
                add(cid, d + timedelta(days=2), "earn", 200)
                add(cid, d + timedelta(days=2), "adjust", -5)
            elif i % 8 == 6:  # an expires_at before the earning time; an expiry exactly at a cutoff
                add(cid, d, "earn", 60, d - timedelta(days=3))
                add(cid, datetime(2025, 7, 1), "earn", 40, datetime(2025, 8, 1))
            else:  # a programme expiry row in the future of most dates
                add(cid, datetime(2026, 10, 1), "expire", -5)
        s.add_all(rows)
        s.commit()


def dump(url: str, out: str, dates: list[date] | None) -> None:
    os.environ["DATABASE_URL"] = url
    from sqlmodel import Session

    from core import loyalty
    from core.loyalty import ledger_state, member_flows, point_flows
    from db.engine import get_engine

    engine = get_engine(url)
    result: dict = {}
    with Session(engine) as s:
        dates = dates or _dates(s)
        t = time.perf_counter()
        for d in dates:
            r: dict = {}
            r["totals"] = loyalty.ledger_totals(session=s, as_of=d)
            summ = loyalty.ledger_summary(session=s, as_of=d)
            r["balances"], r["monthly"], r["customers"] = summ.balances, summ.monthly, summ.customers
            r["kpis"] = loyalty.loyalty_kpis(session=s, as_of=d)
            r["pending"] = loyalty.pending_expiries(session=s, as_of=d)
            state = ledger_state(session=s, as_of=d)
            flows = point_flows(state)
            r["flows_month"] = flows.groupby("month").sum(numeric_only=True).drop(columns="customer_id")
            r["flows_member"] = flows.drop(columns="month").groupby("customer_id").sum()
            r["monthly36"] = loyalty.monthly_summary(session=s, as_of=d, months=36)
            for back in (0, 2):
                month = (pd.Timestamp(d) - pd.DateOffset(months=back)).date().replace(day=1)
                for kind in ("earned", "redeemed", "expired"):
                    r[f"mf_{back}_{kind}"] = member_flows(state, month=month, kind=kind)
            result[d] = r
            print(d, len(r["totals"]), r["kpis"]["outstanding_points"], r["pending"], flush=True)
        print(f"{len(dates)} dates in {time.perf_counter() - t:.1f} s")
    with open(out, "wb") as f:
        pickle.dump(result, f)


def compare(a: str, b: str) -> int:
    with open(a, "rb") as f:
        old = pickle.load(f)
    with open(b, "rb") as f:
        new = pickle.load(f)
    bad = 0
    assert old.keys() == new.keys(), "different dates"
    for d in old:
        assert old[d].keys() == new[d].keys()
        for k in old[d]:
            x, y = old[d][k], new[d][k]
            try:
                if isinstance(x, pd.DataFrame):
                    pd.testing.assert_frame_equal(x, y, check_exact=True)
                else:
                    assert x == y, (x, y)
            except AssertionError as exc:
                bad += 1
                print("DIFF", d, k, str(exc)[:600])
    print("compared", len(old), "dates:", "identical" if not bad else f"{bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--db")
    p.add_argument("--out")
    p.add_argument("--dates")
    p.add_argument("--tricky", action="store_true")
    p.add_argument("--compare", nargs=2)
    a = p.parse_args()
    if a.compare:
        sys.exit(compare(*a.compare))
    url = a.db if "://" in a.db else f"sqlite:///{a.db}"
    if a.tricky:
        add_tricky(url)
    dump(url, a.out, [date.fromisoformat(x) for x in a.dates.split(",")] if a.dates else None)
