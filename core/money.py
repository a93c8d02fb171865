"""Money, exactly: whole cents from the file to the screen, and one rounding rule.

Hearth stores every amount as an integer number of cents (``orders.total_cents``,
``refund.amount_cents``, ``order_line.unit_price_cents``, ``product.unit_price_cents``,
``score_snapshot.value_at_risk_cents``) and sums in integers, so a total never depends on the
order of a float sum and a test compares to the cent.

The one rule: an amount that is not a whole number of cents (a file's "12.345", an average
order value 37.04 / 3 = 12.3466..., a liability of points x a fractional point value) is
rounded to the nearest cent, half away from zero ("half-up": 12.345 -> 12.35, -0.005 ->
-0.01). :func:`to_cents` and :func:`divide` apply it; nothing else in Hearth rounds money.

Figures handed to the screens and ``kpis --json`` are in currency units (``to_units``: cents /
100, the float that prints as exactly those cents); features for the churn model may be floats
in currency units too: the model is not where money is kept.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import numpy as np

CENT = Decimal("0.01")
# How the rule reads where a user sees it (import problems, docs).
RULE = "amounts are rounded to the cent, half away from zero (12.345 -> 12.35)"


def _decimal(value: Any) -> Decimal:
    """A number as a Decimal: a float (numpy's too) by its shortest decimal text, so 12.345 is
    "12.345", not the binary 12.3449999...; an integer (numpy's too) exactly."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | np.integer):
        return Decimal(int(value))
    if isinstance(value, float | np.floating):
        return Decimal(repr(float(value)))
    return Decimal(str(value).strip())


def from_text(text: str) -> int:
    """Cents from an amount as written ("12.34", "-5", "1e2", " 3.5 "), by the one rule.

    Read with Decimal, so "0.1" is exactly 10 cents. Raises ValueError for text that is not
    a finite number (empty, "abc", "NaN", "inf")."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not an amount")
    return to_cents(value)


def to_cents(value: Decimal | float | int | str) -> int:
    """Cents from an amount in currency units (12.345 -> 1235), rounded half away from zero.

    A float is read as its shortest decimal text (``repr``: 12.345 is "12.345", not the
    binary 12.3449999...), so a float that was once typed as a decimal rounds as written.
    Raises ValueError for NaN or an infinity."""
    try:
        value = _decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    if not value.is_finite():
        raise ValueError(f"{value!r} is not an amount")
    return int(value.quantize(CENT, rounding=ROUND_HALF_UP) * 100)


def divide(cents: int, by: int | float | Decimal) -> int:
    """``cents / by`` in whole cents by the one rule: divide(3704, 3) = 1235 (1234.67 cents),
    divide(2469, 2) = 1235 (1234.5 cents, half up). Raises ZeroDivisionError for ``by`` 0."""
    quotient = Decimal(int(cents)) / _decimal(by)
    return int(quotient.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def divide_array(cents: Any, by: Any) -> np.ndarray:
    """:func:`divide` element-wise on integer arrays (whole cents / a positive whole count, e.g.
    gross sales / orders), in integers, half away from zero; NaN (float) where ``by`` is 0."""
    c = np.asarray(cents, dtype="int64")
    n = np.asarray(by, dtype="int64")
    safe = np.where(n > 0, n, 1)
    q = np.sign(c) * ((2 * np.abs(c) + safe) // (2 * safe))
    return np.where(n > 0, q.astype("float64"), np.nan)


def cents_array(units: Any) -> np.ndarray:
    """Whole cents (int64) from an array of floats in currency units (a model's forecast), by the
    one rule, half away from zero; the float noise below a millionth of a cent is ignored first
    (12.345 * 100 is 1234.4999999999998 in floats: 1235). NaN is not allowed."""
    x = np.asarray(units, dtype="float64") * 100
    return (np.sign(x) * np.floor(np.round(np.abs(x), 6) + 0.5)).astype("int64")


def times(amount: Decimal | float | int, factor: Decimal | float | int) -> int:
    """``amount x factor`` in whole cents by the one rule, the product in currency units:
    times(500, 0.01) (500 points at a point value of 0.01) = 500 cents; times(3, 0.005) = 2."""
    return to_cents(_decimal(amount) * _decimal(factor))


def to_units(cents: Any) -> float | None:
    """Currency units from cents for a screen or JSON: 1235 -> 12.35 (the float that prints as
    exactly those cents). None or NaN gives None."""
    if cents is None or (isinstance(cents, float) and math.isnan(cents)):
        return None
    return int(cents) / 100


def units_array(cents: Any) -> np.ndarray:
    """Currency units (float64) from an array or Series of cents, NaN kept: for frames and
    charts (each value prints as exactly its cents)."""
    return np.asarray(cents, dtype="float64") / 100


def format(cents: Any) -> str:  # noqa: A001 - money.format reads well
    """Cents as plain decimal text with two places, for a CSV export or a message: 123456 ->
    "1234.56", -5 -> "-0.05". None or NaN gives "". On screen, core.formatting.money adds the
    currency."""
    if cents is None or (isinstance(cents, float) and math.isnan(cents)):
        return ""
    c = int(cents)
    sign = "-" if c < 0 else ""
    return f"{sign}{abs(c) // 100}.{abs(c) % 100:02d}"
