"""THE NPS definition (design.md): percent promoters (9, 10) minus percent detractors (0 to 6)
among answers with a score, with a 95 % interval and the number of answers.

The interval is the adjusted Wald interval (Rocks 2016, The American Statistician; the best of
six methods in his comparison, and in Sauro and Lewis's on real NPS data): add 3 answers to n,
3/4 to the promoters and 3/4 to the detractors; with the adjusted shares p and d of the
adjusted n, the variance of one answer (+1, 0, -1) is p + d - (p - d)^2, and the interval is
100 * ((p - d) +/- 1.96 * sqrt(variance / n)), clipped to [-100, 100] and widened, if need be,
to hold the NPS itself (on very few answers the adjusted centre moves towards 0). The plain
normal approximation it replaces gave three promoters, or three passives, an interval of no
width (100 to 100, 0 to 0): a certainty three answers cannot give. Every page, export and KPI
calls these functions.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

PROMOTER_MIN = 9
DETRACTOR_MAX = 6
Z_95 = 1.959963984540054
# The adjusted Wald interval's additions: answers in all, and to each of promoters and detractors.
ADJUST_N = 3.0
ADJUST_EACH = 0.75

SUMMARY_KEYS = ("nps", "ci_low", "ci_high", "responses", "promoters", "passives", "detractors")


def nps_from_counts(promoters: int, passives: int, detractors: int) -> dict[str, float | int | None]:
    """NPS, its 95 % interval and the counts, from the three counts."""
    n = int(promoters) + int(passives) + int(detractors)
    out: dict[str, float | int | None] = {
        "nps": None, "ci_low": None, "ci_high": None, "responses": n,
        "promoters": int(promoters), "passives": int(passives), "detractors": int(detractors),
    }
    if n == 0:
        return out
    nps, low, high = _interval(promoters, detractors, n)
    out["nps"], out["ci_low"], out["ci_high"] = float(nps), float(low), float(high)
    return out


def _interval(promoters, detractors, n):  # noqa: ANN001, ANN202 - numbers or Series alike
    """(NPS, low, high) of the adjusted Wald 95 % interval (the module doc) from the counts and
    n > 0 answers; the same arithmetic for numbers and for Series of counts (NaN where n is)."""
    nps = 100.0 * (promoters - detractors) / n
    n_adj = n + ADJUST_N
    p, d = (promoters + ADJUST_EACH) / n_adj, (detractors + ADJUST_EACH) / n_adj
    centre = p - d
    se = np.sqrt(np.maximum(p + d - centre * centre, 0.0) / n_adj)
    low = np.minimum(nps, np.maximum(-100.0, 100.0 * (centre - Z_95 * se)))
    high = np.maximum(nps, np.minimum(100.0, 100.0 * (centre + Z_95 * se)))
    return nps, low, high


def nps_summary(scores: pd.Series) -> dict[str, float | int | None]:
    """NPS of a Series of 0-10 scores; empty values are not answers.

    Returns nps (-100 .. 100), ci_low, ci_high (95 %), responses, promoters, passives,
    detractors; nps and the interval are None when there is no answer with a score.

    Examples
    --------
    >>> nps_summary(pd.Series([10] * 5 + [8] * 3 + [3] * 2))["nps"]
    30.0

    Raises ValueError for a score outside 0 to 10.
    """
    values = pd.to_numeric(pd.Series(scores), errors="coerce").dropna()
    bad = values[(values < 0) | (values > 10)]
    if not bad.empty:
        raise ValueError(f"NPS scores must be 0 to 10; got {bad.iloc[0]!r}")
    return nps_from_counts(
        promoters=int((values >= PROMOTER_MIN).sum()),
        passives=int(((values > DETRACTOR_MAX) & (values < PROMOTER_MIN)).sum()),
        detractors=int((values <= DETRACTOR_MAX).sum()),
    )


def _with_interval(counts: pd.DataFrame) -> pd.DataFrame:
    """The columns of :func:`nps_from_counts` for each row of counts (the same interval)."""
    n = counts["promoters"] + counts["passives"] + counts["detractors"]
    safe_n = n.where(n > 0)
    nps, low, high = _interval(counts["promoters"], counts["detractors"], safe_n)
    out = counts.copy()
    out["responses"] = n.astype(int)
    out["nps"] = nps
    out["ci_low"] = low
    out["ci_high"] = high
    return out


def nps_by_period(frame: pd.DataFrame, freq: Literal["W", "M"] = "M", by: str | None = None,
                  *, date_col: str = "submitted_at") -> pd.DataFrame:
    """NPS per week ("W", weeks starting Monday) or month ("M"), optionally split by a column.

    `frame` holds either one row per answer (`nps_score`; empty scores are skipped) or
    pre-aggregated counts (`promoters`, `passives`, `detractors`), plus `date_col`.
    Returns period (start date), [by], nps, ci_low, ci_high, responses, promoters, passives,
    detractors, one row per period (and group) that has answers, sorted by period.

    Raises ValueError for a frame without scores or counts, a missing date or split column, or a ``freq`` other than
    "W" or "M".
    """
    if freq not in ("W", "M"):
        raise ValueError(f"freq must be 'W' or 'M', not {freq!r}")
    if date_col not in frame.columns:
        raise ValueError(f"the frame has no {date_col!r} column")
    if by is not None and by not in frame.columns:
        raise ValueError(f"the frame has no {by!r} column to split by")
    keys = ["period"] + ([by] if by else [])
    columns = keys + ["nps", "ci_low", "ci_high", "responses", "promoters", "passives", "detractors"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    if {"promoters", "passives", "detractors"} <= set(frame.columns):
        counts = frame[[date_col] + ([by] if by else []) + ["promoters", "passives", "detractors"]].copy()
    elif "nps_score" in frame.columns:
        scored = frame[frame["nps_score"].notna()]
        s = pd.to_numeric(scored["nps_score"])
        counts = scored[[date_col] + ([by] if by else [])].copy()
        counts["promoters"] = (s >= PROMOTER_MIN).astype(int)
        counts["passives"] = ((s > DETRACTOR_MAX) & (s < PROMOTER_MIN)).astype(int)
        counts["detractors"] = (s <= DETRACTOR_MAX).astype(int)
    else:
        raise ValueError("the frame needs an nps_score column or promoters/passives/detractors counts")
    if counts.empty:
        return pd.DataFrame(columns=columns)
    when = pd.to_datetime(counts[date_col])
    counts["period"] = when.dt.to_period("W-SUN" if freq == "W" else "M").dt.start_time
    if by:
        counts[by] = counts[by].fillna("unknown")
    grouped = (counts.groupby(keys, as_index=False, observed=True)
               [["promoters", "passives", "detractors"]].sum())
    out = _with_interval(grouped)
    out = out[out["responses"] > 0]
    return out[columns].sort_values(keys).reset_index(drop=True)
