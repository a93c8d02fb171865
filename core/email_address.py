"""One rule for a customer's email address, used where it enters (the customers import) and
again where it leaves (outreach trigger and the worker, for addresses stored before the rule).

A valid address is one mailbox, `local@domain`, as email-validator accepts it without
asking DNS (check_deliverability=False: an import must not depend on the network): no
display name, no list (a comma or semicolon), no spaces, no line break or other control
character. The check is syntax only; whether the mailbox exists is the mail server's answer.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH, LOCAL_PART_MAX_LENGTH


class InvalidEmail(ValueError):
    """An address that cannot be sent to; the message says why in plain words."""


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def email_problem(address: str) -> str | None:
    """Why `address` is not one valid email address (plain words), or None when it is.

    Our own words for the cases a spreadsheet produces (a line break, a list of addresses);
    email-validator's otherwise.
    """
    if _has_control(address):
        return "contains a line break or another control character"
    if "," in address or ";" in address:
        return "holds more than one address (a comma or semicolon): give one address per customer"
    local, at, domain = address.rpartition("@")
    if (at and address.isascii() and len(address) <= EMAIL_MAX_LENGTH
            and len(local) <= LOCAL_PART_MAX_LENGTH and DOT_ATOM_TEXT.match(local)):
        # The plain ASCII local part that nearly every address has, by email-validator's own
        # pattern; the domain once per distinct domain (100,000 rows hold a few dozen), which is
        # what makes a large customers import fast.
        return _domain_problem(domain)
    return _validator_problem(address)


def _validator_problem(address: str) -> str | None:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=4096)
def _domain_problem(domain: str) -> str | None:
    return _validator_problem(f"postmaster@{domain}")


def check_email(address: str) -> str:
    """`address` unchanged when it is one valid email address; raises InvalidEmail otherwise."""
    problem = email_problem(address)
    if problem is not None:
        raise InvalidEmail(f"{address!r} is not a valid email address: {problem}")
    return address
