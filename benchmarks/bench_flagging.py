"""How long `flag_unscored` takes on the reference size (300,000 answers, 100,000 customers,
1.5 million orders). Not a test: run it by hand.

    python -m benchmarks.bench_flagging sqlite:////tmp/bench.db
    python -m benchmarks.bench_flagging postgresql://postgres@127.0.0.1:5432/hearth_bench

The database must be empty (it is migrated and filled here). Answers repeat a few thousand
phrases, like the demo store; `--unique` makes every comment different (the worst case).
Flagging reads each distinct comment once: language detection (lingua, all cores), then VADER,
the problem themes and the model's vectorised predict, in a pool of one process per core.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlmodel import Session

from core.feedback import flag_unscored
from db.bulk import bulk_insert
from db.engine import get_engine
from db.migrate import upgrade_to_head
from db.models import Customer, Feedback, Order

PHRASES = [
    "Love the lavender laundry pods.", "The refill bottle leaked in the box.", "Stopped working after a week.",
    "Parcel arrived a week late.", "Great value, the big bottle lasts ages.", "I was charged twice.",
    "The door of the bread bin would not close properly.", "Absolutely terrible service.", "Fine.",
    "Please cancel my subscription.", "My daughter came out in a rash.", "No leaks so far, works well.",
    # Other languages: detected, themes in de/fr/es/it, a person's read otherwise.
    "Die Lieferung war schnell und alles gut verpackt.", "Le colis est arrivé cassé.",
    "Producto roto, quiero un reembolso", "Pacco arrivato in ritardo e danneggiato", "Heel tevreden!",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--answers", type=int, default=300_000)
    parser.add_argument("--orders", type=int, default=1_500_000)
    parser.add_argument("--unique", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    engine = get_engine(args.url)
    upgrade_to_head(engine)
    now = datetime(2026, 11, 20)
    t = time.perf_counter()
    with engine.begin() as conn:
        bulk_insert(conn, Customer.__table__, [
            {"id": i + 1, "external_id": f"C{i + 1}", "email_opt_in": True, "sms_opt_in": False,
             "created_at": now, "updated_at": now} for i in range(args.customers)])
        cust = rng.integers(1, args.customers + 1, args.orders)
        when = pd.Timestamp(now) - pd.to_timedelta(rng.integers(0, 730 * 24, args.orders), unit="h")
        bulk_insert(conn, Order.__table__, pd.DataFrame({
            "external_id": [f"O{i}" for i in range(args.orders)], "customer_id": cust,
            "ordered_at": when.to_pydatetime(), "total": rng.gamma(2.0, 20.0, args.orders).round(2)}))
        variants = [f"{p} {k}" for p in PHRASES for k in range(200)]  # 2,400 distinct comments
        pick = rng.integers(0, len(variants), args.answers)
        comments = [f"{variants[i]} #{n}" if args.unique else variants[i] for n, i in enumerate(pick)]
        comments = [None if n % 4 == 0 else c for n, c in enumerate(comments)]
        scores = rng.integers(0, 11, args.answers).astype(object)
        scores[rng.random(args.answers) < 0.1] = None
        bulk_insert(conn, Feedback.__table__, pd.DataFrame({
            "external_id": [f"F{i}" for i in range(args.answers)],
            "customer_id": rng.integers(1, args.customers + 1, args.answers),
            "submitted_at": [now - timedelta(hours=int(h)) for h in rng.integers(0, 730 * 24, args.answers)],
            "nps_score": scores, "comment": comments, "flagged": False, "state": "new"}))
    print(f"loaded in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    with Session(engine) as session:
        n = flag_unscored(session=session, now=now, processes=os.cpu_count() or 1)
        session.commit()
    print(f"flag_unscored: {n:,} answers in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
