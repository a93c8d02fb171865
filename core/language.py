"""The language of a comment, detected offline with lingua (lingua-language-detector).

Why lingua: it is kept up to date, ships its language models inside the wheel (nothing is
downloaded at run time), is accurate on short text, and detects in Rust (about 20,000 short
comments a second on one core). It is asked to choose only among the languages a European
household-goods shop hears from (LANGUAGES): fewer candidates, fewer wrong guesses.

Short English remarks ("Fine.", "Meh", "ok") are ambiguous to any detector, and English is
the shop's own language, so a comment is English when lingua puts English first or when most
of its words are English words VADER knows; otherwise it is the language lingua puts first.
Obvious English (a word only English has, no function word of the other languages) is not
sent to lingua at all: that is most of a shop's comments, and lingua's slowest part.
A comment with no letters (an emoji, "10/10") has no language (None) and is read as English.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

# ISO 639-1 code -> name shown on screen.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch",
    "pt": "Portuguese",
}
LANGUAGES: tuple[str, ...] = tuple(LANGUAGE_NAMES)
ENGLISH = "en"
# Other languages a European shop hears, which the flag cannot read (no tone or problem words):
# asked about only after lingua has chosen among LANGUAGES, so that a Polish complaint is
# labelled Polish and goes to a person, not labelled German and read for German problem words.
# Not the close kin of LANGUAGES (Catalan, Galician, Afrikaans, Luxembourgish): a Spanish or
# Dutch comment must never lose its language to them.
OTHER_LANGUAGES: tuple[str, ...] = (
    "pl", "cs", "sk", "sv", "da", "nb", "nn", "fi", "el", "hu", "ro", "bg", "hr", "sl", "lt", "lv", "et",
    "tr", "ru", "uk", "ga", "sr", "sq", "bs", "is", "cy", "eu")
# Only this much of a comment is read to tell its language.
DETECT_CHARS = 1000
ENGLISH_WORD_SHARE = 0.6
# A text with at least this share of English words that lingua's quick mode reads as English
# is English without the slower full reading (see detect_languages).
QUICK_ENGLISH_SHARE = 0.2
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_WORDS = re.compile(r"[^\W\d_][^\W\d_']*", re.UNICODE)
_FUNCTION_WORDS = frozenset(
    "a an the and or but of to in on at for with from by is are was were be been it its this that these those "
    "i me my we our you your he she they them his her their not no very so too just all any some as if "
    "have has had do does did will would can could should after before again still never ever one two".split())


# Words only English has among LANGUAGES ("the", "my", "would"; not "is", "we", "had" (Dutch),
# "will", "was", "still" (German), "me", "no", "a" (Romance), "in", "an", "so", "on", "or").
_ENGLISH_ONLY = frozenset(
    "the and with my you your this that these those have has not very but to for from they them their "
    "our at too just any some if after before again ever one two were are does did would "
    "could should its she his it i'm it's don't didn't doesn't isn't wasn't won't can't couldn't "
    "there what which when why how about because really never".split())
# Function words of the other LANGUAGES that English text does not use: one of them sends a text
# to lingua ("Die Lieferung war schnell und alles gut verpackt": "und").
_OTHER_FUNCTION_WORDS = frozenset(
    # German
    "der das und ist nicht ich sie es ein eine einen einem einer mit von zu den dem des auf für sich "
    "sehr aber auch noch nur wie kein keine schon mein meine wir ihr uns bei nach aus war wurde hat "
    "habe ist sind nie immer alles gut "
    # French
    "le la les et est pas je il elle un une des du de que qui avec pour dans sur mais très mon ma mes "
    "nous vous ne ce cette été au aux bien tout rien jamais "
    # Spanish
    "el los las y es un una con para por en muy pero mi mis se lo le su del al está fue estoy todo "
    "nada nunca bien "
    # Italian
    "il lo gli e è non di che per molto ma mio mia sono della ho ha tutto niente mai bene "
    # Dutch
    "het een en niet ik je zijn met van voor op maar heel zeer mijn wij dat die dit er geen erg "
    # Portuguese
    "o os as não um uma com em muito mas meu minha do da dos das no na foi tudo nada nunca bem".split())


def _surely_english(words: list[str]) -> bool:
    """Lower-cased `words` that name English as surely as lingua would: one word only English
    has and no function word of the other languages (checked on the shared sentences, the test
    comments and the comments in other languages: the same languages as lingua's, see
    detect_languages)."""
    return any(w in _ENGLISH_ONLY for w in words) and not any(w in _OTHER_FUNCTION_WORDS for w in words)


def _languages(codes: Sequence[str] = LANGUAGES) -> list[Language]:
    return [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in codes]


@lru_cache(maxsize=1)
def _wide_detector() -> LanguageDetector:
    """lingua over LANGUAGES and OTHER_LANGUAGES, in its low-accuracy mode (trigrams only): asked
    whether a text lingua put in one of LANGUAGES is rather in another language altogether.
    Low accuracy because the full models of 34 languages took 8 s and 700 MB to load (0.4 s and
    50 MB so), and a sentence in another language is plain to it either way (see _surely_other)."""
    languages = _languages((*LANGUAGES, *OTHER_LANGUAGES))
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*_languages()).build()


@lru_cache(maxsize=1)
def _quick_detector() -> LanguageDetector:
    """lingua's low-accuracy mode (trigrams only): about four times faster, less sure on short
    text. Trusted only for "English" on a text with some English words (QUICK_ENGLISH_SHARE)."""
    return LanguageDetectorBuilder.from_languages(*_languages()).with_low_accuracy_mode().build()


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return frozenset(w for w in SentimentIntensityAnalyzer().lexicon if w.isalpha()) | _FUNCTION_WORDS


def _english_share(text: str, words: list[str] | None = None) -> float:
    """The share of `text`'s words that are English words VADER knows (or function words);
    `words` are its lower-cased words when the caller has them."""
    words = [w.lower() for w in _WORDS.findall(text)] if words is None else words
    if not words:
        return 0.0
    known = _english_words()
    return sum(w in known for w in words) / len(words)


def _read_as_english(text: str, share: float | None = None) -> bool:
    """For a text lingua did not put in English: most of its words are English words VADER
    knows, or half are and lingua thinks English at least half as likely ("Terrible service.").
    `share` is `_english_share(text)` when the caller has it."""
    share = _english_share(text) if share is None else share
    if share >= ENGLISH_WORD_SHARE:
        return True
    if share < 0.5:
        return False
    confidences = _detector().compute_language_confidence_values(text)
    top = confidences[0].value if confidences else 0.0
    english = next((c.value for c in confidences if c.language == Language.ENGLISH), 0.0)
    return top > 0 and english >= 0.5 * top


def detect_languages(texts: Sequence[str | None]) -> list[str | None]:
    """ISO 639-1 code (one of LANGUAGES) of each text, None for an empty text or one without
    letters. Reads the first DETECT_CHARS characters. Detection runs on all cores.

    A text whose words are mostly English words VADER knows is English whatever lingua says
    (see _read_as_english), and so is one with some of them (QUICK_ENGLISH_SHARE) that has a
    word only English has and no function word of the other languages (`_surely_english`).
    lingua is asked only about the others: first in its quick (low-accuracy) mode, whose
    "English" is kept for a text with at least QUICK_ENGLISH_SHARE English words (so only those
    are asked), then in full for the rest."""
    out: list[str | None] = [None] * len(texts)
    quick: list[tuple[int, str, float]] = []
    full: list[tuple[int, str, float]] = []
    for i, t in enumerate(texts):
        if isinstance(t, str) and _LETTERS.search(t):
            text = t[:DETECT_CHARS]
            words = [w.lower() for w in _WORDS.findall(text)]
            share = _english_share(text, words)
            if share >= ENGLISH_WORD_SHARE or (share >= QUICK_ENGLISH_SHARE and _surely_english(words)):
                out[i] = ENGLISH
            else:
                (quick if share >= QUICK_ENGLISH_SHARE else full).append((i, text, share))
    # lingua's quick mode first: "English" is taken from it for a text with some English words
    # (most of what a shop hears); everything else gets the full reading.
    found = _quick_detector().detect_languages_in_parallel_of([t for _, t, _ in quick]) if quick else []
    for item, language in zip(quick, found, strict=True):
        if language == Language.ENGLISH:
            out[item[0]] = ENGLISH
        else:
            full.append(item)
    if not full:
        return out
    # A text written mostly in another script is in none of LANGUAGES: lingua, asked to choose
    # among them, finds none, and "none" was read as English (Cyrillic, Greek, Chinese, Arabic
    # complaints were scored as English and reached no one).
    rest = []
    for item in full:
        code = _script_language(item[1])
        if code is None:
            rest.append(item)
        else:
            out[item[0]] = code
    full = rest
    if not full:
        return out
    found = _detector().detect_languages_in_parallel_of([t for _, t, _ in full])
    foreign: list[tuple[int, str]] = []
    for (i, text, share), language in zip(full, found, strict=True):
        code = language.iso_code_639_1.name.lower() if language is not None else None
        if code != ENGLISH and (code is None or _read_as_english(text, share)):
            code = ENGLISH
        out[i] = code
        if code != ENGLISH:
            foreign.append((i, text))
    # A text in none of LANGUAGES still gets one of them from the first reading (Polish read as
    # German): the wide reading names its own language when it is surely one of OTHER_LANGUAGES
    # (see _surely_other; "Es war perfekt" is a little more Danish than German to lingua).
    if foreign:
        wide = _wide_detector().compute_language_confidence_values_in_parallel([t for _, t in foreign])
        for (i, text), values in zip(foreign, wide, strict=True):
            code = _surely_other(text, out[i], values)
            if code is not None:
                out[i] = code
    return out


# The wide reading's first language is a candidate when it is one of OTHER_LANGUAGES with at
# least this confidence and OTHER_MARGIN times that of the likeliest of LANGUAGES; it is taken
# when lingua's full reading between it and the first reading's language gives it OTHER_SURE.
OTHER_CONFIDENCE = 0.3
OTHER_MARGIN = 2.0
OTHER_SURE = 0.9


@lru_cache(maxsize=64)
def _pair_detector(first: str, other: str) -> LanguageDetector:
    """lingua's full reading between two languages (two models: a quarter of a second to load)."""
    return LanguageDetectorBuilder.from_languages(*_languages((first, other))).build()


