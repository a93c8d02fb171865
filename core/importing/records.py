"""The kinds with one record per row: customers (with core.consent's rule), products, tickets,
feedback and loyalty entries (with core.loyalty's ledger check).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table, bindparam, delete, func, select, update

from core import consent
from core.config import get_settings
from core.email_address import email_problem
from core.formatting import count_of
from core.importing.formats import FORMATS, MAX_LISTED_PROBLEMS
from core.importing.problems import Problem, Problems
from core.importing.refunds import settle_refunds
from core.importing.store import (
    _address_keyed_customers,
    _canon,
    _Context,
    _dedupe,
    _isin,
    _plan,
    _read,
    _sha_keys,
    _to_db_types,
    _update_rows,
)
from db.bulk import bulk_insert
from db.models import (
    AuditLog,
    ConsentChange,
    Customer,
    Feedback,
    LoyaltyEntry,
    Order,
    Outreach,
    Product,
    Refund,
    ScoreSnapshot,
    SupportTicket,
    Task,
    utcnow,
)


def _generic(ctx: _Context, *, table: Table, key_field: str, db_columns: dict[str, str],
             field_kinds: dict[str, str], problems: Problems,
             defaults: dict[str, Callable[[pd.DataFrame], Any]] | None = None,
             derive: list[tuple[str, str]] | None = None, customer_field: str | None = None,
             extra_checks: Callable[[pd.DataFrame, _Context, Problems], None] | None = None,
             on_change: dict[str, Callable[[], Any]] | None = None) -> None:
    """Import one record per row, keyed by the file field ``key_field``.

    Only the columns the file has are compared and written: a file without an email column
    leaves stored emails alone.
    """
    t = ctx.typed
    if derive is not None:
        given = (t[key_field] if key_field in t else pd.Series(None, index=t.index)).astype(object)
        missing = given.isna().to_numpy()
        if missing.any():
            parts = [_canon(t[f], how) if f in t else pd.Series("", index=t.index) for f, how in derive]
            given = given.copy()
            given[missing] = _sha_keys([p[missing] for p in parts]).to_numpy()
        ctx.typed = t = t.assign(**{key_field: given})
    t = _dedupe(ctx, key_field, problems)
    if not problems and extra_checks:
        extra_checks(t, ctx, problems)
    if problems:
        return
    fed = [f for f in t.columns if f in db_columns]
    incoming = pd.DataFrame({db_columns[f]: t[f] for f in fed}, index=t.index)
    compare = {db_columns[f]: field_kinds[f] for f in fed if f != key_field}
    if customer_field and customer_field in t:
        ids = ctx.resolve_customers(t[customer_field])
        incoming["customer_id"] = ids.astype("float64")
        compare["customer_id"] = "whole"
    key = db_columns[key_field]
    cols = [key, *compare]
    existing = _read(ctx.conn, select(*[table.c[c] for c in ["id", *cols]]))
    plan = _plan(incoming[cols], existing, key, compare)
    ctx.summary.inserted += len(plan.new)
    ctx.summary.updated += len(plan.changed)
    ctx.summary.unchanged += plan.unchanged
    if not ctx.write:
        return
    ctx.progress(0.5, f"writing {len(plan.new):,} new and {len(plan.changed):,} changed records")
    new = _to_db_types(plan.new, compare)
    for c, make in (defaults or {}).items():
        value = make(new)
        new[c] = value if c not in new else new[c].where(new[c].notna(), value)
    total = max(len(new), 1)
    bulk_insert(ctx.conn, table, new,
                progress=lambda n: ctx.progress(0.5 + 0.4 * n / total, f"inserted {n:,} records"))
    changed = _to_db_types(plan.changed, compare)
    update_cols = list(plan.update_columns)
    for c, make in (on_change or {}).items():
        changed[c] = make()
        update_cols.append(c)
    _update_rows(ctx.conn, table, changed, update_cols)


def _kinds_of(kind: str) -> dict[str, str]:
    return {c.name: c.kind for c in FORMATS[kind]}


def _now(_frame: pd.DataFrame | None = None) -> Any:
    return utcnow()


def _check_emails(frame: pd.DataFrame, ctx: _Context, problems: Problems) -> None:
    """Each email cell is one valid address (core.email_address); a bad one refuses the file."""
    if "email" not in frame:
        return
    given = frame["email"].dropna()
    bad = {i: why for i, address in given.items() if (why := email_problem(str(address))) is not None}
    rows = ctx.rownum.loc[list(bad)]
    problems.uncounted += max(len(bad) - MAX_LISTED_PROBLEMS, 0)
    for i in list(bad)[:MAX_LISTED_PROBLEMS]:
        problems.append(Problem(int(rows.loc[i]), "email", str(given.loc[i]),
                                f"is not a valid email address: {bad[i]}"))


def _address_keyed(ctx: _Context) -> tuple[pd.Series, pd.Series, pd.Series]:
    """For the customers file in ``ctx``: every stored customer's id by external id, the customers
    stored by an email address as their id (id by the address in lower case; an address two of
    them share is left out), and each file row's address (lower case, "" when empty)."""
    table = Customer.__table__
    known = _read(ctx.conn, select(table.c.id, table.c.external_id))
    ext = pd.Series(known["id"].to_numpy(), index=known["external_id"].astype(str).to_numpy())
    email = ctx.typed["email"]
    address = email.astype(object).where(email.notna(), "").astype(str).str.strip().str.lower()
    return ext, _address_keyed_customers(ctx.conn)["id"], address


