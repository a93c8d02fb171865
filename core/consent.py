"""Consent: every change of a customer's email and SMS consent, kept with time and source.

``consent_change`` holds the history; ``Customer.email_opt_in`` / ``sms_opt_in`` hold the
current value (the latest change), which is what outreach and the delivery worker read. Both
are decided only here: `set_consent` (through `apply_changes`) for one change (an
unsubscribe, a complaint, a bounce, a change by staff); for a customers file,
`reconcile_import` decides the values the importer's bulk write stores and `record_import`
appends the history rows of what it changed, in the same transaction.

The rule for imports (design.md, "Consent"): a customers file carries no time of its own, so
an import is taken to repeat the source system's older state. It never re-grants consent that
was withdrawn in Hearth (unsubscribe, complaint, bounce, manual): when the file says opted in
and the latest change is such a withdrawal, the customer stays out and the import summary
lists the conflict. Only a file that dates the consent (column ``email_consent_at`` /
``sms_consent_at``) with a time after the withdrawal grants it again. A withdrawal in the
file (opted out) always applies; when the file dates it, a later file that dates its opt-in at
or before that time, or gives it no date, is older data and does not grant again either
(listed the same way). A
change a file dates is recorded at that time, else at the import's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from core import formatting as fmt
from db.bulk import bulk_insert
from db.models import ConsentChange, Customer, utcnow

CHANNELS = ("email", "sms")
SOURCES = ("initial", "import", "unsubscribe", "complaint", "bounce", "manual", "demo")
# Withdrawals made in Hearth itself, which a file can't know about.
HEARTH_WITHDRAWALS = ("unsubscribe", "complaint", "bounce", "manual")
_WITHDRAWN_WORDS = {"unsubscribe": "unsubscribed", "complaint": "complained",
                    "bounce": "email bounced", "manual": "consent withdrawn by staff"}
HISTORY_COLUMNS = ["changed at", "channel", "consent", "source", "detail", "by"]
# The end of the detail of a change a customers file dated (email_consent_at / sms_consent_at).
DATED_BY_FILE = ", dated by the file"


class ConsentError(ValueError):
    """A consent change that cannot be recorded (unknown customer, channel or source)."""


def _column(channel: str):
    if channel not in CHANNELS:
        raise ConsentError(f"unknown channel {channel!r}; use email or sms")
    return Customer.__table__.c[f"{channel}_opt_in"]


def apply_changes(conn: Connection, changes: pd.DataFrame) -> int:
    """Append ``changes`` to the history and set each customer's current value to their latest.

    ``changes`` has customer_id (int), channel, granted (bool), changed_at (naive UTC),
    source, detail, recorded_by. Returns the number of rows written. The one writer of consent.

    Raises ConsentError naming a source that is not one of the known ones.
    """
    if changes.empty:
        return 0
    bad = set(changes["source"]) - set(SOURCES)
    if bad:
        raise ConsentError(f"unknown consent source(s): {', '.join(sorted(bad))}")
    bulk_insert(conn, ConsentChange.__table__, changes)
    latest = changes.sort_values("changed_at", kind="stable").drop_duplicates(["customer_id", "channel"],
                                                                              keep="last")
    table = Customer.__table__
    now = utcnow()
    for channel, rows in latest.groupby("channel"):
        col = _column(str(channel))
        stmt = (update(table).where(table.c.id == bindparam("_pk"))
                .values({col.name: bindparam("v"), "updated_at": bindparam("t")}))
        conn.execute(stmt, [{"_pk": int(c), "v": bool(g), "t": now}
                            for c, g in zip(rows["customer_id"], rows["granted"], strict=True)])
    return len(changes)


def set_consent(*, session: Session, customer_id: int, channel: str, granted: bool, source: str,
                by: str | None, detail: str | None = None, at: datetime | None = None) -> ConsentChange:
    """Record one change of consent (does not commit) and make it the customer's current value.

    A withdrawal is recorded even when consent is already withdrawn: its time is what later
    imports are compared with. Raises ConsentError for an unknown customer, channel or source.
    """
    _column(channel)
    if source not in SOURCES:
        raise ConsentError(f"unknown consent source {source!r}; use one of {', '.join(SOURCES)}")
    if session.get(Customer, customer_id) is None:
        raise ConsentError(f"no customer with id {customer_id}")
    when = at or utcnow()
    apply_changes(session.connection(), pd.DataFrame([{
        "customer_id": int(customer_id), "channel": channel, "granted": bool(granted), "changed_at": when,
        "source": source, "detail": detail, "recorded_by": by}]))
    session.expire_all()
    return session.exec(select(ConsentChange).where(ConsentChange.customer_id == customer_id)
                        .order_by(ConsentChange.id.desc())).first()  # type: ignore[union-attr]


def history(*, session: Session, customer_id: int) -> pd.DataFrame:
    """The customer's consent changes, newest first, with the columns in HISTORY_COLUMNS."""
    t = ConsentChange.__table__
    frame = pd.read_sql(select(t.c.changed_at, t.c.channel, t.c.granted, t.c.source, t.c.detail,
                               t.c.recorded_by).where(t.c.customer_id == int(customer_id))
                        .order_by(t.c.changed_at.desc(), t.c.id.desc()), session.connection())
    return pd.DataFrame({
        "changed at": pd.to_datetime(frame["changed_at"]),
        "channel": frame["channel"].map({"email": "email", "sms": "SMS"}),
        "consent": np.where(frame["granted"].astype(bool), "given", "withdrawn"),
        "source": frame["source"], "detail": frame["detail"].fillna(""),
        "by": frame["recorded_by"].fillna(""),
    }, columns=HISTORY_COLUMNS)


