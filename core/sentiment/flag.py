"""The "needs a human" flag of feedback answers: detractor score, the model's negative tone
(English), named problems (English and, by keyword, de/fr/es/it), the language, and a
severity (0-100) with short reasons a support lead reads."""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.flag_model import FlagModel, shipped_model
from core.language import ENGLISH, detect_languages
from core.nps import DETRACTOR_MAX, PROMOTER_MIN  # the NPS scale, defined once
from core.sentiment.foreign import foreign_themes
from core.sentiment.themes import CHURN_THEMES, SAFETY_THEMES, parse_mentions  # noqa: F401
from core.sentiment.tone import (
    PROBLEM_TONE_CAP,
    VADER_BASELINE_THRESHOLD,
    TextAnalysis,
    _analyse,
    analyse_text,
    model_inputs,
    model_text,
)

# With `processes` > 1, from this many distinct English comments on, a pool of processes reads them.
PARALLEL_MIN = 20_000
_PARALLEL_CHUNK = 10_000
# 12-month revenue at which the customer-value part of the severity is full.
VALUE_REFERENCE = 1000.0

# ---------------------------------------------------------------- the model in use

_active: FlagModel | None = None


def active_model() -> FlagModel:
    """The model the flag uses: the one set by `use_model` (the database's, after a retrain),
    else the one shipped with Hearth."""
    return _active if _active is not None else shipped_model()


def use_model(model: FlagModel | None) -> None:
    """Make `model` the one `assess` and `assess_frame` use (None: back to the shipped one)."""
    global _active
    _active = model


def negative_probabilities(texts: list[str], model: FlagModel | None = None) -> np.ndarray:
    """The model's probability that each English comment is negative (0 .. 1)."""
    model = model or active_model()
    clean, vader = model_inputs(texts)
    return model.probabilities(clean, vader)


@dataclass(frozen=True)
class Assessment:
    """The flag of one answer, as `assess` returns it (see there for the severity's parts)."""

    sentiment: float  # -1 .. 1; 0.0 when there is no comment or it is not English
    flagged: bool
    reasons: tuple[str, ...]
    severity: float  # 0 .. 100; 0 when not flagged
    themes: tuple[str, ...]
    language: str | None = None  # ISO 639-1 code of the comment; None without one
    needs_read: bool = False  # a comment the flag cannot read, without a score: a person reads it

    @property
    def reasons_text(self) -> str:
        """The reasons a support lead reads, joined with "; " (empty when nothing was found)."""
        return "; ".join(self.reasons)


def _value_points(value: float) -> float:
    if not value or value <= 0 or math.isnan(value):
        return 0.0
    return 15.0 * min(1.0, math.log1p(value) / math.log1p(VALUE_REFERENCE))


def is_read_as_english(language: str | None) -> bool:
    """The flag reads tone in English only; a comment of unknown language (no letters) too."""
    return language is None or language == ENGLISH


def _judge(comment: str | None, nps_score: int | None, *, language: str | None = None,
           negative_probability: float = 0.0, threshold: float = 1.0, analysis: TextAnalysis | None = None
           ) -> tuple[float, bool, tuple[str, ...], float, tuple[str, ...], bool]:
    """(sentiment, flagged, reasons, severity without customer value, themes, needs a read).

    English: flagged on a detractor score, a negative tone (the model's probability at or above
    its threshold, or VADER's compound with the domain lexicon below VADER_BASELINE_THRESHOLD,
    -0.05, plain VADER's cut-off; a promoter's own score outweighs either) or a named problem. Another language:
    never read as English; flagged on a detractor score or a problem named in that language
    (de, fr, es, it); otherwise, without a score or with a passive one (7, 8), it needs a person
    to read it.
    `analysis` is `analyse_text(comment)` when the caller already has it.
    """
    has_text = isinstance(comment, str) and bool(comment.strip())
    reasons: list[str] = []
    points = 0.0
    has_score = nps_score is not None
    if has_score and nps_score <= DETRACTOR_MAX:
        reasons.append(f"detractor {int(nps_score)}")
        points += 20.0 + 20.0 * (DETRACTOR_MAX - nps_score) / DETRACTOR_MAX
    themes: tuple[str, ...] = ()
    sentiment = 0.0
    needs_read = False
    if has_text and is_read_as_english(language):
        text = analysis if analysis is not None else analyse_text(comment)
        sentiment = text.sentiment
        tone_counts = not (has_score and nps_score >= PROMOTER_MIN)
        if negative_probability >= threshold and tone_counts:
            reasons.append(f"negative tone ({negative_probability * 100:.0f} %)")
            points += 25.0 * min(1.0, max(negative_probability, -text.compound))
        elif text.compound < VADER_BASELINE_THRESHOLD and tone_counts:
            # Negative by VADER (with the domain lexicon), which the model scored lower: the
            # flag never misses a complaint plain VADER reads, on any kind of text. Measured on
            # text it was not trained on (`feedback evaluate --cross-domain`), the model alone
            # missed more than VADER: short, tweet-like complaints ("she is not helpful at all").
            reasons.append(f"negative tone (VADER {text.compound:+.2f})")
            points += 25.0 * min(1.0, -text.compound)
        elif text.compound < 0:
            points += 25.0 * min(1.0, -text.compound)
        if text.themes and not text.resolved:
            themes = text.themes
    elif has_text:
        themes = foreign_themes(comment, language)
        if themes:
            sentiment = PROBLEM_TONE_CAP
    if themes:
        reasons.append("mentions: " + ", ".join(themes))
        if SAFETY_THEMES & set(themes):
            points += 30.0
        elif CHURN_THEMES & set(themes):
            points += 20.0
        else:
            points += 15.0
    flagged = bool(reasons)
    if has_text and not flagged and not is_read_as_english(language) and not (has_score and nps_score >= PROMOTER_MIN):
        # Unread: without a score, or a passive one (7, 8) that says little ("Het pakket kwam
        # kapot aan", 7, names a problem in Dutch). A promoter's own score speaks for it.
        needs_read = True
    return sentiment, flagged, tuple(reasons), (points if flagged else 0.0), themes, needs_read


