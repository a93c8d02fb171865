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

`python -m core.sentiment --evaluate tests/data/labelled_feedback.csv` prints precision and
recall of the flag against plain VADER on a labelled set.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import re
import string
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.flag_model import FlagModel, shipped_model
from core.language import ENGLISH, detect_languages

DETRACTOR_MAX = 6
# With `processes` > 1, from this many distinct English comments on, a pool of processes reads them.
PARALLEL_MIN = 20_000
_PARALLEL_CHUNK = 10_000
PROMOTER_MIN = 9
# A comment that names a problem is at least this negative, whatever its polite words say
# ("Great, another leaking bottle" scores +0.79 in plain VADER).
PROBLEM_TONE_CAP = -0.35
VADER_BASELINE_THRESHOLD = -0.05
# The flag reads this many characters of a comment (see judged_part).
MAX_JUDGED_CHARS = 4000
# 12-month revenue at which the customer-value part of the severity is full.
VALUE_REFERENCE = 1000.0

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

# Theme -> patterns. Every match is checked for a negation or a hypothetical just before it.
_NEG_AUX = (
    r"(?:(?:don|doesn|didn|isn|wasn|aren|weren|hasn|haven|hadn|wouldn|won|couldn|can|shouldn)'?t"
    r"|(?:do|does|did|is|was|will|would|could|can|has|have)\s+not|cannot|never|no\s+longer|not)"
)
_THEME_PATTERNS: dict[str, list[str]] = {
    "leaking": [
        r"\bleak(?:s|ed|ing|y|age)?\b(?!-?proof)",
        r"\bspill(?:ed|t|ing|s)?\b",
        r"\bsoaked\b",
        r"\bdripp(?:ing|ed)\b",
        r"\booz(?:ing|ed)\b",
    ],
    "broken": [
        r"\b(?:broke|broken|breaks|breaking|snapped|snaps|cracked|cracks|crack|shattered|smashed"
        r"|chipped|chip|split|torn|tear|ripped|frayed|peel(?:ing|ed)|rust(?:ing|ed|y)|faded"
        r"|defective|faulty|warped|shrank|shrunk|bleached|ruined)\b",
        r"\b(?:came|come|comes|fell|falls?|falling)\s+(?:loose|off|apart|away|down|out)\b",
        r"\bin\s+pieces\b",
        r"\bdead\s+on\s+arrival\b",
    ],
    "stopped working": [
        r"\bstopped\s+(?:working|after|charging|spinning|heating|running|ticking|pumping|responding)\b",
        r"\bquit\s+working\b",
        r"\b(?:motor|battery|bulb|charger|fan|pump|it)\s+(?:died|packed\s+up|gave\s+up|gave\s+out)\b",
    ],
    "not working": [
        rf"\b{_NEG_AUX}\s+(?:\w+\s+)?(?:work|works|worked|working|fit|fits|charge|charging"
        r"|turn\s+on|switch\s+on|start|spin|heat|dissolve|pump|hold|stick|spray|clean|drain|light)\b",
        r"\b(?:grinding|rattling|buzzing|clicking|strange|weird|loud)\s+noise\b",
        r"\b(?:non-stick|nonstick)[^.!?]{0,20}\bsticks\b",
    ],
    "does not close": [
        rf"\b{_NEG_AUX}\s+(?:\w+\s+)?(?:close|closes|shut|shuts|seal|seals|lock|locks|latch"
        r"|stay\s+(?:open|shut|closed|on|put|in\s+place))\b",
    ],
    "wrong item": [
        r"\bwrong\s+(?:item|items|colour|color|size|scent|product|order|one|model|thing|version"
        r"|flavour|parcel|address)\b",
        r"\b(?:sent|received|got|delivered|came\s+with|arrived\s+with|shipped)\b[^.!?]{0,50}"
        r"\binstead\s+of\b",
        r"\bsomeone\s+else'?s\s+(?:order|parcel|package)\b",
        r"\bnot\s+(?:as|what)\s+(?:described|i\s+ordered|advertised|pictured)\b",
        r"\bnothing\s+like\s+the\s+(?:description|picture|photos?|listing)\b",
    ],
    "missing item": [
        r"\bmissing\b",
        r"\bempty\s+(?:box|parcel|package)\b",
        r"\bnever\s+(?:arrived|came|turned\s+up|showed\s+up|got\s+it)\b",
        r"\b(?:hasn'?t|haven'?t|has\s+not|have\s+not|didn'?t|did\s+not|not\s+yet)\s+"
        r"(?:arrived|come|been\s+delivered|turned\s+up|received|got)\b",
        r"\bnothing\s+(?:came|arrived|turned\s+up)\b",
        r"\bno\s+(?:parcel|delivery|package)\b",
    ],
    "late delivery": [
        r"\b(?:arrived|arriving|arrives|came|coming|turned\s+up|delivered|delivery|deliveries|parcel|order"
        r"|orders|package|shipping)\b[^.!?]{0,40}\blate\b",
        r"\blate\s+(?:again|delivery|deliveries|arrival)\b",
        r"\b(?:days?|weeks?)\s+(?:late|later|overdue)\b",
        r"\b(?:days?|weeks?)\s+after\s+the\s+date\b",
        r"\bstill\s+(?:waiting|not\s+(?:arrived|here|delivered))\b",
        r"\bwhere\s+is\s+my\s+(?:order|parcel|delivery|package)\b",
        r"\bmissed\s+(?:delivery|twice|again)\b|\bwindow\s+was\s+missed\b",
        r"\bstuck\s+(?:at|in)\s+(?:the\s+)?(?:depot|warehouse|customs|transit)\b",
        r"\btaking\s+(?:too|so)\s+long\b",
        r"\bfinally\s+arrived\b",
    ],
    "damaged delivery": [
        r"\barrived\s+(?:\w+\s+){0,2}(?:damaged|broken|smashed|crushed|cracked|chipped|dented|open"
        r"|in\s+pieces|leaking|wet)\b",
        r"\b(?:damaged|crushed|dented)\b",
        r"\bin\s+the\s+rain\b",
        r"\bleft\s+(?:\w+\s+){0,3}open\b",
    ],
    "billing": [
        r"\b(?:charged|charging|billed|debited)\s+(?:me\s+)?(?:twice|double|two\s+times)\b",
        r"\bdouble[\s-]+(?:charged|billed|charge|payment)\b",
        r"\bpayment\s+twice\b",
        r"\bovercharg(?:ed|ing|e)\b",
        r"\b(?:charged|billed)\s+(?:me\s+)?(?:for\s+)?(?:full\s+price|the\s+wrong|too\s+much|for\s+delivery|after)\b",
        r"\b(?:charged|billed|charging)\s+(?:me\s+)?for\s+(?:a|an|the)\b[^.!?]{0,40}\b"
        r"(?:paused|cancel+ed|returned|skipped|never)\b",
        r"\bcharge\s+on\s+my\s+(?:statement|card|account)\b",
        r"\b(?:don'?t|do\s+not)\s+recogni[sz]e\b",
        r"\b(?:discount|voucher|code|promo)\b[^.!?]{0,30}\b(?:wasn'?t|was\s+not|didn'?t|not)\s+"
        r"(?:applied|work|accepted)\b",
        r"\btook\s+(?:the|my)\s+money\b",
        r"\bwrong\s+amount\b|\bbilling\s+(?:error|issue|problem|mistake)\b",
        r"\bwithout\s+(?:any\s+)?(?:warning|notice|asking|my\s+(?:consent|permission))\b",
        r"\b(?:took|taken|taking|take)\s+(?:a\s+)?payments?\s+for\s+(?:a|an|the|my)\s+"
        r"(?:paused|cancel+ed|skipped|returned)\b",
        r"\bstill\s+waiting\s+for\s+(?:the|my)\s+money\b",
    ],
    "subscription": [
        r"\bsubscription\b[^.!?]{0,60}\b(?:even\s+though|after\s+(?:i\s+)?cancel\w*|still|won'?t"
        r"|can'?t|cannot|didn'?t|wrong|twice|renewed|keeps?)\b",
        r"\b(?:can'?t|cannot|couldn'?t|unable\s+to|how\s+do\s+i)\s+(?:\w+\s+){0,2}(?:cancel|pause|skip)\b",
        r"\bcan'?t\s+be\s+cancel+ed\b",
        r"\b(?:after|despite)\s+(?:i\s+)?(?:cancel+(?:ed|ing)|pausing|paused)\b",
        r"\beven\s+though\s+i\s+(?:paused|cancel+ed|skipped)\b",
    ],
    "refund": [
        r"\b(?:want|like|need|demand|request|requesting|asking\s+for|expect|give\s+me|get|issue)\s+"
        r"(?:a\s+|my\s+|me\s+a\s+|full\s+|a\s+full\s+)?(?:refund|money\s+back)\b",
        r"\brefund\s+me\b|\bmoney\s+back\b",
        r"\brefund\b[^.!?]{0,40}\b(?:still|hasn'?t|has\s+not|not\s+(?:yet|arrived|received)|takes|waiting"
        r"|promised)\b",
        r"\bwhere\s+is\s+my\s+refund\b",
    ],
    "cancel": [
        r"\bcancel(?:led|ed|ling|ing)?\s+(?:my|the|our|this)\s+(?:order|subscription|account|membership"
        r"|plan)\b",
        r"\b(?:close|delete)\s+my\s+account\b",
        r"\bnever\s+(?:\w+\s+){0,2}(?:order|ordering|buy|buying|shop|shopping|use|using)\b[^.!?]{0,25}"
        r"\bagain\b",
        r"\bnever\s+again\b",
        r"\b(?:done|finished)\s+with\s+(?:you|hearth|this\s+(?:shop|company))\b",
        r"\btaking\s+my\s+(?:business|custom)\s+elsewhere\b",
        r"\b(?:thinking\s+of|going\s+to|will\s+be)\s+(?:switching|moving|leaving|going\s+elsewhere)\b",
        r"\blost\s+a\s+(?:\w+\s+)?customer\b",
        r"\bwon'?t\s+be\s+(?:ordering|back|buying|shopping|renewing)\b",
        r"\bthink\s+twice\b",
        r"\bunsubscribe\b|\bstop\s+(?:sending|emailing|texting)\b",
    ],
    "allergic reaction": [
        r"\b(?:rash|rashes|hives|itchy|itching|itches|allerg(?:y|ic|ies)|reaction|irritat(?:ed|ion|ing)"
        r"|swollen|swelling|blisters?|asthma|wheez(?:y|ing)|headaches?)\b",
        r"\beyes?\s+(?:water|watering|sting|stinging|burn|burning)\b",
        r"\bthroat\s+(?:sting|stinging|burn|burning|closing|itch)\b",
        r"\b(?:came|brought\s+(?:me|him|her|them)|broke)\s+out\s+in\b",
        r"\b(?:got|was|were|felt)\s+sick\s+after\b",
    ],
    "safety": [
        r"\b(?:caught\s+fire|on\s+fire|flames?|sparks?|sparked|sparking|smok(?:e|ed|ing)|exploded"
        r"|explosion|shattered|toxic|poison(?:ous|ed)?|dangerous|unsafe|hazard(?:ous)?|injur(?:ed|y)"
        r"|fumes|electric\s+shock)\b",
        r"\bburning\s+smell\b|\bsmell(?:s|ed)?\s+of\s+(?:burning|melting)\b",
        r"\bmelt(?:ed|ing)\b|\boverheat(?:ed|ing|s)?\b|\bgot\s+(?:very\s+|really\s+|so\s+)?hot\b",
        r"\b(?:cut|burn(?:ed|t)?|hurt)\s+(?:myself|herself|himself|someone|my\s+\w+)\b",
        r"\bcould\s+have\s+hurt\b",
        r"\bchemical\s+smell\b",
        r"\bpet\s+safe\b",
    ],
}
# The themes most worth a human, for severity.
SAFETY_THEMES = frozenset({"safety", "allergic reaction"})
CHURN_THEMES = frozenset({"cancel", "refund"})
THEMES: tuple[str, ...] = tuple(_THEME_PATTERNS)

