"""Health score, bands, drivers in plain words, value at risk and RFM segments.

Pure functions of the feature frame of `core.features.customer_features` (one row per
customer), vectorised over all customers at once.

Health score (design.md): 0 to 100, a weighted sum of named components, each 0 to 100. A
component without data for a customer is left out and the weights of the others are
rescaled, so missing data is not bad data.

The package: `score` (components, score, bands, weights) and `explain` (drivers in words,
expected value, RFM segments).
"""

from core.health.explain import (  # noqa: F401
    RFM_LABELS,
    RFM_SEGMENTS,
    VALUE_EXPLANATION,
    drivers,
    expected_annual_value,
    rfm_segments,
)
from core.health.score import (  # noqa: F401
    CHURN_PERCENT_DECIMALS,
    DEFAULT_WEIGHTS,
    HEALTH_COMPONENTS,
    HEALTH_DECIMALS,
    HEALTHY_MAX_CHURN,
    MIN_GAP_DAYS,
    NO_DATA_SCORE,
    SUBSCRIPTION_SCORES,
    agreed_band,
    band_of,
    band_thresholds,
    churn_percent,
    churn_text,
    component_aucs,
    components_json,
    disagreement,
    expected_days_to_next_order,
    expected_gap_blend,
    expected_gap_days,
    fit_health_weights,
    health_components,
    health_score,
    health_text,
    lapsed,
    overdue_days,
    store_gap_days,
)
