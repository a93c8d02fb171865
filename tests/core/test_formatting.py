"""core.formatting: every expected string below is written by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from core import formatting as fmt
from core.config import get_settings


@pytest.fixture
def currency(monkeypatch: pytest.MonkeyPatch):
    def use(code: str, locale: str = "en_IE") -> None:
        monkeypatch.setenv("HEARTH_CURRENCY", code)
        monkeypatch.setenv("HEARTH_LOCALE", locale)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def euro(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HEARTH_CURRENCY", raising=False)
    monkeypatch.delenv("HEARTH_LOCALE", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_money_has_the_euro_by_default_and_thousands_separators() -> None:
    assert fmt.money(844.87) == "€844.87"
    assert fmt.money(4264123.456) == "€4,264,123.46"
    assert fmt.money(0) == "€0.00"
    assert fmt.money(1234.5, decimals=0) == "€1,234"
    assert fmt.money(-12.5) == "-€12.50"


def test_missing_money_is_a_dash_never_none() -> None:
    assert fmt.money(None) == "–"
    assert fmt.money(float("nan")) == "–"
    assert fmt.money(None, missing="n/a") == "n/a"


def test_compact_money_fits_a_tile() -> None:
    assert fmt.money_compact(4264123.45) == "€4.26M"
    assert fmt.money_compact(84412.0) == "€84.41K"
    assert fmt.money_compact(844.87) == "€844.87"
    assert fmt.money_compact(2647.22) == "€2.65K"  # "€2,647.22" was cut off in its tile
    # Two decimals always (Babel's compact form dropped a trailing zero: "€14.4K" beside "€78.67K").
    assert fmt.money_compact(14400.0) == "€14.40K"
    assert fmt.money_compact(1200) == "€1.20K"
    assert fmt.money_compact(999_999) == "€1.00M"
    assert fmt.money_compact(-2_500_000) == "-€2.50M"
    assert fmt.money_compact(999.99) == "€999.99"


def test_signed_money() -> None:
    assert fmt.signed_money(12.5) == "+€12.50"
    assert fmt.signed_money(-3) == "-€3.00"


def test_another_currency_and_locale(currency) -> None:  # noqa: ANN001
    currency("GBP", "en_GB")
    assert fmt.money(1234.5) == "£1,234.50"
    assert fmt.money_column_format() == "£%,.2f"
    assert fmt.money_label("Revenue") == "Revenue (£)"
    currency("EUR", "de_DE")
    assert fmt.money(1234.5) == "€1.234,50"


def test_column_format_and_label_carry_the_symbol() -> None:
    assert fmt.money_column_format() == "€%,.2f"
    assert fmt.money_column_format(0) == "€%,.0f"
    assert fmt.money_label("Liability") == "Liability (€)"


def test_counts_percentages_and_dates() -> None:
    assert fmt.count(8917) == "8,917"
    assert fmt.count(None) == "–"
    assert fmt.percent(0.1234) == "12.3 %"
    assert fmt.percent(1) == "100.0 %"
    assert fmt.percent(None) == "–"
    assert fmt.date_text(date(2026, 11, 3)) == "3 Nov 2026"
    assert fmt.date_text(datetime(2026, 11, 30, 23, 59)) == "30 Nov 2026"
    assert fmt.date_text("2026-01-05") == "5 Jan 2026"
    assert fmt.date_text(None) == "–"


def test_codes_become_labels() -> None:
    assert fmt.label("small_business") == "Small business"
    assert fmt.label("vip") == "VIP"
    assert fmt.label("north") == "North"
    assert fmt.label(None) == ""
    assert fmt.label("at_risk", {"at_risk": "At risk"}) == "At risk"
    assert fmt.template_label("win_back") == "Win-back offer"
    assert fmt.template_label("vip_thanks") == "VIP thank-you"


def test_text_blanks_missing_values() -> None:
    assert fmt.text(None) == ""
    assert fmt.text(float("nan")) == ""
    assert fmt.text("alice") == "alice"


def test_stored_details_read_as_words() -> None:
    assert fmt.detail_text('{"from": "new", "to": "acknowledged", "note": null}') == "From: new; To: acknowledged"
    assert fmt.detail_text('{"roles": ["admin", "exec"], "offer_code": ""}') == "Roles: admin, exec"
    assert fmt.detail_text("not json at all") == "not json at all"
    # Internal codes among the values, and nested objects, read as words (the Admin audit log
    # showed 'ticket_open' and a raw JSON object for a saved task rule).
    assert fmt.detail_text('{"reason": "refill_overdue", "rules": {"ticket_open": {"sla_days": 3}}}') == (
        "Reason: Refill overdue; Rules (Ticket open (SLA days: 3))")
    assert fmt.detail_text('{"file": "orders_2024.csv", "to": "sam@example.com"}') == (
        "File: orders_2024.csv; To: sam@example.com")
    assert fmt.detail_text(None) == ""
    # Dates among the values read as the screens write dates (a task's due date read 2026-12-03).
    assert fmt.detail_text('{"due": "2026-12-03", "sent": "2026-12-01T09:05:31.5"}') == (
        "Due: 3 Dec 2026; Sent: 1 Dec 2026 09:05")


def test_date_and_time_text() -> None:
    assert fmt.datetime_text(datetime(2026, 12, 1, 9, 5, 31)) == "1 Dec 2026 09:05"
    assert fmt.datetime_text("2026-11-17T07:17:00") == "17 Nov 2026 07:17"
    assert fmt.datetime_text(None) == "–"


def test_audit_actions_in_words() -> None:
    from core.audit import action_text

    assert action_text("task.create") == "Task created"
    assert action_text("loyalty.redeem") == "Points redeemed"
    assert action_text("import.orders.rejected") == "Import orders refused"
    assert action_text("mfa.reset") == "MFA reset"
    assert action_text("something.new_thing") == "Something new thing"


def test_compact_counts_from_a_million() -> None:
    assert fmt.count_compact(913294) == "913,294"
    assert fmt.count_compact(13294000) == "13.29M"
    assert fmt.count_compact(None) == "–"


def test_a_count_takes_its_noun_in_the_right_number() -> None:
    from core.formatting import count_of

    assert count_of(1, "member") == "1 member"
    assert count_of(0, "member") == "0 members"
    assert count_of(2391, "member") == "2,391 members"
    assert count_of(3, "entry", "entries") == "3 entries"


def test_a_day_in_text_has_no_leading_zero() -> None:
    from datetime import date, datetime

    from core.formatting import date_text, day_month

    assert date_text(date(2026, 12, 1)) == "1 Dec 2026"
    assert date_text(datetime(2026, 9, 3, 23, 59)) == "3 Sep 2026"
    assert day_month(date(2026, 12, 1)) == "1 Dec"
