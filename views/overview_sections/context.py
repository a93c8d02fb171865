"""The filters and period the Overview reads once, and the helpers every section shares:
the KPI tile, and the tables of customers or sales behind a chart bar or a count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.config import resolve_horizon
from core.kpis import KPI_INFO, format_change, format_value
from core.roles import may_see_personal_data
from db.models import utcnow
from ui import drilldown as drill_data
from ui import kpis as data
from ui.filters import start_at

ALL = "All"


def _words(value: str) -> str:
    """A filter choice as words: "All" as it is, a segment or region code as a label ("Small business")."""
    return value if value == ALL else fmt.label(value)

# Labels short enough for a tile six to a row; the full name is in the tile's help.
SHORT_LABELS = {"average_order_value": "Avg order value", "repeat_purchase_rate": "Repeat purchase",
                "loyalty_outstanding_points": "Points outstanding", "loyalty_liability": "Points liability"}

# Tiles of one width in rows that wrap: six to a row at 1440 px, fewer on a narrower screen,
# never a figure cut off.
TILE_WIDTH = 140


@dataclass(frozen=True)
class Context:
    """What every section needs: who looks (user, personal, drill_roles), which data (db) and
    the filters (as_of day, horizon in days, segment, region, owner; None for all)."""

    user: Any  # ui.auth.CurrentUser
    db: str
    as_of: date
    horizon: int
    segment: str | None
    region: str | None
    owner: str | None

    @property
    def args(self) -> tuple:
        """(db, as_of, horizon, segment, region, owner): the readers over the period."""
        return (self.db, self.as_of, self.horizon, self.segment, self.region, self.owner)

    @property
    def flt(self) -> tuple:
        """(db, as_of, segment, region, owner): the readers over the last year."""
        return (self.db, self.as_of, self.segment, self.region, self.owner)

    @property
    def scope(self) -> str:
        """The filter in words ("segment vip, region north"), empty for all customers."""
        return ", ".join(f"{k} {v}" for k, v in (("segment", self.segment), ("region", self.region),
                                                 ("owner", self.owner)) if v)

    @property
    def personal(self) -> bool:
        """The user's roles may see names and ids (else aggregates by segment and region)."""
        return may_see_personal_data(self.user.roles)

    @property
    def drill_roles(self) -> tuple[str, ...] | None:
        """The roles key the drill-down readers take: None for aggregates only."""
        return drill_data.roles_key(self.user.roles) if self.personal else None


def read_filters(user: Any, db: str) -> Context:  # noqa: ANN401 - ui.auth.CurrentUser
    """Draw the filter row (as-of day, period, segment, region, owner) and return its values."""
    options = data.filter_options(db)
    with st.container(border=True):
        c1, c2, c3, c4, c5 = st.columns([1.2, 1, 1, 1, 1])
        start_at("ov_as_of", utcnow().date())
        as_of = c1.date_input("As of", key="ov_as_of", min_value=date(2000, 1, 1),
                              help="KPIs are computed at the end of this day.")
        # The configured horizon (HEARTH_HORIZON_DAYS) is the default, as on the command line.
        horizons = sorted({30, 60, 90, 180, 365, resolve_horizon()})
        start_at("ov_horizon", resolve_horizon())
        horizon = c2.selectbox("Period (days)", horizons, key="ov_horizon",
                               help="The activity horizon H: the days each KPI covers, ending on the as-of date.")
        seg = c3.selectbox("Segment", [ALL, *options["segment"]], key="ov_segment", format_func=_words)
        reg = c4.selectbox("Region", [ALL, *options["region"]], key="ov_region", format_func=_words)
        own = c5.selectbox("Account owner", [ALL, *options["owner"]], key="ov_owner")
    segment, region, owner = (None if v == ALL else v for v in (seg, reg, own))
    return Context(user=user, db=db, as_of=as_of, horizon=horizon, segment=segment, region=region, owner=owner)


def metric(col: Any, kpi: pd.DataFrame, key: str) -> None:  # noqa: ANN401 - a Streamlit container
    """One KPI tile in `col`: compact value, change, and the full figure and definition in its help."""
    info = KPI_INFO[key]
    row = kpi.loc[key]
    if info.kind == "money":
        # Compact in the tile ("€4.26M") so it is never cut off; the full amount in the help.
        value = fmt.money_compact(row["current"], missing="n/a")
        delta = None if row["change"] is None or row["change"] != row["change"] else fmt.signed_money(row["change"])
        full = f"{info.label}: {fmt.money(row['current'], missing='n/a')}. "
    elif info.kind in ("count", "points") and row["current"] is not None and abs(row["current"]) >= 1_000_000:
        value, delta = fmt.count_compact(row["current"]), format_change(info.kind, row["change"])
        full = f"{info.label}: {fmt.count(row['current'])}. "
    else:
        value, delta = format_value(info.kind, row["current"]), format_change(info.kind, row["change"])
        full = f"{info.label}. " if key in SHORT_LABELS else ""
    col.metric(
        SHORT_LABELS.get(key, info.label),
        value,
        delta=delta,
        delta_color="normal" if info.higher_is_better else "inverse",
        help=full + row["definition"],
        width=TILE_WIDTH,
    )


