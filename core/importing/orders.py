"""Orders files: rows of one order are its lines; the order's own fields must agree on every row.
New orders get their ids before they are written, so their lines need no read-back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import delete, select

from core import money
from core.formatting import count_of
from core.importing.formats import MAX_LISTED_PROBLEMS, REBUILD_INDEXES_FROM
from core.importing.problems import Problem, Problems
from core.importing.refunds import (
    PARTLY_REFUNDED_STATUSES,
    REFUND_COVERED,
    _cancelled_orders_stored,
    _plan_refunds,
    _RefundPlan,
    _refunds_in_orders,
    _remove_orders,
    _status_words,
    _write_refunds,
    settle_refunds,
    unknown_statuses,
)
from core.importing.store import (
    _canon,
    _Context,
    _isin,
    _max_id,
    _plan,
    _read,
    _same,
    _sha_keys,
    _skip,
    _update_rows,
)
from db.bulk import bulk_insert
from db.models import (
    Customer,
    Order,
    OrderLine,
    Product,
    Refund,
)


def _order_positions(order_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the number of its order (0, 1, ... in order of first appearance); per order,
    the position of its first row (increasing)."""
    codes, uniques = pd.factorize(order_ids.to_numpy(dtype=object))
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return codes, first


def _derive_order_ids(t: pd.DataFrame, has_lines: bool) -> None:
    """Rows without an order_id: rows with the same customer, time, total and offer code form
    one order, keyed by a SHA-1 of those and its sorted lines (in place)."""
    missing = t["order_id"].isna()
    if not missing.any():
        return
    sub = t[missing]
    # Money is typed in whole cents; the keys hash it in currency units, as before cents, so a
    # file imported before keeps its derived order ids.
    header = [_canon(sub["customer_id"], "text"), _canon(sub["ordered_at"], "datetime"),
              _canon(sub["total"], "money"), _canon(sub["offer_code"], "text")]
    group = header[0] + "|" + header[1] + "|" + header[2] + "|" + header[3]
    if has_lines:
        line = (_canon(sub["sku"], "text") + ":"
                + _canon(sub.get("quantity", pd.Series(1.0, index=sub.index)).fillna(1.0), "number")
                + ":" + _canon(sub.get("unit_price", pd.Series(np.nan, index=sub.index)), "money"))
        lines_text = (pd.DataFrame({"g": group, "l": line}).sort_values(["g", "l"])
                      .groupby("g", sort=False)["l"].agg(",".join))
        group_text = group + "|" + group.map(lines_text)
    else:
        group_text = group
    t.loc[missing, "order_id"] = _sha_keys([group_text])


