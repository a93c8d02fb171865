"""The customers import refuses an address that is not one valid mailbox, naming the row and
the address, and imports nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from core.importing import ImportFailed, import_csv
from db.models import Customer


def _import(session, text: str):
    return import_csv(session=session, kind="customers", data=text.encode(), filename="customers.csv",
                      actor="admin")


def test_line_break_and_list_addresses_refuse_the_file(session):
    text = ("customer_id,name,email\r\n"
            "C1,Ada,ada@example.com\r\n"
            '"C2",Victim,"victim@example.com\r\nBcc: all@example.net"\r\n'
            "C3,Two,\"someone@example.com, other@example.net\"\r\n"
            "C4,Semi,a@example.com;b@example.com\r\n"
            "C5,Grace,grace@example.com\r\n")
    with pytest.raises(ImportFailed) as err:
        _import(session, text)
    # Spreadsheet rows: the header is row 1, so C2 is row 3 (its cell spans two lines of the file).
    problems = {(p.row, p.column, p.value): p.message for p in err.value.problems}
    assert set(problems) == {(3, "email", "victim@example.com\r\nBcc: all@example.net"),
                             (4, "email", "someone@example.com, other@example.net"),
                             (5, "email", "a@example.com;b@example.com")}
    assert problems[(3, "email", "victim@example.com\r\nBcc: all@example.net")] == (
        "is not a valid email address: contains a line break or another control character")
    assert "more than one address" in problems[(4, "email", "someone@example.com, other@example.net")]
    message = str(err.value)
    assert "3 problems; nothing was imported" in message
    assert "row 4, column email: 'someone@example.com, other@example.net' is not a valid email" in message
    assert session.exec(select(Customer)).all() == []  # all or nothing: not even C1 and C5


def test_a_display_name_or_missing_domain_dot_is_refused_and_empty_is_allowed(session):
    with pytest.raises(ImportFailed) as err:
        _import(session, "customer_id,email\nC1,Ada <ada@example.com>\nC2,ada@localhost\nC3,\n")
    assert [(p.row, p.value) for p in err.value.problems] == [(2, "Ada <ada@example.com>"),
                                                              (3, "ada@localhost")]
    summary = _import(session, "customer_id,email\nC1,ada@example.com\nC2,zoë@exämple.com\nC3,\n")
    assert summary.inserted == 3
    stored = dict(session.exec(select(Customer.external_id, Customer.email)).all())
    assert stored == {"C1": "ada@example.com", "C2": "zoë@exämple.com", "C3": None}
