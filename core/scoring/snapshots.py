"""Scoring every customer at a date (`score_frame`) and storing the day's score snapshots and
model run (`score_all`)."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session
from threadpoolctl import threadpool_limits

from core import money
from core.config import get_settings, resolve_horizon
from core.features import Frames, churn_labels, customer_features, load_frames
from core.health import (
    HEALTH_COMPONENTS,
    agreed_band,
    components_json,
    drivers,
    expected_annual_value,
    expected_days_to_next_order,
    fit_health_weights,
    health_components,
    health_score,
    lapsed,
    rfm_segments,
)
from core.scoring.backtest import backtest
from core.scoring.model import (
    MIN_CUSTOMERS,
    Progress,
    ScoringError,
    _first_order_date,
    fit_churn_model,
    rule_based_churn,
    training_cutoffs,
)
from db.bulk import bulk_insert
from db.engine import refresh_statistics
from db.models import Customer, ModelRun, ScoreSnapshot

log = logging.getLogger(__name__)


def _model_churn(frames: Frames, features: pd.DataFrame, *, as_of: date, h: int, first: date, cutoffs: list[date],
                 info: dict[str, Any], say: Progress) -> tuple[np.ndarray, dict[str, float] | None]:
    """Churn probabilities from the model trained on `cutoffs` (after the backtest, both noted in
    `info`), with health weights fitted on the newest cut-off; the rule-based score and default
    weights (None) when training fails."""
    weights: dict[str, float] | None = None
    say(0.25, "backtest: training on an earlier window, testing on the latest full horizon")
    t0 = time.perf_counter()
    try:
        info["backtest"] = backtest(frames, as_of=as_of, horizon_days=h, first_order=first)
    except ScoringError as exc:
        info["backtest"] = {"skipped": str(exc)}
    info["backtest_seconds"] = round(time.perf_counter() - t0, 1)
    say(0.55, "training the churn model on cut-offs " + ", ".join(c.isoformat() for c in cutoffs))
    try:
        model = fit_churn_model(frames, cutoffs=cutoffs, horizon_days=h)
    except ScoringError as exc:
        info["method"] = "rules"
        info["reason"] = f"Rule-based score: {exc}."
        churn = rule_based_churn(features, horizon_days=h)
    else:
        info["method"] = "model"
        info["train_cutoffs"] = [c.isoformat() for c in model.cutoffs]
        info["n_train"] = model.n_train
        info["train_churn_share"] = round(model.base_rate, 4)
        churn = model.predict(features)
        # Health weights from the newest fully observed cut-off: who did order in the H days after.
        newest = max(cutoffs)
        past = customer_features(frames, cutoff=newest, horizon_days=h)
        stayed = 1 - churn_labels(frames, cutoff=newest, horizon_days=h, index=past.index).to_numpy()
        weights = fit_health_weights(health_components(past, horizon_days=h), stayed)
    return churn, weights


def score_frame(frames: Frames, *, as_of: date, horizon_days: int,
                progress: Progress | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Scores for every customer at `as_of` plus the model run's description (no writes).

    Raises ScoringError when no customer existed on ``as_of``.
    """
    say = progress or (lambda _f, _m: None)
    h = horizon_days
    features = customer_features(frames, cutoff=as_of, horizon_days=h)
    if features.empty:
        raise ScoringError(f"no customers existed on {as_of}; import customers and orders first")
    first = _first_order_date(frames)
    history_days = (as_of - first).days + 1 if first else 0
    n_customers = len(features)
    info: dict[str, Any] = {"horizon_days": h, "history_days": history_days, "n_customers": n_customers}
    weights: dict[str, float] | None = None  # the default weights unless fitted below

    reasons = []
    if n_customers < MIN_CUSTOMERS:
        reasons.append(f"only {n_customers} customers (the model needs {MIN_CUSTOMERS})")
    if history_days < 2 * h:
        reasons.append(f"only {history_days} days of orders (the model needs {2 * h})")
    cutoffs = [] if reasons else training_cutoffs(last=as_of - timedelta(days=h), first_order=first,
                                                  horizon_days=h)
    if not reasons and not cutoffs:
        reasons.append("no earlier cut-off with enough history behind it")

    if reasons:
        info["method"] = "rules"
        info["reason"] = "Rule-based score: " + "; ".join(reasons) + "."
        say(0.5, info["reason"])
        churn = rule_based_churn(features, horizon_days=h)
    else:
        churn, weights = _model_churn(frames, features, as_of=as_of, h=h, first=first, cutoffs=cutoffs,
                                      info=info, say=say)

    say(0.75, f"health scores, drivers and value at risk for {n_customers:,} customers")
    settings = get_settings()
    comps = health_components(features, horizon_days=h)
    score = health_score(comps, weights)
    info["health_weights"] = weights or {k: w for k, (w, _l) in HEALTH_COMPONENTS.items()}
    info["health_weights_fitted"] = weights is not None
    names = frames.products.set_index("product_id")
    product_names = names["category"].fillna(names["name"]).to_dict() if len(names) else {}
    value = expected_annual_value(features, horizon_days=h)
    churn = np.round(churn, 3)  # shown as a percentage with one decimal everywhere
    next_days = expected_days_to_next_order(features)
    out = pd.DataFrame({
        "customer_id": features.index.to_numpy(),
        "as_of": as_of,
        "health_score": score.to_numpy(),
        "band": agreed_band(score, churn, healthy=settings.health_band_healthy,
                            watch=settings.health_band_watch),
        "churn_probability": churn,
        "expected_value": value,
        "value_at_risk_cents": _value_at_risk_cents(value, churn),
        "drivers": [json.dumps(d) for d in drivers(features, comps, horizon_days=h,
                                                   product_names=product_names, weights=weights)],
        "components": components_json(comps, weights),
        # the "overdue for refill" filter: days past when the refills they bought ran out
        "days_overdue": features["days_overdue"].to_numpy(float),
        "rfm_segment": rfm_segments(features),
        # None for a lapsed customer (core.health.lapsed): no next order is expected.
        "next_order_date": (pd.Timestamp(as_of) + pd.to_timedelta(np.where(lapsed(features), np.nan,
                                                                           np.round(next_days)), unit="D")).to_numpy(),
    })
    info["mean_churn_probability"] = round(float(np.mean(churn)), 4)
    info["bands"] = out["band"].value_counts().to_dict()
    return out, info


