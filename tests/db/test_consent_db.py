"""Consent has a history and a withdrawal sticks (issue 14, kind 2), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from core import consent
from core import outreach as out
from core.__main__ import main
from core.delivery import deliver_pass
from core.importing import import_csv
from core.users import ensure_demo_users
from db.engine import get_engine
from db.models import ConsentChange, Customer, Outreach, utcnow

CASE = Path(__file__).resolve().parents[1] / "data" / "cases" / "unsubscribe-then-reimport"
HEADER = "customer_id,name,email,email_opt_in,sms_opt_in"


def imp(session: Session, kind: str, data: bytes | str, *, dry_run: bool = False, filename: str = "c.csv"):
    data = data.encode() if isinstance(data, str) else data
    return import_csv(session=session, kind=kind, data=data, filename=filename, actor="admin", dry_run=dry_run)


def customer(session: Session, ext: str) -> Customer:
    session.expire_all()
    return session.exec(select(Customer).where(Customer.external_id == ext)).one()


def changes(session: Session, ext: str) -> list[tuple[str, bool, str]]:
    c = customer(session, ext)
    rows = session.exec(select(ConsentChange).where(ConsentChange.customer_id == c.id)
                        .order_by(ConsentChange.id)).all()
    return [(r.channel, r.granted, r.source) for r in rows]


def test_unsubscribe_then_reimport_case(session, tmp_path, monkeypatch):
    monkeypatch.setenv("HEARTH_OUTBOX_DIR", str(tmp_path / "outbox"))
    imp(session, "customers", (CASE / "customers.csv").read_bytes(), filename="customers.csv")
    imp(session, "orders", (CASE / "orders.csv").read_bytes(), filename="orders.csv")
    mara = customer(session, "C2001")
    assert mara.email_opt_in is True
    out.record_unsubscribe(session=session, customer_id=mara.id, actor="support")
    now = utcnow()
    today = f"{now.day} {now:%b %Y}"  # "1 Dec 2026", as the screens write dates

    again = imp(session, "customers", (CASE / "customers.csv").read_bytes(), filename="customers.csv")

    assert again.consent_conflicts == [f"C2001: file says opted in, unsubscribed in Hearth on {today}; kept out"]
    assert f"    C2001: file says opted in, unsubscribed in Hearth on {today}; kept out" in again.lines_of_text()
    assert customer(session, "C2001").email_opt_in is False
    assert customer(session, "C2002").email_opt_in is True
    assert changes(session, "C2001") == [("email", True, "import"), ("sms", False, "import"),
                                         ("email", False, "unsubscribe")]
    # The win-back trigger is recorded as suppressed for no consent, and nothing is sent.
    res = out.trigger_outreach(session=session, customer_id=mara.id, template="win_back", triggered_by="manager")
    assert (res.outreach.status, res.outreach.reason) == ("suppressed", "no email consent")
    report = deliver_pass(engine=session.get_bind())
    assert report.sent == 0
    assert not list((tmp_path / "outbox").glob("*.eml"))
    assert session.exec(select(func.count()).select_from(Outreach).where(Outreach.status == "sent")).one() == 0


@pytest.mark.parametrize("source, channel, words", [
    ("complaint", "email", "C1: file says opted in, complained in Hearth on"),
    ("bounce", "email", "C1: file says opted in, email bounced in Hearth on"),
    ("manual", "sms", "C1: file says opted in to SMS, consent withdrawn by staff in Hearth on"),
])
def test_every_withdrawal_in_hearth_sticks(session, source, channel, words):
    imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,yes\n")
    c = customer(session, "C1")
    consent.set_consent(session=session, customer_id=c.id, channel=channel, granted=False, source=source,
                        by="support", detail="test")
    session.commit()
    summary = imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,yes\n")
    assert len(summary.consent_conflicts) == 1 and summary.consent_conflicts[0].startswith(words)
    assert getattr(customer(session, "C1"), f"{channel}_opt_in") is False
    other = "sms" if channel == "email" else "email"
    assert getattr(customer(session, "C1"), f"{other}_opt_in") is True


def test_a_file_dating_consent_after_the_withdrawal_grants_it_again(session):
    imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,no\nC2,Bo,b@example.org,yes,no\n")
    for ext in ("C1", "C2"):
        out.record_unsubscribe(session=session, customer_id=customer(session, ext).id, actor="support")
    later = utcnow().isoformat(timespec="microseconds")  # after the withdrawals, before the import
    earlier = (utcnow() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    summary = imp(session, "customers", f"customer_id,email_opt_in,email_consent_at\nC1,yes,{later}\n"
                                        f"C2,yes,{earlier}\n")
    assert [c.split(":")[0] for c in summary.consent_conflicts] == ["C2"]
    assert customer(session, "C1").email_opt_in is True
    assert customer(session, "C2").email_opt_in is False
    assert changes(session, "C1")[-1] == ("email", True, "import")


def test_an_opt_out_in_the_file_always_applies_and_is_recorded(session):
    imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,yes\n")
    summary = imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,no,yes\n")
    assert summary.consent_conflicts == [] and summary.updated == 1
    assert customer(session, "C1").email_opt_in is False
    assert changes(session, "C1") == [("email", True, "import"), ("sms", True, "import"),
                                      ("email", False, "import")]
    # The same file again changes nothing and adds no history.
    imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,no,yes\n")
    assert len(changes(session, "C1")) == 3


def test_a_dry_run_lists_the_conflict_and_writes_nothing(session):
    imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,no\n")
    out.record_unsubscribe(session=session, customer_id=customer(session, "C1").id, actor="support")
    before = changes(session, "C1")
    summary = imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,no\n", dry_run=True)
    assert len(summary.consent_conflicts) == 1
    assert changes(session, "C1") == before


def test_history_is_newest_first_with_words(session):
    imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,no\n", filename="shop.csv")
    c = customer(session, "C1")
    out.record_unsubscribe(session=session, customer_id=c.id, actor="support", source="reply")
    frame = consent.history(session=session, customer_id=c.id)
    assert list(frame.columns) == consent.HISTORY_COLUMNS
    assert frame[["channel", "consent", "source", "detail", "by"]].values.tolist()[0] == [
        "email", "withdrawn", "unsubscribe", "via reply", "support"]
    assert sorted(frame.iloc[1:][["channel", "consent", "source", "detail"]].values.tolist()) == [
        ["SMS", "withdrawn", "import", "file shop.csv"], ["email", "given", "import", "file shop.csv"]]


def test_unknown_source_or_channel_is_refused(session):
    imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,no\n")
    c = customer(session, "C1")
    with pytest.raises(consent.ConsentError):
        consent.set_consent(session=session, customer_id=c.id, channel="fax", granted=False, source="manual",
                            by="x")
    with pytest.raises(consent.ConsentError):
        consent.set_consent(session=session, customer_id=c.id, channel="email", granted=False, source="whim",
                            by="x")


def test_unsubscribe_command_records_the_change(app_env, capsys):
    engine = get_engine(app_env)
    with Session(engine) as s:
        ensure_demo_users(session=s)  # support, among others
        s.commit()
        imp(s, "customers", f"{HEADER}\nC-100,Ann,a@example.org,yes,no\n")
    assert main(["outreach", "unsubscribe", "--customer", "C-100", "--by", "support"]) == 0
    with Session(engine) as s:
        assert customer(s, "C-100").email_opt_in is False
        assert changes(s, "C-100")[-1] == ("email", False, "unsubscribe")


def test_migration_backfills_current_consent_as_initial_rows(tmp_path):
    from alembic import command
    from sqlalchemy import text

    from db.migrate import alembic_config, upgrade_to_head

    engine = get_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004_queue_index")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO customer (external_id, email_opt_in, sms_opt_in, created_at, updated_at) "
                          "VALUES ('C1', 1, 0, '2024-05-01 10:00:00', '2024-05-01 10:00:00')"))
    upgrade_to_head(engine)
    with Session(engine) as s:
        rows = s.exec(select(ConsentChange).order_by(ConsentChange.channel)).all()
        assert [(r.channel, r.granted, r.source, r.changed_at.isoformat()) for r in rows] == [
            ("email", True, "initial", "2024-05-01T10:00:00"), ("sms", False, "initial", "2024-05-01T10:00:00")]


def test_consent_command_records_a_complaint_and_shows_the_history(app_env, capsys):
    engine = get_engine(app_env)
    with Session(engine) as s:
        ensure_demo_users(session=s)  # support, among others
        s.commit()
        imp(s, "customers", f"{HEADER}\nC-7,Ann,a@example.org,yes,yes\n")
    assert main(["outreach", "consent", "--customer", "C-7", "--channel", "sms", "--withdraw", "--source",
                 "complaint", "--by", "support", "--detail", "phoned in"]) == 0
    out_text = capsys.readouterr().out
    assert "customer C-7: sms consent withdrawn (complaint)" in out_text
    newest = out_text.splitlines()[2].split()  # after the message and the table's header
    assert newest[2:] == ["SMS", "withdrawn", "complaint", "phoned", "in", "support"]
    with Session(engine) as s:
        assert customer(s, "C-7").sms_opt_in is False and customer(s, "C-7").email_opt_in is True
    assert main(["outreach", "consent", "--customer", "C-7", "--give"]) == 1
    assert "--by is needed" in capsys.readouterr().err


def test_consent_changes_of_an_import_carry_who_imported(session):
    import_csv(session=session, kind="customers", data=f"{HEADER}\nC1,Ann,a@example.org,yes,no\n".encode(),
               filename="shop.csv", actor="maria")
    frame = consent.history(session=session, customer_id=customer(session, "C1").id)
    assert sorted(frame[["channel", "source", "by"]].values.tolist()) == [
        ["SMS", "import", "maria"], ["email", "import", "maria"]]


def test_consent_changes_of_a_command_line_import_carry_cli(app_env, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(f"{HEADER}\nC-9,Ann,a@example.org,no,yes\n")
    assert main(["import", "customers", str(path)]) == 0
    with Session(get_engine(app_env)) as s:
        frame = consent.history(session=s, customer_id=customer(s, "C-9").id)
    assert sorted(frame[["channel", "consent", "by"]].values.tolist()) == [
        ["SMS", "given", "cli"], ["email", "withdrawn", "cli"]]


def test_the_summary_counts_customers_not_consents(session):
    imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,yes\nC2,Bo,b@example.org,yes,no\n")
    c1, c2 = customer(session, "C1"), customer(session, "C2")
    for c, channel in ((c1, "email"), (c1, "sms"), (c2, "email")):
        consent.set_consent(session=session, customer_id=c.id, channel=channel, granted=False, source="complaint",
                            by="support")
    session.commit()
    summary = imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,yes\nC2,Bo,b@example.org,yes,no\n")
    # Three consents kept out, of two customers (it said "kept for 3 customers", C1 listed twice).
    assert len(summary.consent_conflicts) == 3
    assert ("  consent withdrawn earlier was kept for 2 customers (the file says opted in; 3 consents, "
            "email and SMS):") in summary.lines_of_text()


def test_a_file_dated_opt_in_older_than_a_file_dated_opt_out_does_not_grant_again(session):
    # C1 opted in; the shop's unsubscribe file says C1 opted out on 1 Nov 2026; then an older
    # export, dating C1's opt-in 1 Jun 2026, is imported: older data, C1 stays out. An export
    # dating a new opt-in on 15 Nov 2026 grants it again.
    imp(session, "customers", f"{HEADER}\nC1,Ann,a@example.org,yes,no\n")
    imp(session, "customers", "customer_id,email_opt_in,email_consent_at\nC1,no,2026-11-01T09:00:00Z\n")
    summary = imp(session, "customers", "customer_id,email_opt_in,email_consent_at\nC1,yes,2026-06-01T09:00:00Z\n")
    assert summary.consent_conflicts == ["C1: file says opted in on 1 Jun 2026, opted out on 1 Nov 2026 by an "
                                         "earlier file; kept out"]
    assert customer(session, "C1").email_opt_in is False
    history = consent.history(session=session, customer_id=customer(session, "C1").id)
    withdrawn = history[(history["consent"] == "withdrawn") & (history["channel"] == "email")]
    assert [str(t)[:16] for t in withdrawn["changed at"]] == ["2026-11-01 09:00"]  # the file's date
    imp(session, "customers", "customer_id,email_opt_in,email_consent_at\nC1,yes,2026-11-15T09:00:00Z\n")
    assert customer(session, "C1").email_opt_in is True


def test_a_consent_dated_after_the_import_does_not_outdate_a_later_unsubscribe(session):
    # The file dates C1's opt-in tomorrow (within the two days a file may be ahead); C1 then
    # unsubscribes in Hearth, and the same file is imported again: a date after the import dates
    # nothing, so the file merely repeats the older state and C1 stays out.
    tomorrow = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    text = f"customer_id,name,email,email_opt_in,email_consent_at\nC1,Ann,a@example.org,yes,{tomorrow}\n"
    imp(session, "customers", text)
    out.record_unsubscribe(session=session, customer_id=customer(session, "C1").id, actor="support")
    summary = imp(session, "customers", text)
    assert [c.split(":")[0] for c in summary.consent_conflicts] == ["C1"]
    assert customer(session, "C1").email_opt_in is False