_NEGATORS = frozenset({
    "no", "not", "never", "without", "nothing", "none", "zero", "hardly", "barely", "nor",
    "neither", "if", "unless", "whether", "worried", "afraid", "nervous", "feared", "case",
    "cannot", "dont", "doesnt", "didnt", "isnt", "wasnt", "havent", "hasnt", "wont", "cant",
    "couldnt", "wouldnt", "arent", "werent",
})
_CLAUSE_WORDS = frozenset({"and", "but", "then", "so", "because", "though", "although", "however",
                           "yet", "while", "which"})
_NEGATION_WINDOW = 4
_CLAUSE_BREAK = re.compile(r"[.,;:!?()\"]")
_WORD = re.compile(r"[a-z']+")
# A problem already put right, said warmly, does not need a human.
_RESOLVED = re.compile(r"\b(?:replacement|replaced|refunded|sorted|resolved|fixed|put\s+right|swapped)\b")
_RESOLVED_MIN_TONE = 0.5
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def _any_of(patterns: list[str]) -> re.Pattern[str]:
    """One pattern that matches where any of `patterns` matches (their common leading \\b taken
    out front, so the engine tries the alternatives only at word starts). Case-sensitive: it
    runs on `_folded` text."""
    bounded = [p[2:] for p in patterns if p.startswith(r"\b")]
    rest = [f"(?:{p})" for p in patterns if not p.startswith(r"\b")]
    return re.compile("|".join([r"\b(?:" + "|".join(f"(?:{p})" for p in bounded) + ")"] * bool(bounded) + rest))