def _surely_other(text: str, first: str, values: Sequence) -> str | None:
    """The code of the language of ``text`` when it is surely one of OTHER_LANGUAGES, else None.
    ``first``: the language the first reading gave it (one of LANGUAGES); ``values``: the wide
    reading's confidence values (lingua's, likeliest first). A full sentence in Polish, Czech,
    Swedish or Danish is 0.7 to 1.0 in the wide reading and 0.99 to 1.0 against German or
    Dutch; three German words ("Es war perfekt") are 0.28 Danish to 0.22 German, then 0.51 to
    0.49; a Spanish sentence the wide reading called Croatian is 0.01 Croatian against Spanish."""
    if not values:
        return None
    top = values[0]
    code = top.language.iso_code_639_1.name.lower()
    if code not in OTHER_LANGUAGES or top.value < OTHER_CONFIDENCE:
        return None
    supported = max((v.value for v in values if v.language.iso_code_639_1.name.lower() in LANGUAGES), default=0.0)
    if top.value < OTHER_MARGIN * supported:
        return None
    sure = _pair_detector(first, code).compute_language_confidence(text, top.language)
    return code if sure >= OTHER_SURE else None


# A script's language where the script alone tells it (lingua's ISO 639-1 codes). Cyrillic
# is read by lingua among the Cyrillic languages of OTHER_LANGUAGES; a script not listed gets
# UNKNOWN_LANGUAGE: not English, so a person reads it.
_SCRIPT_LANGUAGES: dict[str, str] = {
    "HIRAGANA": "ja", "KATAKANA": "ja", "HANGUL": "ko", "CJK": "zh", "ARABIC": "ar", "HEBREW": "he",
    "THAI": "th", "DEVANAGARI": "hi", "GREEK": "el", "ARMENIAN": "hy", "GEORGIAN": "ka", "BENGALI": "bn",
    "TAMIL": "ta", "GUJARATI": "gu", "GURMUKHI": "pa", "TELUGU": "te",
}
_CYRILLIC_LANGUAGES = ("ru", "uk", "bg", "sr", "mk", "be", "kk", "mn")
UNKNOWN_LANGUAGE = "und"  # ISO 639-2's "undetermined": letters, but no language this module names


