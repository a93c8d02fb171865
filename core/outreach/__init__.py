"""Outreach: the templates, the rules that decide whether a message goes out, and campaigns.

Rules (design.md, "Outreach rules"):

- consent: no email without email consent (nor without one valid address, see
  core.email_address); the outreach is recorded as suppressed with that reason;
- frequency cap: one contact per customer per `HEARTH_FREQUENCY_CAP_DAYS`, whoever
  triggers it. The check runs under a lock on the customer's row (`SELECT ... FOR UPDATE`
  on PostgreSQL; on SQLite the first write takes the database's single write lock), so two
  staff at the same moment cannot both pass it;
- idempotent: `Outreach.idempotency_key` is unique in the database; a repeated key returns
  the outreach that already exists;
- outbox: the decision and the queued message are committed in one transaction; the worker
  in core.delivery sends it, after `recheck_before_send` has applied consent, the address and
  the frequency cap once more in the transaction that hands the message out;
- campaigns hold out a deterministic random share of the eligible audience (a hash of
  campaign id and customer id), so uplift compares like with like.

A customer counts as contacted by an outreach that is queued, being sent or sent.

The package by capability: `rules` (templates, reasons, keys, holdout), `contexts` (what each
template needs per customer), `messages` (the email text), `trigger` (decide, queue, re-check),
`campaigns` (plan, create, results) and `history` (the log).
"""

from core.outreach.campaigns import (  # noqa: F401
    RESULT_COLUMNS,
    campaign_results,
    create_campaign,
    outreach_outcomes,
    plan_campaign,
    uplift_interval,
    uplift_window_text,
)
from core.outreach.contexts import (  # noqa: F401
    contact_problem,
    customer_contexts,
    expiring_points,
    fitting_templates,
)
from core.outreach.history import (  # noqa: F401
    LOG_COLUMNS,
    find_customer,
    outreach_log,
)
from core.outreach.messages import (  # noqa: F401
    html_alternative,
    render,
)
from core.outreach.rules import (  # noqa: F401
    APOLOGY_LOOKBACK_DAYS,
    CONTACT_STATUSES,
    OFFER_TEMPLATES,
    OFFER_TEXT,
    POINTS_EXPIRY_WINDOW_DAYS,
    REACTIVATION_DAYS,
    REFILL_LOOKAHEAD_DAYS,
    SENT_STATUSES,
    SUPPRESS_EMAIL_REMOVED,
    SUPPRESS_INVALID_EMAIL,
    SUPPRESS_NO_CONSENT,
    SUPPRESS_NO_EMAIL,
    SUPPRESS_WITHDRAWN,
    TEMPLATE_LABELS,
    TEMPLATES,
    VIP_MIN_ORDERS,
    WIN_BACK_AFTER_DAYS,
    CampaignPlan,
    CustomerNotFound,
    MessagePreview,
    OutreachError,
    TriggerResult,
    UnknownTemplate,
    channel_for,
    default_idempotency_key,
    in_holdout,
    message_id_for,
    offer_code_for,
    templates_for_roles,
)
from core.outreach.trigger import (  # noqa: F401
    AUDIT_ACTIONS,
    preview_outreach,
    reason_kind,
    recheck_before_send,
    record_unsubscribe,
    trigger_outreach,
)
