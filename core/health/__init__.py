"""Health score, bands, drivers in plain words, value at risk and RFM segments.

Pure functions of the feature frame of `core.features.customer_features` (one row per
customer), vectorised over all customers at once.

Health score (design.md): 0 to 100, a weighted sum of named components, each 0 to 100. A
component without data for a customer is left out and the weights of the others are
rescaled, so missing data is not bad data.
"""

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


NO_DATA_SCORE = 50.0  # a customer with no data at all (signed up, nothing else) sits mid-scale
MIN_GAP_DAYS = 7.0
SUBSCRIPTION_SCORES = {"active": 100.0, "paused": 40.0, "cancelled": 0.0}

RFM_SEGMENTS = [
    "champions", "loyal", "potential_loyalist", "new", "promising", "needs_attention",
    "about_to_sleep", "at_risk", "cannot_lose", "hibernating", "no_orders",
]
RFM_LABELS = {
    "champions": "Champions", "loyal": "Loyal", "potential_loyalist": "Potential loyalists",
    "new": "New", "promising": "Promising", "needs_attention": "Needs attention",
    "about_to_sleep": "About to sleep", "at_risk": "At risk", "cannot_lose": "Can't lose them",
    "hibernating": "Hibernating", "no_orders": "No orders yet",
}
VALUE_EXPLANATION = (
    "Expected value over the next year = the customer's spend over the last 365 days, net of the money "
    "refunded in them (annualised "
    "when they have ordered for less than a year, over at least one horizon). Value at risk = "
    "that expected value x churn probability."
)


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


def _fmt_int(a: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(a), 0, np.round(a)).astype(int).astype(str)


def _plural(n: np.ndarray, word: str) -> np.ndarray:
    return np.where(np.round(n) == 1, word, word + "s")


def drivers(
    features: pd.DataFrame, components: pd.DataFrame, *, horizon_days: int,
    product_names: dict[int, str] | None = None, top: int = 3, weights: dict[str, float] | None = None,
) -> list[list[str]]:
    """The top reasons for each customer's score, in plain words, worst first.

    Each component contributes one sentence; its weight x shortfall from 100 ranks it. When
    nothing falls short, the best-scoring components are stated as reasons for health."""
    f = features
    n = len(f)
    h = int(horizon_days)
    names = product_names or {}
    sent = {}

    recency = f["recency_days"].to_numpy(float)
    gap = expected_gap_days(f)
    refill_over = f["days_overdue"].to_numpy(float)
    over = overdue_days(f)
    def product(col: str) -> np.ndarray:
        if col not in f:
            return np.full(n, "their usual items", dtype=object)
        named = pd.Series(f[col].to_numpy(float)).map(names).astype(object)
        return named.where(named.notna(), "their usual items").to_numpy(object)

    # The most overdue refill first (each product by its own last purchase), then the next one.
    days1 = f["overdue_refill_1_days"].to_numpy(float) if "overdue_refill_1_days" in f else np.full(n, np.nan)
    days2 = f["overdue_refill_2_days"].to_numpy(float) if "overdue_refill_2_days" in f else np.full(n, np.nan)
    item = np.where(np.isnan(days1), product("due_product_id"), product("overdue_refill_1"))
    first_days = np.where(np.isnan(days1), f["days_overdue"].to_numpy(float), days1)
    second = np.where(
        np.isnan(days2) | (product("overdue_refill_2") == item), "",
        "; " + _fmt_int(days2) + _plural(days2, " day") + " overdue for " + product("overdue_refill_2").astype(str)
        + " refill")
    own_gap = f["median_gap_days"].to_numpy(float)
    r_s, g_s, o_s = _fmt_int(recency), _fmt_int(gap), _fmt_int(first_days)
    recency_sent = np.where(
        f["n_orders"].to_numpy() == 0, "No orders yet",
        np.where(
            (refill_over > 0) & (over > 0),
            o_s + _plural(first_days, " day") + " overdue for " + item.astype(str) + " refill" + second,
            np.where(
                ~np.isnan(own_gap),
                np.where(over > 0,
                         "No order for " + r_s + " days; usually orders every " + g_s + " days",
                         "Ordered " + r_s + " days ago; next order expected in about "
                         + _fmt_int(-over) + " days"),
                np.where(over > 0, "Last order " + r_s + " days ago",
                         "Ordered " + r_s + " days ago; next order expected in about "
                         + _fmt_int(-over) + " days"),
            ),
        ),
    )
    sent["recency"] = recency_sent

    o365 = f["orders_365"].to_numpy(float)
    sent["frequency"] = np.where(
        o365 == 0, "No orders in the last 12 months",
        _fmt_int(o365) + _plural(o365, " order") + " in the last 12 months")
    prev_o, rec_o = f["orders_prev_h"].to_numpy(float), f["orders_h"].to_numpy(float)
    sent["frequency_trend"] = np.where(
        rec_o < prev_o,
        "Orders fell from " + _fmt_int(prev_o) + " to " + _fmt_int(rec_o) + f" in the last {h} days",
        "Ordering as often as before (" + _fmt_int(rec_o) + f" orders in the last {h} days)",
    )
    prev_s, rec_s = f["spend_prev_h"].to_numpy(float), f["spend_h"].to_numpy(float)
    sent["spend_trend"] = np.where(
        rec_s < prev_s,
        "Spend fell from " + _fmt_int(prev_s) + " to " + _fmt_int(rec_s) + f" in the last {h} days",
        "Spend holding up (" + _fmt_int(rec_s) + f" in the last {h} days)",
    )
    latest, previous = f["latest_nps"].to_numpy(float), f["previous_nps"].to_numpy(float)
    msent = f["mean_sentiment"].to_numpy(float)
    sent["feedback"] = np.where(
        latest < previous,
        "NPS fell from " + _fmt_int(previous) + " to " + _fmt_int(latest),
        np.where(
            latest <= 6, "Latest NPS " + _fmt_int(latest) + " (detractor)",
            np.where(latest >= 9, "Latest NPS " + _fmt_int(latest) + " (promoter)",
                     np.where(msent < -0.2, "Negative tone in recent feedback (mean sentiment "
                              + pd.Series(np.nan_to_num(msent)).round(2).astype(str).to_numpy(object) + ")",
                              np.where(np.isnan(latest), "Feedback mostly positive",
                                       "Latest NPS " + _fmt_int(latest) + " (passive)")))),
    )
    open_t, recent_t = f["open_tickets"].to_numpy(float), f["tickets_h"].to_numpy(float)
    sent["tickets"] = np.where(
        open_t > 0, _fmt_int(open_t) + " open support " + _plural(open_t, "ticket"),
        np.where(recent_t > 0,
                 _fmt_int(recent_t) + " support " + _plural(recent_t, "ticket") + f" in the last {h} days",
                 "No open support tickets"),
    )
    dsl, dlog = f["days_since_loyalty"].to_numpy(float), f["days_since_login"].to_numpy(float)
    sent["engagement"] = np.where(
        dsl > h, "No loyalty activity for " + _fmt_int(dsl) + " days",
        np.where(dlog > 60, "No login for " + _fmt_int(dlog) + " days", "Active in loyalty and online"),
    )
    sub = f["subscription_status"].to_numpy(object)
    sent["subscription"] = np.where(
        sub == "cancelled", "Subscription cancelled",
        np.where(sub == "paused", "Subscription paused", "Subscription active"),
    )

    cols = list(components.columns)
    w = _weights(cols, weights)
    values = components.to_numpy(float)
    present = ~np.isnan(values)
    wsum = np.maximum((present * w).sum(axis=1, keepdims=True), 1e-9)
    # Health points each component costs this account: (100 - score) x its rescaled weight.
    shortfall = np.where(present, (100 - values) * w / wsum, -np.inf)
    strength = np.where(present, values * w / wsum, -np.inf)
    worst = np.argsort(-shortfall, axis=1, kind="stable")[:, :top]
    best = np.argsort(-strength, axis=1, kind="stable")[:, :2]
    texts = np.stack([sent[c] for c in cols], axis=1)
    out: list[list[str]] = []
    for i in range(n):
        row = [texts[i, j] for j in worst[i] if shortfall[i, j] >= 2.0]
        if not row:
            row = [texts[i, j] for j in best[i] if np.isfinite(strength[i, j])]
        if not row:
            row = [str(recency_sent[i])]
        out.append([str(s) for s in row])
    return out


