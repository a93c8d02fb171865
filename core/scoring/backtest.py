"""The honest check of the churn model: train on an earlier window, test on the latest fully
observed one, against recency alone and BG/NBD; and the order-history backtests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sqlalchemy.engine import Engine
from sqlmodel import Session
from threadpoolctl import threadpool_limits

from core.clv import ClvError
from core.config import resolve_horizon
from core.features import Frames, churn_labels, customer_features, load_frames
from core.health import (
    HEALTHY_MAX_CHURN,
    agreed_band,
    band_of,
    component_aucs,
    expected_days_to_next_order,
    fit_health_weights,
    health_components,
    health_score,
    store_gap_days,
)
from core.scoring.model import (
    MIN_HISTORY_BEFORE_CUTOFF_DAYS,
    ScoringError,
    _first_order_date,
    bgnbd_churn,
    fit_churn_model,
    training_cutoffs,
)

# --------------------------------------------------------------------------------------
# Metrics


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, Brier, calibration by decile of prediction, top-decile lift, mean vs actual."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")
    top = order[: max(len(p) // 10, 1)]
    base = y.mean()
    deciles = pd.qcut(pd.Series(p).rank(method="first"), 10, labels=False)
    cal = (pd.DataFrame({"d": deciles, "p": p, "y": y}).groupby("d")
           .agg(predicted=("p", "mean"), actual=("y", "mean"), n=("y", "size")).reset_index())
    return {
        "auc": round(float(roc_auc_score(y, p)), 4) if 0 < base < 1 else None,
        "brier": round(float(brier_score_loss(y, p)), 4),
        "top_decile_lift": round(float(y[top].mean() / base), 3) if base > 0 else None,
        "mean_predicted": round(float(p.mean()), 4),
        "calibration_gap": round(abs(float(p.mean()) - float(base)), 4),
        "actual_share": round(float(base), 4),
        "calibration": [
            {"decile": int(r.d) + 1, "predicted": round(float(r.predicted), 4),
             "actual": round(float(r.actual), 4), "n": int(r.n)}
            for r in cal.itertuples()
        ],
        "n": int(len(y)),
    }


def backtest(frames: Frames, *, as_of: date, horizon_days: int, first_order: date) -> dict[str, Any]:
    """Train on cut-offs whose labels end by D - H, test at D - H (labels in (D - H, D]).

    Returns the churn model's metrics (`evaluate`) beside recency alone and BG/NBD expected
    purchases; the health score's AUC for staying active with its fitted weights and each
    component's own AUC; how many test accounts would be Healthy with churn risk above
    HEALTHY_MAX_CHURN; the next-order date's median absolute error against two baselines."""
    test_cut = as_of - timedelta(days=horizon_days)
    cutoffs = training_cutoffs(last=test_cut - timedelta(days=horizon_days), first_order=first_order,
                               horizon_days=horizon_days)
    if not cutoffs:
        return {"skipped": "not enough history for a backtest: it needs "
                           f"{2 * horizon_days + MIN_HISTORY_BEFORE_CUTOFF_DAYS} days of orders"}
    model = fit_churn_model(frames, cutoffs=cutoffs, horizon_days=horizon_days)
    test = customer_features(frames, cutoff=test_cut, horizon_days=horizon_days)
    y = churn_labels(frames, cutoff=test_cut, horizon_days=horizon_days, index=test.index).to_numpy()
    result: dict[str, Any] = {
        "train_cutoffs": [c.isoformat() for c in model.cutoffs],
        "test_cutoff": test_cut.isoformat(),
        "n_train": model.n_train,
        "n_test": int(len(test)),
        "model": evaluate(y, p_test := model.predict(test)),
    }

    # Baselines, fitted on the newest training cut-off only, tested on the same customers.
    train_cut = max(cutoffs)
    train = customer_features(frames, cutoff=train_cut, horizon_days=horizon_days)
    ty = churn_labels(frames, cutoff=train_cut, horizon_days=horizon_days, index=train.index).to_numpy()
    big = 10_000.0  # never ordered: "longest ago"
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(
        train["recency_days"].fillna(big), ty)
    result["recency_baseline"] = evaluate(y, iso.predict(test["recency_days"].fillna(big)))

    has = train["n_orders"].to_numpy() > 0
    never_rate = float(ty[~has].mean()) if (~has).any() else 1.0
    try:
        p_bg, params = bgnbd_churn(train, test, horizon_days=horizon_days, never_rate=never_rate)
    except ClvError as exc:
        result["bgnbd_baseline"] = None
        result["bgnbd_skipped"] = str(exc)
    else:
        result["bgnbd_baseline"] = evaluate(y, p_bg)
        result["bgnbd_params"] = {k: round(float(v), 4) for k, v in params.items()}

    # Health: weights fitted at the training cut-off, judged at the test cut-off.
    top = np.round(np.sort(p_test)[::-1][:100], 3)
    result["model"]["top100_same_value"] = int(pd.Series(top).value_counts().max()) if len(top) else 0
    weights = fit_health_weights(health_components(train, horizon_days=horizon_days), 1 - ty)
    comps = health_components(test, horizon_days=horizon_days)
    hs = health_score(comps, weights).to_numpy()
    active = 1 - y
    both = 0 < active.mean() < 1
    result["health"] = {
        "auc": round(float(roc_auc_score(active, hs)), 4) if both else None,
        "auc_default_weights": round(float(roc_auc_score(active, health_score(comps).to_numpy())), 4)
        if both else None,
        "weights": weights,
        "component_auc": component_aucs(comps, active),
        "healthy_above_max_churn_before": int(((band_of(hs) == "healthy") & (p_test > HEALTHY_MAX_CHURN)).sum()),
        "healthy_above_max_churn": int(((agreed_band(hs, p_test) == "healthy")
                                        & (p_test > HEALTHY_MAX_CHURN)).sum()),
    }
    result["next_order"] = next_order_backtest(frames, test, cutoff=test_cut, horizon_days=horizon_days)
    return result


