"""Heavy aggregates computed once and shared by every process until their data changes.

At the reference size (100,000 customers, 1.5 M orders, a million loyalty entries) the
Overview's KPIs, cohorts and revenue mix and the loyalty ledger's balances take seconds to
compute, but change only when data arrives (an import, a scoring run, a loyalty entry) or
the day turns. :func:`remember` stores such a result in ``precomputed_result`` under its
name and parameters together with the *data version* it was computed from; any process (the
app's replicas, the command line, the nightly jobs that warm it) reads it back in
milliseconds while the version still matches, and computes it afresh as soon as it does not.

The data version is the newest id of every table the aggregates read, the newest import in
the audit log (an import that updates rows in place adds no ids) and a digest of the
settings; each of these is an index look-up, so checking it costs a millisecond or two.
Results are stored in a format that can only hold data (core.safe_codec: JSON and Arrow IPC,
never pickle, whose reading runs code) and signed with HMAC-SHA256 under the app's secret key:
a row that does not verify or does not parse is ignored and recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from core import safe_codec
from core.config import get_settings
from db.engine import refresh_statistics
from db.models import (
    AuditLog,
    Customer,
    Feedback,
    LoyaltyEntry,
    ModelRun,
    Order,
    OrderLine,
    PrecomputedResult,
    Product,
    Refund,
    ScoreSnapshot,
    SupportTicket,
    utcnow,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# The tables a remembered aggregate may read, by name. Outreach and campaigns are left out on
# purpose: their results change as messages are sent and are cheap, so they are never remembered.
TABLES: dict[str, type] = {
    "customer": Customer, "orders": Order, "refund": Refund, "order_line": OrderLine, "product": Product,
    "feedback": Feedback,
    "loyalty_entry": LoyaltyEntry, "support_ticket": SupportTicket, "model_run": ModelRun,
    "score_snapshot": ScoreSnapshot,
}


def _canonical(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return value


def params_key(params: dict[str, Any]) -> str:
    return json.dumps(_canonical(params), sort_keys=True, separators=(",", ":"))


# The settings an aggregate's value depends on (not the mail server, the outbox, the secret).
RESULT_SETTINGS = ("horizon_days", "point_value", "points_expiry_months", "loyalty_tiers",
                   "health_band_healthy", "health_band_watch")


def _settings_digest() -> str:
    settings = get_settings()
    values = {name: getattr(settings, name) for name in RESULT_SETTINGS}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def data_version(session: Session, tables: Iterable[str] | None = None) -> str:
    """Changes whenever data in ``tables`` (default: all of :data:`TABLES`) changes, any
    import runs or a setting that changes numbers does (see the module doc)."""
    names = sorted(TABLES) if tables is None else sorted(tables)
    parts = [f"{name}:{session.execute(select(func.max(TABLES[name].id))).scalar() or 0}" for name in names]
    last_import = session.execute(
        select(func.max(AuditLog.id)).where(AuditLog.action.like("import.%"))).scalar()
    parts.append(str(last_import or 0))
    parts.append(_settings_digest())
    return ".".join(parts)


def _sign(name: str, params: str, version: str, payload: bytes) -> str:
    key = get_settings().cookie_key.encode()
    msg = b"\x00".join([name.encode(), params.encode(), version.encode(), payload])
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def _has_pending_writes(session: Session) -> bool:
    """SQLite: a transaction is open only after an INSERT/UPDATE/DELETE. Storing from another
    connection would then wait on this session's lock, and a result of uncommitted data must
    not outlive a rollback (SQLite may hand out the same ids again)."""
    if session.new or session.dirty or session.deleted:
        return True
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return False
    return bool(getattr(conn.connection.dbapi_connection, "in_transaction", False))


def _store(session: Session, name: str, params: str, version: str, value: Any, seconds: float) -> None:
    try:
        payload = safe_codec.dumps(value)
    except TypeError as exc:  # a type the data-only format does not carry: compute it each time
        log.warning("precomputed %s not stored: %s", name, exc)
        return
    row = PrecomputedResult(name=name, params=params, data_version=version, computed_at=utcnow(),
                            seconds=round(seconds, 3), signature=_sign(name, params, version, payload),
                            payload=payload)
    try:
        # Its own short transaction: the reader's session may be read-only or roll back.
        with Session(session.get_bind()) as writer:
            writer.execute(delete(PrecomputedResult).where(PrecomputedResult.name == name,
                                                           PrecomputedResult.params == params))
            writer.add(row)
            writer.commit()
    except SQLAlchemyError as exc:  # another process stored it first, or the store is read-only
        log.info("precomputed %s not stored: %s", name, exc.__class__.__name__)


def remember(session: Session, name: str, params: dict[str, Any], compute: Callable[[], T],
             tables: Iterable[str] | None = None) -> T:
    """``compute()``, or its stored result if it was computed from the same data version.

    ``params`` must hold everything the result depends on besides the data (dates, filters,
    horizon, roles); they become part of the key. ``tables`` names the tables the result
    reads (default: all), so that, say, a scoring run does not throw away the KPIs.
    """
    key = params_key(params)
    version = data_version(session, tables)
    row = session.execute(
        select(PrecomputedResult.data_version, PrecomputedResult.signature, PrecomputedResult.payload)
        .where(PrecomputedResult.name == name, PrecomputedResult.params == key)).first()
    if row is not None and row.data_version == version:
        payload = bytes(row.payload)
        if hmac.compare_digest(row.signature, _sign(name, key, version, payload)):
            try:
                return safe_codec.loads(payload)
            except Exception:  # noqa: BLE001 - e.g. an old pickled row: recompute, never fail or unpickle
                log.warning("precomputed %s %s could not be read back; computing it again", name, key)
        else:
            log.warning("precomputed %s %s failed its signature check; computing it again", name, key)
    started = time.perf_counter()
    value = compute()
    if not _has_pending_writes(session):
        _store(session, name, key, version, value, time.perf_counter() - started)
    return value


def stored_results(session: Session) -> list[dict[str, Any]]:
    """What is stored, newest first: name, params, computed_at, seconds (to compute), size_kb.
    For the Admin screen; no payload is read."""
    rows = session.execute(
        select(PrecomputedResult.name, PrecomputedResult.params, PrecomputedResult.computed_at,
               PrecomputedResult.seconds, func.length(PrecomputedResult.payload).label("size"))
        .order_by(PrecomputedResult.computed_at.desc(), PrecomputedResult.name)).all()
    return [{"name": r.name, "params": r.params, "computed_at": r.computed_at, "seconds": float(r.seconds),
             "size_kb": round((r.size or 0) / 1024, 1)} for r in rows]


def forget(session: Session) -> int:
    """Drop every stored result; returns how many. They are recomputed on use."""
    return int(session.execute(delete(PrecomputedResult)).rowcount or 0)


def prune(session: Session, *, keep_days: int = 2) -> int:
    """Drop results computed more than ``keep_days`` ago (old dates nobody asks for again)."""
    cutoff = utcnow() - timedelta(days=keep_days)
    stmt = delete(PrecomputedResult).where(PrecomputedResult.computed_at < cutoff)
    return int(session.execute(stmt).rowcount or 0)


def remembered(name: str, tables: Iterable[str] | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a keyword-only ``fn(*, session, **params)`` so that it goes through
    :func:`remember`; defaults are bound first, so leaving one out and passing it give the
    same key."""

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*, session: Session, **params: Any) -> T:
            bound = signature.bind(session=session, **params)
            bound.apply_defaults()
            key = {k: v for k, v in bound.arguments.items() if k != "session"}
            return remember(session, name, key, lambda: fn(session=session, **key), tables)

        return inner

    return wrap


