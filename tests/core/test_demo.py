"""The demo store: deterministic, shaped like issue 2 says, consistent with design.md's rules.

Database tests load 300 customers into SQLite and PostgreSQL (the `engine` fixture) and
check what a user of the screens would notice; shape tests on larger sizes use the
generated frames directly (no database) so they stay quick.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.demo import (
    CATALOGUE,
    INCIDENT_DAYS_AGO,
    INCIDENT_SKU,
    INCIDENT_WINDOW_DAYS,
    generate_demo,
    load_demo,
)
from db.models import Customer, Feedback, LoyaltyEntry, Order, OrderLine, Product, SupportTicket

TODAY = date(2026, 6, 15)
SEED = 3
N = 300
COMPLAINT = re.compile(r"\b(?:leak\w*|late|broken)\b", re.IGNORECASE)
PRAISE = re.compile(r"\b(?:love|excellent|brilliant|fantastic)\b", re.IGNORECASE)
LEAK = re.compile(r"\bleak\w*", re.IGNORECASE)


@pytest.fixture
def demo(engine: Engine) -> dict[str, int]:
    return load_demo(engine=engine, customers=N, seed=SEED, today=TODAY)


def _read(engine: Engine, stmt) -> pd.DataFrame:  # noqa: ANN001 - a Select
    with engine.connect() as conn:
        return pd.read_sql(stmt, conn)


def _kinds() -> pd.DataFrame:
    frames = generate_demo(customers=N, seed=SEED, today=TODAY)
    return frames["customer"][["external_id", "kind"]]


# ------------------------------------------------------------------------------ determinism


def test_same_seed_gives_the_same_store() -> None:
    first = generate_demo(customers=N, seed=SEED, today=TODAY)
    second = generate_demo(customers=N, seed=SEED, today=TODAY)
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)
    other = generate_demo(customers=N, seed=SEED + 1, today=TODAY)
    assert not first["orders"].head(50).equals(other["orders"].head(50))


def test_stored_store_matches_the_generator(engine: Engine, demo: dict[str, int]) -> None:
    frames = generate_demo(customers=N, seed=SEED, today=TODAY)
    expected = {"products": len(CATALOGUE), "customers": N, "orders": len(frames["orders"]),
                "order lines": len(frames["order_line"]), "feedback": len(frames["feedback"]),
                "loyalty entries": len(frames["loyalty_entry"]),
                "support tickets": len(frames["support_ticket"]), "refunds": len(frames["refund"])}
    assert demo == expected
    for model, key in ((Customer, "customers"), (Order, "orders"), (OrderLine, "order lines"),
                       (Feedback, "feedback"), (LoyaltyEntry, "loyalty entries"),
                       (SupportTicket, "support tickets"), (Product, "products")):
        assert _read(engine, select(func.count()).select_from(model)).iloc[0, 0] == expected[key]
    stored = _read(engine, select(Order.external_id, Order.customer_id, Order.ordered_at, Order.total_cents,
                                  Order.offer_code).order_by(Order.id).limit(20))
    made = frames["orders"].head(20)
    assert stored["external_id"].tolist() == made["external_id"].tolist()
    assert stored["customer_id"].tolist() == made["customer_id"].tolist()
    assert pd.to_datetime(stored["ordered_at"]).tolist() == pd.to_datetime(made["ordered_at"]).tolist()
    assert stored["total_cents"].tolist() == made["total_cents"].tolist()  # whole cents, exactly
    first = _read(engine, select(Customer).order_by(Customer.id).limit(1)).iloc[0]
    assert first["external_id"] == "C000001"
    assert re.fullmatch(r"O\d{7}", stored["external_id"].iloc[0])


def test_ids_and_names_look_like_a_shop() -> None:
    frames = generate_demo(customers=N, seed=SEED, today=TODAY)
    assert frames["customer"]["external_id"].str.fullmatch(r"C\d{6}").all()
    assert frames["orders"]["external_id"].str.fullmatch(r"O\d{7}").all()
    assert frames["feedback"]["external_id"].str.fullmatch(r"F\d{7}").all()
    assert frames["loyalty_entry"]["external_id"].str.fullmatch(r"L\d{7}").all()
    assert frames["support_ticket"]["external_id"].str.fullmatch(r"T\d{6}").all()
    products = frames["product"]
    assert 55 <= len(products) <= 65
    assert set(products["category"]) == {"laundry", "dish care", "surface cleaners", "paper goods",
                                         "kitchen tools", "home decor"}
    consumable = products["category"].isin(["laundry", "dish care", "surface cleaners", "paper goods"])
    assert products.loc[consumable, "replenishment_days"].between(21, 60).all()
    tools = products[products["category"] == "kitchen tools"]["replenishment_days"]
    assert (tools.isna() | (tools > 60)).all()


# ------------------------------------------------------------------------------ shape


def test_reference_shape_per_customer() -> None:
    frames = generate_demo(customers=5000, seed=21, today=TODAY)
    c = frames["customer"]
    n = len(c)
    assert 13 <= len(frames["orders"]) / n <= 17  # ~1.5 M orders at 100 k customers
    assert 2.7 <= len(frames["feedback"]) / n <= 3.3  # ~300 k answers
    assert 8 <= len(frames["loyalty_entry"]) / n <= 12.5  # ~1 M entries
    assert c["email_opt_in"].mean() == pytest.approx(0.75, abs=0.04)
    assert c["sms_opt_in"].mean() == pytest.approx(0.40, abs=0.04)
    assert (c["owner"] == "manager").mean() == pytest.approx(1 / 3, abs=0.04)
    assert set(c["owner"]) == {"manager", "alex", "jordan", "priya"}
    assert set(c["segment"]) == {"consumer", "small_business", "vip"}
    assert set(c["region"]) == {"north", "south", "east", "west", "central"}
    assert set(c["subscription_status"].dropna()) == {"active", "paused", "cancelled"}
    assert set(c["kind"]) == {"steady", "declining", "lapsed", "new", "one_time", "vip"}
    steady = c[c["kind"] == "steady"]
    assert (steady["subscription_status"].isin(["active", "paused"])).all()
    login = pd.to_datetime(c["last_login_at"])
    today = pd.Timestamp(TODAY)
    assert (today - login[c["kind"] == "steady"]).dt.days.median() < 15
    assert (today - login[c["kind"] == "lapsed"]).dt.days.median() > 90
    # Dates end today, with about three years of history.
    o = pd.to_datetime(frames["orders"]["ordered_at"])
    assert o.max() < today
    assert (today - o.min()).days == pytest.approx(3 * 365, abs=5)
    assert (o >= today - pd.Timedelta(days=90)).sum() > 0.1 * len(o)


def test_q4_is_the_busiest_quarter() -> None:
    frames = generate_demo(customers=3000, seed=5, today=date(2026, 1, 10))
    o = pd.to_datetime(frames["orders"]["ordered_at"])
    o = o[o.dt.year == 2025]
    per_quarter = o.dt.quarter.value_counts()
    assert per_quarter.idxmax() == 4


def test_some_orders_carry_offer_codes_and_feedback_varies() -> None:
    frames = generate_demo(customers=2000, seed=8, today=TODAY)
    share = frames["orders"]["offer_code"].notna().mean()
    assert 0.03 < share < 0.2
    f = frames["feedback"]
    assert set(f["channel"]) == {"email", "app", "web"}
    assert 0.005 < f["nps_score"].isna().mean() < 0.06
    assert f.loc[f["nps_score"].isna(), "comment"].notna().all()  # no empty answers
    assert 0.2 < f["comment"].isna().mean() < 0.6
    assert f["customer_id"].isna().any()  # a few anonymous answers
    assert f["comment"].nunique() > 1000
    tickets = frames["support_ticket"]
    assert set(tickets["topic"]) == {"delivery", "billing", "product", "account"}
    assert {"open", "closed"} <= set(tickets["status"])
    closed = tickets[tickets["status"] == "closed"]
    assert (closed["closed_at"] >= closed["opened_at"]).all()
    assert tickets.loc[tickets["status"] != "closed", "closed_at"].isna().all()


# ------------------------------------------------------------------------------ on the database


def test_lapsed_stop_and_steady_keep_ordering(engine: Engine, demo: dict[str, int]) -> None:
    last = _read(engine, select(Customer.external_id, func.max(Order.ordered_at).label("last"))
                 .join(Order, Order.customer_id == Customer.id).group_by(Customer.external_id))
    last = last.merge(_kinds(), on="external_id")
    days = (pd.Timestamp(TODAY) - pd.to_datetime(last["last"])).dt.days
    lapsed = days[last["kind"] == "lapsed"]
    steady = days[last["kind"].isin(["steady", "vip"])]
    assert len(lapsed) > 20 and len(steady) > 50
    assert (lapsed > 90).all()
    assert (steady <= 90).all()
    # A one-time buyer has exactly one order.
    counts = _read(engine, select(Customer.external_id, func.count(Order.id).label("n"))
                   .join(Order, Order.customer_id == Customer.id).group_by(Customer.external_id))
    counts = counts.merge(_kinds(), on="external_id")
    assert (counts.loc[counts["kind"] == "one_time", "n"] == 1).all()
    assert counts["n"].sum() == demo["orders"]


def test_comment_tone_matches_the_score(engine: Engine, demo: dict[str, int]) -> None:
    f = _read(engine, select(Feedback.nps_score, Feedback.comment, Feedback.sentiment))
    with_text = f.dropna(subset=["comment", "nps_score"])
    complaints = with_text[with_text["comment"].str.contains(COMPLAINT)]
    praise = with_text[with_text["comment"].str.contains(PRAISE)]
    assert len(complaints) > 30 and len(praise) > 30
    assert complaints["nps_score"].mean() < 5
    assert praise["nps_score"].mean() > 8
    # The feedback module scored every stored answer.
    assert f["sentiment"].notna().all()


def test_flagged_answers_have_a_triage_history(engine: Engine, demo: dict[str, int]) -> None:
    f = _read(engine, select(Feedback))
    for col in ("submitted_at", "first_response_at", "resolved_at"):
        f[col] = pd.to_datetime(f[col])
    flagged = f[f["flagged"]]
    assert 0.1 < len(flagged) / len(f) < 0.6
    assert (f.loc[~f["flagged"], "state"] == "new").all()
    old = flagged[flagged["submitted_at"] < pd.Timestamp(TODAY) - pd.Timedelta(days=30)]
    assert (old["state"] == "resolved").mean() > 0.9
    resolved = flagged[flagged["state"] == "resolved"]
    assert resolved["resolution"].notna().all() and (resolved["assignee"] == "support").all()
    assert (resolved["first_response_at"] >= resolved["submitted_at"]).all()
    assert (resolved["resolved_at"] >= resolved["first_response_at"]).all()
    assert (resolved["resolved_at"] < pd.Timestamp(TODAY)).all()
    assert f.loc[f["state"] != "resolved", "resolved_at"].isna().all()


def test_incident_shows_in_feedback_and_reorders(engine: Engine, demo: dict[str, int]) -> None:
    f = _read(engine, select(Feedback.submitted_at, Feedback.comment, Feedback.nps_score))
    f["submitted_at"] = pd.to_datetime(f["submitted_at"])
    leaks = f[f["comment"].fillna("").str.contains(LEAK)]
    start = pd.Timestamp(TODAY - timedelta(days=INCIDENT_DAYS_AGO))
    end = start + pd.Timedelta(days=INCIDENT_WINDOW_DAYS)
    during = leaks[(leaks["submitted_at"] >= start) & (leaks["submitted_at"] < end)]
    others = len(leaks) - len(during)
    windows = (3 * 365 - INCIDENT_WINDOW_DAYS) / INCIDENT_WINDOW_DAYS
    assert len(during) >= 3
    assert len(during) > 5 * max(others / windows, 0.2)
    assert during["nps_score"].dropna().max() <= 6
    assert during["comment"].str.contains("Fresh Linen").any()
    # Its reorders dip in the months after the incident.
    lines = _read(engine, select(Order.ordered_at, OrderLine.sku).join(Order, Order.id == OrderLine.order_id))
    lines["ordered_at"] = pd.to_datetime(lines["ordered_at"])
    before = lines[(lines["ordered_at"] >= start - pd.Timedelta(days=120)) & (lines["ordered_at"] < start)]
    after = lines[(lines["ordered_at"] >= start + pd.Timedelta(days=10))
                  & (lines["ordered_at"] < start + pd.Timedelta(days=100))]
    share_before = (before["sku"] == INCIDENT_SKU).mean()
    share_after = (after["sku"] == INCIDENT_SKU).mean()
    assert share_after < 0.7 * share_before


def test_every_order_sums_its_lines(engine: Engine, demo: dict[str, int]) -> None:
    sums = _read(engine, select(Order.id, Order.total_cents,
                                func.sum(OrderLine.quantity * OrderLine.unit_price_cents).label("lines"),
                                func.count(OrderLine.id).label("n"))
                 .join(OrderLine, OrderLine.order_id == Order.id, isouter=True)
                 .group_by(Order.id, Order.total_cents))
    assert len(sums) == demo["orders"]
    assert (sums["n"] >= 1).all()
    assert (sums["lines"].astype("int64") == sums["total_cents"]).all()  # whole cents: exactly, not close
    assert (sums["total_cents"] > 0).all()
    skus = set(_read(engine, select(Product.sku))["sku"])
    assert set(_read(engine, select(OrderLine.sku).distinct())["sku"]) <= skus


def _replay(entries: pd.DataFrame, cutoff: datetime) -> tuple[list[str], list[tuple[int, datetime, int]]]:
    """design.md's loyalty rules, one customer and one event at a time: (problems, expiries).

    Within one instant: credits, then expiries, then debits. Debits take the oldest lots first.
    """
    problems: list[str] = []
    expiries: list[tuple[int, datetime, int]] = []
    for customer_id, rows in entries.groupby("customer_id"):
        events = []
        for r in rows.itertuples():
            if r.kind in ("earn", "adjust") and r.points > 0:
                events.append((r.occurred_at, 0, r.id, "credit", r.points, r.expires_at))
            elif r.kind in ("redeem", "adjust"):
                events.append((r.occurred_at, 2, r.id, "debit", -r.points, None))
        lots: list[list] = []  # [expires_at, remaining], in the order they were earned
        for at, _order, _id, what, points, expires_at in sorted(events):
            # Lots that expire up to this instant go first (before a debit at the same instant).
            for lot in lots:
                if lot[1] and (lot[0] < at or (lot[0] == at and what == "debit")):
                    expiries.append((customer_id, lot[0], lot[1]))
                    lot[1] = 0
            lots = [lot for lot in lots if lot[1]]
            if what == "credit":
                lots.append([expires_at, points])
                continue
            balance = sum(lot[1] for lot in lots)
            if points > balance:
                problems.append(f"customer {customer_id}: debit of {points} at {at} > balance {balance}")
            need = points
            for lot in lots:  # oldest first
                take = min(need, lot[1])
                lot[1] -= take
                need -= take
        for exp_at, remaining in lots:
            if exp_at < cutoff and remaining:
                expiries.append((customer_id, exp_at, remaining))
    return problems, expiries


def test_loyalty_ledger_is_consistent(engine: Engine, demo: dict[str, int]) -> None:
    entries = _read(engine, select(LoyaltyEntry))
    for col in ("occurred_at", "expires_at"):
        entries[col] = pd.to_datetime(entries[col])
    assert set(entries["kind"]) >= {"earn", "redeem", "expire"}
    earn = entries[entries["kind"] == "earn"]
    assert (earn["points"] > 0).all()
    assert (entries.loc[entries["kind"].isin(["redeem", "expire"]), "points"] < 0).all()
    # 1 point per currency unit, expiring 12 months after it was earned.
    orders = _read(engine, select(Order.external_id, Order.total_cents, Order.ordered_at))
    joined = earn.merge(orders, left_on="order_ref", right_on="external_id")
    assert len(joined) == len(earn)
    assert (joined["points"] == joined["total_cents"] // 100).all()
    assert (joined["occurred_at"] == pd.to_datetime(joined["ordered_at"])).all()
    assert (earn["expires_at"] == earn["occurred_at"] + pd.DateOffset(months=12)).all()

    # The balance never goes below zero in time order (credits, expiries, debits per instant).
    rank = entries["kind"].map({"earn": 0, "adjust": 0, "expire": 1, "redeem": 2})
    ordered = entries.assign(rank=rank).sort_values(["customer_id", "occurred_at", "rank", "id"])
    running = ordered.groupby("customer_id")["points"].cumsum()
    assert (running >= 0).all()

    # Replaying the rules gives exactly the stored redemptions' validity and expiries.
    cutoff = datetime.combine(TODAY + timedelta(days=1), datetime.min.time())
    problems, expiries = _replay(entries, cutoff)
    assert problems == []
    stored = entries[entries["kind"] == "expire"]
    stored_set = sorted(zip(stored["customer_id"], stored["occurred_at"], -stored["points"], strict=True))
    assert sorted((c, pd.Timestamp(t), p) for c, t, p in expiries) == stored_set
    assert len(stored_set) > 0


def test_replay_catches_an_overdraft() -> None:
    t = datetime(2026, 1, 1)
    entries = pd.DataFrame({
        "id": [1, 2, 3], "customer_id": [1, 1, 1], "kind": ["earn", "redeem", "earn"],
        "points": [100, -150, 80], "occurred_at": [t, t + timedelta(days=1), t + timedelta(days=2)],
        "expires_at": [t + timedelta(days=365), pd.NaT, t + timedelta(days=367)],
    })
    problems, _ = _replay(entries, datetime(2026, 2, 1))
    assert len(problems) == 1


def test_replay_expires_what_is_left_oldest_first() -> None:
    t = datetime(2025, 1, 1)
    entries = pd.DataFrame({
        "id": [1, 2, 3], "customer_id": [1, 1, 1], "kind": ["earn", "earn", "redeem"],
        "points": [100, 50, -120], "occurred_at": [t, t + timedelta(days=10), t + timedelta(days=20)],
        "expires_at": [t + timedelta(days=365), t + timedelta(days=375), pd.NaT],
    })
    # The redemption takes all 100 of the first lot and 20 of the second: 30 expire.
    _, expiries = _replay(entries, datetime(2026, 6, 1))
    assert expiries == [(1, t + timedelta(days=375), 30)]


# ------------------------------------------------------------------------------ command line


def test_init_demo_from_the_command_line(app_env: str) -> None:
    from core.__main__ import main
    from db.engine import get_engine

    assert main(["init", "--demo", "--customers", "120", "--seed", "4"]) == 0
    engine = get_engine(app_env)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Customer)).one()[0] == 120
        orders = session.exec(select(func.count()).select_from(Order)).one()[0]
        assert orders > 120
    # A second run migrates and leaves the store as it is.
    assert main(["init", "--demo", "--customers", "50"]) == 0
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Customer)).one()[0] == 120
        assert session.exec(select(func.count()).select_from(Order)).one()[0] == orders


def test_rejects_an_empty_store() -> None:
    with pytest.raises(ValueError, match="at least one customer"):
        generate_demo(customers=0, seed=1, today=TODAY)