# The English patterns are lower-case ASCII and run on lower-cased text, so they are compiled
# case-sensitive, two to three times faster than with re.IGNORECASE. The only lower-case
# letters IGNORECASE would still take for theirs are the dotless i and the long s: folded one
# for one (offsets stay), so the matches are the same as with IGNORECASE.
_CASE_FOLD = str.maketrans({"\u0131": "i", "\u017f": "s"})


def _folded(lowered: str) -> str:
    return lowered.translate(_CASE_FOLD)


# A theme's own patterns are run only when its combined pattern matches, and those only when
# one pattern of all themes matches: most comments name one theme or none, and one search
# tells so faster than ninety. Same matches as each pattern on its own.
_ANY_THEME = _any_of([p for ps in _THEME_PATTERNS.values() for p in ps])
_BY_THEME: tuple[tuple[str, re.Pattern[str], tuple[re.Pattern[str], ...]], ...] = tuple(
    (theme, _any_of(ps), tuple(re.compile(p) for p in ps)) for theme, ps in _THEME_PATTERNS.items())


# Themes in the other languages the shop hears from. Keyword patterns only: the flag reads no
# tone in these languages, so an answer there is flagged on a detractor score or a named
# problem, and otherwise (without a score) goes to a human to read.
_FOREIGN_THEME_PATTERNS: dict[str, dict[str, list[str]]] = {
    "de": {
        "leaking": [r"\b(?:undicht|ausgelaufen|läuft\s+aus|leckt|tropft)\b"],
        "broken": [r"\b(?:kaputt|zerbrochen|gebrochen|defekt|beschädigt|zersprungen|gerissen)\b"],
        "stopped working": [r"\b(?:funktioniert|geht)\s+nicht\s+mehr\b"],
        "not working": [r"\bfunktioniert\s+nicht\b"],
        "wrong item": [r"\bfalsche[nrs]?\s+(?:artikel|produkt|farbe|größe|lieferung)\b"],
        "missing item": [r"\b(?:fehlt|fehlen|fehlte|nie\s+angekommen|nicht\s+angekommen)\b"],
        "late delivery": [r"\b(?:verspätet|verspätung|zu\s+spät|immer\s+noch\s+nicht)\b"],
        "damaged delivery": [r"\b(?:beschädigt|zerdrückt|eingedrückt)\b"],
        "billing": [r"\b(?:doppelt\s+(?:abgebucht|berechnet)|zweimal\s+(?:abgebucht|berechnet))\b"],
        "refund": [r"\b(?:rückerstattung|erstattung|geld\s+zurück)\b"],
        "cancel": [r"\b(?:kündigen|kündigung|stornieren|stornierung|nie\s+wieder)\b"],
        "allergic reaction": [r"\b(?:allergi\w*|ausschlag|juckreiz)\b"],
        "safety": [r"\b(?:gefährlich|brand|feuer|rauch|giftig)\b"],
    },
    "fr": {
        "leaking": [r"\b(?:fuit|fuite|a\s+coulé|coule)\b"],
        "broken": [r"\b(?:cassée?s?|brisée?s?|défectueu(?:x|se)|abîmée?s?|fissurée?s?)\b"],
        "stopped working": [r"\bne\s+fonctionne\s+plus\b|\bne\s+marche\s+plus\b"],
        "not working": [r"\bne\s+(?:fonctionne|marche)\s+pas\b"],
        "wrong item": [r"\bmauvais\s+(?:article|produit|colis)\b|\bmauvaise\s+(?:couleur|taille)\b"],
        "missing item": [r"\b(?:manquant|manque|jamais\s+(?:arrivé|reçu)|pas\s+(?:arrivé|reçu))\b"],
        "late delivery": [r"\b(?:en\s+retard|retard|toujours\s+pas)\b"],
        "damaged delivery": [r"\b(?:endommagée?s?|abîmée?s?|écrasée?s?)\b",
                             r"\barrivée?s?\s+(?:\w+\s+){0,2}cassée?s?\b"],
        "billing": [r"\b(?:débitée?s?|facturée?s?)\s+deux\s+fois\b"],
        "refund": [r"\b(?:rembours\w*)\b"],
        "cancel": [r"\b(?:annuler|résilier|résiliation|plus\s+jamais)\b"],
        "allergic reaction": [r"\b(?:allergi\w*|démangeaisons?|irritation|rougeurs?)\b"],
        "safety": [r"\b(?:dangereu(?:x|se)|incendie|feu|fumée|toxique)\b"],
    },
    "es": {
        "leaking": [r"\b(?:gotea|pierde\s+líquido|derramad[oa]|fuga)\b"],
        "broken": [r"\b(?:rot[oa]s?|dañad[oa]s?|estropead[oa]s?|defectuos[oa]s?|rajad[oa]s?|partid[oa]s?)\b"],
        "stopped working": [r"\bya\s+no\s+funciona\b|\bdejó\s+de\s+funcionar\b"],
        "not working": [r"\bno\s+funciona\b"],
        "wrong item": [r"\b(?:producto|artículo|color|talla)\s+equivocad[oa]\b"],
        "missing item": [r"\b(?:falta|faltaba|nunca\s+llegó|no\s+ha\s+llegado|no\s+llegó)\b"],
        "late delivery": [r"\b(?:con\s+retraso|retraso|tarde|todavía\s+no)\b"],
        "damaged delivery": [r"\b(?:dañad[oa]s?|aplastad[oa]s?|abollad[oa]s?)\b"],
        "billing": [r"\b(?:cobrad[oa]s?|cobraron)\s+dos\s+veces\b"],
        "refund": [r"\b(?:reembolso|devolución\s+del\s+dinero|devuelvan\s+el\s+dinero)\b"],
        "cancel": [r"\b(?:cancelar|darme\s+de\s+baja|nunca\s+más)\b"],
        "allergic reaction": [r"\b(?:alergi\w*|picazón|irritación|sarpullido)\b"],
        "safety": [r"\b(?:peligros[oa]|incendio|fuego|humo|tóxic[oa])\b"],
    },
    "it": {
        "leaking": [r"\b(?:perde|perdita|gocciola|fuoriuscit[oa])\b"],
        "broken": [r"\b(?:rott[oaie]|distrutt[oaie]|difettos[oaie]|crepat[oaie]|spaccat[oaie])\b"],
        "stopped working": [r"\bnon\s+funziona\s+più\b|\bha\s+smesso\s+di\s+funzionare\b"],
        "not working": [r"\bnon\s+funziona\b"],
        "wrong item": [r"\b(?:prodotto|articolo|colore|taglia)\s+sbagliat[oa]\b"],
        "missing item": [r"\b(?:manca|mancante|mai\s+arrivat[oa]|non\s+è\s+arrivat[oa])\b"],
        "late delivery": [r"\b(?:in\s+ritardo|ritardo|ancora\s+non)\b"],
        "damaged delivery": [r"\b(?:danneggiat[oaie]|schiacciat[oaie]|ammaccat[oaie])\b"],
        "billing": [r"\b(?:addebitat[oa]|pagat[oa])\s+due\s+volte\b"],
        "refund": [r"\b(?:rimborso|rimborsare|soldi\s+indietro)\b"],
        "cancel": [r"\b(?:disdire|annullare|cancellare|mai\s+più)\b"],
        "allergic reaction": [r"\b(?:allergi\w*|prurito|irritazione|eruzione)\b"],
        "safety": [r"\b(?:pericolos[oa]|incendio|fuoco|fumo|tossic[oa])\b"],
    },
}
# Words that deny what follows, per language ("nicht kaputt", "pas cassé", "no roto", "non rotto").
_FOREIGN_NEGATORS: dict[str, frozenset[str]] = {
    "de": frozenset({"nicht", "kein", "keine", "keinen", "nie", "ohne", "nichts", "falls", "wenn"}),
    "fr": frozenset({"pas", "jamais", "sans", "aucun", "aucune", "rien", "si"}),
    "es": frozenset({"no", "nunca", "sin", "ningún", "ninguna", "nada", "si"}),
    "it": frozenset({"non", "mai", "senza", "nessun", "nessuna", "niente", "se"}),
}
_FOREIGN_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_FOREIGN_COMPILED: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    language: tuple((theme, re.compile(p, re.IGNORECASE)) for theme, ps in themes.items() for p in ps)
    for language, themes in _FOREIGN_THEME_PATTERNS.items()
}
# Languages whose problem themes the flag can name; tone is read in English only.
THEME_LANGUAGES: tuple[str, ...] = ("en", *_FOREIGN_THEME_PATTERNS)