# One distinct answer: (comment or "", NPS score or -1, ISO 639-1 code or "").
Triple = tuple[str, int, str]
# Per distinct answer: sentiment, flagged, reasons ("; "), severity points, themes (", "), needs a read.
Judged = tuple[list[float], list[bool], list[str | None], list[float], list[str | None], list[bool]]


def _judge_triples(triples: list[Triple], model: FlagModel | bytes | None) -> Judged:
    """`_judge` of each distinct answer, the English comments read once each (VADER, themes)
    and the model's probabilities computed in one vectorised pass. `model` may be
    `FlagModel.to_bytes()` output (in a worker process) or None for the shipped model."""
    if not isinstance(model, FlagModel):
        model = FlagModel.from_bytes(model) if model is not None else shipped_model()
    english = list(dict.fromkeys(c for c, _, lang in triples if c and is_read_as_english(lang or None)))
    analyses = [_analyse(model_text(c)) for c in english]
    vader = np.array([a.scores for a in analyses], dtype=float).reshape(len(analyses), 4)
    probabilities = model.probabilities([a.read for a in analyses], vader).tolist() if english else []
    analysis = dict(zip(english, analyses, strict=True))
    probability = dict(zip(english, probabilities, strict=True))
    out: Judged = ([], [], [], [], [], [])
    for c, s, lang in triples:
        j = _judge(c or None, None if s < 0 else s, language=lang or None, negative_probability=probability.get(c, 0.0),
                   threshold=model.threshold, analysis=analysis.get(c))
        out[0].append(j[0])
        out[1].append(j[1])
        out[2].append("; ".join(j[2]) or None)
        out[3].append(j[3])
        out[4].append(", ".join(j[4]) or None)
        out[5].append(j[5])
    return out


