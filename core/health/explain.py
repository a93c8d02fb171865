"""What a score means in words and money: the drivers of an account's health in plain
sentences, the expected annual value and value at risk, and RFM segments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.features.frames import MAX_OVERDUE_DAYS
from core.health.score import _weights, expected_days_to_next_order, expected_gap_days, overdue_days

RFM_SEGMENTS = [
    "champions", "loyal", "potential_loyalist", "new", "promising", "needs_attention",
    "about_to_sleep", "at_risk", "cannot_lose", "hibernating", "no_orders",
]
RFM_LABELS = {
    "champions": "Champions", "loyal": "Loyal", "potential_loyalist": "Potential loyalists",
    "new": "New", "promising": "Promising", "needs_attention": "Needs attention",
    "about_to_sleep": "About to sleep", "at_risk": "At risk (RFM)", "cannot_lose": "Can't lose them",
    "hibernating": "Hibernating", "no_orders": "No orders yet",
}
VALUE_EXPLANATION = (
    "Expected value over the next year = the customer's spend over the last 365 days, net of the money "
    "refunded in them (annualised "
    "when they have ordered two times or more for less than a year, over at least one horizon; one "
    "order is not annualised). Value at risk = that expected value x churn probability."
)


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
    n = len(features)
    sent = {"recency": _recency_sentence(features, product_names or {})}
    sent.update(_other_sentences(features, int(horizon_days)))
    return _ranked(sent, components, weights=weights, top=top, n=n)


def _recency_sentence(f: pd.DataFrame, names: dict[int, str]) -> np.ndarray:
    """Per customer, the recency component's sentence: no orders yet, the most overdue refills
    (by product name from `names`, product id -> name), or the last order against the usual gap."""
    n = len(f)
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
    # Refills are followed for a year (MAX_OVERDUE_DAYS): past that the words say so, with the
    # days since the last order, not a capped "365 days overdue".
    refill_words = np.where(
        first_days >= MAX_OVERDUE_DAYS,
        "No order for " + r_s + " days; more than a year overdue for " + item.astype(str) + " refill",
        o_s + _plural(first_days, " day") + " overdue for " + item.astype(str) + " refill" + second)
    # The same days as the stored expected next order date (expected_days_to_next_order).
    expected = "Ordered " + r_s + " days ago; next order expected in about " + _fmt_int(
        np.round(expected_days_to_next_order(f))) + " days"
    recency_sent = np.where(
        f["n_orders"].to_numpy() == 0, "No orders yet",
        np.where(
            (refill_over > 0) & (over > 0), refill_words,
            np.where(
                ~np.isnan(own_gap),
                np.where(over > 0, "No order for " + r_s + " days; usually orders every " + g_s + " days", expected),
                np.where(over > 0, "Last order " + r_s + " days ago", expected),
            ),
        ),
    )
    return recency_sent


def _other_sentences(f: pd.DataFrame, h: int) -> dict[str, np.ndarray]:
    """Per customer, one sentence for each component but recency (H = `h` days)."""
    sent = {}
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
    return sent


def _ranked(sent: dict[str, np.ndarray], components: pd.DataFrame, *, weights: dict[str, float] | None,
            top: int, n: int) -> list[list[str]]:
    """Each customer's `top` sentences by the health points their component costs, worst first;
    when none costs 2 points or more, the two strongest components; at least the recency one."""
    recency_sent = sent["recency"]
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
    # One order is no rate: annualised, a single 90.89 order 96 days ago was worth 345 a year,
    # and its value at risk was 3.3 times all the customer ever spent.
    span = np.where(features["n_orders"].to_numpy(float) >= 2, span, 365.0)
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
