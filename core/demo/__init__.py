"""The demo store: a deterministic, believable household-goods web shop (issue 2).

`generate_demo` builds every table as pandas frames from one seeded numpy Generator, with no
Python loop per order; `load_demo` writes them with `db.bulk.bulk_insert` and then lets the
feedback module score the comments.

The package by step: `story` (the parameters), `arrays` (numpy helpers), `orders`, `feedback`,
`loyalty` (one generator per table family), `generate` (`generate_demo`, all tables as frames)
and `load` (`load_demo`, writes them). The story the data tells is told in full in `story`."""

from core.demo.generate import (  # noqa: F401
    generate_demo,
)
from core.demo.load import (  # noqa: F401
    COUNT_NAMES,
    RESOLUTION_SHARES,
    TABLES,
    load_demo,
)
from core.demo.orders import (  # noqa: F401
    INCIDENT_REFUND_SHARE,
    REFUND_REASONS,
    REFUND_SHARE,
)
from core.demo.story import (  # noqa: F401
    CADENCE,
    CATALOGUE,
    CHANNEL_SHARES,
    CHANNELS,
    COMPLAINT_CLOSERS,
    COMPLAINT_OPENERS,
    COMPLAINT_TOPIC_SHARES,
    COMPLAINT_TOPICS,
    COMPLAINTS,
    DAY_S,
    DECLINING,
    EMAIL_DOMAINS,
    EMAIL_OPT_IN,
    FIRST_NAMES,
    GAP_CLIP,
    GENERIC_NEGATIVE,
    HISTORY_DAYS,
    INCIDENT_ALTERNATIVES,
    INCIDENT_DAYS_AGO,
    INCIDENT_SKU,
    INCIDENT_WINDOW_DAYS,
    KIND_SHARES,
    KINDS,
    LAPSED,
    LAST_NAMES,
    LOYALTY_MEMBER,
    NEUTRAL,
    NEUTRAL_CLOSERS,
    NEVER_DEMO,
    NEW,
    NPS_MEAN,
    ONE_TIME,
    OWNER_SHARES,
    OWNERS,
    PLAIN_CLOSERS,
    PLAIN_OPENERS,
    PRAISE,
    PRAISE_CLOSERS,
    PRAISE_OPENERS,
    PROBLEM_CHANCE,
    REDEEM_CHANCE,
    REGION_SHARES,
    REGIONS,
    SMS_OPT_IN,
    STEADY,
    TICKET_TOPICS,
    TOPIC_TICKET,
    VIP,
)
