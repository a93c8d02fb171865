"""Admin → Precomputed figures: what is stored and a button that recomputes the day's figures."""

from __future__ import annotations

from sqlmodel import Session, delete, select

from db.engine import get_engine
from db.models import PrecomputedResult
from tests.pages.helpers import app_as, page_text

PAGE = "views/admin.py"


def test_admin_sees_the_stored_results_and_recomputes_them(demo_app: str) -> None:
    from ui.db import _precompute_runs

    engine = get_engine(demo_app)
    with Session(engine) as session:
        stored = session.exec(select(PrecomputedResult.name)).all()
    assert "kpis.compute_kpis" in stored  # the demo store was precomputed when it was made
    at = app_as("admin", PAGE)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Stored results"] == f"{len(stored):,}"
    table = next(df.value for df in at.dataframe if {"name", "params", "computed_at"} <= set(df.value.columns))
    assert "loyalty.ledger_summary" in set(table["name"])

    with Session(engine) as session:  # forget everything, then ask for it again
        session.exec(delete(PrecomputedResult))
        session.commit()
    at.run()
    table = next(df.value for df in at.dataframe if {"name", "params", "computed_at"} <= set(df.value.columns))
    assert "kpis.compute_kpis" not in set(table["name"])  # (the Loyalty tab recomputed its own figure)
    at.button(key="precompute_now").click().run()
    assert "Started" in page_text(at)
    assert _precompute_runs()[demo_app].wait(timeout=300) == 0
    with Session(engine) as session:
        names = set(session.exec(select(PrecomputedResult.name)).all())
    assert {"kpis.compute_kpis", "kpis.customer_facts", "loyalty.ledger_summary", "feedback.nps_counts"} <= names
