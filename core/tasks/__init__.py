"""The account team's daily work: rules that turn signals into owned tasks with due dates,
and what a person does with a task (snooze, reassign, log a call, send outreach, close).

Rules (each can be switched off and tuned by an admin; stored in the `setting` table as
JSON under TASK_RULES_KEY, so every app replica and the command line read the same):

- at_risk: the account's newest score is in the at-risk band and the score before it was
  not (or there was none): the account *entered* the band on that scoring date;
- detractor: a survey answer with NPS 0 to 6 in the last `lookback_days` (assigned to a
  support lead: the answer's assignee in the feedback inbox, else the configured or first
  support lead);
- refill_overdue: refills ran out at least `min_days_overdue` days ago and the customer
  spent at least `min_spend_365` over the last 365 days;
- points_expiring: a VIP (segment in `vip_segments`) has at least `min_points` points
  expiring within the loyalty module's window (30 days), by core.loyalty's rules;
- ticket_open: a support ticket still open `max_open_days` days after it was opened.

One task per signal, ever: a task remembers its signal (`signal_key`: the scoring date the
account entered the band, the answer's id, the date refills ran out, the date the points
expire, the ticket's id) and (customer, reason, signal) is unique, so running the rules
again, or twice at once, makes nothing new. One *open* task per customer and reason:
`open_key` is unique while the task is open. A task is assigned to the account's owner
(support leads for detractor answers) and due `sla_days` after the day it was made.

Every change is in the audit log with the customer's id, so it is on the account's timeline.

The package by capability: `rules` (terms, errors, the rules' settings), `generation`
(signals to tasks), `priority` (contactability, priority, next step), `reading` (the lists) and
`actions` (what a person does with a task).
"""

from core.tasks.actions import (  # noqa: F401
    CALL_TASK_SLA_DAYS,
    close_task,
    create_call_task,
    log_call,
    reassign_task,
    send_task_outreach,
    snooze_task,
)
from core.tasks.generation import (  # noqa: F401
    SIGNALS,
    GenerateReport,
    default_support_lead,
    due_date_for,
    generate_tasks,
)
from core.tasks.priority import (  # noqa: F401
    contact_clause,
    contactability,
    priority_scores,
    priority_value,
    suggested_step,
)
from core.tasks.reading import (  # noqa: F401
    TASK_COLUMNS,
    customer_tasks,
    first_open_tasks,
    open_tasks,
    staff_for_tasks,
    task_counts,
)
from core.tasks.rules import (  # noqa: F401
    CALL_OUTCOMES,
    CONTACT_LABELS,
    DEFAULT_RULES,
    DETRACTOR_MAX,
    OUTCOME_LABELS,
    OUTCOMES,
    PRIORITY_DETRACTOR_BONUS,
    PRIORITY_DETRACTOR_DAYS,
    PRIORITY_EXPLANATION,
    PRIORITY_POINTS_FACTOR,
    REASON_LABELS,
    REASON_TEMPLATES,
    REASONS,
    RULE_PARAM_HELP,
    TASK_RULES_KEY,
    TaskError,
    TaskNotFound,
    save_task_rules,
    task_rules,
)
