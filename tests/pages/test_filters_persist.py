"""A filter set on one screen is still set after visiting another screen and coming back."""

from __future__ import annotations

from tests.pages.helpers import app_as


def test_overview_filters_survive_a_visit_to_nps(demo_app: str) -> None:
    at = app_as("exec", "views/overview.py")
    assert not at.exception, at.exception
    segment = at.selectbox(key="ov_segment")
    chosen = "small_business"
    segment.set_value(chosen).run()
    at.selectbox(key="ov_horizon").set_value(30).run()
    at.switch_page("views/nps.py")
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="nps_split")  # on the NPS screen now; the Overview's widgets are gone
    at.switch_page("views/overview.py")
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ov_segment").value == chosen
    assert at.selectbox(key="ov_horizon").value == 30
