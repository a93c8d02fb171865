"""Small numpy helpers the demo generator shares: calendar and effective-time clocks, group
indexes, external ids and frames that keep text as Python str."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from core.demo.story import DAY_S

_S = np.dtypes.StringDType()


def _day_of_year(start: date, days: np.ndarray) -> np.ndarray:
    dates = np.datetime64(start, "D") + days.astype("int64")
    years = dates.astype("datetime64[Y]")
    return (dates - years.astype("datetime64[D]")).astype("int64")


def _effective_clock(start: date, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Calendar day boundaries and the effective time at each: the clock runs up to 45 % faster
    around early December, so a fixed cadence in effective time gives a Q4 peak in orders."""
    days = np.arange(n_days + 1)
    doy = _day_of_year(start, days[:-1])
    dist = np.minimum(np.abs(doy - 340), 365 - np.abs(doy - 340))
    rate = 1.0 + 0.45 * np.exp(-0.5 * (dist / 24.0) ** 2)
    return days.astype(float), np.r_[0.0, np.cumsum(rate)]


def _group_index(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For groups of `counts` rows laid end to end: each row's group, its index within the
    group, and each group's first row."""
    starts = np.cumsum(counts) - counts
    group = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(counts.sum()) - starts[group]
    return group, within, starts


def _ext_ids(prefix: str, ids: np.ndarray, width: int) -> np.ndarray:
    digits = np.strings.zfill(ids.astype("int64").astype(_S), width)
    return np.strings.add(prefix, digits).astype(object)


def _frame(columns: dict[str, object]) -> pd.DataFrame:
    """A DataFrame that keeps text as plain Python str objects: pandas' default Arrow strings
    cost a conversion here and another one back when the rows are written."""
    return pd.DataFrame({k: pd.Series(v, dtype=object) if _is_text(v) else v for k, v in columns.items()})


def _is_text(values: object) -> bool:
    return isinstance(values, np.ndarray) and values.dtype.kind in "OUT"


# ----------------------------------------------------------------------------- feedback


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    return np.array(options, dtype=_S)[rng.integers(0, len(options), n)]


# ----------------------------------------------------------------------------- loyalty


def _add_months(ts: np.ndarray, months: int) -> np.ndarray:
    return (pd.DatetimeIndex(ts) + pd.DateOffset(months=months)).to_numpy().astype("datetime64[s]")


# ----------------------------------------------------------------------------- assembly


def _to_datetime(origin: np.datetime64, days: np.ndarray) -> np.ndarray:
    secs = np.round(np.asarray(days, dtype=float) * DAY_S)
    out = np.full(len(secs), np.datetime64("NaT"), dtype="datetime64[s]")
    ok = ~np.isnan(secs)
    out[ok] = origin + secs[ok].astype("int64").astype("timedelta64[s]")
    return out
