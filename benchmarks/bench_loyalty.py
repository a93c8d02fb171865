"""Time the loyalty computation on a synthetic ledger of the reference size.

    python benchmarks/bench_loyalty.py [--customers 100000] [--entries 1000000]
    python benchmarks/bench_loyalty.py --database-url sqlite:////tmp/copy-of-a-demo-store.db

The second form times the database functions on an existing store (a copy: the expiry job
writes to it).

Pure pandas, no database: builds a valid-looking ledger (earns with the default 12-month
expiry, redemptions of part of what was earned, a few adjustments and out-of-order promo
lots) and times each public computation once.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from core.loyalty import compute_lots, customer_balances, cutoff_for, ledger_problems, normalise_entries


def synthetic(customers: int, entries: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cust = rng.integers(1, customers + 1, entries)
    day = rng.integers(0, 3 * 365, entries)
    occurred = pd.Timestamp("2023-01-01") + pd.to_timedelta(day, unit="D") + pd.to_timedelta(
        rng.integers(0, 86_400, entries), unit="s")
    kind = rng.choice(["earn", "redeem", "adjust"], entries, p=[0.7, 0.27, 0.03])
    points = np.where(kind == "earn", rng.integers(10, 200, entries), -rng.integers(5, 150, entries))
    points = np.where(kind == "adjust", rng.integers(-50, 50, entries), points)
    points[points == 0] = 1
    expires = pd.Series(pd.NaT, index=range(entries), dtype="datetime64[ns]")
    promo = (kind == "earn") & (rng.random(entries) < 0.01)
    expires[promo] = occurred[promo] + pd.Timedelta(days=30)
    return pd.DataFrame({"customer_id": cust, "occurred_at": occurred, "kind": kind, "points": points,
                         "expires_at": expires})


def timed(label, fn):
    """Wall time and this process's CPU time (the fairer figure on a shared, busy machine)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    print(f"{label:<40} {time.perf_counter() - t:6.2f} s wall {time.process_time() - c:6.2f} s cpu")
    return out


def on_database(url: str) -> None:
    from sqlmodel import Session

    from core import loyalty
    from core.roles import Role
    from db.engine import get_engine

    as_of = datetime.now(UTC).date()
    with Session(get_engine(url)) as session:
        entries = timed("read_entries (all)", lambda: loyalty.read_entries(session=session))
        print(f"  {len(entries):,} entries, {entries['customer_id'].nunique():,} customers")
        k = timed("loyalty_kpis", lambda: loyalty.loyalty_kpis(session=session, as_of=as_of))
        print(f"  {k}")
        timed("loyalty_overview (screen, 24 months)", lambda: loyalty.loyalty_overview(session=session, as_of=as_of))
        m = timed("member_balances (screen)", lambda: loyalty.member_balances(
            session=session, as_of=as_of, roles={Role.ADMIN}))
        print(f"  {len(m):,} members")
        timed("loyalty_export_frame", lambda: loyalty.loyalty_export_frame(session=session, as_of=as_of))
        p = timed("ledger_problems (all entries)", lambda: loyalty.ledger_problems(entries))
        print(f"  problems {len(p)}")
        n = timed("expire_points (1st run)", lambda: loyalty.expire_points(session=session, as_of=as_of))
        session.commit()
        n2 = timed("expire_points (2nd run)", lambda: loyalty.expire_points(session=session, as_of=as_of))
        session.rollback()
        print(f"  written {n}, then {n2}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    if args.database_url:
        on_database(args.database_url)
        return
    frame = synthetic(args.customers, args.entries)
    as_of = date(2025, 12, 31)

    norm = timed("normalise_entries", lambda: normalise_entries(frame))
    lots = timed("compute_lots (as of)", lambda: compute_lots(norm, cutoff=cutoff_for(as_of)))
    replayed = lots["customer_id"].isin(
        lots.groupby("customer_id")["expires_at"].apply(lambda s: not s.is_monotonic_increasing)
        .loc[lambda s: s].index).sum()
    print(f"  lots {len(lots):,}; lots of customers replayed event by event {replayed:,}")
    timed("customer_balances (incl. the above)", lambda: customer_balances(frame, as_of=as_of))
    problems = timed("ledger_problems", lambda: ledger_problems(frame))
    print(f"  problems reported {len(problems):,} (random ledger: overdraws expected)")


if __name__ == "__main__":
    main()
