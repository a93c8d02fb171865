"""Hearth's `kpis` from cold beside the bare columnar anchor, and Overview filter combinations.

    python benchmarks/bench_kpis.py --db /tmp/i17b/hearth100k.db [--as-of 2026-11-29] [--combos 12]
    python benchmarks/bench_kpis.py --db postgresql://postgres@127.0.0.1/hearth_bench17

Measured in one run, side by side (issue 17), with nothing precomputed:

- anchor: a fresh process reads customers, orders and refunds through ADBC into Arrow and
  computes the order KPIs in DuckDB, written here independently of Hearth's code;
- Hearth: a fresh process runs `python -m core kpis --json` (every KPI: orders, NPS, loyalty);
  the same in-process (imports excluded), and the values both give are compared;
- SQL in the database: the same order KPIs as one SQL aggregate run by the database itself
  (option (b) of the issue), to show why Hearth computes them in DuckDB instead;
- Overview filter combinations (segment x region x owner x period): every figure the
  Overview computes for a filter (KPI table with its comparison, onboarding/reactivation/
  support, trend, monthly sales, cohorts, revenue mix), with no figure kept from before; the
  tables' columnar reads are made once first (as the first screen of a request does) and
  timed on their own.

--build fills an empty SQLite file with a synthetic store (customers, orders, feedback,
tickets) when the demo generator is not at hand; otherwise point --db at a database made by
`python -m core init --demo --customers 100000`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
        "total_cents": np.round(rng.gamma(4, 8, orders) * 100).astype("int64"),
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


ANCHOR_KEYS = ("customers", "active_customers", "orders", "gross_sales", "refunds", "revenue",
               "average_order_value", "repeat_purchase_rate", "retention_rate")


def _anchor_sql(as_of: date, horizon: int) -> tuple[str, list]:
    """The order KPIs of design.md over tables customer, orders, refund: one statement."""
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    start = end - timedelta(days=horizon)
    prev = start - timedelta(days=horizon)
    sql = """
    WITH o AS (SELECT customer_id, CAST(ordered_at AS TIMESTAMP) AS t, CAST(total_cents AS DOUBLE) / 100 AS total
               FROM orders WHERE CAST(ordered_at AS TIMESTAMP) < ?),
    per AS (SELECT customer_id, count(*) AS n, max(CASE WHEN t >= ? THEN 1 ELSE 0 END) AS cur,
                   max(CASE WHEN t >= ? AND t < ? THEN 1 ELSE 0 END) AS prv FROM o GROUP BY customer_id)
    SELECT
      (SELECT count(*) FROM customer c WHERE CAST(c.signup_date AS DATE) <= CAST(? AS DATE)
          OR c.id IN (SELECT customer_id FROM per)),
      (SELECT sum(cur) FROM per), (SELECT count(*) FROM o WHERE t >= ?),
      (SELECT sum(total) FROM o WHERE t >= ?),
      (SELECT coalesce(sum(CAST(amount_cents AS DOUBLE)), 0) / 100 FROM refund WHERE kind = 'refund'
          AND CAST(refunded_at AS TIMESTAMP) >= ? AND CAST(refunded_at AS TIMESTAMP) < ?),
      (SELECT count(*) FILTER (WHERE n >= 2) * 1.0 / count(*) FROM per),
      (SELECT sum(cur * prv) * 1.0 / sum(prv) FROM per)
    """
    return sql, [end, start, prev, start, as_of, start, start, start, end]


def _anchor_values(row: tuple) -> dict:
    customers, active, orders, gross, refunds, repeat, retention = row
    gross, refunds = round(float(gross or 0), 2), round(float(refunds or 0), 2)
    return {"customers": int(customers), "active_customers": int(active or 0), "orders": int(orders),
            "gross_sales": gross, "refunds": refunds, "revenue": round(gross - refunds, 2),
            "average_order_value": round(gross / orders, 2) if orders else None,
            "repeat_purchase_rate": float(repeat), "retention_rate": float(retention)}


def anchor(url: str, as_of: date, horizon: int) -> dict:
    """Read the three tables through ADBC into Arrow, compute the order KPIs in DuckDB."""
    import duckdb
    from sqlalchemy.engine import make_url

    t0 = time.perf_counter()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi as adbc
        uri = f"file:{parsed.database}?mode=ro"
    else:
        import adbc_driver_postgresql.dbapi as adbc
        uri = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    tables = {}
    with adbc.connect(uri) as conn, conn.cursor() as cur:
        for name, sql in (("customer", "SELECT id, signup_date FROM customer"),
                          ("orders", "SELECT customer_id, ordered_at, total_cents FROM orders"),
                          ("refund", "SELECT refunded_at, amount_cents, kind FROM refund")):
            cur.execute(sql)
            tables[name] = cur.fetch_arrow_table()
    t1 = time.perf_counter()
    db = duckdb.connect()
    for name, table in tables.items():
        db.register(name, table)
    sql, params = _anchor_sql(as_of, horizon)
    values = _anchor_values(db.execute(sql, params).fetchone())
    t2 = time.perf_counter()
    return {"read_s": t1 - t0, "compute_s": t2 - t1, "total_s": t2 - t0, "values": values}


def in_database(url: str, as_of: date, horizon: int) -> dict:
    """Option (b): the same statement run by the database itself (SQLite or PostgreSQL)."""
    from sqlalchemy import text

    sql, params = _anchor_sql(as_of, horizon)
    names = [f"p{i}" for i in range(len(params))]
    for name in names:
        sql = sql.replace("?", f":{name}", 1)
    if get_engine(url).dialect.name == "sqlite":  # SQLite has no TIMESTAMP type or FILTER on count
        sql = (sql.replace("CAST(ordered_at AS TIMESTAMP)", "ordered_at")
               .replace("CAST(refunded_at AS TIMESTAMP)", "refunded_at")
               .replace("CAST(c.signup_date AS DATE)", "c.signup_date").replace("CAST(? AS DATE)", "?")
               .replace("CAST(:p4 AS DATE)", ":p4"))
    else:
        sql = sql.replace("AS DOUBLE)", "AS DOUBLE PRECISION)")
    binds = dict(zip(names, params, strict=True))
    binds["p4"] = as_of
    t0 = time.perf_counter()
    with get_engine(url).connect() as conn:
        row = conn.execute(text(sql), binds).one()
    return {"total_s": time.perf_counter() - t0, "values": _anchor_values(tuple(row))}


def _forget(url: str) -> None:
    try:
        from core import precomputed
    except ImportError:  # issue 17: the stored results are gone; a fresh process has nothing kept
        return
    with session_scope(get_engine(url)) as s:
        precomputed.forget(s)


def hearth_cold(url: str, as_of: date, horizon: int) -> dict:
    """In this (fresh) process: every KPI of `python -m core kpis`, nothing precomputed."""
    t0 = time.perf_counter()
    from core import kpis
    imported = time.perf_counter() - t0
    _forget(url)
    t1 = time.perf_counter()
    with session_scope(get_engine(url)) as s:
        values = kpis.compute_kpis(session=s, as_of=as_of, horizon_days=horizon)
    return {"import_s": imported, "total_s": time.perf_counter() - t1, "values": values}


def _fresh(args: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, proc.stdout.strip().splitlines()[-1]


OVERVIEW_FIGURES = ("compare_kpis", "retention_extras", "kpi_trend", "monthly_sales", "cohort_matrix",
                    "revenue_split")


def overview_figures(session, as_of: date, horizon: int, flt: dict) -> None:  # noqa: ANN001
    """Every heavy figure the Overview computes for one filter combination."""
    from core import kpis

    kpis.compare_kpis(session=session, as_of=as_of, horizon_days=horizon, **flt)
    kpis.retention_extras(session=session, as_of=as_of, horizon_days=horizon, **flt)
    kpis.kpi_trend(session=session, as_of=as_of, horizon_days=horizon, **flt)
    kpis.monthly_sales(session=session, as_of=as_of, **flt)
    kpis.cohort_matrix(session=session, as_of=as_of, **flt)
    kpis.revenue_split(session=session, as_of=as_of, horizon_days=horizon, **flt)


def filter_combinations(url: str, as_of: date, n: int, seed: int = 17) -> dict:
    """Time all customers, then `n` random filter combinations, in one request scope, with
    nothing computed before the first: a later combination reuses only what does not depend
    on the filter (the loyalty ledger of the date, kept as any cache between requests would)."""
    from core import kpis
    from core.analytics import source

    with session_scope(get_engine(url)) as s:
        options = kpis.filter_options(session=s)
    choices = [[None, *options["segment"]], [None, *options["region"]], [None, *options["owner"]], [30, 90]]
    combos = list(itertools.product(*choices))
    random.Random(seed).shuffle(combos)
    combos = [(None, None, None, 90), *[c for c in combos if c != (None, None, None, 90)][:n]]
    out = {"combinations": len(list(itertools.product(*choices))), "timed": []}
    with source.request_scope():
        with session_scope(get_engine(url)) as s:
            t0 = time.perf_counter()
            for name in ("customer", "orders", "refund", "support_ticket"):
                source.read_table(s, name)
            out["read_s"] = time.perf_counter() - t0
        _forget(url)
        for seg, reg, own, period in combos:
            flt = {"segment": seg, "region": reg, "owner": own}
            with session_scope(get_engine(url)) as s:
                t0 = time.perf_counter()
                overview_figures(s, as_of, period, flt)
                out["timed"].append({"filter": [seg, reg, own, period], "seconds": time.perf_counter() - t0})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--build-loyalty", action="store_true")
    ap.add_argument("--as-of", type=date.fromisoformat, default=None)
    ap.add_argument("--horizon-days", type=int, default=90)
    ap.add_argument("--combos", type=int, default=12)
    ap.add_argument("--mode", choices=["all", "anchor", "hearth"], default="all", help=argparse.SUPPRESS)
    args = ap.parse_args()
    # From cold in this process too (the Overview and its filter combinations below): no disk copy
    # of the reads or the ledger's history (core.analytics.diskcopy), before any setting is read.
    os.environ["HEARTH_DISK_CACHE_DIR"] = "off"
    url = args.db if "://" in args.db else f"sqlite:///{Path(args.db).resolve()}"
    if args.build:
        build(url)
    if args.build or args.build_loyalty:
        build_loyalty(url)
    if args.as_of is None:
        from core.kpis import latest_activity_date

        with session_scope(get_engine(url)) as s:
            args.as_of = latest_activity_date(session=s)
    d, h = args.as_of, args.horizon_days
    if args.mode == "anchor":
        print(json.dumps(anchor(url, d, h), default=str))
        return
    if args.mode == "hearth":
        print(json.dumps(hearth_cold(url, d, h), default=str))
        return
    env = {**os.environ, "DATABASE_URL": url}  # HEARTH_DISK_CACHE_DIR is off (above)
    me = [sys.executable, str(Path(__file__).resolve()), "--db", url, "--as-of", d.isoformat(),
          "--horizon-days", str(h)]
    a_wall, a_out = _fresh([*me, "--mode", "anchor"], env)
    _forget(url)
    k_wall, k_out = _fresh([sys.executable, "-m", "core", "kpis", "--json", "--as-of", d.isoformat(),
                            "--horizon-days", str(h)], env)
    h_wall, h_out = _fresh([*me, "--mode", "hearth"], env)
    anc, cli, hin = json.loads(a_out), json.loads(k_out), json.loads(h_out)
    sql = in_database(url, d, h)
    same = {k: (anc["values"][k], cli[k]) for k in ANCHOR_KEYS}
    differ = {k: v for k, v in same.items() if not _close(*v)}
    print(f"Hearth kpis from cold beside the anchor, {url.split('/')[-1]}, D = {d}, H = {h}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print("| figure | Hearth | anchor | ratio |\n|---|---|---|---|")
    print(f"| kpis, fresh process (wall) | {k_wall:.2f} s | {a_wall:.2f} s | {k_wall / a_wall:.2f} |")
    print(f"| kpis, in process (imports excluded) | {hin['total_s']:.2f} s | {anc['total_s']:.2f} s "
          f"| {hin['total_s'] / anc['total_s']:.2f} |")
    print(f"anchor: read {anc['read_s']:.2f} s + DuckDB {anc['compute_s']:.2f} s; the same order KPIs as SQL "
          f"in the database itself: {sql['total_s']:.2f} s")
    print("order KPIs identical to the anchor" if not differ else f"DIFFERENT from the anchor: {differ}")
    if any(not _close(sql["values"][k], anc["values"][k]) for k in ANCHOR_KEYS):
        print(f"note: SQL in the database gave {sql['values']}")
    if args.combos < 1:
        return
    combos = filter_combinations(url, d, args.combos)
    secs = sorted(t["seconds"] for t in combos["timed"][1:])
    print(f"Overview, all customers, nothing computed (after one columnar read of {combos['read_s']:.2f} s): "
          f"{combos['timed'][0]['seconds']:.2f} s; then filter combinations ({len(secs)} of "
          f"{combos['combinations']}, every heavy figure each): median {secs[len(secs) // 2]:.2f} s, "
          f"max {secs[-1]:.2f} s")
    for t in combos["timed"]:
        print(f"  {t['filter']}: {t['seconds']:.2f} s")


def _close(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))


if __name__ == "__main__":
    main()
