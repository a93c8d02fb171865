"""A loyalty ledger imports as written (issue 14, kind 3): the programme's own expiry rows,
reversals, programmes without expiry, and ledgers that would go below zero.

Every expected value is worked out by hand in the comments (or, for the handed case, in
tests/data/cases/imported-expiry-rows/expected.md)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select, update

from core import loyalty
from core.config import get_settings
from core.importing import ImportFailed, import_csv
from core.setup import prepare_database
from db import generation
from db.models import Customer, LoyaltyEntry

CASE = Path(__file__).resolve().parents[1] / "data" / "cases" / "imported-expiry-rows"


@pytest.fixture
def expiry_months(monkeypatch: pytest.MonkeyPatch):
    """Set HEARTH_POINTS_EXPIRY_MONTHS for one test (12 unless set)."""

    def set_months(months: int) -> None:
        monkeypatch.setenv("HEARTH_POINTS_EXPIRY_MONTHS", str(months))
        get_settings.cache_clear()

    monkeypatch.setenv("HEARTH_POINT_VALUE", "0.01")
    set_months(12)
    yield set_months
    get_settings.cache_clear()


def imp(session: Session, text: str | bytes, filename: str = "loyalty.csv"):
    data = text.encode() if isinstance(text, str) else text
    return import_csv(session=session, kind="loyalty", data=data, filename=filename, actor="admin")


def balances(session: Session, as_of: date) -> dict[str, dict]:
    ids = {c.id: c.external_id for c in session.exec(select(Customer)).all()}
    return {ids[c.id]: loyalty.customer_balance(session=session, customer_id=c.id, as_of=as_of)
            for c in session.exec(select(Customer)).all()}


def test_the_programmes_expiry_rows_count_as_written(session, expiry_months):
    # The handed case: C1 earned 500 and the programme expired all 500 on 2024-07-10;
    # C2 earned 300 and redeemed 100.
    imp(session, (CASE / "loyalty.csv").read_bytes())
    as_of = date(2024, 9, 1)
    b = balances(session, as_of)
    assert b["C1"]["balance"] == 0 and b["C1"]["expired"] == 500
    assert b["C2"]["balance"] == 200
    k = loyalty.loyalty_kpis(session=session, as_of=as_of)
    assert k["outstanding_points"] == 200
    assert k["liability"] == 2.00  # 200 points x 0.01
    assert k["redemption_rate"] == 0.125  # 100 redeemed / 800 earned
    assert k["expired"] == 500
    # Nothing of C1's is about to expire later, nor does the expiry job expire it again.
    later = balances(session, date(2024, 12, 20))
    assert later["C1"]["expiring_points"] == 0 and later["C1"]["next_expiry_date"] is None
    assert later["C1"]["balance"] == 0
    # The programme writes its own expiry rows, so it decides when C2's points expire, not
    # Hearth's 12 months after earning (1 Feb 2025): the expiry job takes nothing.
    assert loyalty.expire_points(session=session, as_of=date(2025, 3, 1)) == 0
    session.commit()
    after = balances(session, date(2025, 3, 1))
    assert (after["C1"]["balance"], after["C1"]["expired"]) == (0, 500)
    assert (after["C2"]["balance"], after["C2"]["expired"], after["C2"]["expiring_points"]) == (200, 0, 0)
    # The same file again changes nothing.
    again = imp(session, (CASE / "loyalty.csv").read_bytes())
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)


def test_an_expiry_row_takes_the_oldest_points_first_and_the_programme_decides_expiry(session, expiry_months):
    # K1: 100 on Jan 1 and 300 on Mar 1; the programme expires 150 on Jun 1: all of the first
    # lot and 50 of the second. K1's programme writes its own expiry rows, so Hearth's 12-month
    # rule does not expire the 250 left on 2025-03-01: the programme will, when it does.
    # K2 has no expiry row yet, but its programme is the one that writes them (it expires after
    # months without activity, which Hearth cannot see): its 80 points of 2024-01-01 stay
    # (Hearth's own rule took them on 2025-01-01 and warned K2 of it in December).
    imp(session, "entry_id,customer_id,occurred_at,kind,points\n"
                 "a,K1,2024-01-01,earn,100\n"
                 "b,K1,2024-03-01,earn,300\n"
                 "c,K1,2024-06-01,Points Expired,-150\n"
                 "d,K2,2024-01-01,earn,80\n")
    b = balances(session, date(2024, 12, 31))
    assert (b["K1"]["balance"], b["K1"]["expired"], b["K1"]["next_expiry_date"]) == (250, 150, None)
    assert (b["K2"]["balance"], b["K2"]["expiring_points"], b["K2"]["next_expiry_date"]) == (80, 0, None)
    b = balances(session, date(2025, 6, 1))
    assert (b["K1"]["balance"], b["K1"]["expired"]) == (250, 150)
    assert (b["K2"]["balance"], b["K2"]["expired"]) == (80, 0)


def test_an_expiry_after_months_of_inactivity_imports_as_written(session, expiry_months):
    # Smile.io-style: points expire 12 months after the member's last activity, so the row comes
    # more than 12 months after the oldest points were earned. 100 earned, 50 redeemed, 50
    # earned; the programme expires the 100 left a year after the last earning: 0 left.
    imp(session, "entry_id,customer_id,occurred_at,kind,points\n"
                 "1,S1,2023-01-10,earn,100\n"
                 "2,S1,2023-03-01,redeem,-50\n"
                 "3,S1,2023-06-15,earn,50\n"
                 "4,S1,2024-06-15,expire,-100\n")
    b = balances(session, date(2024, 9, 1))["S1"]
    assert (b["earned"], b["redeemed"], b["expired"], b["balance"]) == (150, 50, 100, 0)
    # Before the programme's row, its points were all still there (none expired by Hearth's rule).
    assert balances(session, date(2024, 3, 1))["S1"]["balance"] == 100


def test_a_programme_without_expiry_never_expires_points(session, expiry_months):
    expiry_months(0)
    # 500 earned three years ago, 200 redeemed two years ago, 100 earned last year: 400 left,
    # nothing expires, nothing is "about to expire", never below zero.
    imp(session, "entry_id,customer_id,occurred_at,kind,points\n"
                 "1,N1,2021-05-01,earn,500\n"
                 "2,N1,2022-05-01,redeem,-200\n"
                 "3,N1,2023-05-01,earn,100\n"
                 "4,N2,2020-01-01,earn,50\n"
                 "5,N2,2024-06-01,redeem,-50\n")
    b = balances(session, date(2024, 9, 1))
    assert (b["N1"]["balance"], b["N1"]["expired"], b["N1"]["expiring_points"]) == (400, 0, 0)
    assert b["N1"]["next_expiry_date"] is None
    assert (b["N2"]["balance"], b["N2"]["expired"]) == (0, 0)  # the 50 from 2020 were still there
    k = loyalty.loyalty_kpis(session=session, as_of=date(2024, 9, 1))
    assert (k["outstanding_points"], k["liability"]) == (400, 4.00)
    assert k["redemption_rate"] == 250 / 650
    assert loyalty.expire_points(session=session, as_of=date(2030, 1, 1)) == 0
    # With 12-month expiry the same N2 redemption would have been refused: its points were gone.


def test_adjustments_and_refund_reversals_count_as_written(session, expiry_months):
    # earn 300; a reversal of 100 for a refunded order ("Refund" in the programme's words);
    # a goodwill adjustment of +50; a correction of -20; redeem 200: 300 - 100 + 50 - 20 - 200 = 30.
    imp(session, "entry_id,customer_id,occurred_at,kind,points,order_id\n"
                 "r1,R1,2024-02-01,earn,300,#10\n"
                 "r2,R1,2024-02-10,Refund,-100,#10\n"
                 "r3,R1,2024-03-01,adjustment,50,\n"
                 "r4,R1,2024-03-02,adjust,-20,\n"
                 "r5,R1,2024-04-01,redeemed,-200,\n")
    kinds = [e.kind for e in session.exec(select(LoyaltyEntry).order_by(LoyaltyEntry.id)).all()]
    assert kinds == ["earn", "reverse", "adjust", "adjust", "redeem"]
    b = balances(session, date(2024, 6, 1))["R1"]
    assert (b["earned"], b["reversed"], b["adjusted"], b["redeemed"], b["balance"]) == (300, 100, 30, 200, 30)
    k = loyalty.loyalty_kpis(session=session, as_of=date(2024, 6, 1))
    assert k["redemption_rate"] == 200 / 300 and k["reversed"] == 100
    month = loyalty.monthly_summary(session=session, as_of=date(2024, 6, 1), months=5).set_index("month")
    assert int(month.loc["2024-02-01", "reversed"]) == 100
    assert int(month.loc["2024-06-01", "outstanding_points"]) == 30


def test_a_ledger_that_would_go_below_zero_is_refused_with_the_row_named(session, expiry_months):
    # 100 earned, then a reversal of 150; 40 earned and an expiry of 60: both larger than what is there.
    text = ("entry_id,customer_id,occurred_at,kind,points\n"
            "1,Z1,2024-01-01,earn,100\n"
            "2,Z1,2024-02-01,reverse,-150\n"
            "3,Z2,2022-01-01,earn,40\n"
            "4,Z2,2023-06-01,expire,-60\n")
    with pytest.raises(ImportFailed) as err:
        imp(session, text)
    problems = {(p.row, p.column, p.value): p.message for p in err.value.problems}
    assert problems == {
        (3, "points", "-150"): "reversal of 150 points is larger than the balance of 100 points at that moment",
        (5, "points", "-60"): "expiry of 60 points is larger than the balance of 40 points at that moment",
    }
    assert session.exec(select(LoyaltyEntry)).all() == []
    # The ledger with the rows the programme really wrote imports, and nothing goes below 0.
    imp(session, text.replace("-150", "-100").replace("-60", "-40"))
    b = balances(session, date(2024, 6, 1))
    assert (b["Z1"]["balance"], b["Z2"]["balance"]) == (0, 0)


def test_one_refusal_lists_bad_cells_and_balances_too_large_together(session, expiry_months):
    # Row 2's points are not a number and row 6's not whole; customer Y1 (rows 4 and 5, no bad
    # cell) earns 100 and redeems 1,500: the balance check runs on Y1's rows in the same pass.
    # X1's redemption (row 3) is not judged: its ledger lacks row 2's earn, whatever it was.
    text = ("customer_id,occurred_at,kind,points\n"
            "X1,2024-01-01,earn,abc\n"
            "X1,2024-01-02,redeem,-50\n"
            "Y1,2024-01-01,earn,100\n"
            "Y1,2024-01-05,redeem,-1500\n"
            "W1,2024-01-01,earn,12.5\n")
    with pytest.raises(ImportFailed) as err:
        imp(session, text)
    assert [(p.row, p.column, p.value, p.message) for p in err.value.problems] == [
        (2, "points", "abc", "is not a number (use digits only, like 120)"),
        (5, "points", "-1500", "redemption of 1,500 points is larger than the balance of 100 points at that moment"),
        (6, "points", "12.5", "is not a whole number"),
    ]
    assert session.exec(select(LoyaltyEntry)).all() == []
    assert session.exec(select(Customer)).all() == []


def test_a_shorter_expiry_rule_applies_to_points_stored_after_it(session, expiry_months):
    # Stored under the 12-month rule: E1 earned 300 on 10 Jan 2026 and redeemed all 300 on
    # 1 Sep 2026; E2 earned 100 on 10 Jan 2026 (they expire on 10 Jan 2027). As of 30 Nov 2026:
    # E1 0, E2 100; outstanding 100 points, liability 1.00 at 0.01 a point.
    ledger = ("entry_id,customer_id,occurred_at,kind,points\n"
              "x1,E1,2026-01-10,earn,300\n"
              "x2,E1,2026-09-01,redeem,-300\n"
              "x3,E2,2026-01-10,earn,100\n")
    imp(session, ledger)
    as_of = date(2026, 11, 30)

    def figures() -> tuple:
        b = balances(session, as_of)
        k = loyalty.loyalty_kpis(session=session, as_of=as_of)
        return ({c: (v["balance"], v["expired"]) for c, v in b.items()}, k["outstanding_points"], k["liability"])

    assert figures() == ({"E1": (0, 0), "E2": (100, 0)}, 100, 1.00)
    # The shop shortens its rule to 6 months. Applied after the fact, E1's 300 would have expired
    # on 10 Jul, before the September redemption: E1 at -300, E2's 100 expired, the liability
    # -3.00. Points stored before the change keep the rule they were stored under.
    expiry_months(6)
    assert figures() == ({"E1": (0, 0), "E2": (100, 0)}, 100, 1.00)
    # The programme's full export imported again (as shops do every week): nothing changes.
    imp(session, ledger)
    assert figures() == ({"E1": (0, 0), "E2": (100, 0)}, 100, 1.00)
    # Points stored now follow the 6-month rule: E3's 200 of 1 Mar 2026 expired on 1 Sep 2026.
    imp(session, "entry_id,customer_id,occurred_at,kind,points\nx4,E3,2026-03-01,earn,200\n")
    assert figures() == ({"E1": (0, 0), "E2": (100, 0), "E3": (0, 200)}, 100, 1.00)
    months = dict(session.exec(select(LoyaltyEntry.external_id, LoyaltyEntry.expiry_months)).all())
    assert months == {"x1": 12, "x2": 12, "x3": 12, "x4": 6}


def test_entries_stored_without_a_rule_take_the_one_in_force_at_the_next_start(session, expiry_months):
    # Entries written before migration 0021 (or by hand, outside Hearth) have no rule: they follow
    # the setting now until `init` or the app's start stamps them with it; from then on a change
    # of the setting leaves them alone. F1 earned 100 on 1 Feb 2026: with 6 months it expired on
    # 1 Aug 2026, with 12 it is still there on 30 Nov 2026.
    imp(session, "entry_id,customer_id,occurred_at,kind,points\nf1,F1,2026-02-01,earn,100\n")
    session.exec(update(LoyaltyEntry).values(expiry_months=None))
    session.commit()
    as_of = date(2026, 11, 30)
    expiry_months(6)
    assert balances(session, as_of)["F1"]["balance"] == 0
    engine = session.get_bind()
    assert prepare_database(engine=engine, demo=False) == {"demo_users_created": [], "demo_data": None}
    session.expire_all()
    assert session.exec(select(LoyaltyEntry.expiry_months)).all() == [6]
    with engine.connect() as conn:
        before = generation.read(conn)
    prepare_database(engine=engine, demo=False)  # nothing left to stamp: nothing written
    with engine.connect() as conn:
        assert generation.read(conn) == before
    expiry_months(12)
    assert balances(session, as_of)["F1"]["balance"] == 0
    assert loyalty.loyalty_kpis(session=session, as_of=as_of)["outstanding_points"] == 0


def test_an_entry_moved_to_another_customer_keeps_its_rule_in_the_balance_check(session, expiry_months):
    # H-E1 (300 points of 10 Jan 2026) is stored under a 6-month rule: it expired on 10 Jul 2026.
    # The next file, under the 12-month rule, moves it to customer I and redeems 300 on 1 Sep
    # 2026: by the rule H-E1 keeps, I had 0 points then, so row 3 is refused.
    expiry_months(6)
    imp(session, "entry_id,customer_id,occurred_at,kind,points\nH-E1,H,2026-01-10,earn,300\n")
    expiry_months(12)
    with pytest.raises(ImportFailed) as err:
        imp(session, "entry_id,customer_id,occurred_at,kind,points\n"
                     "H-E1,I,2026-01-10,earn,300\n"
                     "I-R1,I,2026-09-01,redeem,-300\n")
    assert [(p.row, p.value) for p in err.value.problems] == [(3, "-300")]
    assert "after 300 points expired" in err.value.problems[0].message


def test_expiring_points_of_a_few_members_follow_the_programmes_own_expiry_rows(session, expiry_months):
    # D earned 300 on 1 Jan 2026 and the programme expired 100 on 1 Jun 2026: a member whose
    # programme writes expiry rows has points expire by those rows only, so on 5 Dec 2026 D has
    # 200 points and none expiring (Hearth's 12-month rule would say 300 expiring on 1 Jan 2027).
    from core.outreach import expiring_points

    imp(session, "entry_id,customer_id,occurred_at,kind,points\n"
                 "D-E1,D,2026-01-01,earn,300\n"
                 "D-X1,D,2026-06-01,expire,-100\n")
    d = session.exec(select(Customer.id).where(Customer.external_id == "D")).one()
    few = expiring_points(session=session, customer_ids=[d], now=datetime(2026, 12, 5, 12))
    assert (int(few.loc[d, "balance"]), int(few.loc[d, "expiring_points"])) == (200, 0)
    assert balances(session, date(2026, 12, 5))["D"]["balance"] == 200


def test_the_programmes_expiry_row_on_a_lots_expiry_day_expires_it_once(session, expiry_months):
    # K7's 100 points (1 Sep 2025) carry expires_at 1 Sep 2026, and the programme writes their
    # expiry on 1 Sep 2026 at 02:00: one expiry, of that lot (every lot of K7 has its date, so the
    # programme's row records it). 300 earned - 100 expired = 200, the
    # 200 of May 2026 untouched; liability 2.00. K6's file (300 earned, the programme's row of
    # -300 on the lot's expiry day) is consistent: imported, balance 0.
    imp(session, "entry_id,customer_id,occurred_at,kind,points,expires_at\n"
                 "E1,K7,2025-09-01T09:00:00Z,earn,100,2026-09-01\n"
                 "E2,K7,2026-05-01T09:00:00Z,earn,200,2027-05-01\n"
                 "E3,K7,2026-09-01T02:00:00Z,expire,-100,\n"
                 "F1,K6,2025-09-01T09:00:00Z,earn,300,2026-09-01\n"
                 "F2,K6,2026-09-01T02:00:00Z,expire,-300,\n")
    b = balances(session, date(2026, 11, 30))
    assert (b["K7"]["balance"], b["K7"]["expired"]) == (200, 100)
    assert (b["K6"]["balance"], b["K6"]["expired"]) == (0, 300)
    k = loyalty.loyalty_kpis(session=session, as_of=date(2026, 11, 30))
    assert (k["outstanding_points"], k["liability"]) == (200, 2.00)
    # K7's other lot expires on 1 May 2027: on 15 Apr 2027 its 200 points are about to expire.
    soon = balances(session, date(2027, 4, 15))["K7"]
    assert (soon["balance"], soon["expiring_points"], soon["next_expiry_date"]) == (200, 200, date(2027, 5, 1))


def test_an_early_expiry_row_counts_for_lots_that_carry_their_own_expiry_date(session, expiry_months):
    # C1's 500 points were earned on 10 Jan 2024 to expire on 31 Dec 2025; the programme expired
    # them early, on 10 Jul 2024 (inactivity). By hand: 0 points from 10 Jul 2024 on, 500
    # expired, nothing "about to expire" in December 2025, liability 0.00 (the row was taken as a
    # record of the lot's own expiry: 500 points and 5.00 until 2025).
    imp(session, "entry_id,customer_id,occurred_at,kind,points,expires_at\n"
                 "E1,C1,2024-01-10T12:00:00Z,earn,500,2025-12-31\n"
                 "E2,C1,2024-07-10T00:00:00Z,expire,-500,\n")
    assert balances(session, date(2024, 7, 9))["C1"]["balance"] == 500
    after = balances(session, date(2024, 10, 1))["C1"]
    assert (after["balance"], after["expired"]) == (0, 500)
    assert balances(session, date(2025, 12, 10))["C1"]["expiring_points"] == 0
    assert loyalty.loyalty_kpis(session=session, as_of=date(2024, 10, 1))["liability"] == 0.0


def test_an_expiry_row_days_after_a_lots_date_records_it_and_takes_no_other_lot(session, expiry_months):
    # Lot F1 (500, expires 1 Sep 2024) had 200 redeemed; the programme wrote its 300 expiry on
    # 4 Sep, three days late; lot F4 (100, expires 1 Jun 2025) is untouched. By hand on 1 Oct
    # 2024: 500 + 100 - 200 - 300 = 100 points, 300 expired (not 400: the row is the record of
    # F1's expiry, not a second one).
    imp(session, "entry_id,customer_id,occurred_at,kind,points,expires_at\n"
                 "F1,C1,2024-01-10T12:00:00Z,earn,500,2024-09-01\n"
                 "F2,C1,2024-05-01T12:00:00Z,redeem,-200,\n"
                 "F4,C1,2024-06-01T12:00:00Z,earn,100,2025-06-01\n"
                 "F3,C1,2024-09-04T00:00:00Z,expire,-300,\n")
    b = balances(session, date(2024, 10, 1))["C1"]
    assert (b["balance"], b["expired"]) == (100, 300)
    # Part early, part record: a 450 row on 4 Sep records F1's 300 and expires 100 more (all of F4).
    session.exec(update(LoyaltyEntry).where(LoyaltyEntry.external_id == "F3").values(points=-400))
    session.commit()
    b = balances(session, date(2024, 10, 1))["C1"]
    assert (b["balance"], b["expired"]) == (0, 400)


def test_lots_stored_before_the_programmes_first_expiry_row_stop_expiring_by_hearths_rule(session, expiry_months):
    # A first file holds only earnings: E1 300 on 2023-06-01, 100 redeemed on 2024-03-01; under
    # Hearth's 12-month rule 200 of them expire on 2024-06-01. The next export brings the
    # programme's first expiry row (E2's, for inactivity): this programme expires points itself,
    # so E1's stored lot is stamped "never by Hearth's rule" and E1 has 200 on 2024-09-01
    # (liability 2.00 at 0.01 a point); E2 0. A third file from it without expiry rows is stored
    # under the same rule: E3's 40 of 2022-01-01 are still there.
    imp(session, "entry_id,customer_id,occurred_at,kind,points\n"
                 "1,E1,2023-06-01,earn,300\n"
                 "2,E1,2024-03-01,redeem,-100\n")
    assert balances(session, date(2024, 9, 1))["E1"]["balance"] == 0  # Hearth's rule, until told
    summary = imp(session, "entry_id,customer_id,occurred_at,kind,points\n"
                           "3,E2,2023-01-01,earn,50\n"
                           "4,E2,2024-02-01,expire,-50\n")
    assert any("1 stored lot of points is no longer expired by Hearth's rule" in n for n in summary.notes)
    b = balances(session, date(2024, 9, 1))
    assert (b["E1"]["balance"], b["E1"]["expired"], b["E2"]["balance"]) == (200, 0, 0)
    assert loyalty.loyalty_kpis(session=session, as_of=date(2024, 9, 1))["liability"] == 2.00
    imp(session, "entry_id,customer_id,occurred_at,kind,points\n5,E3,2022-01-01,earn,40\n")
    assert balances(session, date(2024, 9, 1))["E3"]["balance"] == 40
