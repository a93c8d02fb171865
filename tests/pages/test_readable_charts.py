"""Charts a person can read: titles, axis names with units, whole-number ticks for counts,
the health gauge's 100 and a component with no data told apart from one scoring 0."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from core.health import HEALTH_COMPONENTS
from db.engine import get_engine
from db.models import ScoreSnapshot
from tests.pages.helpers import app_as


def _figures(at) -> list[dict]:  # noqa: ANN001
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _title(axis: dict) -> str:
    return (axis.get("title") or {}).get("text") or ""


def test_nps_charts_count_answers_in_whole_numbers_and_name_their_axes(demo_app: str) -> None:
    at = app_as("exec", "views/nps.py")
    assert not at.exception, at.exception
    figs = _figures(at)
    assert figs, "the NPS page draws its charts"
    for fig in figs:
        assert (fig["layout"].get("title") or {}).get("text"), fig["layout"]
    trend = figs[0]["layout"]
    assert _title(trend["yaxis"]) == "NPS (-100 to +100)" and _title(trend["xaxis"]) == "Period starting"
    answers = trend["yaxis2"]
    assert _title(answers) == "Answers (count)"
    # Ticks every whole step (1, 2, 5, 10, 20, 50 ...), never 86.6 or 173.2.
    assert answers["tickformat"] == ",d" and float(answers["dtick"]).is_integer()
    assert str(int(answers["dtick"]))[0] in "125"
    mix = figs[1]["layout"]
    assert _title(mix["yaxis"]) == "Answers (count)" and float(mix["yaxis"]["dtick"]).is_integer()


def test_account_gauge_shows_100_and_no_data_differs_from_zero(demo_app: str) -> None:
    # Tickets scored 0 (many tickets); no feedback at all (no data, left out).
    with Session(get_engine(demo_app)) as s:
        snap = s.exec(select(ScoreSnapshot).order_by(ScoreSnapshot.as_of.desc())).first()
        comps = {name: {"label": label, "score": 60.0, "weight": weight}
                 for name, (weight, label) in HEALTH_COMPONENTS.items() if name != "feedback"}
        comps["tickets"]["score"] = 0.0
        snap.components = json.dumps(comps)
        s.add(snap)
        s.commit()
        customer_id = snap.customer_id
    at = app_as("manager", "views/account.py", id=str(customer_id))
    assert not at.exception, at.exception
    figs = _figures(at)
    gauge = next(f for f in figs if f["data"][0]["type"] == "indicator")
    axis = gauge["data"][0]["gauge"]["axis"]
    assert axis["range"] == [0, 100] and axis["tickvals"][-1] == 100
    assert gauge["layout"]["margin"]["r"] >= 30 and gauge["layout"]["margin"]["l"] >= 30
    comps = next(f for f in figs if (f["layout"].get("title") or {}).get("text") == "Health score by component")
    assert _title(comps["layout"]["xaxis"]) == "Component score (0 to 100)"
    scored, missing = comps["data"]
    shown = dict(zip(scored["y"], scored["text"], strict=True))
    assert shown["Support tickets"] == "0"  # a zero is a bar labelled 0 ...
    assert "NPS and feedback sentiment" not in shown
    # ... no data is a separate, hatched bar labelled "no data".
    assert missing["name"] == "No data" and missing["y"] == ["NPS and feedback sentiment"]
    assert missing["text"] == ["no data"] and missing["marker"]["pattern"]["shape"] == "/"
