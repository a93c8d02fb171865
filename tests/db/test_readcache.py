"""core.readcache's own promises: a caller cannot change the kept figure, memory is bounded,
settings are part of the key, and what cannot be a key is simply computed."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text
from sqlmodel import Session

from core import readcache
from core.config import get_settings
from db.engine import get_engine

calls: list[str] = []


@readcache.cached(tables=("orders",))
def _frame(*, session: Session, label: str) -> pd.DataFrame:
    calls.append(label)
    n = session.execute(text("SELECT count(*) FROM orders")).scalar()
    return pd.DataFrame({"label": [label], "orders": [n], "horizon": [get_settings().horizon_days]})


@pytest.fixture
def session(sqlite_url: str):  # noqa: ANN201
    calls.clear()
    with Session(get_engine(sqlite_url)) as s:
        yield s


def test_a_caller_changing_its_copy_does_not_change_the_next_callers(session: Session) -> None:
    first = _frame(session=session, label="a")
    first.loc[0, "orders"] = 999
    assert _frame(session=session, label="a").loc[0, "orders"] == 0
    assert calls == ["a"]  # computed once


def test_a_setting_that_changes_figures_is_part_of_the_key(session: Session,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert _frame(session=session, label="h").loc[0, "horizon"] == get_settings().horizon_days
    monkeypatch.setenv("HEARTH_HORIZON_DAYS", "45")
    get_settings.cache_clear()
    try:
        assert _frame(session=session, label="h").loc[0, "horizon"] == 45
    finally:
        get_settings.cache_clear()
    assert calls == ["h", "h"]


def test_the_kept_figures_are_bounded_by_count(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readcache, "MAX_ENTRIES", 3)
    for label in "abcd":
        _frame(session=session, label=label)
    assert readcache.stats()["entries"] <= 3
    _frame(session=session, label="a")  # the least recently used went first
    assert calls == ["a", "b", "c", "d", "a"]


def test_an_argument_that_cannot_be_a_key_is_computed_each_time(session: Session) -> None:
    @readcache.cached(tables=("orders",))
    def sized(*, session: Session, frame: pd.DataFrame) -> int:
        calls.append("sized")
        return len(frame)

    assert sized(session=session, frame=pd.DataFrame({"x": [1, 2]})) == 2
    assert sized(session=session, frame=pd.DataFrame({"x": [1, 2]})) == 2
    assert calls == ["sized", "sized"]


def test_a_table_without_a_generation_is_refused_when_declared() -> None:
    with pytest.raises(KeyError, match="audit_log"):
        readcache.cached(tables=("audit_log",))


@readcache.cached(tables=("orders",))
def _big(*, session: Session, label: str) -> pd.DataFrame:
    calls.append(label)
    return pd.DataFrame({"x": range(300_000)})  # 2.3 MB of int64


def test_a_value_over_the_memory_bound_is_computed_again_and_the_log_says_why(
        session: Session, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("HEARTH_READ_CACHE_MB", "1")
    get_settings.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="hearth.readcache"):
            _big(session=session, label="big")
            _big(session=session, label="big")
    finally:
        get_settings.cache_clear()
    assert calls == ["big", "big"]
    said = [r.getMessage() for r in caplog.records if r.name == "hearth.readcache"]
    assert len(said) == 2 and "_big" in said[0] and "over HEARTH_READ_CACHE_MB (1 MB)" in said[0]
