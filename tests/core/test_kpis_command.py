"""`python -m core kpis`: JSON keys and types, the weekly text, and agreement with core."""

from __future__ import annotations

import json
from datetime import date, datetime

from core.__main__ import main
from core.kpis import KPI_KEYS, compute_kpis
from db.engine import get_engine, session_scope
from tests.factories import make_customer, make_order

INT_KEYS = {"horizon_days", "customers", "active_customers", "orders"}
FLOAT_KEYS = {"revenue", "average_order_value", "repeat_purchase_rate", "retention_rate", "churn_rate"}


def _fill(url: str) -> None:
    with session_scope(get_engine(url)) as s:
        a = make_customer(s)
        b = make_customer(s)
        make_order(s, a, datetime(2026, 3, 1), 10.0)
        make_order(s, a, datetime(2026, 6, 1), 20.10)
        make_order(s, b, datetime(2026, 6, 20), 33.33)


def test_json_keys_and_types(app_env, capsys):
    _fill(app_env)
    assert main(["kpis", "--as-of", "2026-06-30", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert out.count("\n") == 1 and list(data) == list(KPI_KEYS)
    assert data["as_of"] == "2026-06-30"
    for key in INT_KEYS:
        assert type(data[key]) is int, key
    for key in FLOAT_KEYS:
        assert isinstance(data[key], float), key
    for key in set(KPI_KEYS) - INT_KEYS - FLOAT_KEYS - {"as_of"}:
        assert data[key] is None or isinstance(data[key], int | float), key
    assert data["revenue"] == 53.43 and data["orders"] == 2 and data["retention_rate"] == 1.0
    with session_scope(get_engine(app_env)) as s:
        assert compute_kpis(session=s, as_of=date(2026, 6, 30)) == data  # the same numbers, to the cent


def test_json_on_an_empty_store_uses_null(app_env, capsys):
    assert main(["kpis", "--as-of", "2026-06-30", "--json", "--horizon-days", "30"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["horizon_days"] == 30 and data["customers"] == 0
    assert data["average_order_value"] is None and data["retention_rate"] is None


def test_plain_and_weekly_output(app_env, capsys):
    _fill(app_env)
    assert main(["kpis", "--as-of", "2026-06-30"]) == 0
    out = capsys.readouterr().out
    assert "KPIs at 2026-06-30" in out and "53.43" in out
    assert main(["kpis", "--as-of", "2026-06-30", "--weekly"]) == 0
    out = capsys.readouterr().out
    assert "Hearth weekly summary for 2026-06-30" in out and "53.43" in out


def test_bad_date_fails_with_a_reason(app_env, capsys):
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["kpis", "--as-of", "30/06/2026"])
    assert exc.value.code != 0
    assert "not a date" in capsys.readouterr().err


def test_a_database_older_than_the_code_gets_told_to_migrate(app_env, capsys, monkeypatch, tmp_path):
    from core.config import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never-initialised.db'}")
    get_settings.cache_clear()
    assert main(["kpis", "--as-of", "2026-06-30"]) == 1
    err = capsys.readouterr().err
    assert "no such table" in err and "run `python -m core init`" in err
    get_settings.cache_clear()