def _adopt_email_keyed(ctx: _Context) -> None:
    """A customer first met by email address (a platform's orders, loyalty or survey file keyed by
    email, before its customers file) is stored with that address as its id. A customers file row
    with a new customer id and that address takes the record over: its id becomes the file's, so
    one person is one account with their orders, points and answers (the files imported the other
    way round give the same). Only an address one stored customer has as its id, named by one row
    of the file; said in the summary."""
    t = ctx.typed
    if "email" not in t or not len(t):
        return
    table = Customer.__table__
    ext, by_address, address = _address_keyed(ctx)
    ids = t["customer_id"].astype(str)
    new_row = ~_isin(ids, ext.index) & (address != "")
    target = address.where(new_row).map(by_address)
    target = target[target.notna() & ~address.duplicated(keep=False)]
    if target.empty:
        return
    # Also in a dry run (its transaction is rolled back), so that it counts these as updated.
    ctx.conn.execute(update(table).where(table.c.id == bindparam("_id")).values(external_id=bindparam("_ext")),
                     [{"_id": int(cid), "_ext": ids[row]} for row, cid in target.items()])
    n = len(target)
    ctx.summary.notes.append(
        f"{count_of(n, 'customer')} first seen by email address in another file "
        f"{'take' if n != 1 else 'takes'} the id this file gives (one account each, with their orders)")


# The tables whose rows belong to a customer and move with a merge (core.importing's
# _merge_email_keyed): the consent history too (an unsubscribe made on the address-only record
# holds on the merged one: core.consent.carry_withdrawals); score snapshots are computed again by
# the next scoring, open tasks by the next task run.
_MOVED_WITH_CUSTOMER = (Order, Refund, Feedback, LoyaltyEntry, SupportTicket, Outreach, AuditLog, ConsentChange)
_DROPPED_WITH_CUSTOMER = (ScoreSnapshot, Task)


def _merge_email_keyed(ctx: _Context) -> None:
    """A customers file row whose customer id is already stored (a customer a refunds, tickets or
    earlier customers file created) and whose address is the id of another customer, one met
    only by that address in a platform's file: that one is merged into the row's customer (their
    orders, refunds, answers, points, tickets, outreach, audit entries and consent history move,
    a withdrawal that was its current consent holds on the merged customer; the address-only
    customer is removed), so one person is one account whatever the order of the files. Refunds
    are then settled again (an order's refunded total and its listed refunds may now meet under
    one customer). Said in the summary; a dry run does it in its rolled-back transaction."""
    t = ctx.typed
    if "email" not in t or not len(t):
        return
    table = Customer.__table__
    ext, by_address, address = _address_keyed(ctx)
    into = t["customer_id"].astype(str).map(ext)
    source = address.map(by_address)
    pairs = pd.DataFrame({"into": into, "source": source})[into.notna() & source.notna() & (address != "")
                                                           & ~address.duplicated(keep=False)]
    pairs = pairs[pairs["into"] != pairs["source"]].astype("int64").drop_duplicates("source")
    if pairs.empty:
        return
    moves = [{"_from": int(a), "_to": int(b)} for a, b in zip(pairs["source"], pairs["into"], strict=True)]
    carried = consent.carry_withdrawals(ctx.conn, [(m["_from"], m["_to"]) for m in moves], by=ctx.actor)
    for model in _MOVED_WITH_CUSTOMER:
        c = model.__table__.c
        ctx.conn.execute(update(model.__table__).where(c.customer_id == bindparam("_from"))
                         .values(customer_id=bindparam("_to")), moves)
    gone = [m["_from"] for m in moves]
    for model in _DROPPED_WITH_CUSTOMER:
        ctx.conn.execute(delete(model.__table__).where(model.__table__.c.customer_id.in_(gone)))
    ctx.conn.execute(delete(table).where(table.c.id.in_(gone)))
    settle_refunds(ctx)
    n = len(moves)
    ctx.summary.notes.append(
        f"{count_of(n, 'customer')} met only by email address in another file "
        f"{'were' if n != 1 else 'was'} merged into the customer this file names with that address "
        "(their orders, refunds, answers, points and tickets moved"
        + (f"; {count_of(carried, 'consent withdrawal')} made on the address-only record "
           f"{'hold' if carried != 1 else 'holds'} on the merged one)" if carried else ")"))


