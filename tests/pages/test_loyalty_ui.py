"""The Loyalty screen through the real app: managers see members, execs aggregates only."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from core.loyalty import loyalty_kpis
from db.engine import get_engine
from db.models import Customer, LoyaltyEntry
from tests.pages.helpers import app_as, open_tab, page_text

PAGE = "views/loyalty.py"


def _figures(url: str) -> tuple[dict, str]:
    with Session(get_engine(url)) as session:
        k = loyalty_kpis(session=session, as_of=datetime.now(UTC).date())
        member = session.exec(select(Customer).join(LoyaltyEntry, LoyaltyEntry.customer_id == Customer.id)
                              .order_by(Customer.id)).first()
        return k, member.external_id


def test_manager_sees_balances_expiring_members_and_a_ledger(demo_app: str) -> None:
    k, external_id = _figures(demo_app)
    at = app_as("manager", PAGE)
    assert not at.exception, at.exception
    # Balances: names are there for a manager; the filter for their own book is on.
    assert at.toggle(key="loy_own_only").value is True
    at.toggle(key="loy_own_only").set_value(False).run()
    table = at.dataframe[0].value  # the Balances tab comes first
    assert {"name", "balance", "tier"} <= set(table.columns)
    assert table["balance"].is_monotonic_decreasing
    assert int(table["balance"].sum()) <= k["outstanding_points"]
    # The other tabs run only when opened.
    assert not any(t.key == "loy_ledger_customer" for t in at.text_input)
    assert "Outstanding points" not in page_text(at)
    # One customer's ledger: the running balance ends at the customer's balance.
    open_tab(at, "loy_tab", "Customer ledger")
    at.text_input(key="loy_ledger_customer").input(external_id).run()
    assert not at.exception, at.exception
    ledger = next(df.value for df in at.dataframe if "Lot expires" in str(df.proto) or
                  {"kind", "balance", "occurred_at"} <= set(df.value.columns))
    balance_metric = next(m for m in at.metric if m.label == "Balance")
    assert f"{int(ledger['balance'].iloc[-1]):,}" == balance_metric.value
    open_tab(at, "loy_tab", "Programme")
    assert not at.exception, at.exception
    assert "Outstanding points" in page_text(at)
    # Back on Balances, its filter is as it was left.
    assert open_tab(at, "loy_tab", "Balances").toggle(key="loy_own_only").value is False


def test_exec_sees_aggregates_only(demo_app: str) -> None:
    k, _ = _figures(demo_app)
    at = app_as("exec", PAGE)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Outstanding points"] == f"{k['outstanding_points']:,}"
    # With its currency; compact from 10,000 up, the amount to the cent in the help.
    liability = next(m for m in at.metric if m.label == "Liability")
    expected = (f"€{k['liability']:,.2f}" if k["liability"] < 10_000 else f"€{k['liability'] / 1000:.2f}K")
    assert liability.value == expected
    assert f"€{k['liability']:,.2f}" in liability.proto.help
    assert "Redemption rate" in metrics and "Enrolment" in metrics
    # No per-customer table and no personal data anywhere on the page.
    assert len(at.dataframe) == 1 and list(at.dataframe[0].value.columns) == ["tier", "customers"]
    assert not any(t.key == "loy_ledger_customer" for t in at.text_input)
    with Session(get_engine(demo_app)) as session:
        some = session.exec(select(Customer).where(Customer.email.is_not(None))).first()
    text = page_text(at)
    assert some.email not in text and (some.name or "\x00") not in text


def test_support_lead_is_not_allowed(demo_app: str) -> None:
    at = app_as("support", PAGE)
    assert not at.exception
    assert "Not allowed" in page_text(at)
    assert not at.dataframe


def _admin_tab() -> None:
    from core.roles import Role
    from ui.auth import CurrentUser
    from views.admin_tabs.loyalty import render_loyalty_admin

    render_loyalty_admin(CurrentUser("admin", "Admin", frozenset({Role.ADMIN})))


def test_admin_runs_the_expiry_job_by_hand(app_env: str) -> None:
    from streamlit.testing.v1 import AppTest

    from db.engine import session_scope
    from tests.factories import make_customer, make_loyalty

    with session_scope(get_engine(app_env)) as session:
        ann = make_customer(session, external_id="ANN")
        make_loyalty(session, ann, datetime(2025, 1, 1), "earn", 100, expires_at=datetime(2025, 7, 1))
        make_loyalty(session, ann, datetime(2025, 3, 1), "redeem", -60)
    at = AppTest.from_function(_admin_tab, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert "1 expire entries, 40 points, 1 customers" in page_text(at)
    at.button(key="loy_admin_expire").click().run()
    assert "Wrote 1 expire entries." in page_text(at)
    at.run()
    assert "Nothing to expire" in page_text(at)
    with Session(get_engine(app_env)) as session:
        assert [e.points for e in session.exec(select(LoyaltyEntry).where(LoyaltyEntry.kind == "expire"))] == [-40]


def test_outreach_to_members_with_expiring_points_is_planned_on_request(demo_app: str) -> None:
    at = open_tab(app_as("admin", PAGE), "loy_tab", "Expiring in 30 days")
    assert not at.exception, at.exception
    # Not planned until asked: consent and cap checks for thousands of members take seconds.
    assert not any(m.label == "Will be contacted" for m in at.metric)
    members = next(m for m in at.metric if m.label == "Members with points expiring in 30 days")
    at.toggle(key="loy_exp_plan").set_value(True).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="bulk_template").value == "points_expiring"
    plan = {m.label: m.value for m in at.metric}
    contacted = int(plan["Will be contacted"].replace(",", ""))
    assert 0 < contacted <= int(members.value.replace(",", ""))


def test_a_manager_opens_the_members_of_a_tier_bar(demo_app: str) -> None:
    """The box under "Members per tier" (what a click on a bar sets) opens that tier's members with
    their names: as many as the bar (the Tier mix table beside it) counts."""
    at = open_tab(app_as("manager", PAGE), "loy_tab", "Programme")
    assert not at.exception, at.exception
    mix = next(df.value for df in at.dataframe if list(df.value.columns) == ["tier", "customers"])
    tier, count = max(zip(mix["tier"], mix["customers"], strict=True), key=lambda tc: tc[1])
    at.selectbox(key="loy_tier_open").set_value(tier).run()
    assert not at.exception, at.exception
    # The table under the box: the last member table on the page.
    shown = [df.value for df in at.dataframe if {"name", "tier"} <= set(df.value.columns)][-1]
    assert len(shown) == min(count, 2_000)
    assert set(shown["tier"]) == {tier} and shown["name"].notna().all()
    assert shown["balance"].is_monotonic_decreasing
    assert f"{count:,} member{'s' if count != 1 else ''} in the {tier} tier, largest balances first" in page_text(at)
