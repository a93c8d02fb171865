"""Kept readers (core.readcache) for the drill-downs of the Overview, NPS and Loyalty screens (core.drilldown).

Readers of records (names, ids, comments) take the roles in their cache key and let core
check them: a role that may not see personal data gets core.roles.NotAllowed, never rows.
The breakdowns are aggregates, the same for every role."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pandas as pd
import streamlit as st

from core import drilldown, money
from core import formatting as fmt
from core.readcache import cached
from ui.auth import roles_key  # noqa: F401 - the screens call it ui.roles_key
from ui.db import get_session

# How a list of loyalty members reads on the Overview and Loyalty screens.
MEMBER_COLUMNS = {
    "external_id": st.column_config.TextColumn("Customer id"), "name": st.column_config.TextColumn("Name"),
    "owner": st.column_config.TextColumn("Owner"), "segment": st.column_config.TextColumn("Segment"),
    "region": st.column_config.TextColumn("Region"), "tier": st.column_config.TextColumn("Tier"),
    "members": st.column_config.NumberColumn("Members", format="%,d"),
    "balance": st.column_config.NumberColumn("Points held", format="%,d"),
    "earned": st.column_config.NumberColumn("Earned", format="%,d"),
    "redeemed": st.column_config.NumberColumn("Redeemed", format="%,d"),
    "expired": st.column_config.NumberColumn("Expired", format="%,d"),
    "expiring_points": st.column_config.NumberColumn("Expiring in 30 days", format="%,d"),
    "liability": st.column_config.NumberColumn(fmt.money_label("Liability"), format=fmt.money_column_format()),
}

# How a list of survey answers reads on the Overview and NPS screens (column labels and formats).
ANSWER_COLUMNS = {
    "answer_id": st.column_config.NumberColumn("Answer id", format="%d"),
    "customer": st.column_config.TextColumn("Customer id"),
    "score": st.column_config.NumberColumn("Score", format="%d"),
    "submitted_at": st.column_config.DatetimeColumn("Submitted", format="D MMM YYYY"),
    "channel": st.column_config.TextColumn("Channel"),
    "comment": st.column_config.TextColumn("Comment", width="large"),
}


@cached()
def kpi_customers(roles: tuple[str, ...], db: str, kpi: str, as_of: date, horizon_days: int,
                  segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.kpi_customers(session=session, roles=roles, kpi=kpi, as_of=as_of,
                                       horizon_days=horizon_days, segment=segment, region=region, owner=owner)


@cached()
def kpi_breakdown(db: str, kpi: str, as_of: date, horizon_days: int, segment: str | None, region: str | None,
                  owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.kpi_breakdown(session=session, kpi=kpi, as_of=as_of, horizon_days=horizon_days,
                                       segment=segment, region=region, owner=owner)


@cached()
def month_customers(roles: tuple[str, ...], db: str, month: str, as_of: date, segment: str | None,
                    region: str | None, owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.month_customers(session=session, roles=roles, month=month, as_of=as_of, segment=segment,
                                         region=region, owner=owner)


@cached()
def month_breakdown(db: str, month: str, as_of: date, segment: str | None, region: str | None,
                    owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.month_breakdown(session=session, month=month, as_of=as_of, segment=segment,
                                         region=region, owner=owner)


@cached()
def nps_answers(roles: tuple[str, ...], db: str, group: str | None, since: datetime, until: datetime,
                split: tuple[str, str] | None = None, bought: tuple[datetime, datetime] | None = None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.nps_answers(session=session, roles=roles, group=group, since=since, until=until,
                                     split=split, bought=bought)


@cached()
def nps_breakdown(db: str, group: str | None, since: datetime, until: datetime, split: tuple[str, str] | None = None,
                  bought: tuple[datetime, datetime] | None = None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.nps_breakdown(session=session, group=group, since=since, until=until, split=split,
                                       bought=bought)


@cached()
def loyalty_breakdown(db: str, as_of: date, which: str, tier: str | None = None) -> pd.DataFrame:
    with get_session() as session:
        return drilldown.loyalty_breakdown(session=session, as_of=as_of, which=which, tier=tier)



@cached()
def sales_records(roles: tuple[str, ...] | None, db: str, which: str, as_of: date, horizon_days: int,
                  segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    """The orders and refunds behind a money tile. roles None: the aggregate-safe breakdown
    (orders, gross sales, refunds and revenue by segment and region)."""
    with get_session() as session:
        if roles is None:
            return drilldown.sales_breakdown(session=session, which=which, as_of=as_of, horizon_days=horizon_days,
                                             segment=segment, region=region, owner=owner)
        return drilldown.sales_records(session=session, roles=roles, which=which, as_of=as_of,
                                       horizon_days=horizon_days, segment=segment, region=region, owner=owner)


@cached()
def offer_code_orders(roles: tuple[str, ...] | None, db: str, template: str, campaign_id: int | None, as_of: date,
                      horizon_days: int, segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    """The orders behind a row of "Offer-code revenue". roles None: the aggregate-safe breakdown."""
    with get_session() as session:
        return drilldown.offer_code_orders(session=session, roles=roles, template=template, campaign_id=campaign_id,
                                           as_of=as_of, horizon_days=horizon_days, segment=segment, region=region,
                                           owner=owner)


@cached()
def window_answers(roles: tuple[str, ...] | None, db: str, since: datetime, until: datetime) -> pd.DataFrame:
    """The NPS screen's "Answers (all)" and "Answers with a score": every answer of the window.
    roles None: the aggregate-safe breakdown (answers and scored answers by segment, region, channel)."""
    with get_session() as session:
        if roles is None:
            return drilldown.window_answer_breakdown(session=session, since=since, until=until)
        return drilldown.window_answers(session=session, roles=roles, since=since, until=until)


@cached()
def programme_records(roles: tuple[str, ...] | None, db: str, as_of: date, which: str, segment: str | None = None,
                      region: str | None = None, owner: str | None = None) -> pd.DataFrame:
    """The members behind a loyalty programme figure. roles None: the aggregate-safe breakdown
    (members, points and liability by segment and region)."""
    with get_session() as session:
        return drilldown.programme_records(session=session, roles=roles, as_of=as_of, which=which, segment=segment,
                                           region=region, owner=owner)


@cached()
def month_end_members(roles: tuple[str, ...] | None, db: str, as_of: date, month: str) -> pd.DataFrame:
    """The members behind a point of the liability line. roles None: by segment and region."""
    with get_session() as session:
        rec = drilldown.month_end_members(session=session, as_of=as_of, month=month)
        if roles is None:
            return drilldown.breakdown(session=session, records=rec,
                                       counts={"members": "customer_id", "balance": "sum:balance"})
        return drilldown.with_people(session=session, roles=roles, records=rec)


EXTRA_COUNTS = {"onboarding": {"customers": "customer_id", "came_back": "sum:came_back"},
                "lapsed": {"customers": "customer_id", "reactivated": "sum:reactivated"},
                "tickets": {"tickets": "customer_id"}, "paused": {"customers": "customer_id"},
                "cancelled": {"customers": "customer_id"}}


@cached()
def extra_records(roles: tuple[str, ...] | None, db: str, which: str, as_of: date, horizon_days: int,
                  segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    """The records behind an onboarding, reactivation, subscription or ticket tile. roles None:
    the aggregate-safe breakdown by segment and region (EXTRA_COUNTS' columns)."""
    with get_session() as session:
        rec = drilldown.extra_records(session=session, which=which, as_of=as_of, horizon_days=horizon_days,
                                      segment=segment, region=region, owner=owner)
        if roles is None:
            return drilldown.breakdown(session=session, records=rec, counts=EXTRA_COUNTS[which])
        return drilldown.with_people(session=session, roles=roles, records=rec)

# Chart bars and cells (Overview: revenue mix, cohorts; NPS: themes). Records with names for the
# roles that may see them (core checks the roles), aggregates by segment and region otherwise.

@cached()
def mix_customers(roles: tuple[str, ...] | None, db: str, month: str, kind: str, as_of: date, horizon_days: int,
                  segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    """roles None: the aggregate-safe breakdown (customers, orders by segment and region)."""
    with get_session() as session:
        rec = drilldown.mix_orders(session=session, month=month, kind=kind, as_of=as_of, horizon_days=horizon_days,
                                   segment=segment, region=region, owner=owner)
        if roles is None:
            return drilldown.breakdown(session=session, records=rec,
                                       counts={"customers": "customer_id", "orders": "sum:orders"})
        out = drilldown.with_people(session=session, roles=roles, records=rec)
        return out.sort_values(["orders", "revenue", "external_id"], ascending=[False, False, True]).reset_index(
            drop=True)


@cached()
def cohort_customers(roles: tuple[str, ...] | None, db: str, cohort: str, offset: int, as_of: date,
                     segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    """roles None: the aggregate-safe breakdown (customers by segment and region)."""
    with get_session() as session:
        rec = drilldown.cohort_customers(session=session, cohort=cohort, offset=offset, as_of=as_of,
                                         segment=segment, region=region, owner=owner)
        if roles is None:
            return drilldown.breakdown(session=session, records=rec, counts={"customers": "customer_id"})
        return drilldown.with_people(session=session, roles=roles, records=rec)


@cached()
def band_customers(roles: tuple[str, ...] | None, db: str, run: date, band: str, segment: str | None,
                   region: str | None, owner: str | None) -> pd.DataFrame:
    """roles None: the aggregate-safe breakdown (accounts by segment and region)."""
    with get_session() as session:
        rec = drilldown.band_customers(session=session, run=run, band=band, segment=segment, region=region,
                                       owner=owner)
        if roles is None:
            return drilldown.breakdown(session=session, records=rec, counts={"customers": "customer_id"})
        return drilldown.with_people(session=session, roles=roles, records=rec)


@cached()
def month_answers(roles: tuple[str, ...] | None, db: str, month: str, as_of: date, segment: str | None,
                  region: str | None, owner: str | None) -> pd.DataFrame:
    """roles None: the aggregate-safe breakdown (answers by segment, region and channel)."""
    with get_session() as session:
        if roles is None:
            return drilldown.month_answer_breakdown(session=session, month=month, as_of=as_of, segment=segment,
                                                    region=region, owner=owner)
        return drilldown.month_answers(session=session, roles=roles, month=month, as_of=as_of, segment=segment,
                                       region=region, owner=owner)


@cached()
def period_answers(roles: tuple[str, ...] | None, db: str, as_of: date, horizon_days: int, segment: str | None,
                   region: str | None, owner: str | None) -> pd.DataFrame:
    """The Overview's NPS tile. roles None: the aggregate-safe breakdown (answers by segment,
    region and channel)."""
    with get_session() as session:
        if roles is None:
            return drilldown.period_answer_breakdown(session=session, as_of=as_of, horizon_days=horizon_days,
                                                     segment=segment, region=region, owner=owner)
        return drilldown.period_answers(session=session, roles=roles, as_of=as_of, horizon_days=horizon_days,
                                        segment=segment, region=region, owner=owner)


@cached()
def theme_answers(roles: tuple[str, ...] | None, db: str, theme: str, month: str, now: datetime) -> pd.DataFrame:
    """roles None: the aggregate-safe breakdown (answers by segment, region and channel)."""
    with get_session() as session:
        if roles is None:
            return drilldown.theme_breakdown(session=session, theme=theme, month=month, now=now)
        return drilldown.theme_answers(session=session, roles=roles, theme=theme, month=month, now=now)


@cached()
def loyalty_flow_members(roles: tuple[str, ...] | None, db: str, as_of: date, month: str,
                         kind: str) -> pd.DataFrame:
    """roles None: the aggregate-safe breakdown (members and points by segment and region)."""
    with get_session() as session:
        rec = drilldown.loyalty_flow_members(session=session, as_of=as_of, month=month, kind=kind)
        if roles is None:
            return drilldown.breakdown(session=session, records=rec,
                                       counts={"members": "customer_id", "points": "sum:points"})
        return drilldown.with_people(session=session, roles=roles, records=rec)


@cached()
def campaign_customers(roles: tuple[str, ...] | None, db: str, campaign_id: int) -> pd.DataFrame:
    """roles None: the aggregate-safe breakdown (customers, contacted and held out, and how many of
    each reactivated, by segment and region)."""
    with get_session() as session:
        rec = drilldown.campaign_customers(session=session, campaign_id=campaign_id)
        if roles is None:
            contacted, held = rec["group"] == "contacted", rec["group"] == "holdout"
            counted = rec.assign(contacted=contacted.astype(int), held_out=held.astype(int),
                                 contacted_reactivated=(contacted & rec["reactivated"]).astype(int),
                                 held_out_reactivated=(held & rec["reactivated"]).astype(int))
            return drilldown.breakdown(session=session, records=counted, counts={
                "customers": "customer_id", "contacted": "sum:contacted",
                "contacted_reactivated": "sum:contacted_reactivated", "held_out": "sum:held_out",
                "held_out_reactivated": "sum:held_out_reactivated"})
        return drilldown.with_people(session=session, roles=roles, records=rec)


@cached()
def clv_bin_customers(roles: tuple[str, ...] | None, db: str, as_of: date, low: float, high: float,
                      segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    """One bar of the lifetime-value histogram. roles None: the aggregate-safe breakdown (customers
    and their summed 12-month value by segment and region)."""
    with get_session() as session:
        rec = drilldown.clv_bin_customers(session=session, as_of=as_of, low=low, high=high, segment=segment,
                                          region=region, owner=owner)
        if roles is None:
            return drilldown.breakdown(session=session, records=rec, counts={"customers": "customer_id"})
        return drilldown.with_people(session=session, roles=roles, records=rec)


@cached()
def clv_customers(roles: tuple[str, ...] | None, db: str, as_of: date, of_segment: str | None, segment: str | None,
                  region: str | None, owner: str | None) -> pd.DataFrame:
    """The lifetime-value tiles (`of_segment` None) or one by-segment row. roles None: the
    aggregate-safe breakdown (customers by segment and region)."""
    with get_session() as session:
        rec = drilldown.clv_customers(session=session, as_of=as_of, of_segment=of_segment, segment=segment,
                                      region=region, owner=owner)
        if roles is None:
            out = drilldown.breakdown(session=session, records=rec.assign(clv_cents=money.cents_array(rec["clv"])),
                                      counts={"customers": "customer_id", "clv_cents": "sum:clv_cents"})
            out["clv"] = money.units_array(out.pop("clv_cents"))
            return out
        return drilldown.with_people(session=session, roles=roles, records=rec)


def opens(chart_key: str, box_key: str, to_option: Callable[[dict], Any]) -> Callable[[], None]:
    """An on_select callback for st.plotly_chart(key=chart_key): the first selected bar, point or
    cell, turned into an option by `to_option(point)`, becomes the value of the selectbox `box_key`
    that opens the records behind it. So a click on the chart and a choice in the box open the
    same records (and the box works by keyboard). A selection cleared leaves the box as it is."""
    def _picked() -> None:
        event = st.session_state.get(chart_key) or {}
        points = (event.get("selection") or {}).get("points") or []
        if points:
            option = to_option(points[0])
            if option is not None:
                st.session_state[box_key] = option
    return _picked


def custom(point: dict, i: int = 0) -> Any:
    """Item `i` of a selected point's customdata (a scalar when the trace had one value a point).
    A numeric customdata (a frame or array of numbers, sent as a typed array) comes back as a
    dict keyed "0", "1", ...; a whole number in it comes back as an int."""
    data = point.get("customdata")
    if isinstance(data, dict):
        value = data.get(str(i))
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if isinstance(data, list | tuple):
        return data[i] if len(data) > i else None
    return data if i == 0 else None
