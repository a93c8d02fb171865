"""English problem themes of a comment: negation-aware patterns, each naming a retention
theme (leaking, broken, late delivery, billing, refund, cancel, allergic reaction, safety, ...).

"No leaks so far" and "nothing missing" do not count; "if it ever leaks" does not either.
Only the first MAX_JUDGED_CHARS characters of a comment are judged.
"""

from __future__ import annotations

import re

# The flag reads this many characters of a comment (see judged_part).
MAX_JUDGED_CHARS = 4000
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})

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
        r"\b(?:rash|rashes|hives|itch|itched|itchy|itching|itches|blotch(?:es|y)?|welts?|allerg(?:y|ic|ies)"
        r"|reaction|irritat(?:ed|ion|ing)"
        r"|swollen|swelling|blisters?|asthma|wheez(?:y|ing)|headaches?)\b",
        r"\beyes?\s+(?:water|watering|sting|stinging|burn|burning)\b",
        r"\bthroat\s+(?:sting|stinging|burn|burning|closing|itch)\b",
        r"\b(?:came|brought\s+(?:\w+\s+){1,2}|broke)\s*out\s+in\b",
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
# tells so faster than ninety. Same matches as each pattern on its own. (Every pattern starts
# with \b, so each combined one is "\b(?:...)", tried at a given position by `match`.)
_ANY_THEME = _any_of([p for ps in _THEME_PATTERNS.values() for p in ps])
_BY_THEME: tuple[tuple[str, re.Pattern[str], tuple[re.Pattern[str], ...]], ...] = tuple(
    (theme, _any_of(ps), tuple(re.compile(p) for p in ps)) for theme, ps in _THEME_PATTERNS.items())


def judged_part(text: str) -> str:
    """The part of a comment the flag reads: its first MAX_JUDGED_CHARS characters. VADER's
    cost grows with the square of the length (a 200,000-character comment took two minutes);
    the whole text is kept and shown, only the judging is bounded."""
    return text[:MAX_JUDGED_CHARS]


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
    match = _ANY_THEME.search(folded)
    if not match:
        return (), []
    # Every position where some pattern matches (a theme matches only at one of them); each
    # theme's combined pattern is then tried there alone, not searched along the whole text.
    starts: list[int] = []
    while match:
        starts.append(match.start())
        match = _ANY_THEME.search(folded, match.start() + 1)
    found: set[str] = set()
    negated: list[tuple[int, int]] = []
    for theme, any_of_theme, patterns in _BY_THEME:
        if not any(any_of_theme.match(folded, start) for start in starts):
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


def parse_mentions(flag_reasons: str | None) -> list[str]:
    """The themes in a stored reasons string ("detractor 2; mentions: leaking, refund")."""
    if not flag_reasons:
        return []
    for part in str(flag_reasons).split("; "):
        if part.startswith("mentions: "):
            return [t.strip() for t in part[len("mentions: "):].split(",") if t.strip()]
    return []
