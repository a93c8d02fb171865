"""Drill-down of the Overview's lifetime-value tiles and by-segment table: the tiles open every
customer of the fit (their values add up to "Expected revenue, next 12 months"), a row of the
table opens that segment's customers (as many as the row says, adding up to its total); manager
with names, exec by segment and region only. The store is test_overview's (sixty hand-made
customers on the demo store); the counts are checked by SQL, not by the code under test."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text as sql

from core import formatting as fmt
from db.engine import get_engine
from db.models import utcnow
from tests.pages.helpers import app_as, page_text
from tests.pages.test_overview import PAGE, _personal_data, store  # noqa: F401 - the fixture

QUERY = """SELECT coalesce(c.segment, '(none)') AS segment, COUNT(DISTINCT o.customer_id) AS n
           FROM orders o JOIN customer c ON c.id = o.customer_id WHERE o.ordered_at < :end GROUP BY 1"""


def _buyers_by_segment(url: str) -> dict[str, int]:
    end = datetime.combine(utcnow().date() + timedelta(days=1), datetime.min.time())
    with get_engine(url).connect() as conn:  # every customer with an order by D has a value
        return {str(s): int(n) for s, n in conn.execute(sql(QUERY), {"end": end})}


def _cents(values) -> int:  # noqa: ANN001
    return sum(round(float(v) * 100) for v in values)


def _opened(at):  # noqa: ANN001, ANN202
    found = [df.value for df in at.dataframe if "clv" in df.value.columns]
    assert len(found) == 1, [list(df.value.columns) for df in at.dataframe]
    return found[0]


def test_the_lifetime_value_tiles_and_segment_rows_open_their_customers(store):  # noqa: F811
    buyers = _buyers_by_segment(store)
    at = app_as("manager", PAGE, timeout=180)
    at.segmented_control(key="ov_section").set_value("Lifetime value").run()
    assert not at.exception, at.exception
    table = next(df.value for df in at.dataframe if "total_clv" in df.value.columns)
    # Keyed by the segment as the table writes it (core.formatting.label).
    totals = {str(r.segment): (int(r.customers), round(r.total_clv * 100)) for r in table.itertuples()}
    box = at.selectbox(key="ov_drill_clv_figure")
    box.set_value("all").run()
    assert not at.exception, at.exception
    rows = _opened(at)
    assert len(rows) == sum(buyers.values())
    assert rows["name"].notna().all()
    assert _cents(rows["clv"]) == sum(t for _n, t in totals.values())  # = the total tile, to the cent
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Expected revenue, next 12 months"] == fmt.money(_cents(rows["clv"]) / 100)

    segment = max(buyers, key=buyers.get)
    at.selectbox(key="ov_drill_clv_figure").set_value(f"segment:{segment}").run()
    assert not at.exception, at.exception
    rows = _opened(at)
    assert len(rows) == buyers[segment]
    assert set(rows["segment"].fillna("(none)")) == {segment}
    assert (len(rows), _cents(rows["clv"])) == totals[fmt.label(segment)]  # = the table's row, to the cent

    at = app_as("exec", PAGE, timeout=180)
    at.segmented_control(key="ov_section").set_value("Lifetime value").run()
    at.selectbox(key="ov_drill_clv_figure").set_value("all").run()
    assert not at.exception, at.exception
    rows = _opened(at)
    assert not {"name", "external_id", "customer_id"} & set(rows.columns)
    by_segment = rows.groupby("segment")["customers"].sum().to_dict()
    assert by_segment == {s: n for s, n in buyers.items()}
    leaks = [v for v in _personal_data(store) if v in page_text(at)]
    assert not leaks, leaks[:5]