def _pool_context() -> multiprocessing.context.BaseContext:
    """"fork" on Linux (the workers start at once, with the modules, the lexicon and the model
    already loaded: no second import), else "spawn" (fork is unsafe on macOS, absent on Windows)."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


# The model forked workers judge with (set just before the pool starts; None: the shipped one).
_pool_model: FlagModel | None = None


def _judge_chunk(triples: list[Triple], payload: bytes | None) -> Judged:
    """`_judge_triples` in a worker: a forked one has the parent's `_pool_model`; a spawned one
    gets the model as bytes (None: the shipped model)."""
    return _judge_triples(triples, _pool_model if _pool_model is not None else payload)


def judge_distinct(triples: list[Triple], model: FlagModel, processes: int = 1) -> Judged:
    """`_judge_triples` for many distinct answers. With `processes` > 1 and PARALLEL_MIN
    answers or more, chunks of them are judged by a pool of that many processes (VADER, the
    themes and the n-gram hashing are pure Python); the results are the same, in order.
    Forked where the platform allows (no start-up imports), else spawned. Only for command
    lines and benchmarks (a spawned worker imports the main module again, which must be a
    guarded `__main__`; forking a server with threads is not safe)."""
    global _pool_model
    workers = min(processes, os.cpu_count() or 1, math.ceil(len(triples) / _PARALLEL_CHUNK))
    if workers < 2 or len(triples) < PARALLEL_MIN:
        return _judge_triples(triples, model)
    context = _pool_context()
    forked = context.get_start_method() == "fork"
    payload = None if forked or model is shipped_model() else model.to_bytes()
    chunks = [triples[i : i + _PARALLEL_CHUNK] for i in range(0, len(triples), _PARALLEL_CHUNK)]
    out: Judged = ([], [], [], [], [], [])
    _pool_model = model if forked else None
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for part in pool.map(_judge_chunk, chunks, [payload] * len(chunks)):
                for column, values in zip(out, part, strict=True):
                    column.extend(values)
    finally:
        _pool_model = None
    return out


def assess(*, comment: str | None, nps_score: int | None, customer_value: float = 0.0,
           language: str | None = "detect", model: FlagModel | None = None) -> Assessment:
    """Sentiment, flag, reasons and severity (0-100) of one answer.

    Severity adds up: detractor (20-40, lower score more), negative tone (up to 25), a named
    problem (15; refund or cancel 20; safety or allergic reaction 30) and the customer's
    12-month revenue (up to 15, log scale, full at VALUE_REFERENCE). Capped at 100.
    `language` is the comment's ISO 639-1 code; "detect" (the default) detects it.
    """
    frame = pd.DataFrame({"comment": [comment], "nps_score": [nps_score], "value": [customer_value]})
    if language != "detect":
        frame["language"] = [language]
    row = assess_frame(frame, customer_value="value", language="language" if language != "detect" else None,
                       model=model).iloc[0]
    reasons = tuple(row["flag_reasons"].split("; ")) if isinstance(row["flag_reasons"], str) else ()
    themes = tuple(row["themes"].split(", ")) if isinstance(row["themes"], str) else ()
    return Assessment(float(row["sentiment"]), bool(row["flagged"]), reasons, float(row["severity"]), themes,
                      row["language"] if isinstance(row["language"], str) else None, bool(row["needs_read"]))


def assess_frame(frame: pd.DataFrame, *, comment: str = "comment", nps_score: str = "nps_score",
                 customer_value: str | None = None, language: str | None = None,
                 model: FlagModel | None = None, processes: int = 1,
                 timings: dict[str, float] | None = None) -> pd.DataFrame:
    """`assess` for a whole frame: columns sentiment, flagged, flag_reasons, severity, themes,
    language, needs_read.

    `language` names a column of known ISO 639-1 codes; without it each distinct comment's
    language is detected. Works on the distinct (comment, score, language) triples only, and the
    model predicts for all distinct English comments in one vectorised pass, so 300,000 answers
    that repeat a few thousand phrases take seconds. `processes`: see `judge_distinct`.
    `timings`, when given, gets the wall seconds of the stages: "language" (detection) and
    "judge" (tone, themes, model and flag of the distinct answers).
    """
    if frame.empty:
        return pd.DataFrame({"sentiment": pd.Series(dtype=float), "flagged": pd.Series(dtype=bool),
                             "flag_reasons": pd.Series(dtype=object), "severity": pd.Series(dtype=float),
                             "themes": pd.Series(dtype=object), "language": pd.Series(dtype=object),
                             "needs_read": pd.Series(dtype=bool)}, index=frame.index)
    model = model or active_model()
    comments = frame[comment].astype(object).where(frame[comment].notna(), None)
    comments = comments.map(lambda c: c if isinstance(c, str) and c.strip() else "")
    if language is not None:
        languages = frame[language].astype(object).map(lambda v: v if isinstance(v, str) and v else "")
    else:
        started = time.perf_counter()
        distinct = pd.unique(comments.to_numpy())
        found = dict(zip(distinct, detect_languages([c or None for c in distinct]), strict=True))
        languages = comments.map(lambda c: found[c] or "")
        if timings is not None:
            timings["language"] = time.perf_counter() - started
    languages = languages.where(comments != "", "")
    scores = pd.to_numeric(frame[nps_score], errors="coerce").fillna(-1).astype(int)
    # The distinct (comment, score, language) triples in order of appearance (a dict is several
    # times faster than factorizing a MultiIndex of 300,000 rows).
    distinct_keys: dict[Triple, int] = {}
    codes = np.fromiter((distinct_keys.setdefault(key, len(distinct_keys)) for key in
                         zip(comments.tolist(), scores.tolist(), languages.tolist(), strict=True)),
                        dtype=np.intp, count=len(frame))
    triples = list(distinct_keys)
    started = time.perf_counter()
    judged = judge_distinct(triples, model, processes)
    if timings is not None:
        timings["judge"] = time.perf_counter() - started
    sentiment = np.array(judged[0], dtype=float)[codes]
    flagged = np.array(judged[1], dtype=bool)[codes]
    reasons = np.array(judged[2], dtype=object)[codes]
    points = np.array(judged[3], dtype=float)[codes]
    themes = np.array(judged[4], dtype=object)[codes]
    needs_read = np.array(judged[5], dtype=bool)[codes]
    language_out = np.array([lang or None for _, _, lang in triples], dtype=object)[codes]
    if customer_value is not None:
        value = pd.to_numeric(frame[customer_value], errors="coerce").fillna(0.0).clip(lower=0).to_numpy()
        value_points = 15.0 * np.minimum(1.0, np.log1p(value) / math.log1p(VALUE_REFERENCE))
    else:
        value_points = np.zeros(len(frame))
    severity = np.where(flagged, np.minimum(100.0, points + value_points), 0.0).round(1)
    return pd.DataFrame({"sentiment": sentiment, "flagged": flagged, "flag_reasons": reasons,
                         "severity": severity, "themes": themes, "language": language_out,
                         "needs_read": needs_read}, index=frame.index)
