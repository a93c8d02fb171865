"""The lifetime-value models recover the parameters of data simulated from them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from core.clv import (
    BetaGeoModel,
    ClvError,
    ClvResult,
    GammaGammaModel,
    customer_lifetime_value,
    rfm_summary,
    store_rfm_summary,
)
from tests.factories import make_customer, make_order


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, seed: int = 1):
    """Draw (x, t_x, T) from the BG/NBD story, plus the orders each makes in the next 52 weeks."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(20, 80, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    future = np.zeros(n)
    for i in range(n):
        t, alive = 0.0, True
        while alive:
            t += rng.exponential(1 / lam[i])
            if t > T[i] + 52:
                break
            if t <= T[i]:
                x[i] += 1
                tx[i] = t
            else:
                future[i] += 1
            alive = rng.random() > p[i]
    return x, tx, T, future


def test_bgnbd_recovers_parameters_and_forecasts():
    true = {"r": 0.8, "alpha": 6.0, "a": 0.9, "b": 3.0}
    x, tx, T, future = simulate_bgnbd(6000, **true)
    model = BetaGeoModel().fit(x, tx, T)
    for k, v in true.items():
        assert model.params_[k] == pytest.approx(v, rel=0.35), (k, model.params_)
    predicted = model.expected_purchases(52, x, tx, T)
    assert predicted.sum() == pytest.approx(future.sum(), rel=0.10)
    alive = model.probability_alive(x, tx, T)
    assert np.all((alive > 0) & (alive <= 1))
    assert np.all(alive[x == 0] == 1.0)


def test_gamma_gamma_recovers_parameters():
    rng = np.random.default_rng(3)
    p, q, v = 6.0, 4.0, 15.0
    n = 5000
    freq = rng.integers(1, 10, n)
    nu = rng.gamma(q, 1 / v, n)
    means = np.array([rng.gamma(p, 1 / nu[i], freq[i]).mean() for i in range(n)])
    model = GammaGammaModel().fit(freq, means)
    assert model.params_["p"] == pytest.approx(p, rel=0.2)
    assert model.params_["q"] == pytest.approx(q, rel=0.3)
    assert model.params_["v"] == pytest.approx(v, rel=0.35)
    # Shrinkage: one high order is pulled towards the population mean p v / (q - 1) = 30.
    value = model.expected_order_value([1], [100.0], fallback=0.0)[0]
    assert 30 < value < 100


def test_rfm_summary_by_hand(session):
    c = make_customer(session)
    make_order(session, c, datetime(2026, 1, 1), 10.0)
    make_order(session, c, datetime(2026, 1, 15), 20.0)
    make_order(session, c, datetime(2026, 1, 29), 40.0)
    make_order(session, c, datetime(2026, 3, 1), 99.0)  # after D
    one = make_customer(session)
    make_order(session, one, datetime(2026, 1, 22), 5.0)
    rfm = store_rfm_summary(session=session, as_of=date(2026, 2, 4)).set_index("customer_id")
    row = rfm.loc[c.id]
    assert row["frequency"] == 2 and row["t_x"] == pytest.approx(4.0)
    assert row["T"] == pytest.approx(5.0)  # end of Feb 4 = 35 days after Jan 1
    assert row["monetary_value"] == 30.0 and row["first_value"] == 10.0
    assert rfm.loc[one.id, "frequency"] == 0 and np.isnan(rfm.loc[one.id, "monetary_value"])