def _import_customers(ctx: _Context, problems: Problems) -> None:
    kinds = _kinds_of("customers")
    _adopt_email_keyed(ctx)
    _merge_email_keyed(ctx)
    # Consent a withdrawal in Hearth holds back is stored as withdrawn (core.consent's rule).
    plan = consent.reconcile_import(ctx.conn, ctx.typed, max_listed=MAX_LISTED_PROBLEMS)
    said = ctx.typed.copy()  # the file's own word, before the import rule holds any opt-in back
    if plan.kept:
        ctx.typed = ctx.typed.assign(**plan.kept)
    ctx.summary.consent_conflicts = plan.conflicts
    ctx.summary.consent_conflict_total = plan.conflict_total
    ctx.summary.consent_conflict_customers = len(plan.conflict_rows)
    before = consent.snapshot(ctx.conn) if plan.kept and ctx.write else None
    _generic(ctx, table=Customer.__table__, key_field="customer_id",
             db_columns={f: f for f in kinds if not f.endswith("_consent_at")} | {"customer_id": "external_id"},
             field_kinds=kinds, problems=problems, extra_checks=_check_emails,
             defaults={"email_opt_in": lambda f: False, "sms_opt_in": lambda f: False, "created_at": _now,
                       "updated_at": _now},
             on_change={"updated_at": _now})
    if before is not None and not problems:
        consent.record_import(ctx.conn, ctx.typed, before, filename=ctx.summary.filename, by=ctx.actor, said=said)


def _import_products(ctx: _Context, problems: Problems) -> None:
    kinds = _kinds_of("products")
    # unit_price is typed as whole cents (a money column), stored as unit_price_cents.
    _generic(ctx, table=Product.__table__, key_field="sku",
             db_columns={f: f for f in kinds} | {"unit_price": "unit_price_cents"},
             field_kinds=kinds, problems=problems)


def _ticket_status(frame: pd.DataFrame) -> pd.Series:
    """A ticket without a status is closed when it has closed_at, else open."""
    closed = frame["closed_at"].notna() if "closed_at" in frame else pd.Series(False, index=frame.index)
    return pd.Series(np.where(closed, "closed", "open"), index=frame.index, dtype=object)


def _import_tickets(ctx: _Context, problems: Problems) -> None:
    kinds = _kinds_of("tickets")

    def closed_after_opened(frame: pd.DataFrame, ctx_: _Context, probs: Problems) -> None:
        if "closed_at" in frame:
            bad = (frame["closed_at"].notna() & (frame["closed_at"] < frame["opened_at"])).to_numpy()
            probs.cells(ctx_.rownum.loc[frame.index].to_numpy(), frame["closed_at"].astype(str), bad,
                        "closed_at", "is before opened_at")

    if "status" in ctx.typed and ctx.typed["status"].isna().any():
        t = ctx.typed
        ctx.typed = t.assign(status=t["status"].where(t["status"].notna(), _ticket_status(t)))
    _generic(ctx, table=SupportTicket.__table__, key_field="ticket_id",
             db_columns={f: f for f in kinds} | {"ticket_id": "external_id"}, field_kinds=kinds,
             problems=problems, defaults={"status": _ticket_status},
             derive=[("customer_id", "text"), ("opened_at", "datetime"), ("topic", "text")],
             customer_field="customer_id", extra_checks=closed_after_opened)


