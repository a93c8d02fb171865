"""One place that turns values into words for the screen, exports and emails.

Money carries its currency (``HEARTH_CURRENCY``, an ISO 4217 code, EUR by default) with the
symbol and thousands separators of ``HEARTH_LOCALE`` (en_IE by default), through Babel's CLDR
data rather than a table of our own. Rates are fractions shown as percentages, dates read
"30 Nov 2026", internal codes (``win_back``, ``small_business``) become labels, and a missing
value is shown as a blank or a dash, never as "None" or "nan". Pure Python: no streamlit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from babel.core import Locale, UnknownLocaleError
from babel.numbers import (
    format_compact_decimal,
    format_currency,
    format_decimal,
    get_currency_symbol,
)

from core.config import get_settings
from core.money import to_units as money_units

DASH = "–"
# Words that are acronyms on screen, whatever their case in the data.
_ACRONYMS = {"vip": "VIP", "nps": "NPS", "rfm": "RFM", "aov": "AOV", "clv": "CLV", "sms": "SMS", "id": "id",
             "sla": "SLA", "mfa": "MFA", "ltv": "LTV"}


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value)) or str(value) in {"NaT", "<NA>"}
    except TypeError:
        return False


def _locale() -> str:
    name = get_settings().locale
    try:
        Locale.parse(name)
    except (ValueError, UnknownLocaleError):
        return "en_IE"
    return name


def currency_code() -> str:
    """The configured ISO 4217 currency code, upper case (``HEARTH_CURRENCY``; EUR by default)."""
    return (get_settings().currency or "EUR").strip().upper()


def currency_symbol() -> str:
    """The configured currency's symbol in the configured locale: "€" for EUR, "£" for GBP."""
    return get_currency_symbol(currency_code(), locale=_locale())


def money(value: Any, *, decimals: int = 2, missing: str = DASH) -> str:
    """An amount in the configured currency with thousands separators: 4264123.45 -> "€4,264,123.45".

    ``decimals`` is 2 for prices and totals, 0 for rounded figures such as value at risk.
    None or NaN gives ``missing`` (a dash by default)."""
    if _missing(value):
        return missing
    pattern = "¤#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return format_currency(float(value), currency_code(), format=pattern, locale=_locale(),
                           currency_digits=False)


def money_cents(cents: Any, *, decimals: int = 2, missing: str = DASH) -> str:
    """An amount stored in cents (core.money) as :func:`money`: 426412345 -> "€4,264,123.45".
    None or NaN gives ``missing``."""
    return money(money_units(cents), decimals=decimals, missing=missing)


def money_compact(value: Any, *, missing: str = DASH) -> str:
    """An amount short enough for a metric tile: 4264123.45 -> "€4.26M", 2647.22 -> "€2.65K",
    below 1,000 the full amount ("€844.87"; "€2,647.22" did not fit a tile). Show :func:`money`
    in the tile's help."""
    if _missing(value):
        return missing
    amount = float(value)
    if abs(amount) < 1_000:
        return money(amount)
    for unit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        # Always two decimals, so tiles side by side read alike ("€14.40K", not "€14.4K" beside
        # "€78.67K"); 999,999 reads "€1.00M", not "€1000.00K".
        if round(abs(amount) / unit, 2) >= 1:
            return money(round(amount / unit, 2)) + suffix
    return money(amount)


def signed_money(value: Any, *, decimals: int = 2, missing: str = DASH) -> str:
    """A change in money with its sign: 12.5 -> "+€12.50", -3 -> "-€3.00"."""
    if _missing(value):
        return missing
    text = money(abs(float(value)), decimals=decimals)
    return ("-" if float(value) < 0 else "+") + text


def money_column_format(decimals: int = 2) -> str:
    """A printf format for st.column_config.NumberColumn showing the currency symbol and thousands
    separators: "€%,.2f"."""
    return f"{currency_symbol()}%,.{decimals}f"


def money_label(text: str) -> str:
    """A column or axis name with the currency: "Revenue" -> "Revenue (€)"."""
    return f"{text} ({currency_symbol()})"


def count(value: Any, *, missing: str = DASH) -> str:
    """A whole number with thousands separators: 8917 -> "8,917"."""
    if _missing(value):
        return missing
    return format_decimal(int(value), format="#,##0", locale=_locale())


