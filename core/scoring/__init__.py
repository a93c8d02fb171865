"""Churn probability, health score snapshots and the honest check of the churn model.

Churn probability at D (design.md): the probability that the customer places no order in
(D, D + H]. It comes from a scikit-learn pipeline (histogram gradient boosting, then
isotonic calibration) trained on the shop's own history: features at several earlier
cut-offs, labels from what happened in the H days after each. Before it is used, a
backtest trains the same way on an earlier window and tests on the latest fully observed
one (cut-off D - H), against two baselines: recency alone and a BG/NBD expected-purchases
model. With too little history (under MIN_CUSTOMERS customers, or under 2 x H days of
orders) a transparent rule-based score is used instead, and the model run says so.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sqlalchemy import delete, inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session
from threadpoolctl import threadpool_limits

from core.clv import BetaGeoModel, ClvError
from core.config import get_settings, resolve_horizon
from core.features import MODEL_FEATURES, Frames, churn_labels, customer_features, load_frames
from core.health import (
    HEALTH_COMPONENTS,
    HEALTHY_MAX_CHURN,
    agreed_band,
    band_of,
    component_aucs,
    components_json,
    drivers,
    expected_annual_value,
    expected_days_to_next_order,
    expected_gap_days,
    fit_health_weights,
    health_components,
    health_score,
    overdue_days,
    rfm_segments,
    store_gap_days,
)
from core.scores import latest_as_of, latest_model_run, scores_export_frame  # noqa: F401 - re-exported
from db.bulk import bulk_insert
from db.engine import refresh_statistics
from db.models import Customer, ModelRun, ScoreSnapshot

log = logging.getLogger(__name__)

MIN_CUSTOMERS = 500
MIN_HISTORY_BEFORE_CUTOFF_DAYS = 60  # a training cut-off needs some history behind it
MAX_TRAIN_CUTOFFS = 4
MAX_TRAIN_ROWS = 120_000
# The boosting's log-odds are clipped to +-logit(0.98): a pure leaf (everyone in it churned in
# training) is evidence of high risk, not of certainty, and unclipped it pinned the riskiest
# hundreds of accounts at 99.9 %.
BOOST_MAX_LOGODDS = float(np.log(0.98 / 0.02))
# The smooth part's L2 penalty (inverse strength, on standardised terms): strong enough that it
# cannot separate a calibration sample where every long-lapsed customer churned (with C = 100
# its log-odds reached 20 on the demo store), so it keeps the riskiest accounts ordered by how
# long and how much. Chosen on the demo store's and CDNOW's backtests: AUC unchanged, calibration
# gap 0.022 -> 0.009 (demo) and 0.001 -> 0.003 (CDNOW); most shared value among the 100 riskiest
# 100 -> 15 (demo). A stronger penalty spreads them more but pulls the middle deciles off their
# observed churn (cross-validated log-loss prefers C = 100, which piles them up again).
SMOOTH_C = 0.01
# BG/NBD has four parameters: a seeded sample of customers pins them down (and keeps a fit
# under a second at the reference size).
BGNBD_MAX_ROWS = 30_000
SEED = 42

Progress = Callable[[float, str], None]


class ScoringError(RuntimeError):
    """Scoring cannot run (no customers, a bad date); the message says what to do."""


# --------------------------------------------------------------------------------------
# The model


class DropEmptyColumns(TransformerMixin, BaseEstimator):
    """Drops the columns that had no value at all when fitted (a store without tickets or
    loyalty data): gradient boosting cannot bin a column that is entirely missing."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> DropEmptyColumns:  # noqa: N803
        """Remember the columns of ``X`` that have at least one value (scikit-learn's fit)."""
        self.columns_ = [c for c in X.columns if X[c].notna().any()]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """``X`` with only the columns remembered by fit, in their order."""
        return X[self.columns_]


def make_pipeline() -> Pipeline:
    """Feature selection then gradient boosting (handles missing values natively)."""
    return Pipeline([
        ("features", ColumnTransformer([("keep", "passthrough", MODEL_FEATURES)],
                                       verbose_feature_names_out=False).set_output(transform="pandas")),
        ("nonempty", DropEmptyColumns()),
        ("boost", HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=80,
            l2_regularization=1.0, early_stopping=True, validation_fraction=0.1,
            n_iter_no_change=10, random_state=SEED)),
    ])