def _bgnbd_by_integration(params: dict, x: float, tx: float, T: float, t: float) -> tuple[float, float]:  # noqa: N803
    """E[orders in the next t weeks] and P(alive) for one customer, by integrating over the
    dropout probability p numerically (the lambda integrals are Gamma integrals), not through
    the closed form's hypergeometric function: the posterior weights of (lambda, p) given
    (x, t_x, T), times E[orders in t | lambda, p, alive] = (1 - exp(-lambda p t)) / p."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]

    def k(s: float) -> float:  # ∫ lambda^x e^(-lambda s) Gamma(r, alpha)(lambda) dlambda, up to a constant
        return (alpha + s) ** -(r + x)

    def quad(f) -> float:  # noqa: ANN001 - ∫ f(p) Beta(a, b)(p) dp, up to a constant
        return integrate.quad(f, 0, 1, weight="alg", wvar=(a - 1, b - 1), limit=200)[0]

    alive = quad(lambda p: (1 - p) ** x * k(T))
    died = quad(lambda p: p * (1 - p) ** (x - 1) * k(tx)) if x > 0 else 0.0
    ahead = quad(lambda p: (1 - p) ** x * (k(T) - (alpha + T + p * t) ** -(r + x)) / p
                 if p > 0 else (1 - p) ** x * (r + x) * t * (alpha + T) ** -(r + x + 1))
    return ahead / (alive + died), alive / (alive + died)


def _order_value_by_integration(params: dict, x: float, mean_value: float) -> float:
    """E[order value | x repeat orders of mean m]: E[p / nu] over nu's posterior Gamma(px + q, v + x m)."""
    p, q, v = params["p"], params["q"], params["v"]
    posterior = stats.gamma(a=p * x + q, scale=1 / (v + x * mean_value))
    return integrate.quad(lambda nu: p / nu * posterior.pdf(nu), 0, np.inf, limit=200)[0]


def test_clv_on_a_store(session):
    rng = np.random.default_rng(5)
    start = datetime(2025, 1, 1)
    as_of = date(2026, 2, 15)
    orders: dict[int, list[tuple[datetime, float]]] = {}
    for i in range(40):
        c = make_customer(session, segment="home" if i % 2 else "office")
        k = 1 + int(rng.integers(0, 6))
        for j in range(k):
            when = start + timedelta(days=int(rng.integers(0, 400)))
            make_order(session, c, when, float(10 + (i % 7) * 3 + j))
            orders.setdefault(c.id, []).append((when, float(10 + (i % 7) * 3 + j)))
    res = customer_lifetime_value(session=session, as_of=as_of)
    assert len(res.customers) == 40
    assert set(res.bgnbd) == {"r", "alpha", "a", "b"} and set(res.gamma_gamma) == {"p", "q", "v"}
    got = res.customers.set_index("customer_id")
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time())  # the end of D
    checked = 0
    for customer_id, placed in orders.items():
        placed.sort(key=lambda o: o[0])
        x = len(placed) - 1  # repeat orders (each order a purchase)
        if x == 0:
            continue
        tx = (placed[-1][0] - placed[0][0]).days / 7
        T = (end - placed[0][0]).days / 7  # noqa: N806
        mean_repeat = sum(v for _, v in placed[1:]) / x
        orders_ahead, p_alive = _bgnbd_by_integration(res.bgnbd, x, tx, T, 52)
        value = _order_value_by_integration(res.gamma_gamma, x, mean_repeat)
        row = got.loc[customer_id]
        assert row["p_alive"] == pytest.approx(p_alive, rel=1e-6)
        assert row["expected_orders"] == pytest.approx(orders_ahead, rel=1e-6)
        assert row["expected_order_value"] == pytest.approx(value, rel=1e-6)
        assert row["clv"] == pytest.approx(round(orders_ahead * value, 2), abs=0.011)
        checked += 1
    assert checked >= 20
    home = customer_lifetime_value(session=session, as_of=as_of, segment="home")
    assert len(home.customers) == 20


def test_clv_refuses_a_tiny_store(session):
    make_order(session, make_customer(session), datetime(2026, 1, 1), 10.0)
    with pytest.raises(ClvError, match="at least 20 customers"):
        customer_lifetime_value(session=session, as_of=date(2026, 2, 1))


DATA = Path(__file__).resolve().parents[1] / "data"


def _cdnow_sample() -> pd.DataFrame:
    """CDNOW sample (Fader, Hardie & Lee 2005), as shipped by the lifetimes package (MIT,
    lifetimes/datasets/CDNOW_sample.txt): master id, sample id, date, CDs, dollar value."""
    return pd.read_csv(DATA / "cdnow_sample.txt", sep=r"\s+", header=None,
                       names=["master_id", "customer_id", "date", "cds", "total"], dtype={"date": str})