@dataclass
class ImportConsent:
    """What a customers file does to consent, decided before anything is written."""

    kept: dict[str, pd.Series] = field(default_factory=dict)  # field -> the values to store
    conflicts: list[str] = field(default_factory=list)  # one line per customer and channel kept out
    conflict_total: int = 0  # customer and channel pairs kept out
    conflict_rows: set[int] = field(default_factory=set)  # the file's rows (customers) among them


def _opted_out_at(changes: pd.DataFrame, ids: np.ndarray, index: pd.Index) -> pd.Series:
    """Per file row (``ids``: each row's customer table id), the time of the opt-out in
    ``changes`` (latest changes, one per customer), NaT where there is none."""
    found = pd.DataFrame({"customer_id": ids}).merge(pd.DataFrame({
        "customer_id": changes["customer_id"].astype("Int64").to_numpy(),
        "out_at": pd.to_datetime(changes["changed_at"]).astype("datetime64[ns]").to_numpy()}),
        on="customer_id", how="left")
    return pd.Series(found["out_at"].to_numpy(), index=index)


def _list_held(out: ImportConsent, typed: pd.DataFrame, held: pd.Series, max_listed: int, why: list[str]) -> None:
    """Count the rows ``held`` out and list the first of them: "C1: file says <why>; kept out"
    (``why``: the words for each held row, in order, at least the first ``max_listed``)."""
    rows = np.flatnonzero(held.to_numpy())
    for i, words in list(zip(rows, why, strict=False))[: max(max_listed - len(out.conflicts), 0)]:
        out.conflicts.append(f"{typed['customer_id'].iloc[i]}: file says {words}; kept out")
    out.conflict_total += len(rows)
    out.conflict_rows.update(int(i) for i in rows)


def _latest_changes(conn: Connection, customer_ids: list[int] | None = None) -> pd.DataFrame:
    """The latest consent change per customer and channel (columns id, customer_id, channel,
    granted, changed_at, source, detail), of ``customer_ids`` (default: everyone). Latest by the
    order of recording, the current value: a change a file dated is recorded at that date, which
    may be before changes recorded earlier. Many ids read the whole table (one IN list of a
    100,000-row file would pass SQLite's limit of bound values)."""
    t = ConsentChange.__table__
    stmt = select(t.c.id, t.c.customer_id, t.c.channel, t.c.granted, t.c.changed_at, t.c.source, t.c.detail)
    few = customer_ids is not None and len(customer_ids) <= 5_000
    if few:
        stmt = stmt.where(t.c.customer_id.in_([int(i) for i in customer_ids]))
    changes = pd.read_sql(stmt, conn)
    if customer_ids is not None and not few:
        changes = changes[changes["customer_id"].isin([int(i) for i in customer_ids])]
    return changes.sort_values("id", kind="stable").drop_duplicates(["customer_id", "channel"], keep="last")


