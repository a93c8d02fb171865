"""The churn model: the scikit-learn pipeline, its training cut-offs and set, the BG/NBD
baseline and the stacked fit, and the transparent rule-based score for a small shop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from core.clv import BetaGeoModel, ClvError
from core.features import MODEL_FEATURES, Frames, churn_labels, customer_features
from core.health import (
    expected_gap_days,
    overdue_days,
)

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
# Scoring everyone


def _first_order_date(frames: Frames) -> date | None:
    first = frames.first_activity
    return None if first is None or pd.isna(first) else first.date()
