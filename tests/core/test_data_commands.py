"""`python -m core import` and `python -m core export`, run in-process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from sqlmodel import Session

from core.__main__ import main
from core.users import ensure_demo_users
from db.engine import get_engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_import_examples_then_again_then_export(app_env, tmp_path, capsys):
    for kind in ("products", "customers", "orders", "feedback", "loyalty", "tickets"):
        assert main(["import", kind, str(EXAMPLES / f"{kind}.csv")]) == 0
    out = capsys.readouterr().out
    assert "4 orders were inserted, 0 updated, 0 unchanged, 0 rows skipped" in out
    assert "1 unknown customer id was created as a minimal customer" in out
    assert main(["import", "orders", str(EXAMPLES / "orders.csv")]) == 0
    assert "0 orders were inserted, 0 updated, 4 unchanged" in capsys.readouterr().out
    for kind in ("accounts", "feedback", "loyalty"):
        target = tmp_path / f"{kind}.csv"
        assert main(["export", kind, "--out", str(target), "--as-of", "2025-06-01"]) == 0
        assert target.exists()
    assert "exported 4 accounts rows" in capsys.readouterr().out
    # Nothing scored yet: a header alone looked like success (exit 0, "exported 0 scores rows").
    assert main(["export", "scores", "--out", str(tmp_path / "scores.csv"), "--as-of", "2025-06-01"]) == 1
    assert "no scoring run on or before 2025-06-01" in capsys.readouterr().err
    assert not (tmp_path / "scores.csv").exists()
    accounts = pd.read_csv(tmp_path / "accounts.csv")
    assert accounts["customer_id"].tolist() == ["C1001", "C1002", "C1003", "C1099"]


def test_bad_file_exits_non_zero_with_summary_and_problems(app_env, tmp_path, capsys):
    bad = tmp_path / "orders.csv"
    bad.write_text("order_id,customer_id,ordered_at,total\nO1,C1,2025-01-01,ten\nO2,C1,01/02/2025,5\n")
    assert main(["import", "orders", str(bad)]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[0] == "error: orders.csv: 2 problems; nothing was imported"
    assert lines[1] == "  row 2, column total: 'ten' is not a number (use digits with a decimal point, like 12.50)"
    assert lines[2].startswith("  row 3, column ordered_at: '01/02/2025' is not a date")
    assert "Traceback" not in err


def test_dry_run_writes_nothing(app_env, capsys):
    assert main(["import", "customers", str(EXAMPLES / "customers.csv"), "--dry-run"]) == 0
    assert "3 records would be inserted, 0 updated" in capsys.readouterr().out
    assert main(["import", "customers", str(EXAMPLES / "customers.csv")]) == 0
    assert "3 records were inserted" in capsys.readouterr().out


def test_export_by_exec_has_no_personal_columns_and_import_needs_admin(app_env, tmp_path, capsys):
    engine = get_engine(app_env)
    with Session(engine) as session:
        ensure_demo_users(session=session)
        session.commit()
    shutil.copy(EXAMPLES / "customers.csv", tmp_path / "c.csv")
    assert main(["import", "customers", str(tmp_path / "c.csv"), "--by", "exec"]) == 1
    assert "admin role is needed" in capsys.readouterr().err
    assert main(["import", "customers", str(tmp_path / "c.csv"), "--by", "admin"]) == 0
    assert main(["export", "feedback", "--out", str(tmp_path / "f.csv"), "--by", "exec"]) == 0
    assert main(["export", "accounts", "--out", str(tmp_path / "a.csv"), "--by", "exec"]) == 0
    columns = set(pd.read_csv(tmp_path / "a.csv").columns)
    assert "customer_id" in columns and not {"name", "email", "phone"} & columns
    assert "comment" not in set(pd.read_csv(tmp_path / "f.csv").columns)


def test_missing_file_and_unknown_kind(app_env, capsys):
    assert main(["import", "customers", "/nonexistent/x.csv"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_a_file_that_cannot_be_read_is_refused_and_the_refusal_audited(app_env, capsys):
    """The command line looks at the header to choose a platform layout before importing; a file
    it cannot read (an unclosed quote swallowing two rows: the stray-quote case) must still
    reach the import, which refuses it, names row 4 and writes the refusal to the audit log, as
    every refused import is (it was raised before that and left no audit row)."""
    from sqlmodel import select

    from db.models import AuditLog, Feedback

    case = Path(__file__).resolve().parents[1] / "data" / "cases" / "stray-quote-in-comment" / "feedback.csv"
    assert main(["import", "feedback", str(case)]) == 1
    assert "row 4, column comment" in capsys.readouterr().err
    with Session(get_engine(app_env)) as session:
        rejected = session.exec(select(AuditLog).where(AuditLog.action == "import.feedback.rejected")).all()
        assert len(rejected) == 1
        assert session.exec(select(Feedback)).all() == []
