"""SQLModel tables. Created and changed only through the Alembic migrations in db/migrations.

Every fact imported from a source system keeps that system's id in `external_id`, so a
re-import updates instead of duplicating. All timestamps are naive UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import NaiveDatetime
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Naive UTC now: SQLite has no time zones, so every timestamp is stored as naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(index=True, unique=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    signup_date: date | None = Field(default=None, index=True)
    segment: str | None = Field(default=None, max_length=40, index=True)
    region: str | None = Field(default=None, max_length=40, index=True)
    owner: str | None = Field(default=None, max_length=64, index=True)
    email_opt_in: bool = False
    sms_opt_in: bool = False
    subscription_status: str | None = Field(default=None, max_length=20)  # active, paused, cancelled
    last_login_at: NaiveDatetime | None = None
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    updated_at: NaiveDatetime = Field(default_factory=utcnow)


class ConsentChange(SQLModel, table=True):
    """One change of a customer's email or SMS consent (core.consent). The latest change per
    customer and channel is mirrored in Customer.email_opt_in / sms_opt_in, the current value
    outreach reads."""

    __tablename__ = "consent_change"
    __table_args__ = (Index("ix_consent_change_customer", "customer_id", "channel", "changed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    channel: str = Field(max_length=8)  # email, sms
    granted: bool
    changed_at: NaiveDatetime
    source: str = Field(max_length=20)  # initial, import, unsubscribe, complaint, bounce, manual, demo
    detail: str | None = Field(default=None, max_length=300)
    recorded_by: str | None = Field(default=None, max_length=64)


class Product(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(max_length=200)
    category: str | None = Field(default=None, max_length=60, index=True)
    replenishment_days: int | None = None
    # Money is whole cents (core.money): 12.35 is 1235.
    unit_price_cents: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_ordered", "customer_id", "ordered_at"),)

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(index=True, unique=True, max_length=64)
    customer_id: int = Field(foreign_key="customer.id")
    ordered_at: NaiveDatetime = Field(index=True)
    total_cents: int = Field(sa_column=Column(BigInteger, nullable=False))  # whole cents (core.money)
    offer_code: str | None = Field(default=None, max_length=40, index=True)


class Refund(SQLModel, table=True):
    """Money given back, and orders cancelled before they counted: never an order.

    ``kind`` is ``refund`` (money paid and given back: it is subtracted from revenue),
    ``cancellation`` (an order cancelled or voided as a whole: it never counted as an order
    or as sales, so it is kept here for the record and counts in neither), or
    ``refund_of_cancelled`` (a refund of an order that is cancelled: kept, counted nowhere). ``order_id`` links
    a refund to the stored order it refunds, when the file says which and Hearth has it;
    ``order_ref`` keeps the order id the file named either way.
    """

    __tablename__ = "refund"
    __table_args__ = (Index("ix_refund_customer_refunded", "customer_id", "refunded_at"),)

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(index=True, unique=True, max_length=64)
    # refund, cancellation, refund_of_cancelled (a refund of an order that was then cancelled:
    # the cancellation already keeps the order out of sales, so the refund counts nowhere)
    kind: str = Field(default="refund", max_length=20)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    order_ref: str | None = Field(default=None, max_length=64)
    customer_id: int = Field(foreign_key="customer.id")
    refunded_at: NaiveDatetime = Field(index=True)
    # > 0, money given back (a cancellation: the order's total), in whole cents (core.money)
    amount_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str | None = Field(default=None, max_length=60)  # how the file said it: a status, a negative row


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    sku: str = Field(max_length=64, index=True)
    quantity: int = 1
    unit_price_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


# Open answers (the inbox's states; core.feedback.OPEN_STATES), as partial-index predicates: a few
# percent of the answers at 1,000,000 customers (migration 0014).
_OPEN_FEEDBACK = "state IN ('new', 'acknowledged', 'waiting')"


class Feedback(SQLModel, table=True):
    __table_args__ = (
        # The at-risk queue's "open detractor" (an answer of 0-6, core.sentiment.DETRACTOR_MAX,
        # still open): 47,000 of 3 M answers at 1 M customers, read by a seq scan before.
        Index("ix_feedback_open_detractor", "customer_id",
              postgresql_where=text(f"nps_score <= 6 AND {_OPEN_FEEDBACK}"),
              sqlite_where=text(f"nps_score <= 6 AND {_OPEN_FEEDBACK}")),
        # The open flagged answers (the inbox's and the reports' counts by age): 55,000 of 3 M.
        Index("ix_feedback_open_flagged", "submitted_at",
              postgresql_where=text(f"flagged IS TRUE AND {_OPEN_FEEDBACK}"),
              sqlite_where=text(f"flagged IS TRUE AND {_OPEN_FEEDBACK}")),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(index=True, unique=True, max_length=64)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    submitted_at: NaiveDatetime = Field(index=True)
    channel: str | None = Field(default=None, max_length=40)
    nps_score: int | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text))
    # Filled by core.sentiment when the answer is stored.
    sentiment: float | None = None
    flagged: bool = Field(default=False, index=True)
    flag_reasons: str | None = Field(default=None, sa_column=Column(Text))  # "; "-joined
    severity: float | None = None
    # Triage (support leads).
    state: str = Field(default="new", max_length=20, index=True)  # new, acknowledged, waiting, resolved
    assignee: str | None = Field(default=None, max_length=64)
    notes: str | None = Field(default=None, sa_column=Column(Text))
    resolution: str | None = Field(default=None, max_length=60)
    first_response_at: NaiveDatetime | None = None
    resolved_at: NaiveDatetime | None = None
    # Filled with the flag (core.sentiment): the comment's ISO 639-1 code, and whether a person
    # must read it (a language the flag cannot read, no score, nothing named). Not indexed:
    # flagging rewrites them for every answer, and two more indexes made that 50 % slower.
    language: str | None = Field(default=None, max_length=8)
    needs_read: bool = False
    # The team's word on the flag, a label the model learns from: "negative" (flag confirmed,
    # or a missed complaint flagged by hand) or "not negative" ("not a problem").
    label: str | None = Field(default=None, max_length=16, index=True)
    labelled_by: str | None = Field(default=None, max_length=64)
    labelled_at: NaiveDatetime | None = None


class LoyaltyEntry(SQLModel, table=True):
    __tablename__ = "loyalty_entry"
    __table_args__ = (
        Index("ix_loyalty_customer_occurred", "customer_id", "occurred_at"),
        # The entries not yet given the expiry rule they were stored under (core.setup stamps them),
        # and the shortest and longest rule stored (core.tasks.priority), each found at once.
        Index("ix_loyalty_entry_expiry_months", "expiry_months"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(index=True, unique=True, max_length=64)
    customer_id: int = Field(foreign_key="customer.id")
    occurred_at: NaiveDatetime = Field(index=True)
    kind: str = Field(max_length=10)  # earn, redeem, expire, adjust, reverse
    points: int  # signed: earn and positive adjust > 0; redeem, expire, negative adjust < 0
    expires_at: NaiveDatetime | None = None  # earned lots only
    order_ref: str | None = Field(default=None, max_length=64)
    # An expire entry Hearth wrote itself from its own expiry rule (the expiry job, the demo):
    # the computation already has it, so it is a record, not a debit. An expire entry from the
    # loyalty programme's own file (computed False) counts as written.
    computed: bool = False
    # Hearth's expiry rule in force when the entry was stored (HEARTH_POINTS_EXPIRY_MONTHS then):
    # a lot without expires_at expires this many months after it was earned, 0 never, whatever
    # the setting says later (design.md: a rule change applies to points stored after it, so no
    # redemption already made can turn into a debt). Empty: the setting now (a row written
    # outside Hearth, until the next `init` or app start stamps it).
    expiry_months: int | None = None


class SupportTicket(SQLModel, table=True):
    __tablename__ = "support_ticket"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(index=True, unique=True, max_length=64)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    opened_at: NaiveDatetime = Field(index=True)
    closed_at: NaiveDatetime | None = None
    topic: str | None = Field(default=None, max_length=80)
    status: str = Field(default="open", max_length=20)  # open, pending, closed


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    password_hash: str = Field(max_length=200)
    roles: str = Field(max_length=200)  # comma-separated role names
    is_demo: bool = False
    disabled: bool = False
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled: bool = False
    recovery_codes: str | None = Field(default=None, sa_column=Column(Text))  # JSON list of hashes
    failed_logins: int = 0
    locked_until: NaiveDatetime | None = None
    # A session cookie issued before this moment is refused (logout, password change, disable).
    sessions_valid_after: NaiveDatetime | None = None
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    last_login_at: NaiveDatetime | None = None


class ModelRun(SQLModel, table=True):
    """One scoring run: how the churn model was trained and how it did in the backtest."""

    __tablename__ = "model_run"

    id: int | None = Field(default=None, primary_key=True)
    as_of: date = Field(index=True)
    horizon_days: int = 90
    trained_at: NaiveDatetime = Field(default_factory=utcnow)
    method: str = Field(max_length=20)  # model or rules
    n_customers: int = 0
    metrics: str | None = Field(default=None, sa_column=Column(Text))  # JSON


class ScoreSnapshot(SQLModel, table=True):
    __tablename__ = "score_snapshot"
    __table_args__ = (
        UniqueConstraint("customer_id", "as_of", name="uq_score_customer_as_of"),
        # The at-risk queue: one day's snapshots, highest value at risk first, read backwards.
        Index("ix_score_snapshot_queue", "as_of", "value_at_risk_cents", "churn_probability"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    as_of: date = Field(index=True)
    health_score: float
    band: str = Field(max_length=10, index=True)  # healthy, watch, at_risk
    churn_probability: float
    # Churn probability x the last 12 months' net spend, in whole cents (core.money).
    value_at_risk_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    drivers: str | None = Field(default=None, sa_column=Column(Text))  # JSON list of sentences
    components: str | None = Field(default=None, sa_column=Column(Text))  # JSON {name: {value, weight}}
    # Kept as columns (not only in the JSON) so the at-risk queue filters and counts in SQL.
    days_overdue: float | None = None  # days past when their refills ran out; negative: not yet due
    rfm_segment: str | None = Field(default=None, max_length=24, index=True)
    model_run_id: int | None = Field(default=None, foreign_key="model_run.id")
    next_order_date: date | None = None  # expected from their own cadence and what they buy


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    template: str = Field(max_length=40)
    audience_rule: str | None = Field(default=None, sa_column=Column(Text))  # JSON of the filter
    holdout_share: float = 0.10
    created_by: str = Field(max_length=64)
    created_at: NaiveDatetime = Field(default_factory=utcnow)


class Outreach(SQLModel, table=True):
    __table_args__ = (Index("ix_outreach_customer_triggered", "customer_id", "triggered_at"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    template: str = Field(max_length=40)
    channel: str = Field(max_length=20)  # email, webhook, outbox
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    feedback_id: int | None = Field(default=None, foreign_key="feedback.id")
    triggered_by: str = Field(max_length=64)
    triggered_at: NaiveDatetime = Field(default_factory=utcnow)
    # Unique in the database: a double click or two staff at once give one outreach.
    idempotency_key: str = Field(unique=True, max_length=128)
    status: str = Field(max_length=20, index=True)  # queued, sent, failed, suppressed, holdout
    reason: str | None = Field(default=None, max_length=300)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    next_attempt_at: NaiveDatetime | None = None
    sent_at: NaiveDatetime | None = None
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, sa_column=Column(Text))
    offer_code: str | None = Field(default=None, max_length=40, unique=True)
    message_id: str | None = Field(default=None, max_length=200)


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    # One customer's entries, newest first (the Account screen's timeline): the filter and the
    # order in one index, as for every other per-customer history (migration 0016).
    __table_args__ = (Index("ix_audit_log_customer_at", "customer_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: NaiveDatetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=64, index=True)
    action: str = Field(max_length=60, index=True)
    record_type: str | None = Field(default=None, max_length=40)
    record_id: str | None = Field(default=None, max_length=64, index=True)
    customer_id: int | None = Field(default=None)
    detail: str | None = Field(default=None, sa_column=Column(Text))


class Setting(SQLModel, table=True):
    """Admin-editable settings that must be shared by every app replica."""

    key: str = Field(primary_key=True, max_length=80)
    value: str = Field(sa_column=Column(Text))


class WorkerHeartbeat(SQLModel, table=True):
    """When a delivery worker last passed (core.worker), one row per key. Deliberately not a
    watched table of db.generation: a liveness beat every few seconds is not data any figure
    reads, and in `setting` it moved that table's data generation on every pass, so every
    figure keyed by `setting` (or by every table) was computed again every few seconds."""

    __tablename__ = "worker_heartbeat"

    key: str = Field(primary_key=True, max_length=80)
    value: str = Field(sa_column=Column(Text))


class DataGeneration(SQLModel, table=True):
    """One counter per table that figures read, moved on by a database trigger on every INSERT,
    UPDATE and DELETE of that table, by any writer (db.generation; core.readcache keys on it),
    and a random stamp the same trigger sets anew (a state reached again after a restore)."""

    __tablename__ = "data_generation"

    table_name: str = Field(primary_key=True, max_length=64)
    n: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    stamp: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class DataChange(SQLModel, table=True):
    """The change log: which rows of a logged table each write touched, under the counter and
    stamp that write set (db.generation, "The change log"): ``row_id`` the row's id,
    ``customer_id`` the customer it belongs to (a customer's own id); no id and
    ``whole = 1`` when the write does not say (a bulk write); no id and ``whole = 0`` when it
    touched none. Written by the same triggers as the counters, read by
    core.analytics.changelog."""

    __tablename__ = "data_change"
    __table_args__ = (Index("ix_data_change_table_n", "table_name", "n"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    table_name: str = Field(max_length=64)
    n: int = Field(sa_column=Column(BigInteger, nullable=False))
    stamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    row_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    customer_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    whole: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0"))


class FeedbackModel(SQLModel, table=True):
    """A trained negative-feedback model (core.flag_model): its arrays as `.npz` bytes (loaded
    with allow_pickle=False, never unpickled), its measured figures as JSON text."""

    __tablename__ = "feedback_model"

    id: int | None = Field(default=None, primary_key=True)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)
    active: bool = Field(default=False, index=True)
    labels_used: int = 0
    figures: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    params: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # .npz


class Task(SQLModel, table=True):
    """A piece of the account team's work, made by a rule from a signal (core.tasks).

    One open task per customer and reason: `open_key` ("customer_id:reason") is set while the
    task is open and cleared when it closes, and is unique. One task per signal ever:
    (customer_id, reason, signal_key) is unique, so a rule that fires again on the same
    signal (the same detractor answer, the same ticket, the same entry into the at-risk
    band) makes nothing new, even after the first task was closed."""

    __table_args__ = (
        UniqueConstraint("customer_id", "reason", "signal_key", name="uq_task_signal"),
        Index("ix_task_assignee_open", "assignee", "closed_at", "due_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    reason: str = Field(max_length=30)  # at_risk, detractor, refill_overdue, points_expiring, ticket_open
    signal_key: str = Field(max_length=80)
    open_key: str | None = Field(default=None, max_length=120, unique=True, index=True)
    why: str = Field(sa_column=Column(Text, nullable=False))
    assignee: str | None = Field(default=None, max_length=64)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    created_by: str = Field(default="rules", max_length=64)
    due_date: date
    snoozed_until: date | None = None
    snooze_reason: str | None = Field(default=None, max_length=300)
    closed_at: NaiveDatetime | None = None
    closed_by: str | None = Field(default=None, max_length=64)
    outcome: str | None = Field(default=None, max_length=20)  # reached, offer_sent, no_answer, not_a_problem
    note: str | None = Field(default=None, sa_column=Column(Text))
    feedback_id: int | None = Field(default=None, foreign_key="feedback.id")


def _install_generation(target, connection, **kw) -> None:  # noqa: ANN001 - SQLAlchemy DDL event
    """`SQLModel.metadata.create_all` (a schema built without Alembic) gets the same data
    generation counters and triggers as migration 0012 (db.generation)."""
    from db import generation

    created = {t.name for t in (kw.get("tables") or target.sorted_tables)}
    generation.install(connection, [t for t in generation.WATCHED if t in created])


event.listen(SQLModel.metadata, "after_create", _install_generation)
