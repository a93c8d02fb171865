"""NPS arithmetic and its interval, against hand computations."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from core.nps import nps_by_period, nps_from_counts, nps_summary


def test_five_promoters_three_passives_two_detractors() -> None:
    # By hand: p = 0.5, d = 0.2, mean = 0.3 -> NPS 30.
    # Variance of the +1/0/-1 score: p + d - mean^2 = 0.7 - 0.09 = 0.61.
    # Standard error: sqrt(0.61 / 10) = 0.246982; 1.96 * se = 0.484083 (z = 1.959964).
    out = nps_summary(pd.Series([10, 9, 10, 9, 10, 7, 8, 8, 3, 6]))
    assert out["nps"] == pytest.approx(30.0)
    assert out["responses"] == 10
    assert (out["promoters"], out["passives"], out["detractors"]) == (5, 3, 2)
    assert out["ci_low"] == pytest.approx(30.0 - 48.408, abs=0.01)
    assert out["ci_high"] == pytest.approx(30.0 + 48.408, abs=0.01)


def test_empty_values_are_not_answers() -> None:
    out = nps_summary(pd.Series([10, None, float("nan"), 0]))
    assert out["responses"] == 2
    assert out["nps"] == pytest.approx(0.0)
    # p = d = 0.5: variance 1, se = sqrt(1/2); interval +-138.6 clipped to the scale.
    assert out["ci_low"] == -100.0 and out["ci_high"] == 100.0


def test_no_answers_gives_none() -> None:
    out = nps_summary(pd.Series([], dtype=float))
    assert out == {"nps": None, "ci_low": None, "ci_high": None, "responses": 0, "promoters": 0,
                   "passives": 0, "detractors": 0}
    assert nps_summary(pd.Series([None, None]))["nps"] is None


def test_all_promoters_has_a_zero_width_interval() -> None:
    out = nps_summary(pd.Series([9, 10, 10]))
    assert out["nps"] == 100.0 and out["ci_low"] == 100.0 and out["ci_high"] == 100.0


def test_scores_outside_the_scale_are_refused() -> None:
    with pytest.raises(ValueError, match="0 to 10"):
        nps_summary(pd.Series([11]))


def test_boundaries_six_is_detractor_seven_passive_nine_promoter() -> None:
    out = nps_from_counts(0, 0, 0)
    assert out["nps"] is None
    s = nps_summary(pd.Series([6, 7, 8, 9]))
    assert (s["promoters"], s["passives"], s["detractors"]) == (1, 2, 1)
    assert s["nps"] == 0.0


def test_by_month_and_split() -> None:
    frame = pd.DataFrame({
        "submitted_at": pd.to_datetime(
            ["2026-01-05", "2026-01-20", "2026-01-31", "2026-02-01", "2026-02-10"]),
        "nps_score": [10, 0, None, 9, 9],
        "segment": ["a", "a", "a", "b", None],
    })
    monthly = nps_by_period(frame, freq="M")
    assert list(monthly["period"]) == [pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")]
    assert list(monthly["responses"]) == [2, 2]
    assert list(monthly["nps"]) == [0.0, 100.0]
    split = nps_by_period(frame, freq="M", by="segment")
    feb = split[split["period"] == pd.Timestamp("2026-02-01")].set_index("segment")
    assert feb.loc["b", "responses"] == 1 and feb.loc["unknown", "responses"] == 1


def test_by_week_starts_on_monday_and_accepts_counts() -> None:
    counts = pd.DataFrame({
        "day": pd.to_datetime(["2026-11-16", "2026-11-22", "2026-11-23"]),  # Mon, Sun, Mon
        "promoters": [5, 0, 1], "passives": [3, 0, 0], "detractors": [0, 2, 0],
    })
    weekly = nps_by_period(counts, freq="W", date_col="day")
    assert list(weekly["period"]) == [pd.Timestamp("2026-11-16"), pd.Timestamp("2026-11-23")]
    first = weekly.iloc[0]
    assert first["responses"] == 10 and first["nps"] == pytest.approx(30.0)
    half = 1.959964 * math.sqrt(0.61 / 10) * 100
    assert first["ci_low"] == pytest.approx(30 - half, abs=1e-3)
    with pytest.raises(ValueError):
        nps_by_period(counts, freq="D", date_col="day")  # type: ignore[arg-type]
