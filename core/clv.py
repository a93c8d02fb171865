"""Customer lifetime value: BG/NBD for how many more orders, Gamma-Gamma for how much each.

Both models are fitted by maximum likelihood with scipy on the store's own order history
up to the as-of date (Fader, Hardie & Lee 2005, "Counting your customers the easy way";
Fader, Hardie & Lee 2005, "RFM and CLV"). Time is measured in weeks.

- BG/NBD: while alive, a customer orders as a Poisson process with rate lambda
  (lambda ~ Gamma(r, alpha) across customers); after each order they leave for good with
  probability p (p ~ Beta(a, b)). From each customer's frequency x (repeat orders),
  recency t_x (weeks from first to last order) and age T (weeks from first order to D) it
  gives the expected number of orders in the next t weeks.
- Gamma-Gamma: a customer's order values vary around their own mean, which itself varies
  across customers; it shrinks each customer's average repeat order value towards the
  store's mean (the fewer orders, the more).
- CLV over the next 12 months = expected orders in the next 52 weeks x expected order
  value. Revenue, not margin; undiscounted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, special
from sqlalchemy import func, select
from sqlmodel import Session

from core import money
from core.readcache import cached
from core.refunds import refunded_cents
from db.models import Customer, Order

CLV_EXPLANATION = (
    "Lifetime value is the revenue a customer is expected to bring in the next 12 months: "
    "expected orders x expected order value. Expected orders come from a BG/NBD model (each "
    "customer orders at their own steady rate while still a customer, and may quietly leave "
    "after any order); expected order value from a Gamma-Gamma model (each customer's average "
    "repeat order, pulled towards the store's average when they have few orders). Both are "
    "fitted by maximum likelihood on all orders up to the as-of date. Revenue, not margin; "
    "not discounted. Customers with a single order get the store's average order value."
)


class ClvError(ValueError):
    """The order history cannot support a lifetime-value model (too few repeat buyers)."""


# Log-parameters stay within [-LOG_BOUND, LOG_BOUND]: on a store whose customers are much
# alike, the gamma mixtures' maximum lies at infinity (a homogeneous rate); the bound stops
# there with the same predictions and keeps the special functions finite.
LOG_BOUND = 9.0


def _minimize(nll, start: np.ndarray, *, precise: bool = True) -> optimize.OptimizeResult:  # noqa: ANN001
    """L-BFGS-B on the log-parameters (a few hundred likelihood evaluations); Nelder-Mead
    polishes only when it stops without converging. `precise`: tolerances tight enough to
    reproduce published parameters to three decimals; otherwise scipy's defaults (faster)."""
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    start = np.clip(start, -LOG_BOUND, LOG_BOUND)
    options = {"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000} if precise else {}
    res = optimize.minimize(nll, start, method="L-BFGS-B", bounds=bounds, options=options)
    if not res.success:
        res = optimize.minimize(nll, res.x, method="Nelder-Mead", bounds=bounds,
                                options={"maxiter": 800, "xatol": 1e-5, "fatol": 1e-9})
    return res


def _pos(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float)


@dataclass
class BetaGeoModel:
    """BG/NBD fitted by maximum likelihood. `params_` = {r, alpha, a, b} after `fit`."""

    penalizer: float = 0.0

    max_rows: int | None = None  # fit on a seeded sample of this many customers (None: all)
    seed: int = 42
    precise: bool = True  # tight optimiser tolerances (see _minimize)

    def fit(self, frequency: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> BetaGeoModel:  # noqa: N803 - the literature's name
        """Maximum likelihood on (frequency x, BG/NBD's recency t_x = age at last purchase, age T), in any
        one time unit. Raises ClvError without customers."""
        x, tx, t = _pos(frequency), _pos(t_x), _pos(T)
        if len(x) == 0:
            raise ClvError("no customers with orders to fit the BG/NBD model on")
        if self.max_rows is not None and len(x) > self.max_rows:
            pick = np.random.default_rng(self.seed).choice(len(x), self.max_rows, replace=False)
            x, tx, t = x[pick], tx[pick], t[pick]
        # Customers with the same (x, t_x, T) share a likelihood term: fit on the distinct rows.
        frame = pd.DataFrame({"x": x, "tx": tx, "T": t}).round(6)
        grouped = frame.groupby(["x", "tx", "T"]).size().reset_index(name="w")
        gx, gtx, gt, w = (grouped[c].to_numpy(float) for c in ("x", "tx", "T", "w"))

        def nll(log_params: np.ndarray) -> float:
            r, alpha, a, b = np.exp(log_params)
            ll = self._log_likelihood(gx, gtx, gt, r, alpha, a, b)
            return -(w @ ll) / w.sum() + self.penalizer * float(np.sum(np.exp(log_params) ** 2))

        start = np.log([0.5, max(float(np.mean(t)), 1.0), 1.0, 1.0])
        res = _minimize(nll, start, precise=self.precise)
        if not np.all(np.isfinite(res.x)):
            raise ClvError("the BG/NBD fit did not converge")
        r, alpha, a, b = (float(v) for v in np.exp(res.x))
        self.params_ = {"r": r, "alpha": alpha, "a": a, "b": b}
        self.log_likelihood_ = float(-res.fun * w.sum())
        return self

    @staticmethod
    def _log_likelihood(x, tx, T, r, alpha, a, b) -> np.ndarray:  # noqa: N803
        a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
        t1 = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
        xs = np.maximum(x, 1.0)  # the second term exists only for x > 0
        t2 = special.betaln(a + 1, b + xs - 1) - special.betaln(a, b) - (r + x) * np.log(alpha + tx)
        return a1 + np.where(x > 0, np.logaddexp(t1, t2), t1)

    def probability_alive(self, frequency: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:  # noqa: N803
        """P(alive | x, t_x, T) per customer (shape of `frequency`), in [0, 1]: 1 for a customer with no
        repeat purchase (x = 0), else 1 / (1 + a / (b + x - 1) x ((alpha + T) / (alpha + t_x)) ** (r + x)).
        Needs `fit` first (reads `params_`)."""
        x, tx, t = _pos(frequency), _pos(t_x), _pos(T)
        p = self.params_
        ratio = np.exp((p["r"] + x) * (np.log(p["alpha"] + t) - np.log(p["alpha"] + tx)))
        xs = np.maximum(x, 1.0)
        return 1.0 / (1.0 + np.where(x > 0, p["a"] / (p["b"] + xs - 1) * ratio, 0.0))

    def probability_no_purchase(self, t: float, frequency: ArrayLike, t_x: ArrayLike,
                                T: ArrayLike) -> np.ndarray:  # noqa: N803
        """P(no purchase in the next `t` time units | x, t_x, T) = 1 - P(alive) x (1 - P(none | alive)),
        with P(none | alive) = ((alpha + T) / (alpha + T + t)) ** (r + x)."""
        x, age = _pos(frequency), _pos(T)
        p = self.params_
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            none_alive = np.exp((p["r"] + x) * (np.log(p["alpha"] + age) - np.log(p["alpha"] + age + t)))
        alive = self.probability_alive(frequency, t_x, T)
        return np.clip(1.0 - alive * (1.0 - none_alive), 0.0, 1.0)

    def expected_purchases(self, t: float, frequency: ArrayLike, t_x: ArrayLike,
                           T: ArrayLike) -> np.ndarray:  # noqa: N803
        """Expected orders in the next `t` weeks for customers with (x, t_x, T)."""
        x, tx, age = _pos(frequency), _pos(t_x), _pos(T)
        p = self.params_
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + age + t))
        first = (a + b + x - 1) / (a - 1)
        second = 1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * hyp
        return first * second * self.probability_alive(x, tx, age)


@dataclass
class GammaGammaModel:
    """Gamma-Gamma spend model fitted by maximum likelihood. `params_` = {p, q, v}."""

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaModel:
        """Maximum likelihood of (p, q, v) on the customers with a repeat purchase (x > 0) and a
        positive mean order value m_x (any one currency unit); sets `params_` and returns self.

        Raises ClvError with fewer than 10 such customers."""
        x, m = _pos(frequency), _pos(monetary_value)
        keep = (x > 0) & (m > 0)
        x, m = x[keep], m[keep]
        if len(x) < 10:
            raise ClvError("fewer than 10 customers with a repeat order: too few to model order values")

        def nll(log_params: np.ndarray) -> float:
            p, q, v = np.exp(log_params)
            px = p * x
            ll = (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(v)
                  + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(x * m + v))
            return -float(np.mean(ll))

        start = np.log([1.0, 2.0, float(np.mean(m))])
        res = _minimize(nll, start)
        p, q, v = (float(v) for v in np.exp(res.x))
        self.params_ = {"p": p, "q": q, "v": v}
        return self

    def expected_order_value(self, frequency: ArrayLike, monetary_value: ArrayLike, fallback: float) -> np.ndarray:
        """E[order value | x, m_x]; customers without a repeat order get `fallback`."""
        x, m = _pos(frequency), _pos(monetary_value)
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        with np.errstate(divide="ignore", invalid="ignore"):
            value = p * (v + x * np.nan_to_num(m)) / (p * x + q - 1)
        return np.where((x > 0) & np.isfinite(value) & (q > 1), value, fallback)


def rfm_summary(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    observation_period_end: date | datetime | pd.Timestamp | None = None,
    time_unit_days: float = 7.0,
) -> pd.DataFrame:
    """The BG/NBD and Gamma-Gamma inputs per customer, from a frame of transactions.

    A pure function (the lifetimes / pymc-marketing convention). Purchases on the same
    calendar day count as one purchase period. Time is measured in `time_unit_days` (weeks
    by default) from each customer's first purchase.

    Parameters
    ----------
    transactions : one row per purchase; other columns are ignored.
    customer_id_col, datetime_col : the columns naming the customer and when they bought.
    monetary_value_col : the purchase's value; adds ``monetary_value`` and ``first_value``.
    observation_period_end : the end of the observation period (D); default: the last
        purchase date. Purchases after it are left out. A date means the end of that day.

    Returns
    -------
    DataFrame indexed by customer id with
    ``frequency`` (repeat purchase periods: distinct purchase days minus one),
    ``t_x`` (BG/NBD's recency: the customer's age at their last purchase, first to last
    purchase in time units; not "days since the last order", which `core.features` calls
    ``recency_days``),
    ``T`` (the customer's age at D: first purchase to D, in time units) and, with a value
    column, ``monetary_value`` (mean value of the repeat purchase periods, 0 without
    repeats) and ``first_value`` (the first purchase period's value).

    Raises
    ------
    ValueError naming a missing column or an unreadable date.
    """
    cols = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    missing = [c for c in cols if c not in transactions.columns]
    if missing:
        raise ValueError(f"column {missing[0]!r} is missing; the transactions have: "
                         + ", ".join(map(str, transactions.columns)))
    frame = transactions[cols].copy()
    when = frame[datetime_col]
    if not pd.api.types.is_datetime64_any_dtype(when):
        try:
            when = pd.to_datetime(when, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"column {datetime_col!r} has a value that is not a date: {exc}") from exc
    frame[datetime_col] = when.dt.normalize()
    if observation_period_end is None:
        end_day = frame[datetime_col].max()
    else:
        end_day = pd.Timestamp(observation_period_end).normalize()
    frame = frame[frame[datetime_col] <= end_day]
    periods = frame.groupby([customer_id_col, datetime_col], sort=True)
    per_day = (periods[monetary_value_col].sum() if monetary_value_col else periods.size()).rename("value")
    per_day = per_day.reset_index()
    g = per_day.groupby(customer_id_col, sort=True)
    first = g[datetime_col].min()
    last = g[datetime_col].max()
    unit = pd.Timedelta(days=time_unit_days)
    out = pd.DataFrame({
        "frequency": (g.size() - 1).astype(float),
        "t_x": (last - first) / unit,
        "T": (end_day - first) / unit,
    })
    out.index.name = customer_id_col
    if monetary_value_col:
        first_value = g["value"].first().astype(float)
        total = g["value"].sum().astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["monetary_value"] = np.where(out["frequency"] > 0,
                                             (total - first_value) / out["frequency"].clip(lower=1), 0.0)
        out["first_value"] = first_value
    return out


def store_rfm_summary(*, session: Session, as_of: date, segment: str | None = None,
                      region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """`rfm_summary` of the store's orders up to the end of D (weeks; each order a purchase),
    with a customer_id column and monetary_value NaN without repeat orders.

    Two grouped SQL reads, no per-order rows in Python.
    """
    end = pd.Timestamp(as_of + timedelta(days=1)).to_pydatetime()
    o = Order.__table__.c
    c = Customer.__table__.c
    stmt = (select(o.customer_id, func.count().label("n"), func.min(o.ordered_at).label("first_at"),
                   func.max(o.ordered_at).label("last_at"), func.sum(o.total_cents).label("spend"))
            .where(o.ordered_at < end).group_by(o.customer_id))
    conds = [col == val for col, val in ((c.segment, segment), (c.region, region), (c.owner, owner)) if val]
    if conds:
        stmt = stmt.where(o.customer_id.in_(select(c.id).where(*conds)))
    agg = pd.read_sql(stmt, session.connection())
    if agg.empty:
        return pd.DataFrame(columns=["customer_id", "frequency", "t_x", "T", "monetary_value",
                                     "first_value"])
    # The first order's total, by one index seek per customer (ties: the lowest id).
    o2 = Order.__table__.alias("o2")
    first_total = (select(o2.c.total_cents).where(o2.c.customer_id == o.customer_id)
                   .order_by(o2.c.ordered_at, o2.c.id).limit(1).scalar_subquery())
    first_stmt = select(o.customer_id, first_total.label("first_value")).group_by(o.customer_id)
    if conds:
        first_stmt = first_stmt.where(o.customer_id.in_(select(c.id).where(*conds)))
    firsts = pd.read_sql(first_stmt, session.connection())
    df = agg.merge(firsts, on="customer_id", how="left")
    first_at = pd.to_datetime(df["first_at"])
    last_at = pd.to_datetime(df["last_at"])
    week = pd.Timedelta(days=7)
    # The model works in floats of currency units, from the stored whole cents (core.money).
    first_value = pd.Series(money.units_array(df["first_value"].astype("int64")), index=df.index)
    # Net of the money refunded up to D (core.refunds): a refund comes off the repeat orders'
    # mean value (never below 0), so a customer who sends orders back is not valued as a big spender.
    back = refunded_cents(session.connection(), end=end)
    net = df["spend"].astype("int64") - df["customer_id"].map(back).fillna(0).astype("int64")
    spend = pd.Series(money.units_array(net), index=df.index)
    out = pd.DataFrame({
        "customer_id": df["customer_id"],
        "frequency": (df["n"] - 1).astype(float),
        "t_x": (last_at - first_at) / week,
        "T": (pd.Timestamp(end) - first_at) / week,
        "first_value": first_value,
    })
    repeats = df["n"] - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        out["monetary_value"] = np.where(repeats > 0, np.maximum(spend - first_value, 0.0) / repeats, np.nan)
    return out


@dataclass(frozen=True)
class ClvResult:
    customers: pd.DataFrame  # customer_id, segment, expected_orders, expected_order_value, clv, p_alive
    bgnbd: dict[str, float]
    gamma_gamma: dict[str, float]
    horizon_weeks: int

    @property
    def total(self) -> float:
        """The customers' CLV summed, in currency units (each CLV is already whole cents)."""
        return money.to_units(int(money.cents_array(self.customers["clv"]).sum()))

    @property
    def mean(self) -> float:
        """The mean CLV, in currency units, rounded to the cent half up (core.money)."""
        n = len(self.customers)
        if not n:
            return float("nan")
        return money.to_units(money.divide(int(money.cents_array(self.customers["clv"]).sum()), n))

    @property
    def median(self) -> float | None:
        """The median CLV in currency units (the mean of the two middle ones for an even count,
        rounded to the cent half up by core.money); None without customers."""
        cents = np.sort(money.cents_array(self.customers["clv"]))
        n = len(cents)
        if not n:
            return None
        mid = int(cents[n // 2]) if n % 2 else money.divide(int(cents[n // 2 - 1]) + int(cents[n // 2]), 2)
        return money.to_units(mid)

    def by_segment(self) -> pd.DataFrame:
        """Per segment ("(none)" where missing): customers, mean_clv and total_clv (currency units,
        summed in whole cents, the mean rounded to the cent half up by core.money) and
        expected_orders (the mean forecast, 2 decimals)."""
        c = self.customers.assign(segment=self.customers["segment"].fillna("(none)"),
                                  clv_cents=money.cents_array(self.customers["clv"]))
        g = c.groupby("segment").agg(customers=("clv", "size"), total=("clv_cents", "sum"),
                                     expected_orders=("expected_orders", "mean")).reset_index()
        g["mean_clv"] = money.units_array([money.divide(int(t), int(n)) for t, n in zip(g["total"], g["customers"],
                                                                                      strict=True)])
        g["total_clv"] = money.units_array(g.pop("total"))
        g["expected_orders"] = g["expected_orders"].round(2)
        return g[["segment", "customers", "mean_clv", "total_clv", "expected_orders"]]


@cached(tables=("customer", "orders"))
def customer_lifetime_value(
    *,
    session: Session,
    as_of: date,
    weeks: int = 52,
    segment: str | None = None,
    region: str | None = None,
    owner: str | None = None,
) -> ClvResult:
    """Fit BG/NBD and Gamma-Gamma on all customers' orders up to D (the models describe the
    whole store), then predict the next `weeks` weeks for the filtered customers.

    Customer lifetime value (design.md: said on the screen that shows it, never below 0) is
    expected orders in the next `weeks` weeks (BG/NBD) x expected order value (Gamma-Gamma,
    the store's mean first order for a customer without a repeat order), in the currency
    unit, to the cent. `ClvResult.customers` has one row per filtered customer: customer_id,
    expected_orders, expected_order_value, clv, p_alive (0 to 1), segment, region, owner.

    Raises ClvError when there is too little history to fit (under 20 customers or under 10
    with a repeat order up to D) or the forecast is unusable.
    """
    rfm = store_rfm_summary(session=session, as_of=as_of)
    if len(rfm) < 20 or int((rfm["frequency"] > 0).sum()) < 10:
        raise ClvError(
            "lifetime value needs at least 20 customers and 10 with a repeat order up to this date"
        )
    bg = BetaGeoModel().fit(rfm["frequency"], rfm["t_x"], rfm["T"])
    repeat = rfm["frequency"] > 0
    gg = GammaGammaModel().fit(rfm.loc[repeat, "frequency"], rfm.loc[repeat, "monetary_value"])
    store_mean = float(rfm["first_value"].mean())
    expected_orders = bg.expected_purchases(weeks, rfm["frequency"], rfm["t_x"], rfm["T"])
    if not np.all(np.isfinite(expected_orders)):
        raise ClvError("the order-count model gave unusable forecasts on this history")
    # Never below 0 (design.md): refunds are not orders, but a model may still extrapolate below zero.
    expected_value = np.maximum(
        gg.expected_order_value(rfm["frequency"], rfm["monetary_value"], fallback=store_mean), 0.0)
    out = pd.DataFrame({
        "customer_id": rfm["customer_id"],
        "expected_orders": expected_orders,
        "expected_order_value": expected_value,
        # Never below 0 (design.md): a forecast of orders or order value is never negative.
        # In currency units, rounded to the cent by core.money's one rule (half up).
        "clv": money.units_array(money.cents_array(np.clip(expected_orders * expected_value, 0.0, None))),
        "p_alive": bg.probability_alive(rfm["frequency"], rfm["t_x"], rfm["T"]),
    })
    c = Customer.__table__.c
    seg = pd.read_sql(select(c.id.label("customer_id"), c.segment, c.region, c.owner), session.connection())
    out = out.merge(seg, on="customer_id", how="left")
    for name, val in (("segment", segment), ("region", region), ("owner", owner)):
        if val:
            out = out[out[name] == val]
    return ClvResult(customers=out.reset_index(drop=True), bgnbd=bg.params_, gamma_gamma=gg.params_,
                     horizon_weeks=weeks)