def count_of(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun in the right number: (1, "member") -> "1 member", (2,391, "member") ->
    "2,391 members"; `plural` where adding "s" is wrong ("entries")."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def count_compact(value: Any, *, missing: str = DASH) -> str:
    """A whole number short enough for a metric tile: below a million in full ("913,294"), from a
    million on compact ("13.29M"). Show :func:`count` in the tile's help."""
    if _missing(value):
        return missing
    if abs(int(value)) < 1_000_000:
        return count(value)
    return format_compact_decimal(int(value), locale=_locale(), fraction_digits=2)


def percent(rate: Any, *, decimals: int = 1, missing: str = DASH) -> str:
    """A fraction as a percentage: 0.1234 -> "12.3 %". None or NaN gives ``missing``."""
    if _missing(rate):
        return missing
    return f"{100 * float(rate):.{decimals}f} %"


def date_text(value: Any, *, missing: str = DASH) -> str:
    """A date (or the date of a datetime) as "30 Nov 2026"."""
    if _missing(value):
        return missing
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return f"{value.day} {value:%b %Y}"


def datetime_text(value: Any, *, missing: str = DASH) -> str:
    """A date and time to the minute as "30 Nov 2026 14:05" (the time as stored: UTC)."""
    if _missing(value):
        return missing
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{date_text(value)} {value:%H:%M}"


def day_month(value: date | datetime) -> str:
    """A day of the current year, without it: "1 Dec" (for ranges "1 Dec to 7 Dec 2026")."""
    return f"{value.day} {value:%b}"


def label(code: Any, labels: Mapping[str, str] | None = None, *, missing: str = "") -> str:
    """An internal code as words: the name in ``labels`` if it has one, otherwise the code with
    underscores as spaces and a capital first letter ("small_business" -> "Small business",
    "vip" -> "VIP"). None gives ``missing`` (a blank)."""
    if _missing(code):
        return missing
    text = str(code)
    if labels and text in labels:
        return labels[text]
    words = text.replace("_", " ").replace("-", " ").split()
    if not words:
        return text
    words = [_ACRONYMS.get(w.lower(), w) for w in words]
    first = words[0]
    if first not in _ACRONYMS.values():
        first = first[:1].upper() + first[1:]
    return " ".join([first, *words[1:]])


# Delivery channels by code: the outbox is where messages wait when no mail server or webhook
# is set (core.outreach.rules.default_channel), so its name says so.
CHANNEL_LABELS: dict[str, str] = {"email": "Email", "sms": "SMS", "webhook": "Webhook",
                                  "outbox": "Local outbox (no mail server set)"}


def channel_label(code: Any) -> str:
    """A delivery channel in words: "outbox" -> "Local outbox (no mail server set)"."""
    return label(code, CHANNEL_LABELS)


# Outreach templates by code, as the screens, exports and emails name them (core.outreach reads it).
TEMPLATE_LABELS: dict[str, str] = {
    "win_back": "Win-back offer",
    "refill_reminder": "Refill reminder",
    "apology": "Apology",
    "points_expiring": "Points expiring",
    "vip_thanks": "VIP thank-you",
}


def text(value: Any) -> str:
    """A value for a table cell or caption: None or NaN as a blank, anything else as str."""
    return "" if _missing(value) else str(value)


def template_label(code: Any) -> str:
    """An outreach template's name on screen: "win_back" -> "Win-back offer"."""
    return label(code, TEMPLATE_LABELS)


_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


def _detail_words(item: Any, sep: str = ", ") -> str:
    if isinstance(item, dict):
        return sep.join(f"{label(k)} ({_detail_words(v)})" if isinstance(v, dict) else
                        f"{label(k)}: {_detail_words(v)}" for k, v in item.items()
                        if not (_missing(v) or v == "" or v == [] or v == {}))
    if isinstance(item, list):
        return ", ".join(_detail_words(v) for v in item)
    if isinstance(item, str) and _CODE.fullmatch(item):
        return label(item)  # an internal code ("ticket_open") in words ("Ticket open")
    if isinstance(item, str) and _ISO_TIME.fullmatch(item):
        # A date ("2026-12-03" -> "3 Dec 2026"), with its time to the minute when it has one.
        when = item[10:].lstrip("T ")[:5]
        return date_text(item) + (f" {when}" if when else "")
    return str(item)


def detail_text(value: Any) -> str:
    """A stored JSON detail as words: '{"from": "new", "to": "acknowledged"}' -> "From: new; To:
    acknowledged". Keys become labels, empty values are left out, internal codes among the
    values ("ticket_open") read as words ("Ticket open"), a nested object reads as
    "Key (Inner key: value, ...)"; text that is not JSON is returned as it is, None as a blank."""
    if _missing(value):
        return ""
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    return _detail_words(data, "; ")
