"""Reading the stored scores: the newest scoring date and model run, the scores export.

Kept apart from core.scoring so that screens which only read scores (the at-risk queue, an
account) do not import scikit-learn, which costs a second at a process's first visit.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from core import money
from db.models import Customer, ModelRun, ScoreSnapshot


def latest_as_of(*, session: Session, on_or_before: date | None = None) -> date | None:
    """The newest scoring date (on or before `on_or_before` when given), or None."""
    stmt = select(func.max(ScoreSnapshot.as_of))
    if on_or_before is not None:
        stmt = stmt.where(ScoreSnapshot.as_of <= on_or_before)
    value = session.execute(stmt).scalar()
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return value


def latest_model_run(*, session: Session) -> dict[str, Any] | None:
    """The newest model run with its metrics parsed, or None before the first scoring."""
    run = session.execute(select(ModelRun).order_by(ModelRun.trained_at.desc(), ModelRun.id.desc())
                          .limit(1)).scalars().first()
    if run is None:
        return None
    return {"id": run.id, "as_of": run.as_of, "horizon_days": run.horizon_days,
            "trained_at": run.trained_at, "method": run.method, "n_customers": run.n_customers,
            "metrics": json.loads(run.metrics) if run.metrics else {}}


def scores_export_frame(*, session: Session, as_of: date | None = None) -> pd.DataFrame:
    """One row per customer of the newest snapshot on or before `as_of` (default: the newest
    of all): customer_id (the source system's id), as_of, health_score, band,
    churn_probability, value_at_risk, top_drivers ("; "-joined). No names or contact details."""
    as_of = latest_as_of(session=session, on_or_before=as_of)
    cols = ["customer_id", "as_of", "health_score", "band", "churn_probability", "value_at_risk",
            "top_drivers"]
    if as_of is None:
        return pd.DataFrame(columns=cols)
    stmt = (select(Customer.external_id.label("customer_id"), ScoreSnapshot.as_of,
                   ScoreSnapshot.health_score, ScoreSnapshot.band, ScoreSnapshot.churn_probability,
                   ScoreSnapshot.value_at_risk_cents, ScoreSnapshot.drivers)
            .join(Customer, Customer.id == ScoreSnapshot.customer_id)
            .where(ScoreSnapshot.as_of == as_of)
            .order_by(ScoreSnapshot.value_at_risk_cents.desc(), Customer.external_id))
    frame = pd.read_sql(stmt, session.connection())
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date.astype(str)
    # The screens' rounding (core.health): health whole, churn to 0.1 %; value at risk is whole
    # currency units (stored as cents), in units like every amount (core.money).
    frame["health_score"] = frame["health_score"].round().astype("Int64")
    frame["churn_probability"] = frame["churn_probability"].round(3)
    frame.insert(frame.columns.get_loc("value_at_risk_cents"), "value_at_risk",
                 money.units_array(frame.pop("value_at_risk_cents")))
    frame["top_drivers"] = [
        "; ".join(json.loads(d)) if d else "" for d in frame.pop("drivers")
    ]
    return frame[cols]