def next_order_backtest(frames: Frames, features: pd.DataFrame, *, cutoff: date,
                        horizon_days: int) -> dict[str, Any]:
    """Median absolute error in days of the expected next order, among customers with orders
    who did order in (cutoff, cutoff + H] (the days to their first order then), against two
    baselines: recency alone (the next order comes as long after the last as the last came
    before D: `recency_days` from D) and cadence alone (their own median gap, else the store's,
    after the last order; at least today)."""
    start = pd.Timestamp(cutoff + timedelta(days=1))
    o = frames.orders
    after = o[(o["ordered_at"] >= start) & (o["ordered_at"] < start + pd.Timedelta(days=horizon_days))]
    first = after.groupby("cidx")["ordered_at"].min()
    ids = frames.customers["id"].to_numpy()[first.index.to_numpy()]
    actual_days = pd.Series(((first - start) / pd.Timedelta(days=1)).to_numpy() + 1, index=ids)
    f = features[features["n_orders"].to_numpy() > 0]
    f = f[f.index.isin(actual_days.index)]
    if f.empty:
        return {"skipped": "nobody with orders ordered in the horizon"}
    actual = actual_days.reindex(f.index).to_numpy()
    recency = f["recency_days"].to_numpy(float)
    own = f["median_gap_days"].to_numpy(float)
    cadence = np.maximum(np.where(np.isnan(own), store_gap_days(f), own) - recency, 0)
    ours = expected_days_to_next_order(f)

    def mae(pred: np.ndarray) -> float:
        return round(float(np.median(np.abs(pred - actual))), 1)

    return {"n": int(len(f)), "median_abs_error_days": mae(ours), "recency_baseline": mae(np.maximum(recency, 1)),
            "cadence_baseline": mae(cadence)}


def backtest_order_history(orders: pd.DataFrame, *, horizon_days: int | None = None,
                           as_of: date | None = None) -> dict[str, Any]:
    """`backtest` on an order history alone (customer_id, ordered_at, total), e.g. a public
    retail data set: the held-out period is the last H days before `as_of` (default: the last
    order's date). Raises ScoringError when the history is too short, ValueError on a bad row."""
    from core.features import frames_from_orders

    horizon_days = resolve_horizon(horizon_days)
    frames = frames_from_orders(orders, as_of=as_of)
    first = _first_order_date(frames)
    if first is None:
        raise ScoringError("the order history has no orders")
    with threadpool_limits(limits=1):
        result = backtest(frames, as_of=frames.as_of, horizon_days=horizon_days, first_order=first)
    if "skipped" in result:
        raise ScoringError(result["skipped"])
    result["as_of"] = frames.as_of.isoformat()
    result["n_customers"] = len(frames.customers)
    result["n_orders"] = len(frames.orders)
    return result


def backtest_store(*, engine: Engine, as_of: date | None = None, horizon_days: int | None = None) -> dict[str, Any]:
    """`backtest` on the database's store at `as_of` (default today, UTC) and horizon (default
    HEARTH_HORIZON_DAYS); writes nothing.

    Raises ScoringError without orders, or when the backtest is skipped (its reason).
    """
    horizon_days = resolve_horizon(horizon_days)
    as_of = as_of or datetime.now(UTC).date()
    with Session(engine) as session:
        frames = load_frames(session=session, as_of=as_of)
    first = _first_order_date(frames)
    if first is None:
        raise ScoringError("the store has no orders to backtest on")
    with threadpool_limits(limits=1):
        result = backtest(frames, as_of=as_of, horizon_days=horizon_days, first_order=first)
    if "skipped" in result:
        raise ScoringError(result["skipped"])
    result["as_of"] = as_of.isoformat()
    result["n_customers"] = len(frames.customers)
    result["n_orders"] = len(frames.orders)
    return result