def _script_language(text: str) -> str | None:
    """The language of a text whose letters are mostly not Latin, from its script (Japanese
    when it has kana, before Chinese; Cyrillic through lingua among the Cyrillic languages);
    None for a text mostly in Latin letters."""
    scripts = Counter(unicodedata.name(ch, "?").split(" ")[0] for ch in _LETTERS.findall(text))
    total = sum(scripts.values())
    if not total or 2 * scripts["LATIN"] >= total:
        return None
    if scripts["HIRAGANA"] or scripts["KATAKANA"]:
        return "ja"
    top = next(name for name, _n in scripts.most_common() if name != "LATIN")
    if top == "CYRILLIC":
        values = _cyrillic_detector().compute_language_confidence_values(text)
        return values[0].language.iso_code_639_1.name.lower() if values else "ru"
    return _SCRIPT_LANGUAGES.get(top, UNKNOWN_LANGUAGE)


@lru_cache(maxsize=1)
def _cyrillic_detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*_languages(_CYRILLIC_LANGUAGES)).build()


def detect_language(text: str | None) -> str | None:
    """`detect_languages` for one text."""
    return detect_languages([text])[0]


def language_name(code: str | None) -> str:
    """"German" for "de", "Polish" for "pl" (lingua's name); "unknown" for None."""
    if not code or code == UNKNOWN_LANGUAGE:
        return "unknown"
    if code in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[code]
    try:
        return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())).name.title()
    except (AttributeError, ValueError):
        return code