def _foreign_negated(text: str, start: int, negators: frozenset[str]) -> bool:
    before = _CLAUSE_BREAK.split(text[max(0, start - 60) : start])[-1]
    # "Pas arrivé" is the complaint itself in missing-item phrases; their patterns hold the negation.
    return any(w in negators for w in _FOREIGN_WORD.findall(before)[-3:])


def foreign_themes(text: str | None, language: str) -> tuple[str, ...]:
    """Problem themes (THEMES names) of a comment in German, French, Spanish or Italian,
    not negated, in THEMES order; () for another language. Reads the first MAX_JUDGED_CHARS."""
    patterns = _FOREIGN_COMPILED.get(language)
    if not text or not patterns:
        return ()
    lowered = judged_part(str(text)).translate(_QUOTES).lower()
    negators = _FOREIGN_NEGATORS[language]
    found = {theme for theme, pattern in patterns for m in pattern.finditer(lowered)
             if m.group(0).split()[0] in negators or not _foreign_negated(lowered, m.start(), negators)}
    return tuple(t for t in THEMES if t in found)


def judged_part(text: str) -> str:
    """The part of a comment the flag reads: its first MAX_JUDGED_CHARS characters. VADER's
    cost grows with the square of the length (a 200,000-character comment took two minutes);
    the whole text is kept and shown, only the judging is bounded."""
    return text[:MAX_JUDGED_CHARS]


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