def _import_feedback(ctx: _Context, problems: Problems) -> None:
    kinds = _kinds_of("feedback")
    # A changed answer is scored again by core.feedback.flag_unscored after the import.
    rescore = {"sentiment": lambda: None, "flagged": lambda: False, "flag_reasons": lambda: None,
               "severity": lambda: None}
    _generic(ctx, table=Feedback.__table__, key_field="response_id",
             db_columns={f: f for f in kinds} | {"response_id": "external_id"}, field_kinds=kinds,
             problems=problems, defaults={"flagged": lambda f: False, "state": lambda f: "new"},
             derive=[("customer_id", "text"), ("submitted_at", "datetime"), ("channel", "text"),
                     ("nps_score", "number"), ("comment", "text")],
             customer_field="customer_id", on_change=rescore)


def _import_loyalty(ctx: _Context, problems: Problems) -> None:
    """Every entry counts as written: also the programme's own expire rows (``computed`` false,
    see core.loyalty) and reversals of refunded orders. A new entry is stored under the points
    expiry rule in force (``expiry_months``, HEARTH_POINTS_EXPIRY_MONTHS); an entry imported
    again keeps the rule it was first stored under, so a full export imported every week after
    the setting changed does not expire, after the fact, points its members have redeemed.

    A programme that writes its own expiry rows (the file or the stored ledger has an expire row
    from a file) expires points itself, mostly after months without activity: its lots without
    an expires_at are stored, and those already stored are stamped, under the rule "never by
    Hearth's rule" (0 months), for every member, also those the programme has not expired
    anything of yet (Hearth's 12 months from earning took an active member's points, with their
    liability, and warned them of an expiry the programme would not make). The summary says so."""
    kinds = _kinds_of("loyalty") | {"computed": "flag"}
    ctx.typed = ctx.typed.assign(computed=False)
    programme_expires = _programme_writes_expiries(ctx)
    months = 0 if programme_expires else get_settings().points_expiry_months
    _generic(ctx, table=LoyaltyEntry.__table__, key_field="entry_id",
             db_columns={f: f for f in kinds} | {"entry_id": "external_id", "order_id": "order_ref"},
             field_kinds=kinds, problems=problems, defaults={"expiry_months": lambda _new: months},
             derive=[("customer_id", "text"), ("occurred_at", "datetime"), ("kind", "text"),
                     ("points", "number"), ("expires_at", "datetime"), ("order_id", "text")],
             customer_field="customer_id", extra_checks=_check_ledger)
    if programme_expires and not problems:
        _stamp_programme_lots(ctx)


def _programme_writes_expiries(ctx: _Context) -> bool:
    """Whether the file or the stored ledger holds an expire row of the programme's own (not one
    Hearth's expiry job wrote)."""
    if "kind" in ctx.typed and (ctx.typed["kind"].astype(str).str.strip().str.lower() == "expire").any():
        return True
    t = LoyaltyEntry.__table__
    return ctx.conn.execute(select(t.c.id).where(t.c.kind == "expire", t.c.computed.is_(False)).limit(1)
                            ).first() is not None


def _programme_lots(t: Table) -> Any:
    """The stored lots Hearth's own expiry rule still applies to: credits from a file with no
    expires_at, stored under a rule of more than 0 months (or none yet)."""
    return ((t.c.computed.is_(False)) & t.c.expires_at.is_(None) & (t.c.points > 0)
            & t.c.kind.in_(("earn", "adjust", "reverse"))
            & (t.c.expiry_months.is_(None) | (t.c.expiry_months != 0)))


def _stamp_programme_lots(ctx: _Context) -> None:
    """Stamp the stored lots of a programme that writes its own expiry rows with the rule 0
    (never by Hearth's rule), and say how many (see _import_loyalty)."""
    t = LoyaltyEntry.__table__
    n = int(ctx.conn.execute(select(func.count()).select_from(t).where(_programme_lots(t))).scalar_one())
    if ctx.write and n:
        ctx.conn.execute(update(t).where(_programme_lots(t)).values(expiry_months=0))
    rule = get_settings().points_expiry_months
    verb = ("is" if n == 1 else "are") if ctx.write else "would be"
    said = (f"{count_of(n, 'stored lot')} of points {verb} no longer expired by Hearth's rule ({rule} months "
            "after earning)" if n else "Hearth's own expiry rule is not applied to its points")
    if rule or n:
        ctx.summary.notes.append(
            f"the loyalty programme writes its own expiry rows: its points expire by those rows and by the "
            f"expires_at a row gives, never by Hearth's rule; {said}")


