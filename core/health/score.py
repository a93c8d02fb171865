"""The health score: its named components (0 to 100 each), the weighted score with missing
components left out, bands, weights fitted to activity, and agreement with the churn model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

# name -> (default weight, label shown on the account screen). Each scoring run with enough
# history refits the weights on the store's own backtest (`fit_health_weights`); these are
# the starting point and what a store too small for the model uses.
HEALTH_COMPONENTS: dict[str, tuple[float, str]] = {
    "recency": (0.30, "Recency against own cadence and refills"),
    "frequency": (0.10, "Orders in the last 12 months"),
    "frequency_trend": (0.10, "Order frequency trend"),
    "spend_trend": (0.05, "Spend trend"),
    "feedback": (0.15, "NPS and feedback sentiment"),
    "tickets": (0.10, "Support tickets"),
    "engagement": (0.10, "Loyalty and login engagement"),
    "subscription": (0.10, "Subscription"),
}
DEFAULT_WEIGHTS: dict[str, float] = {name: w for name, (w, _label) in HEALTH_COMPONENTS.items()}
# Bands and churn risk must not contradict each other: an account whose churn probability is
# above this is never shown as Healthy, whatever its health score (it is shown as Watch, and
# the screen says why).
HEALTHY_MAX_CHURN = 0.6
# One rounding rule per figure, the same on every screen and in every export; scoring stores
# the figures already rounded this way, so nothing rounds twice.
HEALTH_DECIMALS = 0  # health score: a whole number, 0 to 100
CHURN_PERCENT_DECIMALS = 1  # churn probability: a percentage with one decimal (stored to 0.001)


def health_text(score: float) -> str:
    """"12": the health score as every screen shows it."""
    return f"{score:.{HEALTH_DECIMALS}f}"


def churn_text(probability: float) -> str:
    """"98.9 %": the churn probability as every screen shows it."""
    return f"{probability * 100:.{CHURN_PERCENT_DECIMALS}f} %"


def churn_percent(probability: pd.Series) -> pd.Series:
    """The churn probability as a table column shows it: percent with one decimal.

    Parameters
    ----------
    probability : Series of float in [0, 1] (NaN allowed: stays NaN).

    Returns
    -------
    Series of float in [0, 100], rounded to CHURN_PERCENT_DECIMALS (0.9891 -> 98.9), same index.
    """
    return (probability.astype(float) * 100).round(CHURN_PERCENT_DECIMALS)


NO_DATA_SCORE = 50.0  # a customer with no data at all (signed up, nothing else) sits mid-scale
MIN_GAP_DAYS = 7.0
SUBSCRIPTION_SCORES = {"active": 100.0, "paused": 40.0, "cancelled": 0.0}


def band_thresholds(healthy: float | None = None, watch: float | None = None) -> tuple[float, float]:
    """(healthy, watch): the health score at and above which an account is Healthy, and below
    which it is At risk. From the settings (HEARTH_HEALTH_BAND_HEALTHY, HEARTH_HEALTH_BAND_WATCH;
    70 and 40 by default) unless given; the one source for bands, gauges and screen notes."""
    from core.config import get_settings

    if healthy is None or watch is None:
        settings = get_settings()
        healthy = settings.health_band_healthy if healthy is None else healthy
        watch = settings.health_band_watch if watch is None else watch
    return float(healthy), float(watch)


def band_of(score: pd.Series | np.ndarray, *, healthy: float | None = None,
            watch: float | None = None) -> np.ndarray:
    """Healthy at and above `healthy`, At risk below `watch`, Watch between (band_thresholds)."""
    healthy, watch = band_thresholds(healthy, watch)
    s = np.asarray(score, dtype=float)
    return np.where(s >= healthy, "healthy", np.where(s >= watch, "watch", "at_risk"))


def store_gap_days(features: pd.DataFrame) -> float:
    """The store's typical gap between orders (median of customers' own medians)."""
    gaps = features["median_gap_days"].dropna()
    return float(max(gaps.median(), MIN_GAP_DAYS)) if len(gaps) else 30.0


def expected_gap_days(features: pd.DataFrame) -> np.ndarray:
    """The customer's own median gap; else the refill interval of what they buy; else the store's."""
    own = features["median_gap_days"].to_numpy(float)
    refill = features["replenish_interval"].to_numpy(float)
    gap = np.where(np.isnan(own), refill, own)
    gap = np.where(np.isnan(gap), store_gap_days(features), gap)
    return np.maximum(gap, MIN_GAP_DAYS)


def overdue_days(features: pd.DataFrame) -> np.ndarray:
    """Days past the next expected order (negative: not yet due; NaN: no orders).

    A customer with a cadence of their own (three orders or more) is measured against it: it
    is the better evidence (a bulk buy of refills would otherwise hide a lapse). Otherwise
    against when the refills they bought run out, else the store's typical gap."""
    recency = features["recency_days"].to_numpy(float)
    by_cadence = recency - expected_gap_days(features)
    by_refill = features["days_overdue"].to_numpy(float)
    own = (features["n_orders"].to_numpy(float) >= 3) & ~np.isnan(features["median_gap_days"].to_numpy(float))
    return np.where(own | np.isnan(by_refill), by_cadence, by_refill)