SALES_COLUMNS = {
    "kind": st.column_config.TextColumn("Record"), "reference": st.column_config.TextColumn("Order or refund id"),
    "external_id": st.column_config.TextColumn("Customer id"), "name": st.column_config.TextColumn("Name"),
    "owner": st.column_config.TextColumn("Owner"), "segment": st.column_config.TextColumn("Segment"),
    "region": st.column_config.TextColumn("Region"),
    "at": st.column_config.DatetimeColumn("Ordered or refunded", format="D MMM YYYY HH:mm"),
    "amount": st.column_config.NumberColumn(fmt.money_label("Amount"), format=fmt.money_column_format()),
    "offer_code": st.column_config.TextColumn("Offer code"),
    "refunded_order": st.column_config.TextColumn("Refund of order"),
    "orders": st.column_config.NumberColumn("Orders", format="%,d"),
    "gross_sales": st.column_config.NumberColumn(fmt.money_label("Gross sales"), format=fmt.money_column_format()),
    "refunds": st.column_config.NumberColumn(fmt.money_label("Refunds"), format=fmt.money_column_format()),
    "revenue": st.column_config.NumberColumn(fmt.money_label("Revenue"), format=fmt.money_column_format()),
}


def show_sales(rows: pd.DataFrame, key: str, what: str) -> None:
    """Orders and refunds (roles that may see them) or their breakdown by segment and region."""
    if "kind" in rows.columns:
        orders, refunds = rows[rows["kind"] == "order"], rows[rows["kind"] == "refund"]
        st.caption(f"{len(orders):,} orders ({fmt.money(orders['amount'].sum())}) and {len(refunds):,} refunds "
                   f"({fmt.money(refunds['amount'].sum())}) {what}, newest first.")
        st.dataframe(rows.drop(columns=["customer_id"]), hide_index=True, key=key, column_config=SALES_COLUMNS,
                     placeholder=fmt.DASH)
    else:
        st.caption(f"Your role sees aggregates only: the orders and refunds {what}, by segment and region.")
        st.dataframe(rows, hide_index=True, key=key, column_config=SALES_COLUMNS, placeholder=fmt.DASH)


PEOPLE_COLUMNS = {
    "external_id": st.column_config.TextColumn("Customer id"), "name": st.column_config.TextColumn("Name"),
    "owner": st.column_config.TextColumn("Owner"), "segment": st.column_config.TextColumn("Segment"),
    "region": st.column_config.TextColumn("Region"), "orders": st.column_config.NumberColumn("Orders", format="%,d"),
    "customers": st.column_config.NumberColumn("Customers", format="%,d"),
    "revenue": st.column_config.NumberColumn(fmt.money_label("Order totals"), format=fmt.money_column_format()),
    "first_order": st.column_config.DateColumn("First order", format="D MMM YYYY"),
    "orders_in_period": st.column_config.NumberColumn("Orders in the period", format="%,d"),
    "orders_previous_period": st.column_config.NumberColumn("Orders in the period before", format="%,d"),
    "health_score": st.column_config.NumberColumn("Health", format="%d"),
    "churn_percent": st.column_config.NumberColumn("Churn risk", format="%.1f %%"),
    "clv": st.column_config.NumberColumn(fmt.money_label("12-month value"), format=fmt.money_column_format()),
    "expected_orders": st.column_config.NumberColumn("Expected orders, 12 months", format="%.2f"),
    "p_alive": st.column_config.NumberColumn("Still a customer (probability)", format="%.1f %%"),
    "balance": st.column_config.NumberColumn("Points held", format="%,d"),
    "members": st.column_config.NumberColumn("Members", format="%,d"),
}


def show_records(frame: pd.DataFrame, key: str, what: str) -> None:
    """The records behind a chart bar or cell: customers (roles that may see them) or, for the
    others, the same records by segment and region."""
    if "p_alive" in frame.columns:  # a probability 0-1, shown as a percentage ("87.5 %")
        frame = frame.assign(p_alive=frame["p_alive"].astype(float) * 100)
    if "customer_id" in frame.columns:
        st.caption(f"{len(frame):,} customers {what}.")
        st.dataframe(frame.drop(columns=["customer_id"]), hide_index=True, key=key, column_config=PEOPLE_COLUMNS,
            placeholder=fmt.DASH)
    else:
        st.caption(f"Your role sees aggregates only: the customers {what}, by segment and region.")
        st.dataframe(frame, hide_index=True, key=key, column_config=PEOPLE_COLUMNS, placeholder=fmt.DASH)
