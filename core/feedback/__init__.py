"""Feedback: flagging in bulk, the support leads' inbox and triage, close-the-loop figures,
themes, comment search, the export frame and the NPS counts behind the NPS screen.

Who sees what: support leads and admins see every flagged item; account managers only the
items of their own accounts (customer.owner == their username); exec sees none (aggregates
only, through the NPS functions). Triage changes are audited with the customer id, so they
appear on the account's timeline.

The package by capability: `access` (terms, errors, who sees what), `flagging`, `inbox`,
`triage`, `reports` (close the loop, export, themes, search) and `nps` (the NPS screen's counts).
"""

from core.feedback.access import (  # noqa: F401
    AGE_BUCKETS,
    HAND_FLAG_SEVERITY,
    INBOX_COMMENT_CHARS,
    LABEL_NEGATIVE,
    LABEL_NOT_NEGATIVE,
    LABELS,
    MAX_NOTE_CHARS,
    OPEN_STATES,
    QUEUE_LABELS,
    QUEUES,
    RESOLUTION_CATEGORIES,
    RESPONSE_TARGET_HOURS,
    STATE_LABELS,
    STATES,
    TRANSITIONS,
    VALUE_WINDOW_DAYS,
    FeedbackError,
    FeedbackNotFound,
    may_triage,
    sees_all_feedback,
)
from core.feedback.flagging import (  # noqa: F401
    _update_executemany,
    _update_pg,
    active_flag_model,
    customer_values,
    flag_frame,
    flag_unscored,
    log,
    reflag,
)
from core.feedback.inbox import (  # noqa: F401
    INBOX_COLUMNS,
    InboxPage,
    assignable_staff,
    get_item,
    inbox,
    inbox_languages,
)
from core.feedback.nps import (  # noqa: F401
    NPS_DEFAULT_MONTHS,
    NPS_SPLITS,
    answer_counts,
    nps_counts,
    nps_window,
)
from core.feedback.reports import (  # noqa: F401
    EXPORT_COLUMNS,
    close_the_loop,
    detractor_themes,
    escape_like,
    feedback_export_frame,
    search_comments,
    theme_spikes,
)
from core.feedback.triage import (  # noqa: F401
    acknowledge,
    add_note,
    apology_key,
    assign,
    confirm_flag,
    flag_by_hand,
    mark_waiting,
    may_move,
    not_a_problem,
    reopen,
    resolve,
    send_apology,
)
