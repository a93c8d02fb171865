"""`load_demo`: write the generated demo store to a database, with feedback scored, triaged and
consent history recorded."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.demo.generate import generate_demo
from db.bulk import bulk_insert
from db.models import Customer, Feedback, LoyaltyEntry, Order, OrderLine, Product, Refund, SupportTicket

log = logging.getLogger(__name__)


TABLES = {
    "product": Product,
    "customer": Customer,
    "orders": Order,
    "order_line": OrderLine,
    "refund": Refund,
    "feedback": Feedback,
    "loyalty_entry": LoyaltyEntry,
    "support_ticket": SupportTicket,
}
COUNT_NAMES = {"product": "products", "customer": "customers", "orders": "orders",
               "order_line": "order lines", "refund": "refunds", "feedback": "feedback",
               "loyalty_entry": "loyalty entries", "support_ticket": "support tickets"}


def _next_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: int(conn.execute(select(func.coalesce(func.max(model.id), 0))).scalar_one()) + 1
                for name, model in TABLES.items()}


def _scored(engine: Engine, feedback: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The answers with sentiment, flag, reasons and severity filled by the feedback module
    before they are stored (the orders are stored by then: severity uses 12-month revenue)."""
    from core.feedback import flag_frame  # the feedback area owns the flagging rules

    with Session(engine) as session:
        scored = flag_frame(session=session, frame=feedback[["customer_id", "nps_score", "comment"]], now=now)
    return feedback.assign(
        sentiment=scored["sentiment"].to_numpy(),
        flagged=scored["flagged"].to_numpy(),
        flag_reasons=pd.Series(scored["flag_reasons"].to_numpy(), index=feedback.index, dtype=object),
        severity=scored["severity"].to_numpy(),
        language=pd.Series(scored["language"].to_numpy(), index=feedback.index, dtype=object),
        needs_read=scored["needs_read"].to_numpy(),
    )


RESOLUTION_SHARES = {"apologised": 0.25, "replacement sent": 0.2, "refund issued": 0.15,
                     "fixed or explained": 0.15, "billing corrected": 0.07, "subscription changed": 0.05,
                     "no action needed": 0.08, "could not reach customer": 0.05}


def _triaged(feedback: pd.DataFrame, now: datetime, seed: int) -> pd.DataFrame:
    """A support team's history on the flagged answers: nearly all older ones resolved by the
    `support` login, the last month's still in the inbox in every state."""
    from core.feedback import RESOLUTION_CATEGORIES

    rng = np.random.default_rng([seed, 2])
    flagged = feedback["flagged"].to_numpy(dtype=bool)
    n = int(flagged.sum())
    submitted = pd.to_datetime(feedback["submitted_at"]).to_numpy().astype("datetime64[s]")[flagged]
    now64 = np.datetime64(now, "s")
    age = (now64 - submitted) / np.timedelta64(1, "D")
    r = rng.random(n)
    # 0 new, 1 acknowledged, 2 waiting, 3 resolved
    state = np.where(age > 30, np.where(r < 0.015, 1, np.where(r < 0.03, 2, 3)),
                     np.where(age < 2, np.where(r < 0.8, 0, 1),
                              np.searchsorted([0.45, 0.65, 0.75], r, side="right")))
    second = np.timedelta64(1, "s")
    first = submitted + (rng.lognormal(np.log(18), 0.8, n) * 3600).astype("int64") * second
    done = first + (rng.lognormal(np.log(48), 0.9, n) * 3600).astype("int64") * second
    state = np.where((state >= 1) & (first >= now64), 0, state)
    state = np.where((state == 3) & (done >= now64), 2, state)
    names = [c for c in RESOLUTION_CATEGORIES if c in RESOLUTION_SHARES] or list(RESOLUTION_CATEGORIES)
    shares = np.array([RESOLUTION_SHARES.get(c, 1.0) for c in names])
    resolution = np.array(names, dtype=object)[rng.choice(len(names), n, p=shares / shares.sum())]
    nat = np.datetime64("NaT", "s")
    states = np.array(["new", "acknowledged", "waiting", "resolved"], dtype=object)
    size = len(feedback)
    columns = {
        "state": feedback["state"].to_numpy(dtype=object).copy(),
        "assignee": np.full(size, None, dtype=object),
        "resolution": np.full(size, None, dtype=object),
        "first_response_at": np.full(size, nat),
        "resolved_at": np.full(size, nat),
    }
    columns["state"][flagged] = states[state]
    columns["assignee"][flagged] = np.where((state > 0) | (r < 0.3), "support", None)
    columns["resolution"][flagged] = np.where(state == 3, resolution, None)
    columns["first_response_at"][flagged] = np.where(state > 0, first, nat)
    columns["resolved_at"][flagged] = np.where(state == 3, done, nat)
    out = feedback.copy()
    for column, values in columns.items():
        out[column] = pd.Series(values, index=feedback.index, dtype=object) if values.dtype == object else values
    return out


def _demo_consent(conn, customers: pd.DataFrame) -> None:  # noqa: ANN001
    """Each demo customer's consent as given when they signed up (core.consent's history)."""
    from db.models import ConsentChange

    parts = [pd.DataFrame({"customer_id": customers["id"].astype("int64").to_numpy(), "channel": channel,
                           "granted": customers[f"{channel}_opt_in"].astype(bool).to_numpy(),
                           "changed_at": customers["created_at"].to_numpy(), "source": "demo",
                           "detail": "demo store", "recorded_by": None})
             for channel in ("email", "sms")]
    bulk_insert(conn, ConsentChange.__table__, pd.concat(parts, ignore_index=True))


def load_demo(*, engine: Engine, customers: int, seed: int, today: date | None = None,
              progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Generate the demo store and write it to an (empty) database; returns rows per table.

    Products whose sku already exists are left as they are. Feedback answers are scored and
    flagged by the feedback module (`core.feedback.flag_frame`) before they are stored, and
    `flag_unscored` runs afterwards for anything left without a sentiment.
    """
    from core.feedback import flag_unscored

    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    today = today or datetime.now(UTC).date()
    now = datetime.combine(today, datetime.min.time())
    frames = generate_demo(customers=customers, seed=seed, today=today, first_ids=_next_ids(engine),
                           progress=say)
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        known = set(conn.execute(select(Product.sku)).scalars())
    frames["product"] = frames["product"][~frames["product"]["sku"].isin(known)]
    for name, model in TABLES.items():
        frame = frames[name]
        if name == "feedback":
            t0 = time.perf_counter()
            frame = _triaged(_scored(engine, frame, now), now, seed)
            say(f"scored and flagged {len(frame):,} feedback answers, {int(frame['flagged'].sum()):,} flagged "
                f"({time.perf_counter() - t0:.1f} s)")
        frame = frame[[c for c in frame.columns if c in model.__table__.c]]
        t0 = time.perf_counter()
        with engine.begin() as conn:
            counts[COUNT_NAMES[name]] = bulk_insert(conn, model.__table__, frame, rebuild_indexes=True)
        say(f"stored {len(frame):,} {COUNT_NAMES[name]} ({time.perf_counter() - t0:.1f} s)")
    with engine.begin() as conn:
        _demo_consent(conn, frames["customer"])
    with Session(engine) as session:
        flag_unscored(session=session, now=now)
        session.commit()
    say(f"demo store ready in {time.perf_counter() - started:.1f} s")
    return counts
