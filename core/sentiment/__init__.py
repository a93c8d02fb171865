"""Sentiment and the "needs a human" flag for feedback answers.

The tone is read by a small learnt model (core.flag_model: tf-idf word and character
n-grams plus VADER's scores, trained on human-rated sentences, see core.flag_training).
Plain VADER misses complaints said in plain words ("the door would not close") and reads
cleaning praise ("kills germs", "tough on dirt") as negative, so Hearth also has:

- a small domain lexicon that neutralises cleaning words and adds product-problem words
  (VADER's scores are inputs of the model);
- negation-aware problem patterns, each naming a retention theme (leaking, broken, late
  delivery, billing, refund, cancel, allergic reaction, safety, ...). "No leaks so far" and
  "nothing missing" do not count; "if it ever leaks" does not either; the denied words are
  hidden from the model too. German, French, Spanish and Italian have keyword themes.

Each comment's language is detected (core.language). An answer is flagged when it is a
detractor (score 0 to 6), when its English comment reads negative (the model's probability
at its threshold; a promoter's own score outweighs it), or when the comment names a
retention problem, even calmly. A comment in another language is never scored as English:
without a detractor score or a named problem, and without any score, it "needs a read" by a
person. Only the first MAX_JUDGED_CHARS characters are judged. The reasons are kept as short
phrases ("detractor 3", "negative tone (82%)", "mentions: leaking, refund") so a support
lead sees why.

The package: themes (English patterns), foreign (de/fr/es/it keywords), tone (VADER and
the domain lexicon), flag (assess, assess_frame), evaluation.

`python -m core.sentiment --evaluate tests/data/labelled_feedback.csv` prints precision and
recall of the flag against plain VADER on a labelled set.
"""

from __future__ import annotations

import importlib
from typing import Any

# Light and eager: the NPS scale (defined once, core.nps) and the English theme patterns (re
# only). Everything else is imported on first use (PEP 562 below): the learnt model needs
# scikit-learn and SciPy, about a second to import, which the screens that only count answers
# (NPS, the inbox's lists, My work) never need.
from core.nps import DETRACTOR_MAX, PROMOTER_MIN
from core.sentiment.themes import (
    CHURN_THEMES,
    MAX_JUDGED_CHARS,
    SAFETY_THEMES,
    THEMES,
    judged_part,
    parse_mentions,
    problem_themes,
)

_LAZY: dict[str, str] = {
    **dict.fromkeys(("FlagModel", "shipped_model"), "core.flag_model"),
    **dict.fromkeys(("Scores", "evaluate", "format_evaluation", "main"), "core.sentiment.evaluation"),
    **dict.fromkeys(("PARALLEL_MIN", "VALUE_REFERENCE", "Assessment", "Judged", "Triple", "active_model", "assess",
                     "assess_frame", "is_read_as_english", "judge_distinct", "negative_probabilities",
                     "use_model"), "core.sentiment.flag"),
    **dict.fromkeys(("THEME_LANGUAGES", "foreign_themes"), "core.sentiment.foreign"),
    **dict.fromkeys(("DOMAIN_LEXICON", "PROBLEM_TONE_CAP", "VADER_BASELINE_THRESHOLD", "TextAnalysis",
                     "analyse_text", "model_inputs", "model_text", "vader_compound"), "core.sentiment.tone"),
}


def __getattr__(name: str) -> Any:
    """The names of :data:`_LAZY`, imported from their module on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Assessment",
    "CHURN_THEMES",
    "DETRACTOR_MAX",
    "DOMAIN_LEXICON",
    "FlagModel",
    "Judged",
    "MAX_JUDGED_CHARS",
    "PARALLEL_MIN",
    "PROBLEM_TONE_CAP",
    "PROMOTER_MIN",
    "SAFETY_THEMES",
    "Scores",
    "THEMES",
    "THEME_LANGUAGES",
    "TextAnalysis",
    "Triple",
    "VADER_BASELINE_THRESHOLD",
    "VALUE_REFERENCE",
    "active_model",
    "analyse_text",
    "assess",
    "assess_frame",
    "evaluate",
    "foreign_themes",
    "format_evaluation",
    "is_read_as_english",
    "judge_distinct",
    "judged_part",
    "main",
    "model_inputs",
    "model_text",
    "negative_probabilities",
    "parse_mentions",
    "problem_themes",
    "shipped_model",
    "use_model",
    "vader_compound",
]
