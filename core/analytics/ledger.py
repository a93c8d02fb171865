"""The loyalty ledger in DuckDB: the entries read as columns, and oldest-first lots as window sums.

The rules are core.loyalty's (design.md, "Definitions"): every credit is a lot, debits take the
oldest unexpired lots first, a lot's unconsumed points expire at its expiry instant, and
within one instant credits come first, then expiries, then debits.

When a customer's lots expire in the order they were earned (always, with the default
12-month expiry), what has been consumed is one prefix of their lots on the cumulative-points
axis, so each lot's fate follows from three running sums, computed for every customer at once:

- ``S_k``: the customer's credits up to lot k (a window sum in FIFO order);
- ``D(e_k)``: the customer's debits strictly before lot k's expiry instant (an ASOF join of
  each lot's expiry with the running debit total);
- expired up to lot k = ``max(0, max_{j<=k, j expired} (S_j - D(e_j)))`` (a running maximum).

Lot k expired ``E_k - E_{k-1}`` points, and an unexpired lot keeps
``max(0, S_k - max(pointer, S_{k-1}))`` where the pointer is the customer's total expired plus
total debited. Customers whose lots expire out of earning order (an imported promotion that
expires before older points) are left to core.loyalty's event replay; they are rare.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlmodel import Session

from core.analytics import source

_LOTS_SQL = """
WITH dagg AS (
    SELECT c, t, sum(v) AS v FROM debits GROUP BY c, t),
dcum AS (
    SELECT c, t, sum(v) OVER (PARTITION BY c ORDER BY t ROWS UNBOUNDED PRECEDING) AS d FROM dagg),
dtotal AS (SELECT c, sum(v) AS total FROM debits GROUP BY c),
withd AS (
    SELECT l.pos, l.c, l.e, l.a, coalesce(dc.d, 0) AS d_before
    FROM lots l ASOF LEFT JOIN dcum dc ON l.c = dc.c AND l.e > dc.t),
sums AS (
    SELECT *, sum(a) OVER w AS s_cum, e < $cut AS is_exp
    FROM withd WINDOW w AS (PARTITION BY c ORDER BY pos ROWS UNBOUNDED PRECEDING)),
ecum AS (
    SELECT *, greatest(coalesce(max(CASE WHEN is_exp THEN s_cum - d_before END) OVER w, 0), 0) AS e_cum
    FROM sums WINDOW w AS (PARTITION BY c ORDER BY pos ROWS UNBOUNDED PRECEDING)),
fates AS (
    SELECT *, coalesce(lag(e_cum) OVER (PARTITION BY c ORDER BY pos), 0) AS e_prev,
           max(CASE WHEN is_exp THEN e_cum ELSE 0 END) OVER (PARTITION BY c) AS expired_total
    FROM ecum)
SELECT f.pos,
       CASE WHEN is_exp THEN e_cum - e_prev ELSE 0 END AS expired,
       CASE WHEN is_exp THEN 0
            ELSE greatest(0, s_cum - greatest(expired_total + coalesce(dt.total, 0), s_cum - a)) END AS remaining
FROM fates f LEFT JOIN dtotal dt ON dt.c = f.c
ORDER BY f.pos
"""


def fifo_fates(*, lot_c: np.ndarray, lot_e: np.ndarray, lot_a: np.ndarray, deb_c: np.ndarray,
               deb_t: np.ndarray, deb_v: np.ndarray, cut: int) -> tuple[np.ndarray, np.ndarray]:
    """(expired, remaining) points per lot, for customers whose lots expire in FIFO order.

    Lots come in FIFO order (sorted by customer code, then earning order); ``lot_c`` and
    ``deb_c`` are customer codes (int64), ``lot_e`` expiry instants and ``deb_t`` debit
    instants as int64 nanoseconds, ``lot_a``/``deb_v`` points (> 0). ``cut``: the cutoff
    instant (ns); a lot expiring before it has expired. Both results are int64 arrays in lot
    order.
    """
    if len(lot_c) == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    db = source.duckdb_connection()
    try:
        db.register("lots", pa.table({"pos": np.arange(len(lot_c), dtype="int64"), "c": lot_c.astype("int64"),
                                      "e": lot_e.astype("int64"), "a": lot_a.astype("int64")}))
        db.register("debits", pa.table({"c": deb_c.astype("int64"), "t": deb_t.astype("int64"),
                                        "v": deb_v.astype("int64")}))
        out = db.execute(_LOTS_SQL, {"cut": int(cut)}).fetchnumpy()
    finally:
        db.close()
    return np.asarray(out["expired"], dtype="int64"), np.asarray(out["remaining"], dtype="int64")


def read_entries(*, session: Session, before: datetime | None = None, stored_expiries: bool = True) -> pd.DataFrame:
    """Every ledger entry (optionally only those before an instant, and without the ``expire``
    entries Hearth computed itself), by id, read as columns.

    The frame core.loyalty.read_entries gives without details: index id; customer_id,
    occurred_at, kind, points, expires_at, computed, by_programme (the customer has an
    ``expire`` entry from the programme's own file at any time).
    """
    with source.engine_for(session, ["loyalty_entry"]) as db:
        frame = db.execute("""
            SELECT id, customer_id, occurred_at, kind, points, expires_at, coalesce(computed, false) AS computed,
                   customer_id IN (SELECT customer_id FROM loyalty_entry
                                   WHERE kind = 'expire' AND computed = false) AS by_programme
            FROM loyalty_entry
            WHERE ($before IS NULL OR occurred_at < $before)
              AND ($stored OR kind <> 'expire' OR computed = false)
            ORDER BY id
        """, {"before": before, "stored": stored_expiries}).df()
    for col in ("occurred_at", "expires_at"):
        frame[col] = pd.Series(pd.to_datetime(frame[col]), index=frame.index).astype("datetime64[ns]")
    for col in ("points", "customer_id", "id"):
        frame[col] = frame[col].astype("int64")
    frame["computed"] = frame["computed"].astype(bool)
    frame["by_programme"] = frame["by_programme"].astype(bool)
    frame["kind"] = frame["kind"].astype(object)
    return frame.set_index("id")
