"""The lifetime-value models recover the parameters of data simulated from them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest

from core.clv import BetaGeoModel, ClvError, GammaGammaModel, customer_lifetime_value, rfm_summary
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
    rfm = rfm_summary(session=session, as_of=date(2026, 2, 4)).set_index("customer_id")
    row = rfm.loc[c.id]
    assert row["frequency"] == 2 and row["recency"] == pytest.approx(4.0)
    assert row["T"] == pytest.approx(5.0)  # end of Feb 4 = 35 days after Jan 1
    assert row["monetary_value"] == 30.0 and row["first_value"] == 10.0
    assert rfm.loc[one.id, "frequency"] == 0 and np.isnan(rfm.loc[one.id, "monetary_value"])


def test_clv_on_a_store(session):
    rng = np.random.default_rng(5)
    start = datetime(2025, 1, 1)
    for i in range(40):
        c = make_customer(session, segment="home" if i % 2 else "office")
        k = 1 + int(rng.integers(0, 6))
        for j in range(k):
            when = start + timedelta(days=int(rng.integers(0, 400)))
            make_order(session, c, when, float(10 + (i % 7) * 3 + j))
    res = customer_lifetime_value(session=session, as_of=date(2026, 2, 15))
    assert len(res.customers) == 40
    assert (res.customers["clv"] >= 0).all() and res.total > 0
    assert set(res.bgnbd) == {"r", "alpha", "a", "b"} and set(res.gamma_gamma) == {"p", "q", "v"}
    home = customer_lifetime_value(session=session, as_of=date(2026, 2, 15), segment="home")
    assert len(home.customers) == 20


def test_clv_refuses_a_tiny_store(session):
    make_order(session, make_customer(session), datetime(2026, 1, 1), 10.0)
    with pytest.raises(ClvError, match="at least 20 customers"):
        customer_lifetime_value(session=session, as_of=date(2026, 2, 1))
