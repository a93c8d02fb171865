"""core.email_address: one rule for an address; the fast path answers as email-validator does."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from core.email_address import InvalidEmail, check_email, email_problem


def _library_says_valid(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@pytest.mark.parametrize("address", [
    "ada@example.com", "first.last+tag@mail.example", "o'brien@example.org", "zoë@exämple.com",
    "a..b@example.com", ".a@example.com", "a.@example.com", "a@-x.com", "a@x..com", "a@x_y.com",
    "a@localhost", "a@example.local", "x@test", "a@[192.0.2.1]", '"a b"@example.com', "a@@example.com",
    "@example.com", "a@", "no-at-sign", "x" * 65 + "@example.com", "a@" + "b" * 250 + ".com",
    "Ada <ada@example.com>", "ada@example.com ",
])
def test_fast_path_agrees_with_email_validator(address):
    assert (email_problem(address) is None) == _library_says_valid(address)


@pytest.mark.parametrize(("address", "why"), [
    ("victim@example.com\r\nBcc: all@example.net", "contains a line break or another control character"),
    ("victim@example.com\n", "contains a line break or another control character"),
    ("a\x00b@example.com", "contains a line break or another control character"),
    ("someone@example.com, other@example.net", "holds more than one address"),
    ("a@example.com;b@example.com", "holds more than one address"),
])
def test_spreadsheet_mistakes_are_named_in_plain_words(address, why):
    assert email_problem(address).startswith(why)
    with pytest.raises(InvalidEmail, match="is not a valid email address"):
        check_email(address)


def test_a_valid_address_is_returned_unchanged():
    assert check_email("Ada@Example.COM") == "Ada@Example.COM"


def test_a_staff_user_added_by_hand_gets_one_valid_address(session):
    from core.users import UserError, add_user, get_user

    with pytest.raises(UserError, match="'ops@example.com, boss@example.com' is not a valid email address"):
        add_user(session=session, username="ops", name="Ops", password="a long enough passphrase 42",
                 roles="admin", email="ops@example.com, boss@example.com")
    assert get_user(session=session, username="ops") is None
    user = add_user(session=session, username="ops", name="Ops", password="a long enough passphrase 42",
                    roles="admin", email="ops@example.com")
    assert user.email == "ops@example.com"
