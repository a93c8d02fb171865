"""What changed since the last scoring run: per account manager, the accounts whose band
dropped, who answered as a detractor, whose refill became overdue, or whose loyalty points
are about to expire, newest first.

"The last scoring run" is the newest scoring date on or before D; "since" means after the
scoring date before it. Bands and refills compare the two runs' snapshots; detractors are
answers (NPS 0 to 6) submitted after the earlier run up to the end of the newer one; points
about to expire are the members whose points expire within 30 days after the newer run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from core.roles import Role, require_personal_data
from db.models import Customer, Feedback, ScoreSnapshot

CHANGE_KINDS: dict[str, str] = {
    "band_dropped": "Band dropped",
    "turned_detractor": "Turned detractor",
    "refill_overdue": "Refill became overdue",
    "points_expiring": "Points about to expire",
}
BAND_RANK = {"at_risk": 0, "watch": 1, "healthy": 2}
BAND_WORDS = {"at_risk": "At risk", "watch": "Watch", "healthy": "Healthy"}
DETRACTOR_MAX = 6
COLUMNS = ["at", "kind", "change", "customer_id", "external_id", "name", "owner", "detail"]


@dataclass
class ChangeFeed:
    """The changes between two scoring runs (`since` is None before there are two)."""

    as_of: date | None
    since: date | None
    rows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COLUMNS))


def _as_date(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        return value.date()
    return value  # type: ignore[return-value]


def scoring_dates(*, session: Session, as_of: date | None = None) -> tuple[date | None, date | None]:
    """(newest scoring date on or before `as_of`, the scoring date before it); None where missing."""
    stmt = select(func.max(ScoreSnapshot.as_of))
    if as_of is not None:
        stmt = stmt.where(ScoreSnapshot.as_of <= as_of)
    newest = _as_date(session.execute(stmt).scalar())
    if newest is None:
        return None, None
    before = _as_date(session.execute(select(func.max(ScoreSnapshot.as_of))
                                      .where(ScoreSnapshot.as_of < newest)).scalar())
    return newest, before


def _end_of(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), datetime.min.time())


def what_changed(*, session: Session, roles: frozenset[Role], owner: str | None = None,
                 as_of: date | None = None, limit: int = 500) -> ChangeFeed:
    """The changes since the last scoring run, newest first (at most `limit` rows), for the
    accounts of `owner` (None: every account). Columns: at (date), kind (a CHANGE_KINDS key),
    change (its label), customer_id, external_id, name, owner, detail (the numbers, in words).

    Raises PermissionError (via require_personal_data) for a role that may not see accounts.
    """
    require_personal_data(roles)
    newest, before = scoring_dates(session=session, as_of=as_of)
    if newest is None or before is None:
        return ChangeFeed(as_of=newest, since=before)
    conn = session.connection()
    new, old = aliased(ScoreSnapshot), aliased(ScoreSnapshot)
    rank = {k: v for k, v in BAND_RANK.items()}

    def band_rank(col):  # noqa: ANN001, ANN202
        return case(*[(col == k, v) for k, v in rank.items()], else_=-1)

    base = (select(Customer.id.label("customer_id"), Customer.external_id, Customer.name, Customer.owner,
                   new.band.label("band_new"), old.band.label("band_old"),
                   new.days_overdue.label("over_new"), old.days_overdue.label("over_old"))
            .join(new, (new.customer_id == Customer.id) & (new.as_of == newest))
            .join(old, (old.customer_id == Customer.id) & (old.as_of == before)))
    if owner is not None:
        base = base.where(Customer.owner == owner)
    moved = pd.read_sql(base.where((band_rank(new.band) < band_rank(old.band))
                                   | ((new.days_overdue > 0) & ((old.days_overdue <= 0)
                                                                | old.days_overdue.is_(None)))), conn)
    parts = []
    if len(moved):
        drop = moved[moved["band_new"].map(BAND_RANK) < moved["band_old"].map(BAND_RANK)]
        parts.append(drop.assign(
            at=newest, kind="band_dropped",
            detail="from " + drop["band_old"].map(BAND_WORDS) + " to " + drop["band_new"].map(BAND_WORDS)))
        late = moved[(moved["over_new"] > 0) & ~(moved["over_old"] > 0)]
        days = late["over_new"].round().astype(int)
        parts.append(late.assign(
            at=[newest - timedelta(days=int(d)) for d in days],
            kind="refill_overdue",
            detail="refill ran out " + days.astype(str) + " days before " + newest.isoformat()))

    fb = (select(Customer.id.label("customer_id"), Customer.external_id, Customer.name, Customer.owner,
                 Feedback.submitted_at, Feedback.nps_score)
          .join(Customer, Customer.id == Feedback.customer_id)
          .where(Feedback.nps_score <= DETRACTOR_MAX, Feedback.submitted_at >= _end_of(before),
                 Feedback.submitted_at < _end_of(newest)))
    if owner is not None:
        fb = fb.where(Customer.owner == owner)
    det = pd.read_sql(fb, conn)
    if len(det):
        det["submitted_at"] = pd.to_datetime(det["submitted_at"], format="ISO8601")
        det = det.sort_values("submitted_at").groupby("customer_id", as_index=False).last()
        parts.append(det.assign(at=det["submitted_at"].dt.date, kind="turned_detractor",
                                detail="answered NPS " + det["nps_score"].astype(int).astype(str)))

    parts.append(_expiring(session=session, as_of=newest, owner=owner))
    parts = [p for p in parts if len(p)]
    if not parts:
        return ChangeFeed(as_of=newest, since=before)
    rows = pd.concat([p.reindex(columns=COLUMNS) for p in parts], ignore_index=True)
    rows["change"] = rows["kind"].map(CHANGE_KINDS)
    rows["at"] = pd.to_datetime(rows["at"]).dt.date
    rows = rows.sort_values(["at", "kind", "external_id"], ascending=[False, True, True], kind="stable")
    return ChangeFeed(as_of=newest, since=before, rows=rows.head(limit).reset_index(drop=True))


def _expiring(*, session: Session, as_of: date, owner: str | None) -> pd.DataFrame:
    """Members whose points expire within 30 days after `as_of` (from the loyalty ledger)."""
    from core.loyalty import ledger_summary

    balances = ledger_summary(session=session, as_of=as_of).balances
    if balances.empty or "expiring_points" not in balances:
        return pd.DataFrame(columns=COLUMNS)
    soon = balances[balances["expiring_points"] > 0][["customer_id", "expiring_points", "next_expiry_date"]]
    if soon.empty:
        return pd.DataFrame(columns=COLUMNS)
    stmt = select(Customer.id.label("customer_id"), Customer.external_id, Customer.name, Customer.owner)
    if owner is not None:
        stmt = stmt.where(Customer.owner == owner)
    who = pd.read_sql(stmt, session.connection())
    soon = soon.merge(who, on="customer_id", how="inner")
    when = pd.to_datetime(soon["next_expiry_date"]).dt.strftime("%Y-%m-%d").fillna("within 30 days")
    return soon.assign(at=as_of, kind="points_expiring",
                       detail=soon["expiring_points"].round().astype(int).astype(str) + " points expire on " + when)


def change_counts_by_owner(*, session: Session, as_of: date | None = None) -> tuple[ChangeFeed, pd.DataFrame]:
    """Per owner, how many accounts had each kind of change since the last scoring run
    (aggregates: no names). Columns: owner, then one per CHANGE_KINDS key."""
    feed = what_changed(session=session, roles=frozenset({Role.ADMIN}), as_of=as_of, limit=10**9)
    if feed.rows.empty:
        return feed, pd.DataFrame(columns=["owner", *CHANGE_KINDS])
    counts = (feed.rows.assign(owner=feed.rows["owner"].fillna("(no owner)"))
              .groupby(["owner", "kind"])["customer_id"].nunique().unstack(fill_value=0)
              .reindex(columns=list(CHANGE_KINDS), fill_value=0).reset_index())
    return feed, counts


def weekly_lines(*, session: Session, as_of: date) -> list[str]:
    """The weekly summary's "What changed" section: counts per account manager."""
    feed, counts = change_counts_by_owner(session=session, as_of=as_of)
    lines = ["", "What changed since the last scoring run, per account manager"]
    if feed.since is None:
        lines.append("  no two scoring runs yet (run `python -m core score` weekly)")
        return lines
    lines.append(f"  scoring runs of {feed.since.isoformat()} and {feed.as_of.isoformat()}")
    if counts.empty:
        lines.append("  nothing changed")
    for row in counts.itertuples(index=False):
        d = row._asdict()
        lines.append(f"  {d['owner']}: " + ", ".join(f"{int(d[k]):,} {CHANGE_KINDS[k].lower()}"
                                                      for k in CHANGE_KINDS))
    return lines
