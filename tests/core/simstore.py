"""A small simulated store with known behaviour (own cadence, quiet churn, detractors who
leave), for model tests and benchmarks when the demo generator is not at hand. Vectorised."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from db.bulk import bulk_insert
from db.models import Customer, Feedback, Order, OrderLine, Product

PRODUCTS = [
    ("SKU-LAUNDRY", "Laundry liquid 2 l", "laundry", 30, 12.0),
    ("SKU-DISH", "Dishwasher tabs 60", "dishwashing", 45, 9.0),
    ("SKU-SPONGE", "Sponges 6-pack", "cleaning", 60, 4.0),
    ("SKU-PAN", "Frying pan", "kitchen", None, 35.0),
]


def build_store(engine: Engine, *, customers: int = 1500, days: int = 540, seed: int = 3,
                today: datetime = datetime(2026, 11, 20)) -> None:
    rng = np.random.default_rng(seed)
    start = today - timedelta(days=days)
    ids = np.arange(1, customers + 1)
    signup_off = rng.integers(0, days - 30, customers)
    gap = rng.choice([7, 14, 21, 30, 45, 60, 90], customers, p=[.08, .15, .15, .25, .17, .12, .08])
    life = rng.exponential(300, customers)  # days a customer stays
    cust = pd.DataFrame({
        "id": ids, "external_id": [f"S{i:06d}" for i in ids], "name": [f"Sim {i}" for i in ids],
        "signup_date": [(start + timedelta(days=int(o))).date() for o in signup_off],
        "segment": rng.choice(["household", "family", "office"], customers),
        "region": rng.choice(["north", "south", "east", "west"], customers),
        "owner": rng.choice(["manager", "alice"], customers),
        "email_opt_in": True, "sms_opt_in": False,
        "subscription_status": rng.choice(["active", "paused", "cancelled", None], customers),
        "created_at": today, "updated_at": today,
    })
    rows = []
    for _k in range(int(days / 7) + 2):  # order events drawn per customer in vectorised rounds
        rows.append(rng.exponential(gap))
    inter = np.stack(rows, axis=1)
    t = signup_off[:, None] + np.cumsum(inter, axis=1)
    alive = t < (signup_off + life)[:, None]
    ok = alive & (t < days)
    ci, _k = np.nonzero(ok)
    when = np.array([start + timedelta(days=float(x)) for x in t[ok]])
    n = len(ci)
    orders = pd.DataFrame({"id": np.arange(1, n + 1), "external_id": [f"SO{i}" for i in range(1, n + 1)],
                           "customer_id": ids[ci], "ordered_at": when,
                           "total_cents": np.round(rng.gamma(4, 8, n) * 100).astype("int64"), "offer_code": None})
    sku = np.array([p[0] for p in PRODUCTS])[rng.choice(4, n, p=[.5, .25, .15, .1])]
    lines = pd.DataFrame({"order_id": orders["id"], "sku": sku, "quantity": 1,
                          "unit_price_cents": orders["total_cents"]})
    # Feedback: those about to leave answer lower.
    nf = customers // 2
    fc = rng.choice(customers, nf)
    when_f = signup_off[fc] + rng.uniform(0, np.maximum(np.minimum(life[fc], days - signup_off[fc]), 1))
    leaving = life[fc] < days - signup_off[fc]
    score = np.where(leaving, rng.integers(0, 8, nf), rng.integers(6, 11, nf))
    fb = pd.DataFrame({"external_id": [f"SF{i}" for i in range(nf)], "customer_id": ids[fc],
                       "submitted_at": [start + timedelta(days=float(x)) for x in when_f],
                       "nps_score": score, "sentiment": (score - 5) / 5, "flagged": False, "state": "new"})
    with engine.begin() as conn:
        bulk_insert(conn, Customer.__table__, cust)
        bulk_insert(conn, Product.__table__, pd.DataFrame(
            [{"sku": s, "name": nm, "category": c, "replenishment_days": r, "unit_price_cents": round(p * 100)}
             for s, nm, c, r, p in PRODUCTS]))
        bulk_insert(conn, Order.__table__, orders)
        bulk_insert(conn, OrderLine.__table__, lines)
        bulk_insert(conn, Feedback.__table__, fb)
