"""Placeholder until the demo generator lands (branch demo)."""

from sqlmodel import Session

from db.models import Customer


def load_demo(*, engine, customers, seed, today=None, progress=None):  # noqa: ANN001, ANN201
    with Session(engine) as s:
        s.add(Customer(external_id="C1", name="Placeholder"))
        s.commit()
    return {"customers": 1}