def _negated(text: str, start: int) -> bool:
    """True when a negation or hypothetical sits in the same clause, a few words before `start`."""
    before = text[max(0, start - 80) : start]
    parts = _CLAUSE_BREAK.split(before)
    words = _WORD.findall(parts[-1])
    window: list[str] = []
    for word in reversed(words):
        if word in _CLAUSE_WORDS:
            break
        window.append(word)
        if len(window) >= _NEGATION_WINDOW:
            break
    return any(w in _NEGATORS or w.endswith("n't") for w in window)


def _scan(lowered: str) -> tuple[tuple[str, ...], list[tuple[int, int]]]:
    """(themes named and not negated, spans of problem words that were negated)."""
    folded = _folded(lowered)
    if not _ANY_THEME.search(folded):
        return (), []
    found: set[str] = set()
    negated: list[tuple[int, int]] = []
    for theme, any_of_theme, patterns in _BY_THEME:
        if not any_of_theme.search(folded):
            continue
        for pattern in patterns:
            for match in pattern.finditer(folded):
                if _negated(lowered, match.start()):
                    negated.append(match.span())
                else:
                    found.add(theme)
    return tuple(t for t in THEMES if t in found), negated


def problem_themes(text: str | None) -> tuple[str, ...]:
    """The retention themes an English comment names, not negated, in THEMES order."""
    if not text:
        return ()
    return _scan(judged_part(str(text)).translate(_QUOTES).lower())[0]


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
    # either (VADER only looks three words back for a negation).
    read = clean
    for start, end in negated if len(lowered) == len(clean) else ():
        clean = clean[:start] + " " * (end - start) + clean[end:]
        # The model reads n-grams, so the denial goes too ("nothing broken" -> ""), back to the
        # start of the clause.
        head = start - len(_CLAUSE_BREAK.split(lowered[max(0, start - 80) : start])[-1])
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
    sentiment: float  # -1 .. 1; 0.0 when there is no comment or it is not English
    flagged: bool
    reasons: tuple[str, ...]
    severity: float  # 0 .. 100; 0 when not flagged
    themes: tuple[str, ...]
    language: str | None = None  # ISO 639-1 code of the comment; None without one
    needs_read: bool = False  # a comment the flag cannot read, without a score: a person reads it

    @property
    def reasons_text(self) -> str:
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
    its threshold; a promoter's own score outweighs it) or a named problem. Another language:
    never read as English; flagged on a detractor score or a problem named in that language
    (de, fr, es, it); otherwise, without a score, it needs a person to read it.
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
            reasons.append(f"negative tone ({negative_probability:.0%})")
            points += 25.0 * min(1.0, max(negative_probability, -text.compound))
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
    if has_text and not flagged and not is_read_as_english(language) and not has_score:
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


