"""The Overview's lifetime-value histogram and the customers behind each of its bars.

The bins are fixed by a pure rule (:func:`clv_bin_edges`): round edges in whole units of the
currency (a step of 1, 2 or 5 times a power of ten), from 0 up past the 99th percentile, and one
open bar "or more" for the few values above; so a bar has a name a click can open ("€50 to
€100") and the records behind it add up to its height. Values come from
core.clv.customer_lifetime_value (revenue expected in the next 12 months, never below 0)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from babel.numbers import format_currency
from sqlmodel import Session

# At most this many bars of equal width; the open top bar comes on top.
MAX_BINS = 20
# The equal-width bars reach past this percentile of the values; the rest share the top bar.
COVERED_PERCENTILE = 99.0


@dataclass(frozen=True)
class ClvBins:
    """Bins of the lifetime-value histogram. `edges` ascending, in money (whole units of
    `currency`, an ISO 4217 code), edges[0] = 0; bin i holds the values in [edges[i], edges[i+1]);
    the last edge is math.inf when the top bar is open ("or more")."""

    edges: tuple[float, ...]
    currency: str

    @property
    def count(self) -> int:
        """How many bins (bars)."""
        return len(self.edges) - 1

    def index_of(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """The bin of each value (0 .. count - 1); -1 for a value below 0 or NaN, `count` for one at or
        above a closed last edge."""
        v = np.asarray(values, dtype=float)
        out = np.searchsorted(np.asarray(self.edges, dtype=float), v, side="right") - 1
        return np.where(np.isnan(v) | (v < self.edges[0]), -1, out)

    def label(self, i: int, money: Callable[[float], str] | None = None) -> str:
        """Bin i in words with the currency, e.g. "€50 to €100", "€1,000 or more". `money` writes an
        amount (e.g. core.formatting.money with decimals=0, the configured locale); by default the
        bins' currency in en_IE. Raises IndexError for a bin that does not exist."""
        if not 0 <= i < self.count:
            raise IndexError(f"no bin {i}: there are {self.count}")
        low, high = self.edges[i], self.edges[i + 1]
        write = money or (lambda x: format_currency(x, self.currency, format="¤#,##0", locale="en_IE",
                                                    currency_digits=False))
        return f"{write(low)} or more" if math.isinf(high) else f"{write(low)} to {write(high)}"


def _round_step(top: float, max_bins: int) -> float:
    """The smallest step of 1, 2 or 5 times a power of ten (at least 1) with top / step < max_bins."""
    exponent = 0
    while True:
        for m in (1, 2, 5):
            step = m * 10 ** exponent
            if top / step < max_bins:
                return float(step)
        exponent += 1


def clv_bin_edges(values: Sequence[float] | np.ndarray, *, currency: str, max_bins: int = MAX_BINS) -> ClvBins:
    """Fixed, round bins for lifetime values (money, >= 0): equal bars of a round step (1, 2 or 5
    times a power of ten currency units, at least 1) from 0 past the 99th percentile (at most
    `max_bins` of them), and an open top bar "or more" when a value lies beyond. Pure: the same
    values give the same bins. E.g. 0, 10, ..., 100 (p99 = 99): step 5, edges 0, 5, ..., 100, inf.

    Raises ValueError for `max_bins` under 1 or a negative value (lifetime value is never below 0)."""
    if max_bins < 1:
        raise ValueError("at least one bin")
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) and float(v.min()) < 0:
        raise ValueError("lifetime values are never below 0")
    top = float(np.percentile(v, COVERED_PERCENTILE)) if len(v) else 0.0
    step = _round_step(top, max_bins)
    n = int(top // step) + 1  # the last edge lies strictly above the percentile
    edges = [step * i for i in range(n + 1)]
    if len(v) and float(v.max()) >= edges[-1]:
        edges.append(math.inf)
    return ClvBins(edges=tuple(edges), currency=currency.strip().upper())


def clv_histogram(values: Sequence[float] | np.ndarray, bins: ClvBins,
                  money: Callable[[float], str] | None = None) -> pd.DataFrame:
    """Customers per bin: columns bin (0 ..), low, high (money; high inf for the open top bar),
    label (:meth:`ClvBins.label` with `money`), customers; one row per bin, empty ones included.
    Values outside the bins (NaN, below 0) are not counted."""
    idx = bins.index_of(values)
    counts = np.bincount(idx[(idx >= 0) & (idx < bins.count)], minlength=bins.count)
    return pd.DataFrame({
        "bin": range(bins.count), "low": bins.edges[:-1], "high": bins.edges[1:],
        "label": [bins.label(i, money) for i in range(bins.count)], "customers": counts.astype("int64"),
    })


def clv_bin_customers(*, session: Session, as_of: date, low: float, high: float, segment: str | None = None,
                      region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The customers behind one bar of the Overview's lifetime-value histogram: those of
    core.clv.customer_lifetime_value at `as_of` (under the segment/region/owner filter) whose
    12-month value is in [low, high) (money; high may be inf).

    Columns: customer_id (Customer.id), clv (money, to the cent), expected_orders (next 12 months),
    p_alive (0-1); highest value first. The row count is the bar's. Per customer: show with
    core.drilldown.with_people (personal data) or count with core.drilldown.breakdown (exec).
    Raises core.clv.ClvError when the history is too short for the model."""
    from core.clv import customer_lifetime_value

    c = customer_lifetime_value(session=session, as_of=as_of, segment=segment, region=region,
                                owner=owner).customers
    picked = c[(c["clv"] >= low) & (c["clv"] < high)]
    out = picked[["customer_id", "clv", "expected_orders", "p_alive"]].astype(
        {"customer_id": "int64", "clv": float})
    return out.sort_values(["clv", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def clv_customers(*, session: Session, as_of: date, of_segment: str | None = None, segment: str | None = None,
                  region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The customers behind the Overview's lifetime-value tiles (expected revenue in the next 12
    months, mean and median lifetime value) or, with `of_segment`, behind one row of its
    by-segment table ("(none)": the customers without a segment): the customers of
    core.clv.customer_lifetime_value at `as_of` under the Overview's segment/region/owner filter
    (the same fit as the tiles; `of_segment` picks rows of it, it does not refit).

    Columns: customer_id (Customer.id), clv (money, to the cent), expected_orders (next 12 months),
    p_alive (0-1); highest value first. The row count is the tile's or row's customers, the clv
    column adds up to its total (in whole cents) and its mean and median are the tiles'. Per
    customer: show with core.drilldown.with_people or count with core.drilldown.breakdown (exec).
    Raises core.clv.ClvError when the history is too short for the model."""
    from core.clv import customer_lifetime_value

    c = customer_lifetime_value(session=session, as_of=as_of, segment=segment, region=region,
                                owner=owner).customers
    if of_segment is not None:
        c = c[c["segment"].fillna("(none)") == of_segment]
    out = c[["customer_id", "clv", "expected_orders", "p_alive"]].astype({"customer_id": "int64", "clv": float})
    return out.sort_values(["clv", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
