"""The orders and refunds behind the Overview's money tiles (revenue, gross sales, refunds, average
order value) and behind one row of its "Offer-code revenue" table, by core.kpis' definitions.

Each row is one order or one refund of the period (D - H, D] with its amount in currency units,
exact to the cent (summed in whole cents, core.money), so the rows add up to the tile:
sum(orders' amounts) - sum(refunds' amounts) = revenue; sum(orders' amounts) = gross sales; the
number of orders = the orders tile; gross sales / orders (rounded half up) = average order value.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import literal, select
from sqlmodel import Session

from core import kpis, money
from core.config import resolve_horizon
from core.drilldown.people import _people, _roles
from core.roles import require_personal_data
from db.models import Customer, Order, Outreach, Refund

SALES_DRILLS: dict[str, str] = {
    "revenue": "Revenue (the orders and refunds of the period)",
    "gross_sales": "Gross sales (the orders of the period)",
    "refunds": "Refunds (the refunds of the period)",
    "average_order_value": "Average order value (the orders of the period)",
}

SALES_COLUMNS = ["kind", "reference", "customer_id", "at", "amount", "offer_code", "refunded_order"]


def _read(session: Session, stmt: Any) -> pd.DataFrame:  # noqa: ANN401
    return pd.read_sql(stmt, session.connection())


def _sales_cents(session: Session, which: str, as_of: date, horizon_days: int, segment: str | None,
                 region: str | None, owner: str | None, offer: tuple[str, int | None] | None = None) -> pd.DataFrame:
    """Orders (kind "order") and refunds (kind "refund", core.kpis' kind 'refund' only: a
    cancellation never counted) of (D-H, D] with amount_cents > 0, under the customer filter."""
    if which not in SALES_DRILLS and which != "offer":
        raise kpis.KpiError(f"no drill-down for {which!r}: choose one of {', '.join(SALES_DRILLS)}")
    start, end = kpis.window_bounds(as_of, horizon_days)
    conds = kpis.customer_conditions(segment, region, owner)
    o, r = Order.__table__.c, Refund.__table__.c
    frames = []
    if which != "refunds":
        stmt = select(literal("order").label("kind"), o.id, o.external_id.label("reference"), o.customer_id,
                      o.ordered_at.label("at"), o.total_cents.label("amount_cents"), o.offer_code,
                      literal(None).label("refunded_order")).where(o.ordered_at >= start, o.ordered_at < end)
        if offer is not None:
            w = Outreach.__table__.c
            template, campaign = offer
            codes = select(w.offer_code).where(w.offer_code.is_not(None), w.template == template,
                                               w.campaign_id.is_(None) if campaign is None
                                               else w.campaign_id == campaign)
            stmt = stmt.where(o.offer_code.in_(codes))
        frames.append(_read(session, kpis.filtered(stmt, o.customer_id, conds)))
    if which in ("revenue", "refunds"):
        stmt = select(literal("refund").label("kind"), r.id, r.external_id.label("reference"), r.customer_id,
                      r.refunded_at.label("at"), r.amount_cents, literal(None).label("offer_code"),
                      r.order_ref.label("refunded_order")).where(
            r.kind == "refund", r.refunded_at >= start, r.refunded_at < end)
        frames.append(_read(session, kpis.filtered(stmt, r.customer_id, conds)))
    out = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else \
        pd.DataFrame(columns=["kind", "id", "reference", "customer_id", "at", "amount_cents", "offer_code",
                              "refunded_order"])
    out["amount_cents"] = out["amount_cents"].astype("int64")
    out["at"] = pd.to_datetime(out["at"], format="ISO8601")
    return out.sort_values(["at", "kind", "id"], ascending=[False, True, True], kind="stable").reset_index(drop=True)


def sales_records(*, session: Session, roles: Iterable[Any], which: str, as_of: date, horizon_days: int | None = None,
                  segment: str | None = None, region: str | None = None,
                  owner: str | None = None) -> pd.DataFrame:
    """The orders and refunds behind one Overview money tile (a key of SALES_DRILLS) for D =
    `as_of` and the horizon H in days, under the Overview's segment/region/owner filter.

    One row per record, newest first. Columns: kind ("order" or "refund"), reference (the order's
    or refund's id in the shop), customer_id (Customer.id), external_id, name, owner, segment,
    region (the customer), at (ordered or refunded at, UTC), amount (currency units, > 0, exact
    to the cent), offer_code (orders), refunded_order (refunds: the order id the shop named).
    "revenue" lists orders and refunds (orders' amounts - refunds' amounts = the revenue tile);
    "gross_sales" and "average_order_value" the orders (their sum = gross sales, their number =
    the orders tile); "refunds" the refunds (kind 'refund'; cancellations never counted).

    Raises core.roles.NotAllowed for a role that may not see personal data (exec: use
    sales_breakdown) and core.kpis.KpiError for an unknown `which` or a horizon under a day.
    """
    horizon_days = resolve_horizon(horizon_days)
    require_personal_data(_roles(roles))
    rows = _sales_cents(session, which, as_of, horizon_days, segment, region, owner)
    return _with_names(session, rows)


def _with_names(session: Session, rows: pd.DataFrame) -> pd.DataFrame:
    people = _people(session, [int(i) for i in rows["customer_id"].unique()])
    out = rows.merge(people, on="customer_id", how="left")
    out["amount"] = money.units_array(out["amount_cents"])
    cols = ["kind", "reference", "customer_id", "external_id", "name", "owner", "segment", "region", "at",
            "amount", "offer_code", "refunded_order"]
    return out[cols].reset_index(drop=True)


def sales_breakdown(*, session: Session, which: str, as_of: date, horizon_days: int | None = None,
                    segment: str | None = None, region: str | None = None,
                    owner: str | None = None) -> pd.DataFrame:
    """The orders and refunds behind one Overview money tile as aggregates only (any role): one
    row per segment and region ("(none)" where missing) with orders (count), gross_sales,
    refunds and revenue (= gross_sales - refunds; currency units, exact to the cent), most
    orders first. The columns add up to the tiles (orders, gross sales, refunds, revenue).
    Raises core.kpis.KpiError for an unknown `which`."""
    horizon_days = resolve_horizon(horizon_days)
    rows = _sales_cents(session, which, as_of, horizon_days, segment, region, owner)
    return _breakdown(session, rows)


def _breakdown(session: Session, rows: pd.DataFrame) -> pd.DataFrame:
    cols = ["segment", "region", "orders", "gross_sales", "refunds", "revenue"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    c = Customer.__table__.c
    seg = _read(session, select(c.id, c.segment, c.region)).set_index("id")
    keyed = rows.join(seg, on="customer_id").fillna({"segment": "(none)", "region": "(none)"})
    is_order = keyed["kind"] == "order"
    keyed = keyed.assign(orders=is_order.astype("int64"),
                         gross=keyed["amount_cents"].where(is_order, 0).astype("int64"),
                         back=keyed["amount_cents"].where(~is_order, 0).astype("int64"))
    out = keyed.groupby(["segment", "region"], as_index=False)[["orders", "gross", "back"]].sum()
    out["gross_sales"] = money.units_array(out["gross"].astype("int64"))
    out["refunds"] = money.units_array(out["back"].astype("int64"))
    out["revenue"] = money.units_array((out["gross"] - out["back"]).astype("int64"))
    out = out.sort_values(["orders", "segment", "region"], ascending=[False, True, True], kind="stable")
    return out[cols].reset_index(drop=True)


def offer_code_orders(*, session: Session, roles: Iterable[Any] | None, template: str, campaign_id: int | None,
                      as_of: date, horizon_days: int | None = None, segment: str | None = None,
                      region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The orders behind one row of the Overview's "Offer-code revenue" (core.kpis.offer_code_revenue):
    orders in (D-H, D] whose offer code is the code an outreach of `template` and `campaign_id`
    (None: outreach outside a campaign) carried, under the customer filter.

    With `roles` that may see personal data: the columns of :func:`sales_records` (kind "order"),
    newest first; their number is the row's orders, their amounts add up to its revenue. With
    `roles` None: the aggregate-safe :func:`sales_breakdown` columns by segment and region.
    Raises core.roles.NotAllowed for roles that may not see personal data."""
    horizon_days = resolve_horizon(horizon_days)
    if roles is not None:
        require_personal_data(_roles(roles))
    rows = _sales_cents(session, "offer", as_of, horizon_days, segment, region, owner,
                        offer=(template, None if campaign_id is None else int(campaign_id)))
    return _breakdown(session, rows) if roles is None else _with_names(session, rows)