def expected_gap_blend(features: pd.DataFrame) -> np.ndarray:
    """Days between orders expected for this customer: their own median gap, pulled towards
    the refill interval of what they buy (else the store's typical gap) the fewer gaps they
    have shown (two gaps' worth of prior)."""
    own = features["median_gap_days"].to_numpy(float)
    prior = features["replenish_interval"].to_numpy(float)
    prior = np.where(np.isnan(prior), store_gap_days(features), prior)
    k = np.clip(features["n_orders"].to_numpy(float) - 1, 0, None)
    blend = np.where(np.isnan(own), prior, (k * np.nan_to_num(own) + 2 * prior) / (k + 2))
    return np.maximum(blend, MIN_GAP_DAYS)


def expected_days_to_next_order(features: pd.DataFrame) -> np.ndarray:
    """Days from D to the customer's expected next order (NaN without orders): the expected
    gap (`expected_gap_blend`) after their last order; one already past it is expected in a
    quarter of that gap (measured on the backtest: overdue customers who do come back, come
    back soon)."""
    gap = expected_gap_blend(features)
    recency = features["recency_days"].to_numpy(float)
    return np.maximum(gap - recency, 0.25 * gap)


# A customer this far past their expected next order is lapsed: no next order is expected.
LAPSED_MIN_DAYS = 180


def lapsed(features: pd.DataFrame) -> np.ndarray:
    """Bool per customer: past their expected next order by more than twice the expected gap
    (`expected_gap_blend`) and by more than LAPSED_MIN_DAYS (half a year). Such a customer has no
    expected next order date: a quarter gap after today (the rule for the overdue) said that
    one who last ordered 1,018 days ago would order within two weeks."""
    gap = expected_gap_blend(features)
    late = features["recency_days"].to_numpy(float) - gap
    return np.nan_to_num(late, nan=0.0) > np.maximum(2 * gap, LAPSED_MIN_DAYS)


