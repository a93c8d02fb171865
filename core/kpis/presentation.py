"""How KPIs are written for people: values and changes as text, units, the KPI table as CSV
and the plain-text weekly summary."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlmodel import Session

from core import exporting
from core import formatting as fmt
from core.kpis.bands import band_moves
from core.kpis.definitions import KPI_INFO, REFUNDS_RULE, default_horizon
from core.kpis.figures import compute_kpis, retention_extras


def format_value(kind: str, value: Any) -> str:
    """One way of printing a KPI value, shared by the weekly summary and the Overview."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if kind == "money":
        return fmt.money(value)  # with its currency (HEARTH_CURRENCY)
    if kind == "rate":
        return f"{100 * value:.1f} %"
    if kind == "nps":
        return f"{value:+.1f}"
    return f"{int(value):,}"


def format_change(kind: str, change: Any) -> str | None:
    """One way of printing a KPI's change, always signed, shared by the weekly summary and the
    Overview: money in the configured currency (HEARTH_CURRENCY), rates in percentage points
    ("+1.5 pts"), NPS in NPS points, counts and points as whole numbers. None when there is no
    change to show (None or NaN)."""
    if change is None or (isinstance(change, float) and np.isnan(change)):
        return None
    if kind == "money":
        return fmt.signed_money(change)
    if kind == "rate":
        return f"{100 * change:+.1f} pts"
    if kind == "nps":
        return f"{change:+.1f}"
    return f"{int(change):+,}"


def weekly_summary(*, session: Session, as_of: date, horizon_days: int | None = None) -> str:
    """A plain-text weekly report: the KPIs at D with their change since last week (D - 7)
    and against the previous period (D - H), then onboarding, reactivation, support load
    and health band moves. Aggregates only: safe to mail to anyone on the exec list."""
    h = default_horizon(horizon_days)
    now = compute_kpis(session=session, as_of=as_of, horizon_days=h)
    week = compute_kpis(session=session, as_of=as_of - timedelta(days=7), horizon_days=h)
    prev = compute_kpis(session=session, as_of=as_of - timedelta(days=h), horizon_days=h)
    extras = retention_extras(session=session, as_of=as_of, horizon_days=h)
    moves = band_moves(session=session, as_of=as_of)

    lines = [
        f"Hearth weekly summary for {as_of.isoformat()}",
        f"Trailing {h} days ({(as_of - timedelta(days=h - 1)).isoformat()} to {as_of.isoformat()}), "
        f"compared with a week ago and with the {h} days before.",
        "",
    ]
    w_label, w_week = 26, 17
    header = ("KPI", "value", "vs last week", "vs prev. period")
    lines.append(f"{header[0]:<{w_label}}" + "".join(f"{h:>{w_week}}" for h in header[1:]))
    for key, info in KPI_INFO.items():
        value = format_value(info.kind, now[key])

        def delta(other: dict[str, Any], key: str = key, kind: str = info.kind) -> str:
            if now[key] is None or other[key] is None:
                return "n/a"
            return format_change(kind, now[key] - other[key]) or "n/a"

        lines.append(f"{info.label:<{w_label}}{value:>{w_week}}{delta(week):>{w_week}}{delta(prev):>{w_week}}")
    lines += [REFUNDS_RULE, "", "Onboarding, reactivation, support"]
    lines.append(
        f"  new customers ({h} days ending 60 days ago): {extras['new_customers']:,}; "
        f"second order within 60 days: {format_value('rate', extras['onboarding_second_order_rate'])}; "
        "median days to second order: "
        + ("n/a" if extras["onboarding_median_days"] is None else f"{extras['onboarding_median_days']:.1f}")
    )
    lines.append(
        f"  lapsed customers reactivated: {extras['reactivated_customers']:,} "
        f"of {extras['lapsed_customers']:,} "
        f"({format_value('rate', extras['reactivation_rate'])})"
    )
    lines.append(
        f"  support tickets: {extras['tickets']:,} "
        + ("" if extras["tickets_per_100_active"] is None
           else f"({extras['tickets_per_100_active']:.1f} per 100 active customers)")
    )
    lines.append(
        f"  subscriptions: {extras['subscriptions_active']:,} active, "
        f"{extras['subscriptions_paused']:,} paused, "
        f"{extras['subscriptions_cancelled']:,} cancelled"
    )
    lines += ["", "Health bands"]
    if moves["previous"] is None:
        lines.append("  no two score runs a week apart yet (run `python -m core score` weekly)")
    else:
        lines.append(
            f"  since {moves['previous'].isoformat()}: {moves['improved']:,} accounts improved, "
            f"{moves['worsened']:,} worsened, {moves['unchanged']:,} unchanged"
        )
        for row in moves["moves"].itertuples(index=False):
            lines.append(f"    {fmt.label(row.from_band)} -> {fmt.label(row.to_band)}: {int(row.customers):,}")
    from core.changes import weekly_lines

    lines += weekly_lines(session=session, as_of=as_of)
    return "\n".join(lines) + "\n"


def kpi_unit(kind: str) -> str:
    """The unit a KPI of ``kind`` (count, money, rate, nps, points) is written in, in words a
    spreadsheet reader understands: money in the configured currency's ISO code (HEARTH_CURRENCY)."""
    return {"money": fmt.currency_code(), "rate": "share (0.25 = 25 %)", "nps": "NPS points (-100 to 100)",
            "points": "loyalty points", "count": "count"}.get(kind, "")


def kpi_table_csv(table: pd.DataFrame) -> bytes:
    """The KPI table as UTF-8 CSV through the export safety helper: a text cell that begins
    with =, +, - or @ is written so a spreadsheet shows it instead of running it; numbers
    (negative changes too) stay numbers. A `unit` column after `kpi` says what each row's
    numbers are in (money rows: the currency code, e.g. EUR), when the table has a `key` column."""
    if "key" in table.columns and "unit" not in table.columns:
        units = table["key"].map(lambda k: kpi_unit(KPI_INFO[k].kind) if k in KPI_INFO else "")
        table = table.copy()
        table.insert(list(table.columns).index("kpi") + 1 if "kpi" in table.columns else 1, "unit", units)
    return exporting.write_csv(table)
