"""Who is behind a record list, and the aggregate-safe view of one: the helpers every drill-down
shares. with_people puts names in front of customer ids (personal data: raises NotAllowed for a
role that may not see it); breakdown counts the same records by segment and region (any role)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from core import kpis
from core.roles import parse_roles, require_personal_data
from db.models import Customer


def _roles(roles: Iterable[Any]) -> frozenset:
    return parse_roles([getattr(r, "value", r) for r in roles])


def _people(session: Session, ids: list[int]) -> pd.DataFrame:
    c = Customer.__table__.c
    if not ids:
        return pd.DataFrame(columns=["customer_id", "external_id", "name", "owner", "segment", "region"])
    frames = [pd.read_sql(select(c.id.label("customer_id"), c.external_id, c.name, c.owner, c.segment, c.region)
                          .where(c.id.in_(ids[i:i + 5000])), session.connection())
              for i in range(0, len(ids), 5000)]
    return pd.concat(frames, ignore_index=True)


def breakdown(*, session: Session, records: pd.DataFrame, counts: dict[str, str]) -> pd.DataFrame:
    """Records behind a chart bar or cell as aggregates only (any role): one row per segment and
    region ("(none)" where missing) with `counts`' columns, e.g. {"customers": "customer_id"}
    counts the distinct values of a column, {"orders": "sum:orders"} sums one; most first.
    `records` must have a customer_id column (Customer.id; missing for an unmatched answer)."""
    c = Customer.__table__.c
    seg = pd.read_sql(select(c.id, c.segment, c.region), session.connection()).set_index("id")
    keyed = records.join(seg, on="customer_id") if len(records) else records.assign(segment=[], region=[])
    keyed = keyed.fillna({"segment": "(none)", "region": "(none)"})
    agg = {}
    for name, how in counts.items():
        agg[name] = (how[4:], "sum") if how.startswith("sum:") else (how, "size")
    out = keyed.groupby(["segment", "region"], as_index=False).agg(**agg) if len(keyed) else pd.DataFrame(
        columns=["segment", "region", *counts])
    for name in counts:
        out[name] = out[name].astype("int64")
    first = next(iter(counts))
    return out.sort_values([first, "segment", "region"], ascending=[False, True, True]).reset_index(drop=True)[
        ["segment", "region", *counts]]


def _month_start(label: str) -> datetime:
    try:
        return datetime.strptime(label, "%Y-%m")
    except (TypeError, ValueError):
        raise kpis.KpiError(f"{label!r} is not a month: write it as YYYY-MM, e.g. 2026-03") from None


def _add_months(start: datetime, n: int) -> datetime:
    k = start.year * 12 + start.month - 1 + n
    return datetime(k // 12, k % 12 + 1, 1)


def with_people(*, session: Session, roles: Iterable[Any], records: pd.DataFrame) -> pd.DataFrame:
    """`records` (with a customer_id column, Customer.id) with the customer's external_id, name,
    owner, segment and region in front: personal data, so core.roles.NotAllowed for a role that
    may not see it (exec: use :func:`breakdown`)."""
    require_personal_data(_roles(roles))
    people = _people(session, [int(i) for i in records["customer_id"].dropna()])
    rest = [c for c in records.columns if c != "customer_id"]
    return people.merge(records, on="customer_id", how="right")[list(people.columns) + rest]
