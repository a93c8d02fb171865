"""Kept readers for the Overview (core.readcache). Every result is an aggregate (no names,
emails, phones or comments), the same for every role, so the key is the database, the date,
the horizon, the filter and the data generation: a write anywhere shows at the next run."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from core import formatting as fmt
from core import kpis
from core.config import get_settings
from core.readcache import cached
from db.engine import session_scope
from ui.db import app_engine, get_session

# The Overview's first screen: the figures besides the KPI table, computed on these threads
# while the script computes the table (see start_first_screen).
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hearth-overview")


def db_key() -> str:
    return get_settings().database_url


def _in_session(engine: Any, job: Callable[..., Any]) -> None:  # noqa: ANN401 - an Engine
    try:
        with session_scope(engine) as session:
            job(session=session)
    except Exception:  # noqa: BLE001 - not kept; the script computes it again and shows the error
        logging.getLogger("hearth").debug("a figure computed alongside failed", exc_info=True)


def start_first_screen(as_of: date, horizon_days: int, segment: str | None, region: str | None,
                       owner: str | None, *, trends: bool) -> list[Future]:
    """Start the figures the Overview's first screen shows besides the KPI table's current
    period (the table's previous period; onboarding, reactivation and support; with ``trends``
    the trend and monthly sales too) on two threads of their own, so they are computed while
    the script computes the KPI table: DuckDB's queries run beside the loyalty ledger's pandas.
    Each is core.kpis's own kept function with the very arguments the screen's readers below
    pass, so the script's call finds the value kept, or waits for the one computation under way
    (core.readcache computes a key once). The request's read scope goes with them (one read of
    each table). Nothing else is started: only what this screen is about to draw, for the
    filter it shows. Returns the computations' futures (each None, or None after a failure the
    script's own call will meet)."""
    engine = app_engine()
    kw = {"as_of": as_of, "segment": segment, "region": region, "owner": owner}
    # The KPI table's previous period first (core.kpis.compare_kpis computes D, then D - H); both
    # read the order periods at D (core.kpis.activity), computed once by whichever asks first; the
    # extras, trend and monthly sales read the order history, computed meanwhile on the other thread.
    jobs = [partial(kpis.period_kpis, horizon_days=horizon_days, back=1, **kw),
            partial(kpis.retention_extras, horizon_days=horizon_days, **kw)]
    if trends:
        jobs += [partial(kpis.kpi_trend, horizon_days=horizon_days, **kw),
                 partial(kpis.monthly_sales, months=12, horizon_days=horizon_days, **kw)]
    return [_pool.submit(contextvars.copy_context().run, _in_session, engine, job) for job in jobs]


@cached()
def filter_options(db: str) -> dict[str, list[str]]:
    with get_session() as session:
        return kpis.filter_options(session=session)


@cached()
def kpi_table(db: str, as_of: date, horizon_days: int, segment: str | None, region: str | None,
              owner: str | None) -> pd.DataFrame:
    with st.spinner('Computing the KPIs for this selection…'), get_session() as session:
        return kpis.compare_kpis(session=session, as_of=as_of, horizon_days=horizon_days,
                                 segment=segment, region=region, owner=owner)


@cached()
def extras(db: str, as_of: date, horizon_days: int, segment: str | None, region: str | None,
           owner: str | None) -> dict[str, Any]:
    with st.spinner('Counting onboarding, reactivation and support load…'), get_session() as session:
        return kpis.retention_extras(session=session, as_of=as_of, horizon_days=horizon_days,
                                     segment=segment, region=region, owner=owner)


@cached()
def trend(db: str, as_of: date, horizon_days: int, segment: str | None, region: str | None,
          owner: str | None) -> pd.DataFrame:
    with st.spinner("Computing the year's trend…"), get_session() as session:
        return kpis.kpi_trend(session=session, as_of=as_of, horizon_days=horizon_days,
                              segment=segment, region=region, owner=owner)


