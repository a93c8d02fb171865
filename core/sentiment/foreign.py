"""Problem themes in German, French, Spanish, Italian, Dutch and Portuguese: keyword patterns
with the negations of each language. The flag reads no tone in these languages."""

from __future__ import annotations

import re

from core.sentiment.themes import _CLAUSE_BREAK, _QUOTES, THEMES, judged_part

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
    "nl": {
        "leaking": [r"\b(?:lekt|lekte|lekkage|lek|gelekt|druppelt)\b"],
        "broken": [r"\b(?:kapot|gebroken|defect|beschadigd|gescheurd|gebarsten)\b"],
        "stopped working": [r"\bwerkt\s+niet\s+meer\b|\bdoet\s+het\s+niet\s+meer\b"],
        "not working": [r"\bwerkt\s+niet\b|\bdoet\s+het\s+niet\b"],
        "wrong item": [r"\bverkeerde?\s+(?:artikel|product|kleur|maat|levering)\b"],
        "missing item": [r"\b(?:ontbreekt|ontbraken|ontbrak|nooit\s+aangekomen|niet\s+aangekomen|niet\s+ontvangen)\b"],
        "late delivery": [r"\b(?:te\s+laat|vertraagd|vertraging|nog\s+steeds\s+niet)\b"],
        "damaged delivery": [r"\b(?:beschadigd|geplet|gedeukt)\b", r"\bkapot\s+aan\b"],
        "billing": [r"\b(?:dubbel|twee\s+keer)\s+(?:afgeschreven|betaald|gefactureerd)\b"],
        "refund": [r"\b(?:terugbetaling|geld\s+terug|restitutie)\b"],
        "cancel": [r"\b(?:opzeggen|annuleren|nooit\s+meer)\b"],
        "allergic reaction": [r"\b(?:allergi\w*|uitslag|jeuk)\b"],
        "safety": [r"\b(?:gevaarlijk|brand|vuur|rook|giftig)\b"],
    },
    "pt": {
        "leaking": [r"\b(?:vaza|vazou|vazamento|vazando|pinga)\b"],
        "broken": [r"\b(?:partid[oa]s?|quebrad[oa]s?|danificad[oa]s?|estragad[oa]s?|defeituos[oa]s?|rachad[oa]s?)\b"],
        "stopped working": [r"\bjá\s+não\s+funciona\b|\bdeixou\s+de\s+funcionar\b|\bparou\s+de\s+funcionar\b"],
        "not working": [r"\bnão\s+funciona\b"],
        "wrong item": [r"\b(?:produto|artigo|cor|tamanho)\s+errad[oa]\b"],
        "missing item": [r"\b(?:falta|faltava|nunca\s+chegou|não\s+chegou)\b"],
        "late delivery": [r"\b(?:atrasad[oa]|atraso|ainda\s+não|à\s+espera)\b"],
        "damaged delivery": [r"\b(?:danificad[oa]s?|amassad[oa]s?|esmagad[oa]s?)\b"],
        "billing": [r"\b(?:cobrad[oa]s?|cobraram)\s+duas\s+vezes\b"],
        "refund": [r"\b(?:reembolso|devolução\s+do\s+dinheiro|devolver|devolvam)\b"],
        "cancel": [r"\b(?:cancelar|nunca\s+mais)\b"],
        "allergic reaction": [r"\b(?:alergi\w*|comichão|coceira|irritação)\b"],
        "safety": [r"\b(?:perigos[oa]|incêndio|fogo|fumo|fumaça|tóxic[oa])\b"],
    },
}
# Words that deny what follows, per language ("nicht kaputt", "pas cassé", "no roto", "non rotto").
_FOREIGN_NEGATORS: dict[str, frozenset[str]] = {
    "de": frozenset({"nicht", "kein", "keine", "keinen", "nie", "ohne", "nichts", "falls", "wenn"}),
    "fr": frozenset({"pas", "jamais", "sans", "aucun", "aucune", "rien", "si"}),
    "es": frozenset({"no", "nunca", "sin", "ningún", "ninguna", "nada", "si"}),
    "it": frozenset({"non", "mai", "senza", "nessun", "nessuna", "niente", "se"}),
    "nl": frozenset({"niet", "geen", "nooit", "zonder", "niets", "als", "indien"}),
    "pt": frozenset({"não", "nunca", "sem", "nenhum", "nenhuma", "nada", "se"}),
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
    """Problem themes (THEMES names) of a comment in German, French, Spanish, Italian, Dutch or Portuguese,
    not negated, in THEMES order; () for another language. Reads the first MAX_JUDGED_CHARS."""
    patterns = _FOREIGN_COMPILED.get(language)
    if not text or not patterns:
        return ()
    lowered = judged_part(str(text)).translate(_QUOTES).lower()
    negators = _FOREIGN_NEGATORS[language]
    found = {theme for theme, pattern in patterns for m in pattern.finditer(lowered)
             if m.group(0).split()[0] in negators or not _foreign_negated(lowered, m.start(), negators)}
    return tuple(t for t in THEMES if t in found)
