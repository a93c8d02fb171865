"""Precision and recall of the flag against plain VADER on a labelled CSV
(`python -m core.sentiment --evaluate FILE.csv`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.sentiment.flag import DETRACTOR_MAX, assess_frame
from core.sentiment.tone import VADER_BASELINE_THRESHOLD, vader_compound


@dataclass(frozen=True)
class Scores:
    """Figures of a flag against labels ("needs a human" is the positive class): precision,
    recall and F1 (0..1) and the confusion counts."""

    precision: float
    recall: float
    f1: float
    flagged: int
    true_positives: int
    false_negatives: int = 0
    true_negatives: int = 0

    @property
    def false_positives(self) -> int:
        """Comments flagged that the labels say need no human (flagged - true positives)."""
        return self.flagged - self.true_positives


def _scores(predicted: np.ndarray, truth: np.ndarray) -> Scores:
    predicted = np.asarray(predicted, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    tp = int((predicted & truth).sum())
    flagged = int(predicted.sum())
    precision = tp / flagged if flagged else 0.0
    recall = tp / int(truth.sum()) if truth.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, flagged, tp, int((~predicted & truth).sum()),
                  int((~predicted & ~truth).sum()))


def evaluate(path: str | Path) -> dict[str, object]:
    """Precision and recall of Hearth's flag, plain VADER (compound < -0.05) and VADER or
    detractor, against the `needs_human` labels of a CSV (comment, nps_score, needs_human).

    Raises ValueError naming the file and the column or row when a column is missing or a
    `needs_human` cell is not 0 or 1.
    """
    data = pd.read_csv(path, dtype={"comment": str}, keep_default_na=False)
    for column in ("comment", "needs_human"):
        if column not in data.columns:
            raise ValueError(f"{path}: missing column {column!r} (columns: comment, nps_score, needs_human)")
    if "nps_score" not in data.columns:
        data["nps_score"] = ""
    data["nps_score"] = pd.to_numeric(data["nps_score"].replace("", None), errors="coerce")
    bad = ~data["needs_human"].astype(str).str.strip().isin(["0", "1"])
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0]) + 2
        raise ValueError(f"{path}: row {row}: needs_human must be 0 or 1, not {data['needs_human'].iloc[row - 2]!r}")
    truth = data["needs_human"].astype(str).str.strip().to_numpy() == "1"
    ours = assess_frame(data)["flagged"].to_numpy()
    vader = np.array([vader_compound(c) < VADER_BASELINE_THRESHOLD for c in data["comment"]])
    detractor = (data["nps_score"] <= DETRACTOR_MAX).fillna(False).to_numpy(dtype=bool)
    text_rows = (data["comment"].str.strip() != "").to_numpy()
    text_only = assess_frame(data.assign(nps_score=None))["flagged"].to_numpy()
    return {
        "rows": len(data),
        "needs_human": int(truth.sum()),
        "hearth": _scores(ours, truth),
        "vader": _scores(vader, truth),
        "vader_or_detractor": _scores(vader | detractor, truth),
        "text_rows": int(text_rows.sum()),
        "hearth_text_only": _scores(text_only[text_rows], truth[text_rows]),
        "vader_text_only": _scores(vader[text_rows], truth[text_rows]),
    }


def format_evaluation(result: dict[str, object]) -> str:
    """The table `evaluate`'s result prints: one line per flag with precision, recall, F1 and
    the confusion counts."""
    lines = [f"{result['rows']} labelled answers, {result['needs_human']} need a human"]
    names = {
        "hearth": "Hearth flag",
        "vader": "plain VADER (compound < -0.05)",
        "vader_or_detractor": "VADER or detractor score",
        "hearth_text_only": "Hearth, comment only",
        "vader_text_only": "plain VADER, comment only",
    }
    for key, label in names.items():
        s: Scores = result[key]  # type: ignore[assignment]
        lines.append(f"  {label:34s} precision {s.precision:.3f}  recall {s.recall:.3f}  "
                     f"F1 {s.f1:.3f}  (TP {s.true_positives}, FP {s.false_positives}, "
                     f"FN {s.false_negatives}, TN {s.true_negatives})")
    lines.append(f"  (comment-only rows: {result['text_rows']}, scores ignored)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m core.sentiment --evaluate FILE.csv`: prints `format_evaluation`; returns 0.
    Raises ValueError for a CSV without the labelled columns."""
    parser = argparse.ArgumentParser(prog="python -m core.sentiment")
    parser.add_argument("--evaluate", metavar="CSV", required=True,
                        help="labelled CSV with columns comment, nps_score, needs_human")
    args = parser.parse_args(argv)
    print(format_evaluation(evaluate(args.evaluate)))
    return 0