def reconcile_import(conn: Connection, typed: pd.DataFrame, *, max_listed: int = 20) -> ImportConsent:
    """Decide the consent a customers file may set (the module's import rule).

    ``typed`` is the checked file: customer_id (external id), and any of email_opt_in,
    sms_opt_in (bool) and email_consent_at, sms_consent_at (naive UTC or NaT). Returns the
    values to store per field (same index) and the conflicts, "C2001: file says opted in,
    unsubscribed in Hearth on 2026-11-30; kept out".
    """
    out = ImportConsent()
    channels = [c for c in CHANNELS if f"{c}_opt_in" in typed]
    if not channels:
        return out
    now = pd.Timestamp(utcnow())
    cust = Customer.__table__
    known = pd.read_sql(select(cust.c.id, cust.c.external_id), conn)
    ids = typed["customer_id"].astype(object).map(
        pd.Series(known["id"].to_numpy(), index=known["external_id"].astype(str).to_numpy())
    ).astype("Int64").to_numpy()
    latest = _latest_changes(conn)
    for channel in channels:
        name = f"{channel}_opt_in"
        wanted = typed[name].astype(bool)
        last = latest[latest["channel"] == channel]
        withdrawn = last[~last["granted"].astype(bool) & last["source"].isin(HEARTH_WITHDRAWALS)]
        right = pd.DataFrame({"customer_id": withdrawn["customer_id"].astype("Int64").to_numpy(),
                              "changed_at": pd.to_datetime(withdrawn["changed_at"]).astype("datetime64[ns]")
                              .to_numpy(),
                              "source": withdrawn["source"].astype(object).to_numpy()})
        found = pd.DataFrame({"customer_id": ids}).merge(right, on="customer_id", how="left")
        when = pd.Series(found["changed_at"].to_numpy(), index=typed.index)
        source = pd.Series(found["source"].to_numpy(), index=typed.index)
        conflict = wanted & when.notna()
        dated = typed.get(f"{channel}_consent_at")
        # An opt-out an earlier file dated (an email tool's unsubscribe export) is a known fact:
        # a file that gives its opt-in no date repeats older state and does not grant again.
        file_out = last[~last["granted"].astype(bool) & (last["source"] == "import")]
        out_dated_when = _opted_out_at(file_out[file_out["detail"].fillna("").str.endswith(DATED_BY_FILE)],
                                       ids, typed.index)
        undated = wanted & ~conflict & (dated.isna() if dated is not None else True)
        held = undated & out_dated_when.notna()
        to = "" if channel == "email" else " to SMS"
        _list_held(out, typed, held, max_listed, [
            f"opted in{to} without a date, opted out on {fmt.date_text(out_dated_when.iloc[i])} by an earlier file "
            "that dated it" for i in np.flatnonzero(held.to_numpy())[:max_listed]])
        conflict |= held
        if dated is not None:
            # A time after this import (a shop ahead of UTC writing local times, or the two days
            # ahead a file may say) dates nothing: the same file imported again after an
            # unsubscribe is not newer than it.
            dated = dated.where(dated <= now)
            conflict &= ~(dated.notna() & (dated > when))
            # An opt-out a file gave (source import, dated by that file when it said when): a file
            # that dates its opt-in at or before it is older data and does not grant again.
            out_when = _opted_out_at(file_out, ids, typed.index)
            older = wanted & ~conflict & dated.notna() & out_when.notna() & (dated <= out_when)
            _list_held(out, typed, older, max_listed, [
                f"opted in{to} on {fmt.date_text(dated.iloc[i])}, opted out on {fmt.date_text(out_when.iloc[i])} "
                "by an earlier file" for i in np.flatnonzero(older.to_numpy())[:max_listed]])
            conflict |= older
        out.kept[name] = wanted & ~conflict
        hits = np.flatnonzero((conflict & when.notna()).to_numpy())
        out.conflict_total += len(hits)
        out.conflict_rows.update(int(i) for i in hits)
        for i in hits[: max(max_listed - len(out.conflicts), 0)]:
            out.conflicts.append(
                f"{typed['customer_id'].iloc[i]}: file says opted in{to}, "
                f"{_WITHDRAWN_WORDS[source.iloc[i]]} in Hearth on {fmt.date_text(when.iloc[i])}; kept out")
    return out