def _value_at_risk_cents(value: np.ndarray, churn: np.ndarray) -> np.ndarray:
    """Expected annual value (currency, to the cent) x churn probability (3 decimals), in whole
    currency units as the screens show it, stored as cents: exact integer arithmetic, rounded
    half up by core.money (100.00 x 0.505 = 50.5 -> 51, i.e. 5100 cents)."""
    value_cents = np.round(np.asarray(value, dtype="float64") * 100).astype("int64")
    churn_millis = np.round(np.asarray(churn, dtype="float64") * 1000).astype("int64")
    return (money.divide_array(value_cents * churn_millis, 100_000) * 100).astype("int64")


def score_all(*, engine: Engine, as_of: date | None = None, horizon_days: int | None = None,
              progress: Progress | None = None) -> dict[str, Any]:
    """Score every customer at `as_of` (default: today, UTC) with only what happened on or
    before it; store one ScoreSnapshot per customer (replacing that date's earlier run) and a
    ModelRun with the backtest. Returns the run's summary.

    Raises ScoringError for a horizon under 7 days or a database without tables.
    """
    say = progress or (lambda _f, _m: None)
    as_of = as_of or datetime.now(UTC).date()
    horizon_days = resolve_horizon(horizon_days)
    if horizon_days < 7:
        raise ScoringError("--horizon-days must be at least 7")
    if not inspect(engine).has_table(Customer.__tablename__):
        raise ScoringError("the database has no tables yet; run `python -m core init` first")
    started = time.perf_counter()
    say(0.02, f"reading the store's history up to {as_of}")
    with Session(engine) as session:
        frames = load_frames(session=session, as_of=as_of, progress=lambda m: say(0.1, m))
    # One OpenMP thread: on a busy shared machine (or beside Streamlit's threads) the boosting's
    # spinning worker threads made training 30 times slower, not faster.
    with threadpool_limits(limits=1):
        scores, info = score_frame(frames, as_of=as_of, horizon_days=horizon_days, progress=say)

    say(0.9, f"storing {len(scores):,} snapshots")
    run = ModelRun(as_of=as_of, horizon_days=horizon_days, method=info["method"],
                   n_customers=info["n_customers"])
    with Session(engine) as session:
        session.add(run)
        session.flush()
        session.execute(delete(ScoreSnapshot).where(ScoreSnapshot.as_of == as_of))
        rows = scores.drop(columns=["expected_value"]).assign(model_run_id=run.id)
        bulk_insert(session.connection(), ScoreSnapshot.__table__, rows)
        info["seconds"] = round(time.perf_counter() - started, 1)
        run.metrics = json.dumps(info, default=str)
        session.add(run)
        session.commit()
        info["model_run_id"] = run.id
    refresh_statistics(engine)  # the queue's plans depend on the new day's snapshots
    info["as_of"] = as_of.isoformat()
    say(1.0, f"scored {len(scores):,} customers in {info['seconds']} s")
    return info


HEALTH_WEIGHTS = {name: w for name, (w, _label) in HEALTH_COMPONENTS.items()}
