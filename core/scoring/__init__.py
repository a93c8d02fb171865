"""Churn probability, health score snapshots and the honest check of the churn model.

Churn probability at D (design.md): the probability that the customer places no order in
(D, D + H]. It comes from a scikit-learn pipeline (histogram gradient boosting, then
isotonic calibration) trained on the shop's own history: features at several earlier
cut-offs, labels from what happened in the H days after each. Before it is used, a
backtest trains the same way on an earlier window and tests on the latest fully observed
one (cut-off D - H), against two baselines: recency alone and a BG/NBD expected-purchases
model. With too little history (under MIN_CUSTOMERS customers, or under 2 x H days of
orders) a transparent rule-based score is used instead, and the model run says so.

The package: `model` (pipeline, fit, baselines, rule-based score), `backtest` (the honest
check) and `snapshots` (score every customer, store the day's snapshots).
"""

from core.scores import (  # noqa: F401 - the screens' reads of stored scores, kept importable from here
    latest_as_of,
    latest_model_run,
    scores_export_frame,
)
from core.scoring.backtest import (  # noqa: F401
    backtest,
    backtest_order_history,
    backtest_store,
    evaluate,
    next_order_backtest,
)
from core.scoring.model import (  # noqa: F401
    BGNBD_MAX_ROWS,
    BOOST_MAX_LOGODDS,
    MAX_TRAIN_CUTOFFS,
    MAX_TRAIN_ROWS,
    MIN_CUSTOMERS,
    MIN_HISTORY_BEFORE_CUTOFF_DAYS,
    SEED,
    SMOOTH_C,
    ChurnModel,
    DropEmptyColumns,
    Progress,
    ScoringError,
    bgnbd_churn,
    bgnbd_inputs,
    fit_bgnbd_on,
    fit_churn_model,
    make_pipeline,
    rule_based_churn,
    training_cutoffs,
)
from core.scoring.snapshots import (  # noqa: F401
    HEALTH_WEIGHTS,
    log,
    score_all,
    score_frame,
)
