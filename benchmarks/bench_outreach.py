"""Outreach timings on a generated store: plan and create a campaign, deliver it (to the
outbox, or with --smtp to a local aiosmtpd server that accepts everything, by --workers
worker threads), read campaign results. Not a test; prints seconds per step and messages
per minute.

    python benchmarks/bench_outreach.py [--customers 20000] [--orders-per-customer 15] [--url URL]
                                        [--smtp] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--orders-per-customer", type=int, default=15)
    ap.add_argument("--audience", type=int, default=10_000)
    ap.add_argument("--url", default=None)
    ap.add_argument("--smtp", action="store_true", help="deliver by SMTP to a local aiosmtpd sink")
    ap.add_argument("--workers", type=int, default=1, help="worker threads sharing the queue")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hearth-outreach-bench-"))
    os.environ["HEARTH_OUTBOX_DIR"] = str(tmp / "outbox")
    os.environ.pop("HEARTH_SMTP_HOST", None)
    os.environ.pop("HEARTH_WEBHOOK_URL", None)
    smtp_server = _start_smtp_sink() if args.smtp else None
    url = args.url or f"sqlite:///{tmp / 'bench.db'}"

    from sqlalchemy import insert
    from sqlmodel import Session

    from core import delivery, outreach
    from db.engine import get_engine
    from db.migrate import upgrade_to_head
    from db.models import Customer, LoyaltyEntry, Order

    engine = get_engine(url)
    upgrade_to_head(engine)
    rng = np.random.default_rng(1)
    now = datetime(2026, 6, 1)
    n = args.customers
    t = time.perf_counter()
    with Session(engine) as s:
        s.execute(insert(Customer), [
            {"external_id": f"C{i:07d}", "name": f"Customer {i}", "email": f"c{i}@example.com",
             "email_opt_in": bool(rng.random() < 0.9), "segment": "vip" if i % 20 == 0 else "regular",
             "created_at": now, "updated_at": now} for i in range(1, n + 1)])
        k = n * args.orders_per_customer
        cust = rng.integers(1, n + 1, k)
        ages = rng.integers(0, 720, k)
        s.execute(insert(Order), [
            {"external_id": f"O{i:09d}", "customer_id": int(c), "ordered_at": now - timedelta(days=int(a)),
             "total_cents": int(20 + a % 50) * 100} for i, (c, a) in enumerate(zip(cust, ages, strict=True))])
        s.execute(insert(LoyaltyEntry), [
            {"external_id": f"L{i:08d}", "customer_id": (i % n) + 1, "occurred_at": now - timedelta(days=300),
             "kind": "earn", "points": 200, "expires_at": now + timedelta(days=int(i % 90))}
            for i in range(n * 3)])
        s.commit()
    print(f"generated {n:,} customers, {k:,} orders, {n * 3:,} loyalty entries "
          f"in {time.perf_counter() - t:.1f} s")

    ids = list(range(1, min(args.audience, n) + 1))
    with Session(engine) as s:
        for template in ("win_back", "points_expiring"):
            t = time.perf_counter()
            plan = outreach.plan_campaign(session=s, customer_ids=ids, template=template, now=now)
            print(f"plan_campaign {template} over {len(ids):,}: {time.perf_counter() - t:.2f} s "
                  f"(contact {plan.contact:,}, hold out {plan.holdout:,}, suppressed {plan.suppressed})")
        t = time.perf_counter()
        camp = outreach.create_campaign(session=s, name="bench", template="win_back", customer_ids=ids,
                                        audience_rule={}, holdout_share=0.1, created_by="bench", now=now)
        print(f"create_campaign over {len(ids):,}: {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        outreach.preview_outreach(session=s, customer_id=n, template="win_back", now=now)
        outreach.fitting_templates(session=s, customer_id=n, now=now)
        print(f"preview + fitting_templates for one customer: {time.perf_counter() - t:.2f} s")
    reports: list = []
    workers = [threading.Thread(target=lambda: reports.append(delivery.deliver(engine=engine, once=True, now=now)))
               for _ in range(args.workers)]
    t, cpu = time.perf_counter(), time.process_time()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    dt, cpu = time.perf_counter() - t, time.process_time() - cpu
    sent = sum(r.sent for r in reports)
    where = f"SMTP ({smtp_server[1]} accepted)" if smtp_server else "outbox"
    print(f"deliver to {where} by {args.workers} worker(s): {sent:,} messages in {dt:.1f} s "
          f"({sent / dt * 60:,.0f} a minute; {cpu:.1f} s CPU in this process, "
          f"{sent / max(cpu, 1e-9) * 60:,.0f} a CPU-minute)")
    if smtp_server:
        smtp_server[0].stop()
    with Session(engine) as s:
        t = time.perf_counter()
        res = outreach.campaign_results(session=s, campaign_id=camp.id, now=now + timedelta(days=40))
        audience = int(res.iloc[0]["audience"])
        print(f"campaign_results: {time.perf_counter() - t:.2f} s (audience {audience:,})")
    engine.dispose()
    if args.url is None:
        shutil.rmtree(tmp, ignore_errors=True)


def _start_smtp_sink():
    """An aiosmtpd server on localhost that accepts every message; returns (controller, counter)."""
    from aiosmtpd.controller import Controller

    class Sink:
        def __init__(self) -> None:
            self.accepted = 0

        def __str__(self) -> str:
            return f"{self.accepted:,}"

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.accepted += 1
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    os.environ.update(HEARTH_SMTP_HOST="127.0.0.1", HEARTH_SMTP_PORT=str(port), HEARTH_SMTP_TLS="none")
    return ctl, sink


if __name__ == "__main__":
    main()