def record_import(conn: Connection, typed: pd.DataFrame, before: pd.DataFrame, *, filename: str,
                  by: str | None, said: pd.DataFrame | None = None) -> int:
    """After a customers file is written: one 'import' change for each customer and channel whose
    consent the file set for the first time or changed. ``before`` is customer table id,
    external_id, email_opt_in, sms_opt_in as read before the import; ``said`` the file as it was
    read, before `reconcile_import` held any opt-in back (default ``typed``): an opt-out the file
    dates is recorded even when the customer was already out. Returns rows written."""
    channels = [c for c in CHANNELS if f"{c}_opt_in" in typed]
    if not channels:
        return 0
    cust = Customer.__table__
    now = utcnow()
    current = pd.read_sql(select(cust.c.id, cust.c.external_id, *[cust.c[f"{c}_opt_in"] for c in channels]),
                          conn)
    file_ids = pd.Index(typed["customer_id"].astype(str).unique())
    current = current[current["external_id"].astype(str).isin(file_ids)]
    merged = current.merge(before, on="id", how="left", suffixes=("", "__before"), indicator=True)
    is_new = (merged["_merge"] == "left_only").to_numpy()
    latest = _latest_changes(conn, merged["id"].tolist())
    parts = []
    for channel in channels:
        name = f"{channel}_opt_in"
        now_val = merged[name].astype(bool).to_numpy()
        was = merged[f"{name}__before"]
        # When the file dates the change (email_consent_at / sms_consent_at), that is when it was
        # made; else the import's time.
        dated = typed.get(f"{channel}_consent_at")
        file_at = pd.Series(pd.NaT, index=merged.index, dtype="datetime64[ns]")
        if dated is not None:
            given = pd.Series(dated.to_numpy(), index=typed["customer_id"].astype(str).to_numpy())
            given = given[given.notna() & ~given.index.duplicated(keep="last")]
            given = given.where(given <= pd.Timestamp(now), pd.Timestamp(now))  # not after the import
            if len(given):  # a column left empty in every row dates nothing
                file_at = pd.to_datetime(merged["external_id"].astype(str).map(given)).astype("datetime64[ns]")
        changed = is_new | was.isna().to_numpy() | (was.fillna(False).astype(bool).to_numpy() != now_val)
        # An opt-out the file dates is recorded even when the customer was already out: its date is
        # what a later file's opt-in is weighed against (the import rule). Not twice the same one.
        mine = latest[(latest["channel"] == channel) & ~latest["granted"].astype(bool)
                      & latest["detail"].fillna("").astype(str).str.endswith(DATED_BY_FILE)]
        out_at = pd.Series(pd.to_datetime(mine["changed_at"]).astype("datetime64[ns]").to_numpy(),
                           index=mine["customer_id"].astype("int64").to_numpy())
        same = (merged["id"].astype("int64").map(out_at) == file_at).to_numpy() if len(out_at) else \
            np.zeros(len(merged), dtype=bool)
        asked = typed if said is None else said
        told = pd.Series(asked[name].astype(bool).to_numpy(), index=asked["customer_id"].astype(str).to_numpy())
        said_no = ~merged["external_id"].astype(str).map(told[~told.index.duplicated(keep="last")]) \
            .fillna(True).astype(bool).to_numpy()
        # (the file's own word: an opt-in it gave that the import rule held back is no opt-out)
        changed |= file_at.notna().to_numpy() & said_no & ~now_val & ~same
        rows = merged.loc[changed]
        from_file = file_at.loc[rows.index]
        at = pd.Series(now, index=rows.index, dtype="datetime64[ns]").where(from_file.isna(), from_file)
        by_file = from_file.notna().to_numpy()
        detail = f"file {filename}"[: 300 - len(DATED_BY_FILE)]
        parts.append(pd.DataFrame({
            "customer_id": rows["id"].astype("int64").to_numpy(), "channel": channel,
            "granted": rows[name].astype(bool).to_numpy(), "changed_at": at.to_numpy(), "source": "import",
            "detail": np.where(by_file, detail + DATED_BY_FILE, detail), "recorded_by": by}))
    changes = pd.concat(parts, ignore_index=True)
    if changes.empty:
        return 0
    bulk_insert(conn, ConsentChange.__table__, changes)
    return len(changes)