def health_components(features: pd.DataFrame, *, horizon_days: int) -> pd.DataFrame:
    """Each component 0-100 per customer; NaN where the customer has no data for it."""
    f = features
    h = float(horizon_days)
    has_orders = f["n_orders"].to_numpy() > 0
    gap = expected_gap_days(f)
    over = overdue_days(f)
    # The chance of an order within the horizon for someone who orders every `gap` days (a
    # Poisson process: 1 - exp(-H / gap)), times the chance they are still a customer, which
    # halves for every `gap` days they are overdue. Smooth, so it ranks every customer.
    alive = np.power(0.5, np.clip(np.nan_to_num(over, nan=0.0), 0, None) / gap)
    recency = np.where(has_orders, 100 * alive * (1 - np.exp(-h / gap)), np.nan)
    # Orders in the last year, saturating: 1 -> 22, 4 -> 63, 12 -> 95.
    frequency = np.where(has_orders, 100 * (1 - np.exp(-f["orders_365"].to_numpy(float) / 4)), np.nan)

    # Trends: last H days against the H days before, for customers who had that earlier window.
    with np.errstate(invalid="ignore", divide="ignore"):
        seasoned = f["days_since_first_order"].to_numpy(float) > h

        def trend(recent: np.ndarray, prev: np.ndarray) -> np.ndarray:
            ratio = np.where(prev > 0, recent / prev, np.where(recent > 0, 1.0, np.nan))
            return np.where(seasoned & ((recent + prev) > 0), 100 * np.clip(ratio, 0, 1), np.nan)

        freq = trend(f["orders_h"].to_numpy(float), f["orders_prev_h"].to_numpy(float))
        spend = trend(f["spend_h"].to_numpy(float), f["spend_prev_h"].to_numpy(float))

    nps = f["latest_nps"].to_numpy(float) * 10
    sent = (f["mean_sentiment"].to_numpy(float) + 1) * 50
    feedback = np.where(
        np.isnan(nps), sent, np.where(np.isnan(sent), nps, (2 * nps + sent) / 3)
    )

    tickets = np.where(
        f["has_tickets"].to_numpy(bool),
        np.clip(100 - 40 * f["open_tickets"].to_numpy(float) - 15 * f["tickets_h"].to_numpy(float), 0, 100),
        np.nan,
    )

    dsl = f["days_since_loyalty"].to_numpy(float)
    loyalty = np.where(
        f["has_loyalty"].to_numpy(bool),
        np.where(np.isnan(dsl), 30.0, 100 * np.clip(1 - (dsl - h) / (2 * h), 0, 1)),
        np.nan,
    )
    login_days = f["days_since_login"].to_numpy(float)
    login = 100 * np.clip(1 - (login_days - 30) / 150, 0, 1)
    engagement = np.where(
        np.isnan(loyalty), login, np.where(np.isnan(login), loyalty, (loyalty + login) / 2)
    )

    sub = pd.Series(f["subscription_status"].to_numpy(object)).map(SUBSCRIPTION_SCORES).to_numpy(float)

    return pd.DataFrame(
        {"recency": recency, "frequency": frequency, "frequency_trend": freq, "spend_trend": spend,
         "feedback": feedback, "tickets": tickets, "engagement": engagement, "subscription": sub},
        index=f.index,
    ).round(1)


def _weights(names: list[str], weights: dict[str, float] | None) -> np.ndarray:
    w = DEFAULT_WEIGHTS if weights is None else weights
    return np.array([float(w.get(c, DEFAULT_WEIGHTS[c])) for c in names])


def health_score(components: pd.DataFrame, weights: dict[str, float] | None = None) -> pd.Series:
    """Weighted mean over the components the customer has (weights rescaled to sum to one),
    rounded to a whole number: the one figure every screen and export shows.

    `weights`: name -> weight (default: DEFAULT_WEIGHTS; a run's fitted weights otherwise)."""
    w = _weights(list(components.columns), weights)
    values = components.to_numpy(float)
    present = ~np.isnan(values)
    wsum = (present * w).sum(axis=1)
    total = np.nansum(values * w, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(wsum > 0, total / wsum, NO_DATA_SCORE)
    return pd.Series(np.round(score), index=components.index, name="health_score")


def fit_health_weights(components: pd.DataFrame, active: np.ndarray, *, min_weight: float = 0.02
                       ) -> dict[str, float]:
    """Weights for the health components from what happened: a logistic regression of
    "ordered within the horizon" (1) on the components (0-1; a missing component takes the
    mean of those who have it, i.e. says nothing), with coefficients constrained to be
    positive (a better component never lowers health), rescaled to sum to one.

    Components with no data in `components` keep their default weight (in proportion); every
    fitted weight is at least `min_weight` so no named component silently vanishes.
    Returns name -> weight, summing to 1.
    """
    from scipy import optimize

    names = list(components.columns)
    y = np.asarray(active, dtype=float)
    x = components.to_numpy(float) / 100
    has = ~np.isnan(x).all(axis=0)
    if len(y) < 50 or has.sum() == 0 or y.min() == y.max():
        return dict(DEFAULT_WEIGHTS)
    xs = x[:, has]
    xs = np.where(np.isnan(xs), np.nanmean(xs, axis=0), xs)
    k = xs.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] + xs @ theta[1:]
        p = 1 / (1 + np.exp(-z))
        ll = np.logaddexp(0, z) - y * z
        g = p - y
        return float(ll.mean()), np.r_[g.mean(), xs.T @ g / len(y)]

    res = optimize.minimize(loss, np.r_[-1.0, np.ones(k)], jac=True, method="L-BFGS-B",
                            bounds=[(None, None)] + [(0, None)] * k)
    coef = np.maximum(res.x[1:], 0)
    if coef.sum() <= 0:
        return dict(DEFAULT_WEIGHTS)
    fitted = np.maximum(coef / coef.sum(), min_weight)
    default = np.array([DEFAULT_WEIGHTS[c] for c in names])
    share = default[has].sum() / default.sum()  # the present components' share of the whole
    out = dict(zip(names, default / default.sum(), strict=True))
    for name, w in zip(np.array(names)[has], fitted / fitted.sum() * share, strict=True):
        out[name] = float(w)
    return {name: round(float(w), 4) for name, w in out.items()}


