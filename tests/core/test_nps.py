"""NPS arithmetic and its interval, against hand computations."""

from __future__ import annotations

import pandas as pd
import pytest

from core.nps import nps_by_period, nps_from_counts, nps_summary


def test_five_promoters_three_passives_two_detractors() -> None:
    # By hand: NPS = 100 * (5 - 2) / 10 = 30.
    # Adjusted Wald: n = 13, p = 5.75 / 13 = 0.442308, d = 2.75 / 13 = 0.211538, centre 0.230769;
    # variance p + d - centre^2 = 0.653846 - 0.053254 = 0.600592; se = sqrt(0.600592 / 13)
    # = 0.214941; 1.959964 * se = 0.421276 -> 23.0769 -/+ 42.1276 = -19.05 .. 65.20.
    out = nps_summary(pd.Series([10, 9, 10, 9, 10, 7, 8, 8, 3, 6]))
    assert out["nps"] == pytest.approx(30.0)
    assert out["responses"] == 10
    assert (out["promoters"], out["passives"], out["detractors"]) == (5, 3, 2)
    assert out["ci_low"] == pytest.approx(-19.05, abs=0.01)
    assert out["ci_high"] == pytest.approx(65.20, abs=0.01)


def test_empty_values_are_not_answers() -> None:
    out = nps_summary(pd.Series([10, None, float("nan"), 0]))
    assert out["responses"] == 2
    assert out["nps"] == pytest.approx(0.0)
    # n = 5, p = d = 1.75 / 5 = 0.35: variance 0.7, se = sqrt(0.7 / 5) = 0.374166; +-73.3.
    assert out["ci_low"] == pytest.approx(-73.34, abs=0.01) and out["ci_high"] == pytest.approx(73.34, abs=0.01)


def test_no_answers_gives_none() -> None:
    out = nps_summary(pd.Series([], dtype=float))
    assert out == {"nps": None, "ci_low": None, "ci_high": None, "responses": 0, "promoters": 0,
                   "passives": 0, "detractors": 0}
    assert nps_summary(pd.Series([None, None]))["nps"] is None


def test_three_answers_alike_are_no_certainty() -> None:
    # The plain normal approximation gave three promoters 100 to 100 and three passives 0 to 0.
    # Three promoters, adjusted: n = 6, p = 3.75 / 6 = 0.625, d = 0.75 / 6 = 0.125, centre 0.5;
    # variance 0.75 - 0.25 = 0.5; se = sqrt(0.5 / 6) = 0.288675; 0.5 - 1.959964 * se = -0.0658.
    out = nps_summary(pd.Series([9, 10, 10]))
    assert out["nps"] == 100.0 and out["ci_high"] == 100.0
    assert out["ci_low"] == pytest.approx(-6.58, abs=0.01)
    # Three passives (the shared cases' re-run): p = d = 0.125, centre 0; variance 0.25;
    # se = sqrt(0.25 / 6) = 0.204124; +-40.0.
    passives = nps_summary(pd.Series([7, 8, 8]))
    assert passives["nps"] == 0.0
    assert passives["ci_low"] == pytest.approx(-40.01, abs=0.01)
    assert passives["ci_high"] == pytest.approx(40.01, abs=0.01)
    # One promoter: the adjusted interval (-48.5 .. 98.5) is widened to hold the NPS itself.
    one = nps_summary(pd.Series([10]))
    assert one["nps"] == 100.0 and one["ci_high"] == 100.0 and one["ci_low"] == pytest.approx(-48.50, abs=0.01)


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
    # The same counts as the first test: adjusted centre 23.0769, half width 42.1276.
    assert first["ci_low"] == pytest.approx(23.0769 - 42.1276, abs=1e-3)
    assert first["ci_high"] == pytest.approx(23.0769 + 42.1276, abs=1e-3)
    with pytest.raises(ValueError):
        nps_by_period(counts, freq="D", date_col="day")  # type: ignore[arg-type]