def _check_ledger(frame: pd.DataFrame, ctx: _Context, problems: Problems) -> None:
    """A redemption larger than the balance at that moment is a bad row (core.loyalty's rule)."""
    try:
        from core.loyalty import ledger_problems
    except ImportError:
        ctx.summary.notes.append("loyalty balances not checked: core.loyalty.ledger_problems is not "
                                 "available in this build")
        return
    table = LoyaltyEntry.__table__
    customers = _read(ctx.conn, select(Customer.__table__.c.id, Customer.__table__.c.external_id))
    ext_to_id = dict(zip(customers["external_id"].astype(str), customers["id"], strict=True))
    affected_ids = {ext_to_id[c] for c in frame["customer_id"].unique() if c in ext_to_id}
    existing = _read(ctx.conn, select(table.c.id, table.c.external_id, table.c.customer_id,
                                      table.c.occurred_at, table.c.kind, table.c.points, table.c.expires_at,
                                      table.c.computed, table.c.expiry_months))
    # An entry of the file already stored keeps the expiry rule it was stored under (_import_loyalty),
    # also when the file moves it to another customer.
    again = existing[_isin(existing["external_id"], frame["entry_id"])]
    kept_rule = dict(zip(again["external_id"].astype(str),
                         pd.to_numeric(again["expiry_months"]).fillna(-1).astype("int64"), strict=True))
    existing = existing[existing["customer_id"].isin(affected_ids) & ~_isin(existing["external_id"], frame["entry_id"])]
    id_to_ext = {v: k for k, v in ext_to_id.items()}
    old = pd.DataFrame({
        "customer_id": existing["customer_id"].map(id_to_ext).to_numpy(),
        "occurred_at": pd.to_datetime(existing["occurred_at"]).to_numpy(),
        "kind": existing["kind"].to_numpy(), "points": existing["points"].to_numpy(),
        "expires_at": pd.to_datetime(existing["expires_at"]).to_numpy(),
        "computed": existing["computed"].fillna(False).astype(bool).to_numpy(),
        "expiry_months": pd.to_numeric(existing["expiry_months"]).fillna(-1).astype("int64").to_numpy(),
    }, index=[("db", str(x)) for x in existing["external_id"]])
    months = 0 if _programme_writes_expiries(ctx) else get_settings().points_expiry_months
    if months == 0:  # stamped "never" with the import (_stamp_programme_lots)
        lots = ((old["computed"] == False) & old["expires_at"].isna() & (old["points"] > 0)  # noqa: E712
                & old["kind"].astype(str).str.strip().str.lower().isin(["earn", "adjust", "reverse"]))
        old.loc[lots, "expiry_months"] = 0
        kept_rule = {k: 0 for k in kept_rule}
    new = pd.DataFrame({
        "customer_id": frame["customer_id"].to_numpy(), "occurred_at": frame["occurred_at"].to_numpy(),
        "kind": frame["kind"].to_numpy(), "points": frame["points"].astype("int64").to_numpy(),
        "expires_at": (frame["expires_at"] if "expires_at" in frame
                       else pd.Series(pd.NaT, index=frame.index)).to_numpy(),
        "computed": False,
        "expiry_months": [kept_rule.get(str(k), months) for k in frame["entry_id"]],
    }, index=[("file", int(r)) for r in ctx.rownum.loc[frame.index]])
    entries = pd.concat([old, new]) if len(old) else new
    entries = entries.iloc[np.argsort(entries["occurred_at"].to_numpy(), kind="stable")]
    values = dict(zip(new.index, frame["points"].to_numpy(), strict=True))
    for label, message in ledger_problems(entries):
        source, ref = label
        if source == "file":
            problems.append(Problem(ref, "points", str(int(values[label])), message))
        else:
            problems.append(Problem(None, "points", None, f"existing entry {ref}: {message} once this file "
                                                          "is applied"))
