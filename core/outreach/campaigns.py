"""Campaigns: plan and create one with its holdout, and what it earned (outcomes per outreach,
reactivation uplift against the holdout with its interval)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import insert
from sqlmodel import Session, col, select

from core import audit, money
from core.config import get_settings
from core.outreach.contexts import _lock_customers, customer_contexts
from core.outreach.rules import (
    REACTIVATION_DAYS,
    CampaignPlan,
    OutreachError,
    _check_template,
    channel_for,
    default_idempotency_key,
    in_holdout,
)
from core.outreach.trigger import AUDIT_ACTIONS, _audit_detail, _decide, _outreach_values, reason_kind
from core.refunds import refunded_cents_by_order
from db.models import (
    AuditLog,
    Campaign,
    Order,
    Outreach,
    utcnow,
)


def plan_campaign(*, session: Session, customer_ids: Sequence[int], template: str,
                  holdout_share: float = 0.10, now: datetime | None = None,
                  campaign_id: int | None = None) -> CampaignPlan:
    """How many would be contacted, held out and suppressed (by reason), before confirming.

    The holdout is drawn from the eligible customers only, so contacted and held-out groups
    are comparable. Without a campaign id yet the holdout count is the expected share.

    Raises OutreachError for a holdout share outside [0, 1).
    """
    _check_template(template)
    if not 0 <= holdout_share < 1:
        raise OutreachError("holdout share must be at least 0 and below 1")
    settings = get_settings()
    now = now or utcnow()
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return CampaignPlan(0, 0, 0, {})
    ctx = _decide(session, customer_contexts(session=session, customer_ids=ids, template=template, now=now,
                                             settings=settings), now=now, settings=settings)
    eligible = ctx[ctx["decision"] == "would_send"]
    if campaign_id is not None:
        hold = int(sum(in_holdout(campaign_id, int(c), holdout_share) for c in eligible.index))
    else:
        hold = int(round(len(eligible) * holdout_share))
    supp = ctx.loc[ctx["decision"] == "suppressed", "reason"].map(reason_kind).value_counts()
    return CampaignPlan(audience=len(ctx), contact=len(eligible) - hold, holdout=hold,
                        suppressed={str(k): int(v) for k, v in supp.items()})


def create_campaign(*, session: Session, name: str, template: str, customer_ids: Sequence[int],
                    audience_rule: dict, holdout_share: float, created_by: str,
                    now: datetime | None = None) -> Campaign:
    """Create the campaign and record every audience member's outreach in one transaction:
    queued (the worker sends), holdout, or suppressed with its reason.

    Raises OutreachError for an empty name or audience, or a holdout share outside [0, 1).
    """
    _check_template(template)
    if not name or not name.strip():
        raise OutreachError("give the campaign a name")
    if not 0 <= holdout_share < 1:
        raise OutreachError("holdout share must be at least 0 and below 1")
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        raise OutreachError("the audience is empty: select at least one customer")
    settings = get_settings()
    now = now or utcnow()
    channel = channel_for(settings)
    try:
        _lock_customers(session, ids)
        campaign = Campaign(name=name.strip(), template=template, audience_rule=json.dumps(audience_rule,
                                                                                           default=str),
                            holdout_share=holdout_share, created_by=created_by, created_at=now)
        session.add(campaign)
        session.flush()
        ctx = _decide(session, customer_contexts(session=session, customer_ids=ids, template=template,
                                                 now=now, settings=settings), now=now, settings=settings)
        # Core inserts: building 10,000s of ORM objects costs far more than the inserts themselves.
        values: list[dict] = []
        for cid, row in ctx.to_dict("index").items():  # dicts: far cheaper than iterrows' Series
            if row["decision"] == "would_send":
                status = "holdout" if in_holdout(campaign.id, int(cid), holdout_share) else "queued"
                reason = None
            else:
                status, reason = "suppressed", row["reason"]
            values.append(_outreach_values(
                customer_id=int(cid), template=template, row=row, status=status, reason=reason,
                key=default_idempotency_key(customer_id=int(cid), template=template, now=now,
                                            campaign_id=campaign.id),
                triggered_by=created_by, now=now, channel=channel, settings=settings,
                campaign_id=campaign.id, feedback_id=None))
        if values:
            session.execute(insert(Outreach.__table__), values)
        ids_by_key = dict(session.execute(select(Outreach.idempotency_key, Outreach.id)
                                          .where(Outreach.campaign_id == campaign.id)).all())
        audits = [{"at": utcnow(), "actor": created_by, "action": AUDIT_ACTIONS[v["status"]],
                   "record_type": "outreach", "record_id": str(ids_by_key[v["idempotency_key"]]),
                   "customer_id": v["customer_id"],
                   "detail": json.dumps(_audit_detail(v), default=str, sort_keys=True)} for v in values]
        if audits:
            session.execute(insert(AuditLog.__table__), audits)
        counts = pd.Series([v["status"] for v in values]).value_counts().to_dict()
        audit.record(session=session, actor=created_by, action="campaign.create", record_type="campaign",
                     record_id=campaign.id, detail={"name": campaign.name, "template": template,
                                                    "audience": len(ids), "holdout_share": holdout_share,
                                                    "audience_rule": audience_rule, "counts": counts})
        session.commit()
        session.refresh(campaign)  # loaded, so callers may read it after their session closes
        return campaign
    except BaseException:
        session.rollback()
        raise


# ---------------------------------------------------------------- results and log

RESULT_COLUMNS = [
    "campaign_id", "name", "template", "created_at", "created_by", "holdout_share", "audience",
    "contacted", "holdout", "queued", "sent", "suppressed", "failed", "contacted_inactive",
    "contacted_reactivated", "reactivation_contacted", "holdout_inactive", "holdout_reactivated",
    "reactivation_holdout", "uplift", "uplift_ci_low", "uplift_ci_high", "revenue_contacted",
    "revenue_holdout", "revenue_offer_codes", "offers_redeemed", "window_complete",
]


def uplift_interval(x_c: int, n_c: int, x_h: int, n_h: int, z: float = 1.96) -> tuple[float, float, float]:
    """Uplift: the difference of two proportions x_c / n_c - x_h / n_h (contacted minus holdout),
    with its 95 % interval (fractions); NaN for all three where a group is empty.

    The interval is Agresti and Caffo's (2000): one success and one failure added to each group,
    p = (x + 1) / (n + 2), the Wald interval of the adjusted difference, clipped to [-1, 1] and
    widened, if need be, to hold the uplift itself. The plain Wald interval it replaces had no
    width when neither group reactivated anyone (0 / 10 against 0 / 10: 0 to 0), a certainty
    ten customers a side cannot give."""
    if n_c == 0 or n_h == 0:
        return (math.nan, math.nan, math.nan)
    d = x_c / n_c - x_h / n_h
    a_c, a_h = (x_c + 1) / (n_c + 2), (x_h + 1) / (n_h + 2)
    centre = a_c - a_h
    se = math.sqrt(a_c * (1 - a_c) / (n_c + 2) + a_h * (1 - a_h) / (n_h + 2))
    return (d, min(d, max(-1.0, centre - z * se)), max(d, min(1.0, centre + z * se)))


def outreach_outcomes(*, session: Session, campaign_id: int | None = None) -> pd.DataFrame:
    """One row per campaign outreach (of one campaign if `campaign_id` is given) with its outcome.

    Columns: outreach_id, campaign_id, customer_id (Customer.id), triggered_at, status,
    offer_code, group ("contacted" = queued, being sent, sent or failed; "holdout"; "other" =
    suppressed and the like), active_before (an order in the activity horizon up to
    triggered_at), inactive (not active_before), ordered_after (an order within
    REACTIVATION_DAYS after triggered_at), reactivated (inactive and ordered_after, the
    reactivation of design.md / core.analytics.definitions), revenue_after (order totals in those
    days, money). "other" rows are never inactive, reactivated or with revenue. This is the one
    definition :func:`campaign_results` counts per campaign. No personal data beyond the id.
    """
    horizon = pd.Timedelta(days=get_settings().horizon_days)
    window = pd.Timedelta(days=REACTIVATION_DAYS)
    ostmt = select(Outreach.id.label("outreach_id"), Outreach.campaign_id, Outreach.customer_id,
                   Outreach.triggered_at, Outreach.status, Outreach.offer_code).where(
        col(Outreach.campaign_id).is_not(None))
    if campaign_id is not None:
        ostmt = ostmt.where(Outreach.campaign_id == campaign_id)
    outs = pd.read_sql(ostmt, session.connection())
    outs["triggered_at"] = pd.to_datetime(outs["triggered_at"])
    contacted_status = {"queued", "sending", "sent", "failed"}
    outs["group"] = outs["status"].map(lambda s: "contacted" if s in contacted_status
                                       else ("holdout" if s == "holdout" else "other"))
    outs["active_before"] = False
    outs["ordered_after"] = False
    outs["revenue_after_cents"] = 0
    grp = outs[outs["group"] != "other"]
    if not grp.empty:
        start = grp["triggered_at"].min() - horizon
        sub = select(Outreach.customer_id).where(col(Outreach.campaign_id).is_not(None))
        if campaign_id is not None:
            sub = sub.where(Outreach.campaign_id == campaign_id)
        orders = pd.read_sql(select(Order.id, Order.customer_id, Order.ordered_at, Order.total_cents)
                             .where(col(Order.customer_id).in_(sub.distinct()),
                                    Order.ordered_at > start.to_pydatetime()), session.connection())
        orders["ordered_at"] = pd.to_datetime(orders["ordered_at"])
        orders["total_cents"] = _net_of_refunds(session, orders)
        orders = orders.drop(columns="id")
        m = grp[["outreach_id", "customer_id", "triggered_at"]].merge(orders, on="customer_id", how="inner")
        before = m[(m["ordered_at"] > m["triggered_at"] - horizon) & (m["ordered_at"] <= m["triggered_at"])]
        after = m[(m["ordered_at"] > m["triggered_at"]) & (m["ordered_at"] <= m["triggered_at"] + window)]
        in_grp = outs["group"] != "other"
        outs["active_before"] = in_grp & outs["outreach_id"].isin(before["outreach_id"])
        outs["ordered_after"] = in_grp & outs["outreach_id"].isin(after["outreach_id"])
        outs["revenue_after_cents"] = outs["outreach_id"].map(
            after.groupby("outreach_id")["total_cents"].sum()).fillna(0).where(in_grp, 0).astype("int64")
    outs["revenue_after"] = money.units_array(outs["revenue_after_cents"])
    outs["inactive"] = (outs["group"] != "other") & ~outs["active_before"]
    outs["reactivated"] = outs["inactive"] & outs["ordered_after"]
    return outs


def _net_of_refunds(session: Session, orders: pd.DataFrame) -> pd.Series:
    """Each order's total (whole cents) less the money refunded of it (core.refunds), never below
    0: what a campaign brought in is what customers kept."""
    back = refunded_cents_by_order(session.connection(), orders["id"].tolist()) if len(orders) else pd.Series()
    return (orders["total_cents"].astype("int64")
            - orders["id"].map(back).fillna(0).astype("int64")).clip(lower=0)


def campaign_results(*, session: Session, campaign_id: int | None = None,
                     now: datetime | None = None) -> pd.DataFrame:
    """One row per campaign: counts, reactivation of contacted vs held-out, uplift, revenue.

    contacted = the eligible customers not held out (queued, being sent, sent or failed).
    Reactivation (design.md, core.analytics.definitions): inactive at outreach time (no order
    in the activity horizon before it) and an order within 30 days after; a group's rate is
    reactivated / inactive (per outreach, by :func:`outreach_outcomes`).
    Revenue: order totals less their refunds, in those 30 days (contacted and holdout groups) and
    of orders carrying one of the campaign's offer codes (first use of each code). No personal data.
    """
    now = now or utcnow()
    window = pd.Timedelta(days=REACTIVATION_DAYS)
    cstmt = select(Campaign.id.label("campaign_id"), Campaign.name, Campaign.template, Campaign.created_at,
                   Campaign.created_by, Campaign.holdout_share)
    if campaign_id is not None:
        cstmt = cstmt.where(Campaign.id == campaign_id)
    camps = pd.read_sql(cstmt.order_by(col(Campaign.created_at).desc()), session.connection())
    if camps.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    outs = outreach_outcomes(session=session, campaign_id=campaign_id)
    grp = outs[outs["group"] != "other"]
    codes = outs.dropna(subset=["offer_code"])
    redeemed = pd.DataFrame(columns=["campaign_id", "total_cents"])
    if not codes.empty:
        red = pd.read_sql(select(Order.id, Order.offer_code, Order.ordered_at, Order.total_cents)
                          .where(col(Order.offer_code).in_(
                              select(Outreach.offer_code).where(col(Outreach.campaign_id).is_not(None),
                                                                col(Outreach.offer_code).is_not(None)))),
                          session.connection())
        if not red.empty:
            red = red.sort_values("ordered_at").drop_duplicates("offer_code")  # single use: first order
            red["total_cents"] = _net_of_refunds(session, red)
            redeemed = red.merge(codes[["offer_code", "campaign_id"]], on="offer_code")
    rows = []
    for _, c in camps.iterrows():
        o = outs[outs["campaign_id"] == c["campaign_id"]]
        st_counts = o["status"].value_counts()
        g = grp[grp["campaign_id"] == c["campaign_id"]] if not grp.empty else grp
        gc = g[g["group"] == "contacted"] if not g.empty else g
        gh = g[g["group"] == "holdout"] if not g.empty else g
        nc = int(gc["inactive"].sum()) if not gc.empty else 0
        xc = int(gc["reactivated"].sum()) if not gc.empty else 0
        nh = int(gh["inactive"].sum()) if not gh.empty else 0
        xh = int(gh["reactivated"].sum()) if not gh.empty else 0
        d, lo, hi = uplift_interval(xc, nc, xh, nh)
        r = redeemed[redeemed["campaign_id"] == c["campaign_id"]]
        last_t = o["triggered_at"].max() if not o.empty else pd.NaT
        rows.append({
            **c.to_dict(),
            "audience": len(o),
            "contacted": len(gc),
            "holdout": int(st_counts.get("holdout", 0)),
            "queued": int(st_counts.get("queued", 0) + st_counts.get("sending", 0)),
            "sent": int(st_counts.get("sent", 0)),
            "suppressed": int(st_counts.get("suppressed", 0)),
            "failed": int(st_counts.get("failed", 0)),
            "contacted_inactive": nc, "contacted_reactivated": xc,
            "reactivation_contacted": xc / nc if nc else math.nan,
            "holdout_inactive": nh, "holdout_reactivated": xh,
            "reactivation_holdout": xh / nh if nh else math.nan,
            "uplift": d, "uplift_ci_low": lo, "uplift_ci_high": hi,
            # Summed in whole cents (core.money), shown in currency units.
            "revenue_contacted": money.to_units(int(gc["revenue_after_cents"].sum()) if not gc.empty else 0),
            "revenue_holdout": money.to_units(int(gh["revenue_after_cents"].sum()) if not gh.empty else 0),
            "revenue_offer_codes": money.to_units(int(r["total_cents"].sum()) if not r.empty else 0),
            "offers_redeemed": len(r),
            "window_complete": bool(pd.notna(last_t) and last_t + window <= pd.Timestamp(now)),
        })
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def uplift_window_text(*, created_at: datetime, window_complete: bool, now: datetime | None = None) -> str | None:
    """"too early: N days of 30" for a campaign whose reactivation window (REACTIVATION_DAYS
    after its outreach) has not passed, so no uplift is shown yet; None once it has."""
    if window_complete:
        return None
    days = max(0, min((pd.Timestamp(now or utcnow()) - pd.Timestamp(created_at)).days, REACTIVATION_DAYS - 1))
    return f"too early: {days} days of {REACTIVATION_DAYS}"