def judge_distinct(triples: list[Triple], model: FlagModel, processes: int = 1) -> Judged:
    """`_judge_triples` for many distinct answers. With `processes` > 1 and PARALLEL_MIN
    answers or more, chunks of them are judged by a pool of that many fresh ("spawn")
    processes (VADER, the themes and the n-gram hashing are pure Python); the results are the
    same, in order. Only for callers run as a guarded `__main__` (a command line, a benchmark):
    spawned workers import the main module again."""
    workers = min(processes, os.cpu_count() or 1, math.ceil(len(triples) / _PARALLEL_CHUNK))
    if workers < 2 or len(triples) < PARALLEL_MIN:
        return _judge_triples(triples, model)
    payload = None if model is shipped_model() else model.to_bytes()
    chunks = [triples[i : i + _PARALLEL_CHUNK] for i in range(0, len(triples), _PARALLEL_CHUNK)]
    out: Judged = ([], [], [], [], [], [])
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for part in pool.map(_judge_triples, chunks, [payload] * len(chunks)):
            for column, values in zip(out, part, strict=True):
                column.extend(values)
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
                 model: FlagModel | None = None, processes: int = 1) -> pd.DataFrame:
    """`assess` for a whole frame: columns sentiment, flagged, flag_reasons, severity, themes,
    language, needs_read.

    `language` names a column of known ISO 639-1 codes; without it each distinct comment's
    language is detected. Works on the distinct (comment, score, language) triples only, and the
    model predicts for all distinct English comments in one vectorised pass, so 300,000 answers
    that repeat a few thousand phrases take seconds. `processes`: see `judge_distinct`.
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
        distinct = pd.unique(comments.to_numpy())
        found = dict(zip(distinct, detect_languages([c or None for c in distinct]), strict=True))
        languages = comments.map(lambda c: found[c] or "")
    languages = languages.where(comments != "", "")
    scores = pd.to_numeric(frame[nps_score], errors="coerce").fillna(-1).astype(int)
    keys = pd.DataFrame({"c": comments.to_numpy(), "s": scores.to_numpy(), "l": languages.to_numpy()})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(keys))
    triples = [(c, int(s), lang) for c, s, lang in uniques]
    judged = judge_distinct(triples, model, processes)
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


def parse_mentions(flag_reasons: str | None) -> list[str]:
    """The themes in a stored reasons string ("detractor 2; mentions: leaking, refund")."""
    if not flag_reasons:
        return []
    for part in str(flag_reasons).split("; "):
        if part.startswith("mentions: "):
            return [t.strip() for t in part[len("mentions: "):].split(",") if t.strip()]
    return []


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    flagged: int
    true_positives: int
    false_negatives: int = 0
    true_negatives: int = 0

    @property
    def false_positives(self) -> int:
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
    detractor, against the `needs_human` labels of a CSV (comment, nps_score, needs_human)."""
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
    parser = argparse.ArgumentParser(prog="python -m core.sentiment")
    parser.add_argument("--evaluate", metavar="CSV", required=True,
                        help="labelled CSV with columns comment, nps_score, needs_human")
    args = parser.parse_args(argv)
    print(format_evaluation(evaluate(args.evaluate)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
