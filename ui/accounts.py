"""Cached readers for the Accounts queue and the Account (360) screen.

Readers that return personal data take the caller's roles (and username where it filters)
as arguments, so one user's kept answer is never served to another. Kept readers are keyed by
the data generation (core.readcache), so a write (re-scoring, outreach) shows at once; the
Account screen's readers by the generation of the tables they read only (a write elsewhere, a
task or a login's bookkeeping, keeps them), the timeline's audit rows (the audit log has no
generation) are read each time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd

from core import accounts as core_accounts
from core import consent as core_consent
from core import timeline as core_timeline
from core.exporting import audited_csv
from core.readcache import cached
from core.roles import Role, parse_roles
from ui.auth import roles_key  # noqa: F401 - the screens call it ui.roles_key
from ui.db import get_session


@cached()
def queue_page(username: str, roles: tuple[str, ...], filters: core_accounts.QueueFilters, page: int,
               page_size: int, order: str = "value") -> core_accounts.QueuePage:
    with get_session() as session:
        return core_accounts.queue_page(session=session, roles=parse_roles(roles), username=username,
                                        filters=filters, page=page, page_size=page_size, order=order)


@cached()
def queue_ids(username: str, roles: tuple[str, ...], filters: core_accounts.QueueFilters) -> list[int]:
    with get_session() as session:
        return core_accounts.queue_customer_ids(session=session, roles=parse_roles(roles), username=username,
                                                filters=filters)


@cached()
def queue_options() -> dict[str, list[str]]:
    with get_session() as session:
        return core_accounts.queue_options(session=session)


def selection_csv(username: str, roles: frozenset[Role], customer_ids: list[int],
                  filename: str) -> Callable[[], bytes]:
    """A callable for st.download_button: the selected accounts as formula-safe CSV, built
    when clicked and recorded in the audit log (export.accounts_selection)."""
    ids = list(customer_ids)

    def build() -> bytes:
        with get_session() as session:
            frame = core_accounts.accounts_export_frame(session=session, roles=roles, customer_ids=ids)
            return audited_csv(session=session, frame=frame, kind="accounts_selection", actor=username,
                               roles=roles, filename=filename)

    return build


# What core.timeline.account_overview reads: the customer's row and their newest snapshot.
OVERVIEW_TABLES = ("customer", "score_snapshot")


@cached(tables=OVERVIEW_TABLES)
def account_overview(roles: tuple[str, ...], customer_id: int) -> dict:
    with get_session() as session:
        return core_timeline.account_overview(session=session, roles=parse_roles(roles), customer_id=customer_id)


@cached(tables=core_timeline.EVENT_TABLES)
def _account_events(customer_id: int) -> pd.DataFrame:
    with get_session() as session:
        return core_timeline.account_events(session=session, customer_id=customer_id)


def account_timeline(roles: tuple[str, ...], customer_id: int) -> pd.DataFrame:
    """core.timeline.account_timeline: every kind but audit kept by data generation, the audit
    log (which has none) read each time."""
    events = _account_events(customer_id)
    with get_session() as session:
        audit = core_timeline.audit_events(session=session, customer_id=customer_id)
    return core_timeline.merge_timeline(events, audit)


@cached(tables=("orders", "order_line", "product"))  # today's date, for as_of None, is in every key
def next_due(customer_id: int, as_of: date | None) -> pd.DataFrame:
    with get_session() as session:
        return core_timeline.next_due_items(session=session, customer_id=customer_id, as_of=as_of)


@cached(tables=("score_snapshot",))
def score_history(customer_id: int) -> pd.DataFrame:
    with get_session() as session:
        return core_timeline.score_history(session=session, customer_id=customer_id)


@cached()
def what_changed(roles: tuple[str, ...], owner: str | None):  # noqa: ANN201 - core.changes.ChangeFeed
    """Changes since the last scoring run for `owner`'s book (None: all accounts)."""
    from core import changes

    with get_session() as session:
        return changes.what_changed(session=session, roles=parse_roles(roles), owner=owner)


@cached(tables=("consent_change",))
def consent_history(customer_id: int) -> pd.DataFrame:
    with get_session() as session:
        return core_consent.history(session=session, customer_id=customer_id)


@cached()
def band_move_accounts(roles: tuple[str, ...], db: str, as_of: date, from_band: str, to_band: str,
                       segment: str | None, region: str | None, owner: str | None) -> pd.DataFrame:
    """The accounts behind one of the Overview's band moves (personal data: roles checked in core)."""
    from core import kpis as core_kpis

    with get_session() as session:
        return core_kpis.band_move_accounts(session=session, roles=parse_roles(roles), from_band=from_band,
                                            to_band=to_band, as_of=as_of, segment=segment, region=region,
                                            owner=owner)