def _differs_from_order(problems: Problems, t: pd.DataFrame, column: str, reference: pd.Series,
                        mask: np.ndarray, rownum: np.ndarray, first_row: np.ndarray) -> None:
    """A problem for each row (where ``mask``) whose ``column`` differs from its order's value."""
    bad = np.flatnonzero(mask)
    if not len(bad):
        return
    problems.uncounted += max(len(bad) - MAX_LISTED_PROBLEMS, 0)
    values, order_ids = t[column].to_numpy(), t["order_id"].to_numpy()
    if column in ("total", "refunded_amount"):  # typed in whole cents: shown as the amount, "12.00"
        values = np.array([money.format(v) if pd.notna(v) else "" for v in values], dtype=object)
    if column == "ordered_at":  # as the file writes a time, not numpy's nanoseconds
        values = np.array([pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%S") if pd.notna(v) else "" for v in values],
                          dtype=object)
    totals = t["total"].to_numpy()
    problems.extend(Problem(int(rownum[i]), column, str(values[i]),
                            f"differs from the other rows of order {order_ids[i]} "
                            f"(first at row {int(first_row[i])})"
                            + (f"; a refund of order {order_ids[i]}? Give the refund row its own order_id and "
                               f"refund_of {order_ids[i]}" if pd.notna(totals[i]) and totals[i] < 0 else ""))
                     for i in bad[:MAX_LISTED_PROBLEMS])


def _check_order_rows(ctx: _Context, t: pd.DataFrame, problems: Problems
                      ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Every row of one order must agree on the order's own fields; the refund columns, often
    filled on an order's first row only, must agree where given (and then fill the others).
    Returns ``t`` with the refund columns filled, and _order_positions of its order ids."""
    codes, first = _order_positions(t["order_id"])
    first_of_row = first[codes]
    rownum = ctx.rownum.to_numpy()
    first_row = rownum[first_of_row]
    for column in ("customer_id", "ordered_at", "total", "offer_code"):
        values = t[column]
        missing = values.isna().to_numpy()
        if missing.all():
            continue
        if missing.any():  # the first value given, as groupby's "first" takes it
            ref = t.groupby("order_id", sort=False)[column].transform("first")
        else:
            ref = pd.Series(values.to_numpy()[first_of_row], index=t.index)
        _differs_from_order(problems, t, column, ref, ~_same(values, ref), rownum, first_row)
    refund_cols = [c for c in ("status", "refunded_amount", "refund_of", "refunded_at") if c in t]
    if refund_cols:
        given = t.groupby("order_id", sort=False)[refund_cols].transform("first")
        for column in refund_cols:
            mask = t[column].notna().to_numpy() & ~_same(t[column], given[column])
            _differs_from_order(problems, t, column, given[column], mask, rownum, first_row)
        t = t.assign(**{c: given[c] for c in refund_cols})
    return t, codes, first


def _order_lines(ctx: _Context, t: pd.DataFrame, codes: np.ndarray, first: np.ndarray
                 ) -> tuple[pd.DataFrame | None, np.ndarray]:
    """The file's order lines (order_id, sku, quantity, unit_price) and each line's order
    number; rows that only repeat an order are counted as skipped."""
    header = np.zeros(len(t), dtype=bool)
    header[first] = True
    if "sku" not in t:
        lines, line_codes = None, np.array([], dtype=np.int64)
        skipped_rows = int((~header).sum())
    else:
        has_sku = t["sku"].notna().to_numpy()
        lines = t.loc[has_sku, ["order_id", "sku"]].copy()
        line_codes = codes[has_sku]
        quantity = t["quantity"] if "quantity" in t else pd.Series(1.0, index=t.index)
        unit_price = t["unit_price"] if "unit_price" in t else pd.Series(np.nan, index=t.index)
        lines["quantity"] = quantity.to_numpy()[has_sku]
        lines["quantity"] = lines["quantity"].fillna(1.0)
        lines["unit_price"] = unit_price.to_numpy()[has_sku]
        if lines["unit_price"].isna().any():
            prices = _read(ctx.conn, select(Product.__table__.c.sku, Product.__table__.c.unit_price_cents))
            known = pd.Series(prices["unit_price_cents"].to_numpy(dtype="float64"),
                              index=prices["sku"].astype(str).to_numpy())
            lines["unit_price"] = lines["unit_price"].fillna(lines["sku"].map(known)).fillna(0.0)
        skipped_rows = int((~header & ~has_sku).sum())
    if skipped_rows:
        _skip(ctx.summary, "repeats an order given on an earlier row, with no line of its own", skipped_rows)
    return lines, line_codes


def _changed_lines(ctx: _Context, incoming: pd.DataFrame, existing: pd.DataFrame, lines: pd.DataFrame
                   ) -> np.ndarray:
    """Ids of stored orders whose stored lines differ from the file's (multiset hash)."""
    matched = incoming.merge(existing[["id", "external_id"]], on="external_id")
    if not len(matched):
        return np.array([], dtype="int64")
    line_table = OrderLine.__table__
    stored = _read(ctx.conn, select(line_table.c.order_id, line_table.c.sku, line_table.c.quantity,
                                    line_table.c.unit_price_cents.label("unit_price")))
    stored = stored[stored["order_id"].isin(matched["id"])]
    file_lines = lines.merge(matched[["id", "external_id"]], left_on="order_id", right_on="external_id")
    sig_db = _line_signature(stored["order_id"], stored)
    sig_file = _line_signature(file_lines["id"], file_lines)
    ids = pd.Index(matched["id"])
    db_sig = sig_db.reindex(ids, fill_value=0).to_numpy()
    file_sig = sig_file.reindex(ids, fill_value=0).to_numpy()
    return ids[db_sig != file_sig].to_numpy(dtype="int64")


@dataclass
class _OrderPlan:
    incoming: pd.DataFrame  # one row per order of the file, in order of first appearance
    is_new: np.ndarray  # per incoming order
    changed: pd.DataFrame  # id + the compared columns of stored orders to update
    compare: list[str]
    lines: pd.DataFrame | None
    line_codes: np.ndarray  # per line, its order's position in incoming
    relined: np.ndarray  # per incoming order: its stored lines are replaced
    relined_ids: np.ndarray  # stored ids of those orders
    relined_db_ids: np.ndarray  # the same, in the order of incoming's relined orders
    cancelled_stored: pd.DataFrame
    refund_plan: _RefundPlan
    existing_count: int


def _customers_of_refund_rows(ctx: _Context, t: pd.DataFrame, problems: Problems) -> None:
    """A refund row (negative total, refund_of) without a customer_id takes the customer of the
    order it names: in this file, else stored (an order, or its cancellation). One naming an
    order Hearth has nowhere is a problem naming the row (whose money went back is unknown)."""
    if "refund_of" not in t:
        return
    blank = (t["customer_id"].isna() & t["refund_of"].notna()).to_numpy()
    if not blank.any():
        return
    named = t["refund_of"].astype(object).where(pd.Series(blank, index=t.index)).dropna().astype(str)
    in_file = t.loc[t["order_id"].notna() & t["customer_id"].notna()]
    owner = pd.Series(in_file["customer_id"].astype(str).to_numpy(), index=in_file["order_id"].astype(str).to_numpy())
    owner = owner[~owner.index.duplicated(keep="first")]
    missing = sorted(set(named) - set(owner.index))
    if missing:
        o, c, r = Order.__table__, Customer.__table__, Refund.__table__
        stored = pd.concat([
            _read(ctx.conn, select(o.c.external_id, c.c.external_id.label("customer"))
                  .join(c, c.c.id == o.c.customer_id).where(o.c.external_id.in_(missing))),
            _read(ctx.conn, select(r.c.order_ref.label("external_id"), c.c.external_id.label("customer"))
                  .join(c, c.c.id == r.c.customer_id).where(r.c.kind == "cancellation", r.c.order_ref.in_(missing))),
        ], ignore_index=True)
        owner = pd.concat([owner, pd.Series(stored["customer"].astype(str).to_numpy(),
                                            index=stored["external_id"].astype(str).to_numpy())])
        owner = owner[~owner.index.duplicated(keep="first")]
    found = named.map(owner)
    t.loc[found.index[found.notna()], "customer_id"] = found[found.notna()]
    lost = found.index[found.isna()]
    rows = ctx.rownum.loc[lost].to_numpy()
    problems.cells(rows, named.loc[lost], np.ones(len(lost), dtype=bool), "refund_of",
                   "is an order neither in this file nor stored, and the row has no customer_id: say whose "
                   "refund it is, or import the order first")


def _orders_with_stored_refunds(ctx: _Context, heads: pd.DataFrame) -> frozenset[str]:
    """The order ids of ``heads`` (one row per order) that a stored refund names (a refunds file or
    refund rows imported before), for those of them marked partly refunded without an amount."""
    if "status" not in heads:
        return frozenset()
    partly = heads.loc[_status_words(heads["status"]).isin(PARTLY_REFUNDED_STATUSES), "order_id"].astype(str)
    if partly.empty:
        return frozenset()
    r = Refund.__table__
    ids = partly.unique().tolist()
    found: set[str] = set()
    for i in range(0, len(ids), 5_000):
        found.update(str(x) for x, in ctx.conn.execute(select(r.c.order_ref).where(
            r.c.order_ref.in_(ids[i:i + 5_000]), r.c.kind.in_(["refund", REFUND_COVERED]))))
    return frozenset(found)


def _import_orders(ctx: _Context, problems: Problems) -> None:
    """Orders and their lines, one order per order_id (rows of one order are its lines);
    refund and cancellation rows become refunds (see _refunds_in_orders)."""
    t = ctx.typed
    for name in ("order_id", "offer_code"):
        if name not in t:
            t[name] = pd.Series(None, index=t.index, dtype=object)
    _customers_of_refund_rows(ctx, t, problems)
    if problems:
        return
    _derive_order_ids(t, "sku" in t)
    t, codes, first = _check_order_rows(ctx, t, problems)
    if problems:
        return
    refunds, real = _refunds_in_orders(t.iloc[first], ctx.rownum, problems,
                                       stored_refunded=_orders_with_stored_refunds(ctx, t.iloc[first]))
    if problems:
        return
    if "status" in t:
        odd = unknown_statuses(t["status"].iloc[first])
        if odd:
            ctx.summary.notes.append("read as ordinary orders, statuses Hearth does not know: " + ", ".join(
                f"{name!r} ({count_of(n, 'order')})" for name, n in odd.items())
                + "; if one means cancelled or refunded, change it in the file and import it again")
    if not real.all():
        # Refund and cancellation rows are kept as refunds: their lines are no order's lines.
        t = t[real.to_numpy()[codes]]
        codes, first = _order_positions(t["order_id"])
    plan = _plan_orders(ctx, t, codes, first, refunds, problems)
    if problems or plan is None:
        return
    if not ctx.write:
        return
    _write_orders(ctx, plan)
    settle_refunds(ctx)


def _plan_orders(ctx: _Context, t: pd.DataFrame, codes: np.ndarray, first: np.ndarray,
                 refunds: pd.DataFrame, problems: Problems) -> _OrderPlan | None:
    """Compare the file's orders with the stored ones; count what will change."""
    orders = t.iloc[first]
    lines, line_codes = _order_lines(ctx, t, codes, first)
    ctx.progress(0.2, f"{len(orders):,} orders checked; matching customers")
    ids = ctx.resolve_customers(orders["customer_id"])
    incoming = pd.DataFrame({"external_id": orders["order_id"].to_numpy(dtype=object),
                             "customer_id": ids.to_numpy(), "ordered_at": orders["ordered_at"].to_numpy(),
                             "total_cents": orders["total"].to_numpy(),  # typed in whole cents
                             "offer_code": orders["offer_code"].to_numpy()})
    compare = {"customer_id": "whole", "ordered_at": "datetime", "total_cents": "number"}
    if "offer_code" in ctx.summary.mapping.values():
        compare["offer_code"] = "text"
    table = Order.__table__
    existing = _read(ctx.conn, select(table.c.id, table.c.external_id, table.c.customer_id,
                                      table.c.ordered_at, table.c.total_cents, table.c.offer_code))
    ctx.progress(0.3, "comparing with the orders already stored")
    plan = _plan(incoming[["external_id", *compare]], existing, "external_id", compare)
    changed = plan.changed
    is_new = np.ones(len(incoming), dtype=bool) if existing.empty else \
        _isin(incoming["external_id"], plan.new["external_id"]).to_numpy()
    relined_ids = np.array([], dtype="int64")
    if lines is not None and not existing.empty:
        relined_ids = _changed_lines(ctx, incoming, existing, lines)
        extra = existing[existing["id"].isin(relined_ids) & ~existing["id"].isin(changed["id"])]
        if len(extra):
            add = incoming[_isin(incoming["external_id"], extra["external_id"])].merge(
                extra[["id", "external_id"]], on="external_id")[["id", "external_id", *compare]]
            changed = pd.concat([changed, add], ignore_index=True)
    relined_stored = existing[existing["id"].isin(relined_ids)]
    relined = _isin(incoming["external_id"], relined_stored["external_id"]).to_numpy()
    relined_db_ids = pd.Series(relined_stored["id"].to_numpy(), index=relined_stored["external_id"].astype(str)
                               ).reindex(incoming["external_id"][relined].astype(str)).to_numpy(dtype="int64")
    cancelled_stored = _cancelled_orders_stored(refunds, existing)
    file_orders = pd.DataFrame({"external_id": incoming["external_id"].to_numpy(),
                                "customer_ext": orders["customer_id"].to_numpy(),
                                "total_cents": incoming["total_cents"].to_numpy(),
                                "row": ctx.rownum.loc[orders.index].to_numpy()})
    has_refund_cols = any(c in t for c in ("status", "refunded_amount", "refund_of", "refunded_at"))
    refund_plan = _plan_refunds(ctx, refunds, problems, file_orders=file_orders, stored_orders=existing,
                                replace_derived=orders["order_id"] if has_refund_cols else None)
    if problems:
        return None
    if len(cancelled_stored):
        ctx.summary.notes.append(f"{len(cancelled_stored):,} orders stored before are cancelled in this file: "
                                 "they leave the orders and are kept as cancellations")
    ctx.summary.inserted += int(is_new.sum())
    ctx.summary.updated += len(changed)
    ctx.summary.unchanged += len(incoming) - int(is_new.sum()) - len(changed)
    ctx.summary.lines += int((is_new | relined)[line_codes].sum())
    return _OrderPlan(incoming=incoming, is_new=is_new, changed=changed, compare=list(compare), lines=lines,
                      line_codes=line_codes, relined=relined, relined_ids=relined_ids, relined_db_ids=relined_db_ids,
                      cancelled_stored=cancelled_stored, refund_plan=refund_plan, existing_count=len(existing))


def _write_orders(ctx: _Context, plan: _OrderPlan) -> None:
    """Insert new orders (ids given here, so lines need no read-back), update changed ones,
    replace the lines of orders whose lines changed, then write the refunds."""
    table, line_table = Order.__table__, OrderLine.__table__
    before = _max_id(ctx.conn, table)
    new = plan.incoming[plan.is_new]
    new_ids = before + 1 + np.arange(len(new), dtype=np.int64)
    new.insert(0, "id", new_ids)
    new["total_cents"] = new["total_cents"].astype("int64")
    n_lines = 0 if plan.lines is None else len(plan.lines)
    total = max(len(new) + n_lines, 1)
    # Into a table this file outgrows, dropping and re-creating the indexes is faster (db.bulk).
    rebuild = len(new) >= max(REBUILD_INDEXES_FROM, plan.existing_count)
    bulk_insert(ctx.conn, table, new, rebuild_indexes=rebuild,
                progress=lambda n: ctx.progress(0.35 + 0.3 * n / total, f"inserted {n:,} orders"))
    upd = plan.changed.copy()
    upd["customer_id"] = upd["customer_id"].astype("int64")
    upd["total_cents"] = upd["total_cents"].astype("int64")
    _update_rows(ctx.conn, table, upd, [c for c in plan.compare if c != "customer_id"] + ["customer_id"])
    _remove_orders(ctx, plan.cancelled_stored)
    if plan.lines is not None:
        for start in range(0, len(plan.relined_ids), 5_000):
            chunk = [int(x) for x in plan.relined_ids[start:start + 5_000]]
            ctx.conn.execute(delete(line_table).where(line_table.c.order_id.in_(chunk)))
        db_id = np.full(len(plan.incoming), -1, dtype=np.int64)
        db_id[plan.is_new] = new_ids
        db_id[plan.relined] = plan.relined_db_ids
        line_ids = db_id[plan.line_codes]
        keep = line_ids >= 0
        lines = plan.lines
        out = pd.DataFrame({"order_id": line_ids[keep], "sku": lines["sku"].to_numpy()[keep],
                            "quantity": lines["quantity"].to_numpy()[keep].astype("int64"),
                            "unit_price_cents": lines["unit_price"].to_numpy()[keep].astype("int64")})
        n_out = max(len(out), 1)
        bulk_insert(ctx.conn, line_table, out, rebuild_indexes=rebuild and len(out) >= REBUILD_INDEXES_FROM,
                    progress=lambda n: ctx.progress(0.65 + 0.3 * n / n_out, f"inserted {n:,} order lines"))
    _write_refunds(ctx, plan.refund_plan)


def _line_signature(order_ids: pd.Series, lines: pd.DataFrame) -> pd.Series:
    """Order id -> an order-independent hash of its lines (sku, quantity, unit price)."""
    if lines.empty:
        return pd.Series(dtype="uint64")
    canon = pd.DataFrame({
        "sku": lines["sku"].astype(str).to_numpy(),
        "q": pd.to_numeric(lines["quantity"]).astype("float64").round(4).to_numpy(),
        "p": pd.to_numeric(lines["unit_price"]).astype("float64").round(4).to_numpy(),
    })
    h = pd.util.hash_pandas_object(canon, index=False).to_numpy()
    return pd.Series(h, index=order_ids.to_numpy(), dtype="uint64").groupby(level=0).sum()