def warm_up(*, engine: Engine, as_of: date, horizon_days: int | None = None, filters: bool = True,
            progress: Callable[[str], None] | None = None) -> dict[str, float]:
    """Compute and store what the screens open on for ``as_of`` (the Overview without a
    filter, the loyalty ledger at D and at D - H, pending expiries, lifetime value) and, with
    ``filters``, the Overview's top and default section for each single segment, region and
    owner, so neither the first visitor of the day nor their first filter waits. Run nightly
    after the imports and `score` (`python -m core precompute`); returns seconds per step."""
    from core import clv, feedback, kpis, loyalty

    say = progress or (lambda _msg: None)
    h = horizon_days or kpis.default_horizon()
    jobs: list[tuple[str, Callable[[Session], object]]] = [
        ("loyalty ledger", lambda s: loyalty.ledger_summary(session=s, as_of=as_of)),
        ("loyalty ledger, previous period", lambda s: loyalty.ledger_summary(session=s, as_of=as_of - timedelta(h))),
        ("loyalty expiries due", lambda s: loyalty.pending_expiries(session=s, as_of=as_of)),
        ("KPIs", lambda s: kpis.compare_kpis(session=s, as_of=as_of, horizon_days=h)),
        ("onboarding and reactivation", lambda s: kpis.retention_extras(session=s, as_of=as_of, horizon_days=h)),
        ("trend", lambda s: kpis.kpi_trend(session=s, as_of=as_of, horizon_days=h)),
        ("monthly sales", lambda s: kpis.monthly_sales(session=s, as_of=as_of, months=12)),
        ("cohorts", lambda s: kpis.cohort_matrix(session=s, as_of=as_of, months=12)),
        ("revenue mix", lambda s: kpis.revenue_split(session=s, as_of=as_of, months=12, horizon_days=h)),
        ("lifetime value", lambda s: clv.customer_lifetime_value(session=s, as_of=as_of)),
    ]
    since, until = feedback.nps_window(months=feedback.NPS_DEFAULT_MONTHS, today=as_of)
    for split in (None, *feedback.NPS_SPLITS, "category"):
        jobs.append((f"NPS by {split or 'day'}",
                     lambda s, split=split: feedback.nps_counts(session=s, since=since, until=until, by=split)))
    if filters:
        with Session(engine) as session:
            options = kpis.filter_options(session=session)
        for field, values in options.items():
            for value in values:
                flt = {field: value}

                def overview_top(s: Session, flt: dict[str, str] = flt) -> None:
                    kpis.compare_kpis(session=s, as_of=as_of, horizon_days=h, **flt)
                    kpis.retention_extras(session=s, as_of=as_of, horizon_days=h, **flt)
                    kpis.kpi_trend(session=s, as_of=as_of, horizon_days=h, **flt)
                    kpis.monthly_sales(session=s, as_of=as_of, months=12, **flt)

                jobs.append((f"Overview for {field} {value}", overview_top))
    refresh_statistics(engine)
    seconds: dict[str, float] = {}
    for label, job in jobs:
        started = time.perf_counter()
        with Session(engine) as session:
            try:
                job(session)
            except ValueError as exc:  # e.g. too little history for lifetime value: nothing to store
                say(f"{label}: skipped ({exc})")
            session.commit()
        seconds[label] = round(time.perf_counter() - started, 2)
        say(f"{label}: {seconds[label]:.1f} s")
    with Session(engine) as session:
        prune(session)
        session.commit()
    return seconds
