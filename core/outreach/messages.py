"""The text of an outreach email: each template rendered for one customer, and its HTML part."""

from __future__ import annotations

import html
from datetime import datetime

import pandas as pd

from core import formatting as fmt
from core import money
from core.config import Settings
from core.outreach.rules import OFFER_TEXT, UnknownTemplate, _day, _first_name

# ---------------------------------------------------------------- rendering


def _footer(settings: Settings) -> str:
    return (
        "\n\n--\n"
        "You get this email because you agreed to hear from Hearth Home. To unsubscribe, reply "
        "with the word UNSUBSCRIBE and we will not email you again.\n"
        f"{settings.postal_address}"
    )


def render(template: str, row: pd.Series | dict, *, offer_code: str | None, settings: Settings,
           now: datetime) -> tuple[str, str]:
    """Subject and plain-text body from the customer's own data (a row of customer_contexts).

    Raises UnknownTemplate for a template that is not one of TEMPLATES.
    """
    first = _first_name(row.get("name"))
    offer = OFFER_TEXT.get(template)
    code_line = (f"\n\nYour code for {offer}: {offer_code}\n(single use; enter it at checkout)"
                 if offer_code else "")
    if template == "win_back":
        last = row.get("last_order_at")
        since = f"since your last order on {_day(last)}" if pd.notna(last) else "for a while"
        subject = f"{first}, we miss you at Hearth Home"
        body = (f"Hello {first},\n\nWe have not seen you {since}, and your home essentials may be "
                f"running low. Come back and we will take care of the rest.{code_line}")
    elif template == "refill_reminder":
        product = row.get("product")
        days = int(row.get("replenishment_days"))
        last = row.get("last_bought_at")
        subject = f"Time to restock {product}?"
        body = (f"Hello {first},\n\nYou bought {product} on {_day(last)}. It usually lasts about {days} "
                f"days, so you may be running low around {_day(row.get('due_at'))}. Reorder now and "
                f"it arrives before you run out.{code_line}")
    elif template == "apology":
        when = _day(row.get("submitted_at"))
        score = row.get("nps_score")
        score_txt = f" (you gave us {int(score)} out of 10)" if pd.notna(score) else ""
        subject = f"{first}, we are sorry"
        body = (f"Hello {first},\n\nThank you for your feedback of {when}{score_txt}. We fell short, "
                f"and we are sorry. Our team has read what you told us and is putting it right."
                f"{code_line}")
    elif template == "points_expiring":
        pts = int(row.get("expiring_points"))
        bal = int(row.get("balance"))
        worth = money.to_units(money.times(pts, row.get("point_value", settings.point_value)))  # exact cents
        subject = f"{first}, {pts:,} of your points expire on {_day(row.get('expires_at'))}"
        body = (f"Hello {first},\n\nYou have {bal:,} loyalty points. {pts:,} of them (worth "
                f"{fmt.money(worth)}) expire on {_day(row.get('expires_at'))}. Use them on your next order "
                f"before they go.{code_line}")
    elif template == "vip_thanks":
        n = int(row.get("order_count") or 0)
        orders = f"{n} orders" if n != 1 else "one order"
        subject = f"Thank you, {first}"
        body = (f"Hello {first},\n\nYou have placed {orders} with us, and that makes you one of our "
                f"most valued customers. Thank you for making Hearth Home part of your home."
                f"{code_line}")
    else:  # pragma: no cover - _check_template runs first
        raise UnknownTemplate(template)
    return subject, body + _footer(settings)


def html_alternative(body: str) -> str:
    """The HTML part: every character of the text (customer data included) html-escaped."""
    paras = [p for p in body.split("\n\n") if p.strip()]
    inner = "\n".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>" for p in paras)
    return f'<!DOCTYPE html>\n<html><body style="font-family: sans-serif">\n{inner}\n</body></html>\n'