def expected_annual_value(features: pd.DataFrame, *, horizon_days: int) -> np.ndarray:
    """See VALUE_EXPLANATION."""
    tenure = features["days_since_first_order"].to_numpy(float)
    span = np.clip(np.nan_to_num(tenure, nan=365.0), horizon_days, 365)
    return np.round(features["net_spend_365"].to_numpy(float) * 365 / span, 2)


def rfm_segments(features: pd.DataFrame) -> np.ndarray:
    """Classic recency x frequency grid on quintile scores among customers with orders."""
    f = features
    has = f["n_orders"].to_numpy() > 0
    out = np.full(len(f), "no_orders", dtype=object)
    if not has.any():
        return out
    rec = pd.Series(f["recency_days"].to_numpy(float)[has])
    frq = pd.Series(f["n_orders"].to_numpy(float)[has])
    r = np.ceil((1 - rec.rank(pct=True, method="average")) * 5).clip(1, 5).to_numpy()  # recent -> 5
    r = np.where(r < 1, 1, r)
    fr = np.ceil(frq.rank(pct=True, method="average") * 5).clip(1, 5).to_numpy()
    seg = np.select(
        [
            (r == 5) & (fr >= 4),
            np.isin(r, [3, 4]) & (fr >= 4),
            (r >= 4) & np.isin(fr, [2, 3]),
            (r == 5) & (fr == 1),
            (r == 4) & (fr == 1),
            (r == 3) & (fr == 3),
            (r == 3) & (fr <= 2),
            (r <= 2) & np.isin(fr, [3, 4]),
            (r <= 2) & (fr == 5),
        ],
        ["champions", "loyal", "potential_loyalist", "new", "promising", "needs_attention",
         "about_to_sleep", "at_risk", "cannot_lose"],
        default="hibernating",
    )
    out[has] = seg
    return out
