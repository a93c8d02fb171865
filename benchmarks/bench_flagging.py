"""How long `flag_unscored` takes on the reference size (300,000 answers, 100,000 customers,
1.5 million orders). Not a test: run it by hand.

    python -m benchmarks.bench_flagging sqlite:////tmp/bench.db
    python -m benchmarks.bench_flagging postgresql://postgres@127.0.0.1:5432/hearth_bench

The database must be empty (it is migrated and filled here). Answers repeat a few thousand
phrases, like the demo store; `--unique` makes every comment different (the worst case).
Flagging reads each distinct comment once: language detection (lingua on all cores, only for
comments that are not obviously English), then VADER, the problem themes, the model's
vectorised predict and the judging, in a pool of one forked process per core; the new values
are COPYed into a temporary table that one UPDATE joins. The time of each stage is printed.

Beside the goal (300,000 answers flagged on PostgreSQL in under 60 s) the same run prints two
bare anchors on the same rows: reading and writing them back without any scoring (the floor
the database sets), and plain VADER's `polarity_scores` over the same comments in one process
(the library the flag is built on, with nothing of Hearth's). Times are wall seconds; CPU
seconds count this process and its workers (not the database server); the load average is
read before and after, since other work on the machine slows every figure alike.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlmodel import Session, col, select, update
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.feedback import _update_executemany, _update_pg, flag_unscored
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
    parser.add_argument("--again", action="store_true",
                        help="the database was filled by an earlier run: clear its flags (and VACUUM on "
                             "PostgreSQL) and flag it again")
    args = parser.parse_args()
    engine = get_engine(args.url)
    upgrade_to_head(engine)
    now = datetime(2026, 11, 20)
    if args.again:
        with engine.begin() as conn:
            conn.execute(update(Feedback.__table__).values(sentiment=None))
            comments = pd.read_sql(select(Feedback.comment), conn)["comment"].tolist()
        if engine.dialect.name == "postgresql":
            # As after a fresh load: no dead rows left by earlier runs (the server may run
            # without autovacuum), or every later UPDATE wades through them.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE feedback"))
    else:
        comments = _fill(engine, args, now)
    load_before = os.getloadavg()
    io_seconds = _read_write_anchor(engine)
    texts = [c for c in comments if isinstance(c, str)]
    vader_seconds = _vader_anchor(texts)
    t, cpu = time.perf_counter(), _cpu_seconds()
    stages: dict[str, float] = {}
    with Session(engine) as session:
        n = flag_unscored(session=session, now=now, processes=os.cpu_count() or 1, timings=stages)
        session.commit()
    seconds, cpu = time.perf_counter() - t, _cpu_seconds() - cpu
    load_after = os.getloadavg()
    kind = "all different" if len(set(texts)) == len(texts) else "repeated"
    print(f"flag_unscored ({engine.dialect.name}, {kind} comments): {n:,} answers in {seconds:.1f} s "
          f"({cpu:.1f} CPU s, {os.cpu_count()} cores); goal under 60 s")
    print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
          + f", commit and the rest {seconds - sum(stages.values()):.1f} s")
    print(f"anchor, read and write the rows without scoring: {io_seconds:.1f} s; "
          f"flagging / anchor = {seconds / io_seconds:.1f}")
    print(f"anchor, plain VADER polarity_scores over the same comments, one process: {vader_seconds:.1f} s; "
          f"flagging / anchor = {seconds / vader_seconds:.2f}")
    print(f"load average (1, 5, 15 min) before {_load(load_before)}, after {_load(load_after)}")


def _fill(engine, args: argparse.Namespace, now: datetime) -> list[str | None]:  # noqa: ANN001 - an Engine
    """Customers, orders and answers at the reference size; returns the comments."""
    rng = np.random.default_rng(7)
    t = time.perf_counter()
    with engine.begin() as conn:
        bulk_insert(conn, Customer.__table__, [
            {"id": i + 1, "external_id": f"C{i + 1}", "email_opt_in": True, "sms_opt_in": False,
             "created_at": now, "updated_at": now} for i in range(args.customers)])
        cust = rng.integers(1, args.customers + 1, args.orders)
        when = pd.Timestamp(now) - pd.to_timedelta(rng.integers(0, 730 * 24, args.orders), unit="h")
        bulk_insert(conn, Order.__table__, pd.DataFrame({
            "external_id": [f"O{i}" for i in range(args.orders)], "customer_id": cust,
            "ordered_at": when.to_pydatetime(),
            "total_cents": (rng.gamma(2.0, 20.0, args.orders) * 100).round().astype("int64")}))
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
    return comments


def _cpu_seconds() -> float:
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


def _read_write_anchor(engine) -> float:  # noqa: ANN001 - an Engine
    """Read what flagging reads and write the same columns back unscored (sentiment stays NULL,
    so flagging still finds every answer afterwards): seconds."""
    t = time.perf_counter()
    with engine.begin() as conn:
        frame = pd.read_sql(select(Feedback.id, Feedback.customer_id, Feedback.nps_score, Feedback.comment,
                                   Feedback.label, Feedback.labelled_by).where(col(Feedback.sentiment).is_(None)),
                            conn)
        n = len(frame)
        out = {"id": frame["id"].astype(int).tolist(), "sentiment": [None] * n, "flagged": [False] * n,
               "flag_reasons": [None] * n, "severity": [0.0] * n, "language": [None] * n,
               "needs_read": [False] * n}
        (_update_pg if conn.dialect.name == "postgresql" else _update_executemany)(conn, out)
    return time.perf_counter() - t


def _vader_anchor(comments: list[str]) -> float:
    """Plain VADER's polarity_scores over `comments` in this process: seconds."""
    analyzer = SentimentIntensityAnalyzer()
    t = time.perf_counter()
    for comment in comments:
        analyzer.polarity_scores(comment)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