def test_rfm_summary_reproduces_the_published_cdnow_summary():
    """The 39-week calibration period (to 1997-09-30) of the 2,357 sampled customers gives
    exactly the summary the lifetimes package ships (cdnow_customers_summary.csv)."""
    tx = _cdnow_sample()
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    rfm = rfm_summary(tx, "customer_id", "date", observation_period_end="1997-09-30")
    published = pd.read_csv(DATA / "cdnow_customers_summary.csv").set_index("ID")
    assert len(rfm) == len(published) == 2357
    both = rfm.join(published.add_suffix("_published"))
    assert (both["frequency"] == both["frequency_published"]).all()
    assert np.abs(both["t_x"].round(2) - both["recency_published"]).max() < 1e-9
    assert np.abs(both["T"].round(2) - both["T_published"]).max() < 1e-9


def test_bgnbd_reproduces_the_published_cdnow_parameters():
    """Fader, Hardie & Lee (2005), "Counting your customers the easy way", table 1:
    r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 on the CDNOW sample."""
    summary = pd.read_csv(DATA / "cdnow_customers_summary.csv")
    model = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])  # the file: t_x
    got = {k: round(v, 3) for k, v in model.params_.items()}
    assert got == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def test_rfm_summary_by_hand_from_a_frame():
    tx = pd.DataFrame({
        "who": ["a", "a", "a", "a", "b", "a"],
        "when": ["2026-01-01 09:00", "2026-01-01 18:00", "2026-01-15", "2026-01-29", "2026-01-22",
                 "2026-03-01"],
        "value": [4.0, 6.0, 20.0, 40.0, 5.0, 99.0],
    })
    rfm = rfm_summary(tx, "who", "when", "value", observation_period_end=date(2026, 2, 5))
    # a: purchase days Jan 1 (4 + 6), Jan 15, Jan 29; Mar 1 is after the end.
    assert rfm.loc["a", "frequency"] == 2.0
    assert rfm.loc["a", "t_x"] == pytest.approx(4.0)  # 28 days, first to last
    assert rfm.loc["a", "T"] == pytest.approx(5.0)  # 35 days, first to Feb 5
    assert rfm.loc["a", "monetary_value"] == 30.0 and rfm.loc["a", "first_value"] == 10.0
    assert rfm.loc["b", "frequency"] == 0.0 and rfm.loc["b", "monetary_value"] == 0.0
    with pytest.raises(ValueError, match="'amount' is missing"):
        rfm_summary(tx, "who", "when", "amount")


def test_probability_no_purchase_by_hand():
    model = BetaGeoModel()
    model.params_ = {"r": 0.5, "alpha": 2.0, "a": 1.0, "b": 3.0}
    # x = 0: alive for sure; P(none in 4) = ((2 + 6) / (2 + 6 + 4)) ** 0.5
    assert model.probability_no_purchase(4, [0], [0], [6])[0] == pytest.approx((8 / 12) ** 0.5)
    # x = 2, t_x = 2, T = 6: P(alive) = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    alive = 1 / (1 + 1 / 4 * (8 / 4) ** 2.5)
    expected = 1 - alive * (1 - (8 / 12) ** 2.5)
    assert model.probability_no_purchase(4, [2], [2], [6])[0] == pytest.approx(expected)


def test_clv_aggregates_are_whole_cents_rounded_half_up_once():
    """Summed in cents, each mean or median rounded once: 24.70 / 4 = 6.175 -> 6.18, not a float's 6.17."""
    c = pd.DataFrame({"customer_id": [1, 2, 3, 4], "segment": ["a", "a", None, "a"],
                      "expected_orders": [1.0, 2.0, 3.0, 4.0], "clv": [12.34, 12.35, 0.01, 0.0]})
    res = ClvResult(customers=c, bgnbd={}, gamma_gamma={}, horizon_weeks=52)
    assert (res.total, res.mean, res.median) == (24.70, 6.18, 6.18)  # median: (0.01 + 12.34) / 2 = 6.175
    seg = res.by_segment().set_index("segment")
    assert (seg.loc["a", "total_clv"], seg.loc["a", "mean_clv"]) == (24.69, 8.23)  # 24.69 / 3 = 8.23
    assert (seg.loc["(none)", "customers"], seg.loc["(none)", "total_clv"]) == (1, 0.01)
