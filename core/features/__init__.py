"""Per-customer features at a cut-off date D, from what happened on or before D only.

Everything is read once with SQL (`load_frames`) and then computed with vectorised numpy /
pandas for any number of cut-offs (`customer_features`), so the churn model can be trained
on several earlier cut-offs without re-reading the database. Time is measured in days;
"on or before D" means a timestamp before midnight at the end of D.

Facts without a timestamp (subscription status) or with only the newest value (last login)
are not model features: at an earlier cut-off they would leak what happened later. They
feed the health score only, and the last login only when it is on or before D.

The package: `frames` (what is read) and `compute` (features and labels at a cut-off).
"""

from core.features.compute import (  # noqa: F401
    MODEL_FEATURES,
    churn_labels,
    customer_features,
)
from core.features.frames import (  # noqa: F401
    DAY,
    MAX_OVERDUE_DAYS,
    MAX_QUANTITY_STRETCH,
    MAX_REFILL_DAYS,
    ORDER_HISTORY_COLUMNS,
    PACK,
    Frames,
    frames_from_orders,
    load_frames,
)
