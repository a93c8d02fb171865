"""Time the KPI reads at the reference size (100 k customers, 1.5 M orders).

    python benchmarks/bench_kpis.py --db /tmp/kpis-bench.db [--build]

--build fills an empty SQLite file with a synthetic store of that size (customers, orders,
feedback, tickets; vectorised, a minute or two) when the demo generator is not at hand;
otherwise point --db at a database made by `python -m core init --demo --customers 100000`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db.bulk import bulk_insert  # noqa: E402
from db.engine import get_engine, session_scope  # noqa: E402
from db.migrate import upgrade_to_head  # noqa: E402
from db.models import Customer, Feedback, LoyaltyEntry, Order, SupportTicket  # noqa: E402


def build(url: str, customers: int = 100_000, orders: int = 1_500_000, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    engine = get_engine(url)
    upgrade_to_head(engine)
    today = datetime(2026, 11, 22)
    signup = today - pd.to_timedelta(rng.integers(0, 3 * 365, customers), unit="D")
    cust = pd.DataFrame({
        "id": np.arange(1, customers + 1),
        "external_id": [f"C{i:07d}" for i in range(1, customers + 1)],
        "name": [f"Bench Customer {i}" for i in range(1, customers + 1)],
        "signup_date": signup.date,
        "segment": rng.choice(["household", "family", "office", "vip"], customers),
        "region": rng.choice(["north", "south", "east", "west"], customers),
        "owner": rng.choice(["manager", "alex", "sam"], customers),
        "email_opt_in": True, "sms_opt_in": False,
        "subscription_status": rng.choice(["active", "paused", "cancelled", None], customers),
        "created_at": today, "updated_at": today,
    })
    who = rng.integers(1, customers + 1, orders)
    start = np.asarray(signup.values, dtype="datetime64[s]")[who - 1]
    span = (np.datetime64(today, "s") - start).astype(np.int64)
    at = start + (rng.random(orders) * span).astype(np.int64).astype("timedelta64[s]")
    ords = pd.DataFrame({
        "external_id": [f"O{i:08d}" for i in range(orders)],
        "customer_id": who,
        "ordered_at": pd.to_datetime(at).to_pydatetime(),
        "total": np.round(rng.gamma(4, 8, orders), 2),
    })
    nf = 300_000
    fb = pd.DataFrame({
        "external_id": [f"F{i:07d}" for i in range(nf)],
        "customer_id": rng.integers(1, customers + 1, nf),
        "submitted_at": (today - pd.to_timedelta(rng.integers(0, 730 * 86400, nf), unit="s")).to_pydatetime(),
        "nps_score": rng.integers(0, 11, nf), "state": "new", "flagged": False,
    })
    nt = 50_000
    tk = pd.DataFrame({
        "external_id": [f"T{i:07d}" for i in range(nt)],
        "customer_id": rng.integers(1, customers + 1, nt),
        "opened_at": (today - pd.to_timedelta(rng.integers(0, 730 * 86400, nt), unit="s")).to_pydatetime(),
        "status": "closed",
    })
    with engine.begin() as conn:
        for table, frame in ((Customer, cust), (Order, ords), (Feedback, fb), (SupportTicket, tk)):
            t0 = time.perf_counter()
            bulk_insert(conn, table.__table__, frame)
            took = time.perf_counter() - t0
            print(f"{table.__tablename__}: {len(frame):,} rows in {took:.1f} s", flush=True)


def build_loyalty(url: str, entries: int = 1_000_000, customers: int = 100_000, seed: int = 2) -> None:
    """800 k earned lots (expiring after 12 months) and 200 k redemptions of a few points."""
    rng = np.random.default_rng(seed)
    today = datetime(2026, 11, 22)
    n_earn = int(entries * 0.8)
    n_red = entries - n_earn
    earn_at = today - pd.to_timedelta(rng.integers(0, 730 * 86400, n_earn), unit="s")
    red_at = today - pd.to_timedelta(rng.integers(0, 365 * 86400, n_red), unit="s")
    frame = pd.DataFrame({
        "external_id": [f"L{i:08d}" for i in range(entries)],
        "customer_id": rng.integers(1, customers + 1, entries),
        "occurred_at": np.concatenate([earn_at.to_pydatetime(), red_at.to_pydatetime()]),
        "kind": ["earn"] * n_earn + ["redeem"] * n_red,
        "points": np.concatenate([rng.integers(10, 60, n_earn), -rng.integers(1, 10, n_red)]),
        "expires_at": np.concatenate([(earn_at + pd.DateOffset(months=12)).to_pydatetime(),
                                      np.array([None] * n_red)]),
    })
    engine = get_engine(url)
    with engine.begin() as conn:
        t0 = time.perf_counter()
        bulk_insert(conn, LoyaltyEntry.__table__, frame)
        print(f"loyalty_entry: {len(frame):,} rows in {time.perf_counter() - t0:.1f} s", flush=True)


def timed(label: str, fn) -> object:  # noqa: ANN001
    t0 = time.perf_counter()
    out = fn()
    print(f"{label:<28}{time.perf_counter() - t0:6.2f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--build-loyalty", action="store_true")
    ap.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 22))
    args = ap.parse_args()
    url = args.db if "://" in args.db else f"sqlite:///{Path(args.db).resolve()}"
    if args.build:
        build(url)
    if args.build or args.build_loyalty:
        build_loyalty(url)
    from core import kpis
    from core.clv import customer_lifetime_value

    d = args.as_of
    with session_scope(get_engine(url)) as s:
        k = timed("compute_kpis", lambda: kpis.compute_kpis(session=s, as_of=d))
        print(k)
        timed("compute_kpis (segment)", lambda: kpis.compute_kpis(session=s, as_of=d, segment="family"))
        timed("compare_kpis", lambda: kpis.compare_kpis(session=s, as_of=d))
        timed("retention_extras", lambda: kpis.retention_extras(session=s, as_of=d))
        timed("kpi_trend (13 points)", lambda: kpis.kpi_trend(session=s, as_of=d))
        timed("monthly_sales", lambda: kpis.monthly_sales(session=s, as_of=d))
        timed("cohort_matrix", lambda: kpis.cohort_matrix(session=s, as_of=d))
        timed("revenue_split", lambda: kpis.revenue_split(session=s, as_of=d))
        timed("nps_trend", lambda: kpis.nps_trend(session=s, as_of=d))
        timed("band_mix", lambda: kpis.band_mix(session=s, as_of=d))
        timed("customer_lifetime_value", lambda: customer_lifetime_value(session=s, as_of=d))
        timed("weekly_summary", lambda: kpis.weekly_summary(session=s, as_of=d))


if __name__ == "__main__":
    main()