@cached()
def monthly(db: str, as_of: date, horizon_days: int, segment: str | None, region: str | None,
            owner: str | None) -> pd.DataFrame:
    with st.spinner('Adding up sales by month…'), get_session() as session:
        return kpis.monthly_sales(session=session, as_of=as_of, months=12, segment=segment, region=region,
                                  owner=owner, horizon_days=horizon_days)


@cached()
def cohorts(db: str, as_of: date, segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    with st.spinner('Building the cohorts from every first order…'), get_session() as session:
        return kpis.cohort_matrix(session=session, as_of=as_of, months=12, segment=segment, region=region,
                                  owner=owner)


@cached()
def revenue_split(db: str, as_of: date, horizon_days: int, segment: str | None, region: str | None,
                  owner: str | None) -> pd.DataFrame:
    with st.spinner('Splitting revenue by kind of customer…'), get_session() as session:
        return kpis.revenue_split(session=session, as_of=as_of, months=12, horizon_days=horizon_days,
                                  segment=segment, region=region, owner=owner)


@cached()
def bands(db: str, as_of: date, segment: str | None, region: str | None,
          owner: str | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    with get_session() as session:
        mix = kpis.band_mix(session=session, as_of=as_of, segment=segment, region=region, owner=owner)
        moves = kpis.band_moves(session=session, as_of=as_of, segment=segment, region=region, owner=owner)
    return mix, moves


@cached()
def band_move_breakdown(db: str, as_of: date, from_band: str, to_band: str, segment: str | None,
                        region: str | None, owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return kpis.band_move_breakdown(session=session, from_band=from_band, to_band=to_band, as_of=as_of,
                                        segment=segment, region=region, owner=owner)


@cached()
def nps_trend(db: str, as_of: date, segment: str | None, region: str | None,
              owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return kpis.nps_trend(session=session, as_of=as_of, months=12, segment=segment, region=region,
                              owner=owner)


@cached()
def loyalty_by_month(db: str, as_of: date) -> pd.DataFrame:
    """Points earned, redeemed, expired per month and the liability at each month's end
    (core.loyalty's ledger; the whole store)."""
    from core import loyalty

    with get_session() as session:
        return loyalty.monthly_summary(session=session, as_of=as_of, months=12)


@cached()
def offer_codes(db: str, as_of: date, horizon_days: int, segment: str | None, region: str | None,
                owner: str | None) -> pd.DataFrame:
    with get_session() as session:
        return kpis.offer_code_revenue(session=session, as_of=as_of, horizon_days=horizon_days,
                                       segment=segment, region=region, owner=owner)


@cached()
def campaigns(db: str) -> pd.DataFrame:
    from core.outreach import campaign_results

    with get_session() as session:
        return campaign_results(session=session)


@cached()
def lifetime_value(db: str, as_of: date, segment: str | None, region: str | None,
                   owner: str | None) -> dict[str, Any]:
    """Aggregates of the CLV fit only: per-customer rows never leave this function."""
    # Imported here: the models (scipy) cost a first Overview that does not show this section.
    from core import clv
    from core.drilldown import clv_bin_edges, clv_histogram

    with st.spinner('Fitting the lifetime-value models…'), get_session() as session:
        try:
            res = clv.customer_lifetime_value(session=session, as_of=as_of, segment=segment, region=region,
                                              owner=owner)
        except clv.ClvError as exc:
            return {"error": str(exc)}
    c = res.customers
    bins = clv_bin_edges(c["clv"], currency=fmt.currency_code())
    return {
        "customers": len(c),
        "total": res.total,
        "mean": res.mean,
        "median": res.median,
        # Customers per fixed bin (core.drilldown.clv_bin_edges): a bar a click opens.
        "bins": bins,
        "histogram": clv_histogram(c["clv"], bins, money=lambda x: fmt.money(x, decimals=0)),
        "by_segment": res.by_segment(),
        "bgnbd": res.bgnbd,
        "gamma_gamma": res.gamma_gamma,
    }


