"""Every export kind escapes text a spreadsheet would run as a formula, through the one rule
(core.exporting.safe_cell): a cell starting with =, +, -, @, a tab or a carriage return gets a
leading apostrophe, whichever export carries it (the screens' tables once had a four-character
copy that let a tab or carriage return through)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlmodel import Session

from core.exporting import EXPORT_KINDS, export_bytes
from core.roles import Role
from db.models import ScoreSnapshot
from tests.factories import make_customer, make_feedback, make_loyalty, make_order

STARTS = ("=", "+", "-", "@", "\t", "\r")


def test_every_export_escapes_every_formula_start(session: Session) -> None:
    customers = []
    for i, start in enumerate(STARTS):
        hostile = f"{start}HYPERLINK(1)"
        c = make_customer(session, name=hostile, external_id=f"{hostile}{i}")  # the id: in every export
        make_order(session, c, datetime(2026, 1, 10), 20.0)
        make_feedback(session, c, datetime(2026, 1, 12), nps_score=2, comment=hostile)
        make_loyalty(session, c, datetime(2026, 1, 10), "earn", 20)
        session.add(ScoreSnapshot(customer_id=c.id, as_of=datetime(2026, 1, 15).date(), health_score=50,
                                  band="watch", churn_probability=0.4))
        customers.append(c)
    session.commit()
    seen = {}
    for kind in EXPORT_KINDS:
        data = export_bytes(session=session, kind=kind, roles=frozenset({Role.ADMIN}), actor="admin")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        cells = [cell for row in rows[1:] for cell in row if "HYPERLINK(1)" in cell]
        # Each hostile value is in the file behind an apostrophe (a bare CR is read back as a
        # line break inside its quoted cell).
        assert cells and all(cell.startswith("'") for cell in cells), (kind, cells)
        seen[kind] = {cell[1] for cell in cells}
    assert all(seen[kind] == {"=", "+", "-", "@", "\t", "\n"} for kind in seen), seen
