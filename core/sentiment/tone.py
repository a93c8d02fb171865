"""The tone of an English comment: VADER with a small domain lexicon that neutralises
cleaning words ("kills germs", "tough on dirt") and adds product-problem words, plus the
problem themes (core.sentiment.themes); what the flag's model reads (`model_inputs`)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.sentiment.themes import _CLAUSE_BREAK, _QUOTES, _scan, judged_part

# A comment that names a problem is at least this negative, whatever its polite words say
# ("Great, another leaking bottle" scores +0.79 in plain VADER).
PROBLEM_TONE_CAP = -0.35
VADER_BASELINE_THRESHOLD = -0.05
# Word -> valence (-4 .. 4, VADER's scale) for a household-goods shop.
DOMAIN_LEXICON: dict[str, float] = {
    # What cleaning products fight is not the customer's mood.
    "stain": 0.0, "stains": 0.0, "stained": -1.0, "dirt": 0.0, "dirty": -0.5, "grease": 0.0,
    "greasy": 0.0, "grime": 0.0, "germs": 0.0, "bacteria": 0.0, "kill": 0.0, "kills": 0.0,
    "killed": 0.0, "killing": 0.0, "killer": 1.0, "stubborn": 0.0, "tough": 0.0, "mess": 0.0,
    "mould": 0.0, "mold": 0.0, "limescale": 0.0, "odour": 0.0, "odours": 0.0, "odor": 0.0,
    "damp": 0.0, "mud": 0.0, "burnt": 0.0, "scary": 0.0, "crazy": 0.0, "wicked": 0.0,
    "battle": 0.0, "fighting": 0.0, "sorry": 0.0, "lost": -0.3, "bad": -1.5, "hated": -1.0,
    "disgusting": -1.5, "accidents": 0.0,
    # Product and service trouble VADER does not know or underrates.
    "leaking": -1.8, "leaky": -1.5, "leaks": -1.4, "leaked": -1.6, "flimsy": -1.0,
    "faulty": -1.8, "defective": -2.0, "overpriced": -1.5, "overcharged": -2.0,
    "reek": -1.5, "reeks": -1.5, "downhill": -1.5, "shambles": -2.0, "rip-off": -2.5,
    "ripoff": -2.5, "incompetent": -2.0, "unresponsive": -1.5, "watery": -1.0,
    "misleading": -1.5, "excuses": -1.0, "fed": -0.5, "smashed": -1.5, "shattered": -1.5,
    "chipped": -1.2, "rusted": -1.2, "rusting": -1.2, "peeling": -1.0, "meh": -1.0,
}

# A problem already put right, said warmly, does not need a human.
_RESOLVED = re.compile(r"\b(?:replacement|replaced|refunded|sorted|resolved|fixed|put\s+right|swapped)\b")
_RESOLVED_MIN_TONE = 0.5


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(DOMAIN_LEXICON)
    return analyzer


@lru_cache(maxsize=1)
def _plain_analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def vader_compound(text: str | None) -> float:
    """Plain VADER's compound score (-1 .. 1), the baseline Hearth's flag is measured against.
    Reads the first MAX_JUDGED_CHARS characters."""
    if not text or not str(text).strip():
        return 0.0
    return float(_plain_analyzer().polarity_scores(judged_part(str(text)))["compound"])


_NEUTRAL = {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}
_EMPTY = {"neg": 0.0, "neu": 0.0, "pos": 0.0, "compound": 0.0}


def _polarity(text: str) -> dict[str, float]:
    """`_analyzer().polarity_scores(text)`, without VADER's per-word work for a plain-ASCII text
    none of whose words (as VADER splits and strips them) is in its lexicon: every valence is
    then 0, so VADER returns neutral (no words at all: all 0). ASCII has none of VADER's emoji."""
    analyzer = _analyzer()
    if text.isascii():
        lexicon = analyzer.lexicon
        words = text.split()
        if not any(w.lower() in lexicon or w.strip(string.punctuation).lower() in lexicon for w in words):
            return dict(_NEUTRAL if words else _EMPTY)
    return analyzer.polarity_scores(text)


@dataclass(frozen=True)
class TextAnalysis:
    """What the comment alone says (English reading)."""

    compound: float  # VADER with the domain lexicon
    sentiment: float  # compound, capped at PROBLEM_TONE_CAP when a problem is named
    themes: tuple[str, ...]  # named retention problems, not negated
    resolved: bool  # the problem is said to be put right, in a warm tone
    scores: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 0.0)  # compound, neg, neu, pos: model input
    read: str = ""  # the text as the model reads it: problem words that were denied are blanked


@lru_cache(maxsize=200_000)
def _analyse(clean: str) -> TextAnalysis:
    if not clean:
        return TextAnalysis(0.0, 0.0, (), False)
    lowered = clean.lower()
    themes, negated = _scan(lowered)
    # "Never had a single leak": the problem word was denied, so it must not sour the tone
    # either (VADER only looks three words back for a negation). The denial goes with it, back
    # to the start of the clause: the model reads n-grams ("nothing broken"), and VADER reads
    # "no" and "never" as negative words ("no rash at all since switching" would read -0.30).
    read = clean
    for start, end in negated if len(lowered) == len(clean) else ():
        head = start - len(_CLAUSE_BREAK.split(lowered[max(0, start - 80) : start])[-1])
        clean = clean[:head] + " " * (end - head) + clean[end:]
        read = read[:head] + " " * (end - head) + read[end:]
    polarity = _polarity(clean)
    compound = float(polarity["compound"])
    resolved = bool(themes) and compound >= _RESOLVED_MIN_TONE and bool(_RESOLVED.search(clean.lower()))
    sentiment = min(compound, PROBLEM_TONE_CAP) if themes and not resolved else compound
    scores = (compound, float(polarity["neg"]), float(polarity["neu"]), float(polarity["pos"]))
    return TextAnalysis(round(compound, 4), round(sentiment, 4), themes, resolved, scores, read)


def analyse_text(text: str) -> TextAnalysis:
    """Tone and problem themes of one English comment (its first MAX_JUDGED_CHARS characters).
    Cached: stores repeat the same phrases a lot."""
    return _analyse(model_text(text))


def model_text(text: str | None) -> str:
    """The text the flag's model reads: the judged part, with typographic quotes made plain."""
    return judged_part(str(text or "")).translate(_QUOTES).strip()


def model_inputs(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """(texts as the model reads them, VADER scores (n, 4)) — the same for training and flagging.
    Problem words that are denied ("no leaks so far") are blanked for the model as for VADER."""
    analyses = [_analyse(model_text(t)) for t in texts]
    return ([a.read for a in analyses],
            np.array([a.scores for a in analyses], dtype=float).reshape(len(analyses), 4))