def component_aucs(components: pd.DataFrame, active: np.ndarray) -> dict[str, float | None]:
    """Per component, its own AUC for staying active, among the customers who have it."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(active, dtype=int)
    out: dict[str, float | None] = {}
    for name in components.columns:
        v = components[name].to_numpy(float)
        m = ~np.isnan(v)
        ok = m.sum() >= 10 and 0 < y[m].mean() < 1
        out[name] = round(float(roc_auc_score(y[m], v[m])), 4) if ok else None
    return out


def agreed_band(score: pd.Series | np.ndarray, churn: np.ndarray, *, healthy: float | None = None,
                watch: float | None = None) -> np.ndarray:
    """The band of the health score, except that an account whose churn probability is above
    HEALTHY_MAX_CHURN is at most Watch (see `disagreement` for what the screen says)."""
    band = band_of(score, healthy=healthy, watch=watch)
    return np.where((band == "healthy") & (np.asarray(churn, dtype=float) > HEALTHY_MAX_CHURN), "watch", band)


def disagreement(health: float, churn: float, *, healthy: float | None = None,
                 watch: float | None = None) -> str | None:
    """Why health and churn risk point different ways for one account, or None when they agree.
    The bands' thresholds are band_thresholds' (the settings unless given).

    Health weighs how the account looks today (recency, feedback, tickets, ...); churn
    probability is the model's estimate of no order in the horizon from the shop's history."""
    healthy, watch = band_thresholds(healthy, watch)
    pct = churn_text(churn)
    if health >= healthy and churn > HEALTHY_MAX_CHURN:
        return (f"Health {health_text(health)} looks healthy, but the churn model puts the chance of no order in "
                f"the horizon at {pct} (customers with this history usually stop), so it is shown as Watch.")
    if health < watch and churn < 0.3:
        return (f"Health {health_text(health)} is low, but the churn model puts the chance of no order in the "
                f"horizon at only {pct}: customers with this order history usually come back.")
    return None


def components_json(components: pd.DataFrame, weights: dict[str, float] | None = None) -> list[str]:
    """Per customer: {name: {"score" (whole number), "weight" (after rescaling), "label"}} for
    present components.

    Built column by column with vectorised string operations (json.dumps per customer took
    most of the scoring time at 100,000 customers); the output is plain JSON."""
    names = list(components.columns)
    weights = _weights(names, weights)
    values = components.to_numpy(float)
    present = ~np.isnan(values)
    wsum = np.where(present.any(axis=1), (present * weights).sum(axis=1), 1.0)
    parts = []
    for i, name in enumerate(names):
        head = json.dumps(name) + ': {"score": '
        tail = ', "label": ' + json.dumps(HEALTH_COMPONENTS[name][1]) + "}"
        score = pd.Series(np.round(np.nan_to_num(values[:, i]))).astype(int).astype(str)
        weight = pd.Series(np.round(weights[i] / wsum, 3)).astype(str)
        text = (head + score + ', "weight": ' + weight + tail).where(present[:, i], "")
        parts.append(text)
    joined = pd.concat(parts, axis=1)
    out = joined.iloc[:, 0]
    for i in range(1, len(names)):
        nxt = joined.iloc[:, i]
        sep = np.where((out != "") & (nxt != ""), ", ", "")
        out = out + sep + nxt
    return ("{" + out + "}").tolist()