def training_cutoffs(*, last: date, first_order: date, horizon_days: int) -> list[date]:
    """Cut-offs at `last`, last - H/2, last - H, ... (newest first) with enough history behind."""
    step = max(horizon_days // 2, 7)
    out = []
    c = last
    while len(out) < MAX_TRAIN_CUTOFFS and (c - first_order).days >= MIN_HISTORY_BEFORE_CUTOFF_DAYS:
        out.append(c)
        c -= timedelta(days=step)
    return out


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def _training_set(frames: Frames, cutoffs: list[date], horizon_days: int) -> pd.DataFrame:
    per_cut = max(MAX_TRAIN_ROWS // max(len(cutoffs), 1), 1)
    parts = []
    for k, c in enumerate(cutoffs):
        feat = customer_features(frames, cutoff=c, horizon_days=horizon_days)
        feat = _sample(feat, per_cut, SEED + k)
        feat = feat.assign(churned=churn_labels(frames, cutoff=c, horizon_days=horizon_days,
                                                index=feat.index), cutoff=c)
        parts.append(feat)
    return pd.concat(parts)


@dataclass
class ChurnModel:
    """The fitted, calibrated churn estimator and what it was trained on."""

    estimator: Any
    cutoffs: list[date]
    n_train: int
    base_rate: float

    stacker: Any = None  # logistic regression on (boosting, BG/NBD) log-odds; None: boosting alone
    smooth: Any = None  # logistic regression on smooth history terms, averaged with the stacker

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """P(no order in the next H days) per row of `features` (all at one cut-off)."""
        if self.stacker is None:
            p = self.estimator.predict_proba(features[MODEL_FEATURES])[:, 1]
        else:
            inputs = _stack_inputs(self.estimator, features, self.horizon_days, None)
            p = self.stacker.predict_proba(inputs[:, :3])[:, 1]
            if self.smooth is not None:
                p = (p + self.smooth.predict_proba(inputs[:, 1:])[:, 1]) / 2
        return np.clip(p, 0.001, 0.999)

    horizon_days: int = 90


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_bgnbd_on(features: pd.DataFrame) -> BetaGeoModel | None:
    """BG/NBD fitted on the customers with orders in `features` (None: too few repeat buyers)."""
    has = features["n_orders"].to_numpy() > 0
    if has.sum() < 20 or (features.loc[has, "n_orders"] > 1).sum() < 10:
        return None
    try:
        return BetaGeoModel(max_rows=BGNBD_MAX_ROWS, seed=SEED, precise=False).fit(*bgnbd_inputs(features[has]))
    except ClvError:
        return None


def _stack_inputs(boost: Any, features: pd.DataFrame, horizon_days: int,
                  bg: BetaGeoModel | None) -> np.ndarray:
    """The boosting's log-odds (clipped to +-BOOST_MAX_LOGODDS), BG/NBD's log-odds of no order in
    H (fitted on these customers' own histories, which end at their cut-off: refitting per
    cut-off kept the calibration on CDNOW, reusing an earlier fit did not) and whether they have ordered
    at all; then smooth terms: log recency, orders, orders in a year, spend in a year, age.
    They rank the customers the trees put in one leaf."""
    lb = np.clip(_logit(boost.predict_proba(features[MODEL_FEATURES])[:, 1]),
                 -BOOST_MAX_LOGODDS, BOOST_MAX_LOGODDS)
    has = features["n_orders"].to_numpy() > 0
    lg = np.zeros(len(features))
    bg = bg or fit_bgnbd_on(features)
    if bg is not None:
        lg = np.where(has, _logit(bg.probability_no_purchase(horizon_days / 7, *bgnbd_inputs(features))), 0.0)

    def log1p(col: str) -> np.ndarray:
        return np.log1p(np.clip(np.nan_to_num(features[col].to_numpy(float), nan=0.0), 0, None))

    return np.column_stack([lb, lg, has.astype(float), log1p("recency_days"), log1p("n_orders"),
                            log1p("orders_365"), log1p("spend_365"), log1p("days_since_first_order")])


def fit_churn_model(frames: Frames, *, cutoffs: list[date], horizon_days: int) -> ChurnModel:
    """Boosting on the older cut-offs; on the newest one, a logistic regression of the outcome
    on the boosting's and BG/NBD's log-odds (Platt-style calibration to the most recent churn
    level), averaged with a penalised logistic regression on smooth history terms (so the
    probabilities of the riskiest accounts do not pile up at one value); with one cut-off,
    boosting calibrated by cross-validation.

    Raises ScoringError when every customer in the training window behaved the same.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline as make_sklearn_pipeline
    from sklearn.preprocessing import StandardScaler

    cutoffs = sorted(cutoffs)
    data = _training_set(frames, cutoffs, horizon_days)
    y = data["churned"].to_numpy()
    if len(np.unique(y)) < 2:
        raise ScoringError("every customer in the training window behaved the same; cannot train")
    stacker = smooth = None
    cal_part = data[data["cutoff"] == cutoffs[-1]]
    if len(cutoffs) >= 2 and cal_part["churned"].nunique() == 2:
        fit_part = data[data["cutoff"] < cutoffs[-1]]
        est = make_pipeline().fit(fit_part[MODEL_FEATURES], fit_part["churned"])
        inputs = _stack_inputs(est, cal_part, horizon_days, None)
        stacker = LogisticRegression(C=100.0, max_iter=1000).fit(inputs[:, :3], cal_part["churned"])
        # A smooth model of the same outcome (no trees): averaging two calibrated probabilities
        # keeps the mean, and orders the customers the trees tie by how long and how much.
        # Standardised and penalised (SMOOTH_C) so that it stays smooth at the extremes.
        smooth = make_sklearn_pipeline(StandardScaler(), LogisticRegression(C=SMOOTH_C, max_iter=2000))
        smooth.fit(inputs[:, 1:], cal_part["churned"])
    else:
        est = CalibratedClassifierCV(make_pipeline(), method="sigmoid", cv=3)
        est.fit(data[MODEL_FEATURES], y)
    return ChurnModel(estimator=est, cutoffs=cutoffs, n_train=len(data), base_rate=float(y.mean()),
                      stacker=stacker, smooth=smooth, horizon_days=horizon_days)


def rule_based_churn(features: pd.DataFrame, *, horizon_days: int) -> np.ndarray:
    """The transparent fallback. A customer who orders every g days and is still a customer
    orders in the next H days unless a Poisson gap that long happens: P = exp(-H / g). The
    chance they are still a customer halves for every g days they are overdue. Never
    ordered: 0.85 (most sign-ups who have not ordered do not start)."""
    gap = expected_gap_days(features)
    over = np.nan_to_num(overdue_days(features), nan=0.0)
    alive = np.power(0.5, np.clip(over, 0, None) / gap)
    p = 1 - alive * (1 - np.exp(-horizon_days / gap))
    p = np.where(features["n_orders"].to_numpy() == 0, 0.85, p)
    return np.clip(p, 0.01, 0.99)


# --------------------------------------------------------------------------------------
# Baselines


def bgnbd_inputs(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The BG/NBD inputs in weeks from the feature frame: frequency x (repeat orders), recency
    t_x (age at the last order: weeks from first to last order) and T (age at D)."""
    x = np.clip(features["n_orders"].to_numpy(float) - 1, 0, None)
    T = features["days_since_first_order"].to_numpy(float) / 7  # noqa: N806
    tx = T - features["recency_days"].to_numpy(float) / 7
    return x, np.clip(tx, 0, None), T


def bgnbd_churn(features_train: pd.DataFrame, features_test: pd.DataFrame, *, horizon_days: int,
                never_rate: float) -> tuple[np.ndarray, dict[str, float]]:
    """The BG/NBD baseline: fitted (core.clv.BetaGeoModel, the one implementation) on the
    customers with orders at the training cut-off, P(no order in the next H days) at the
    test cut-off; customers without orders get `never_rate`."""
    has = features_train["n_orders"].to_numpy() > 0
    model = BetaGeoModel(max_rows=BGNBD_MAX_ROWS, seed=SEED, precise=False).fit(*bgnbd_inputs(features_train[has]))
    p = model.probability_no_purchase(horizon_days / 7, *bgnbd_inputs(features_test))
    p = np.where(features_test["n_orders"].to_numpy() > 0, p, never_rate)
    return p, model.params_


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


# --------------------------------------------------------------------------------------
# Scoring everyone


def _first_order_date(frames: Frames) -> date | None:
    first = frames.first_activity
    return None if first is None or pd.isna(first) else first.date()


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
        "value_at_risk": np.round(value * churn),
        "drivers": [json.dumps(d) for d in drivers(features, comps, horizon_days=h,
                                                   product_names=product_names, weights=weights)],
        "components": components_json(comps, weights),
        # the "overdue for refill" filter: days past when the refills they bought ran out
        "days_overdue": features["days_overdue"].to_numpy(float),
        "rfm_segment": rfm_segments(features),
        "next_order_date": (pd.Timestamp(as_of) + pd.to_timedelta(np.round(next_days), unit="D")).to_numpy(),
    })
    info["mean_churn_probability"] = round(float(np.mean(churn)), 4)
    info["bands"] = out["band"].value_counts().to_dict()
    return out, info


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