def _outranks(later: object, withdrawal: object) -> bool:
    """Whether the merged-into customer's latest change ``later`` stands against a withdrawal
    carried over (rows of consent_change): a withdrawal of its own, or a grant made after it in
    Hearth (by staff) or dated after it by a file. An undated file's grant repeats older state
    (the import rule) and does not."""
    if not bool(later.granted):
        return True
    dated = later.source != "import" or (isinstance(later.detail, str) and later.detail.endswith(DATED_BY_FILE))
    return dated and pd.Timestamp(later.changed_at) > pd.Timestamp(withdrawal.changed_at)


def carry_withdrawals(conn: Connection, merges: list[tuple[int, int]], *, by: str | None) -> int:
    """Before customer records are merged (core.importing: one met only by email address, merged
    into the customer a customers file names with it), for each (from, into) customer table id
    pair: a channel whose current consent on ``from`` is a withdrawal (an unsubscribe, complaint,
    bounce or opt-out recorded there) is withdrawn on ``into`` too, unless ``into``'s own latest
    change of that channel outranks it (`_outranks`: a withdrawal, or a grant by staff or dated by
    a file after it). It is recorded as a change of ``into`` with the withdrawal's own source and
    time ("carried over from a record merged into this customer"), so that a customers file
    saying opted in is held back by the import rule as it would be on the record itself.
    The caller moves the history rows afterwards. Returns the withdrawals carried over."""
    if not merges:
        return 0
    t = ConsentChange.__table__
    latest = {(int(r.customer_id), str(r.channel)): r for r in _latest_changes(
        conn, [a for a, _ in merges] + [b for _, b in merges]).itertuples(index=False)}
    carried = []
    for source_id, into_id in merges:
        for channel in CHANNELS:
            gone = latest.get((int(source_id), channel))
            if gone is None or bool(gone.granted):
                continue
            mine = latest.get((int(into_id), channel))
            if mine is not None and _outranks(mine, gone):
                continue
            said = gone.detail if isinstance(gone.detail, str) and gone.detail else gone.source
            # At the withdrawal's own time: the import rule weighs a file's dated opt-in against
            # it, and the summary names its date.
            carried.append({"customer_id": int(into_id), "channel": channel, "granted": False,
                            "changed_at": pd.Timestamp(gone.changed_at).to_pydatetime(), "source": str(gone.source),
                            "detail": f"carried over from a record merged into this customer ({said})"[:300],
                            "recorded_by": by})
    if carried:
        frame = pd.DataFrame(carried)
        bulk_insert(conn, t, frame)
        cust = Customer.__table__
        for channel in CHANNELS:
            who = frame.loc[frame["channel"] == channel, "customer_id"].tolist()
            if who:
                conn.execute(update(cust).where(cust.c.id.in_(who)).values({_column(channel): False}))
    return len(carried)


def snapshot(conn: Connection) -> pd.DataFrame:
    """id, external_id, email_opt_in, sms_opt_in of every customer (for record_import)."""
    cust = Customer.__table__
    return pd.read_sql(select(cust.c.id, cust.c.external_id.label("external_id__x"), cust.c.email_opt_in,
                              cust.c.sms_opt_in), conn).drop(columns="external_id__x")
