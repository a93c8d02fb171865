"""A horizontal legend goes above the plot, where it covers neither the plot nor the x axis's
title: Plotly's default place for it, under the plot, is where "Month" is written."""

from __future__ import annotations

import plotly.graph_objects as go

from ui.safe import legend_above, readable_axes


def _bars(**layout: object) -> go.Figure:
    fig = go.Figure([go.Bar(x=["Jan", "Feb"], y=[1, 2], name="Earned"), go.Bar(x=["Jan", "Feb"], y=[2, 1],
                                                                             name="Redeemed")])
    fig.update_layout(xaxis={"title": "Month"}, **layout)
    return fig


def test_a_horizontal_legend_sits_above_the_plot_with_room_made_for_it() -> None:
    fig = legend_above(_bars(legend={"orientation": "h"}, margin={"t": 50}))
    assert (fig.layout.legend.y, fig.layout.legend.yanchor) == (1.0, "bottom")  # its foot on the plot's top
    assert fig.layout.margin.t == 80  # 50 + one legend row
    fig = legend_above(_bars(legend={"orientation": "h"}))
    assert fig.layout.margin.t == 110  # Plotly's default top margin (80) + one legend row


def test_a_legend_a_screen_placed_itself_or_a_vertical_one_is_left_alone() -> None:
    placed = legend_above(_bars(legend={"orientation": "h", "y": -0.3}, margin={"t": 50}))
    assert placed.layout.legend.y == -0.3 and placed.layout.margin.t == 50
    vertical = legend_above(_bars(margin={"t": 50}))
    assert vertical.layout.legend.y is None and vertical.layout.margin.t == 50


def test_the_title_goes_to_the_top_so_the_legend_row_cannot_run_into_it() -> None:
    fig = legend_above(_bars(legend={"orientation": "h", "title": {"text": "Customer"}}, margin={"t": 40},
                             title="Revenue by kind of customer"))
    title = fig.layout.title
    assert (title.y, title.yref, title.yanchor) == (1.0, "container", "top")
    assert fig.layout.margin.t == 70  # the title's 40 px and the legend's row of 30 px


def test_axis_numbers_group_thousands_and_never_use_si_suffixes() -> None:
    fig = go.Figure(go.Scatter(x=[1, 2], y=[12_000, 14_000]))
    fig.add_scatter(x=[1, 2], y=[1, 2], yaxis="y2")
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right"})
    readable_axes(fig)
    for axis in (fig.layout.xaxis, fig.layout.yaxis, fig.layout.yaxis2):
        assert (axis.separatethousands, axis.exponentformat) == (True, "none")


def test_month_keys_on_the_x_axis_read_as_month_names_and_stay_the_clicked_value() -> None:
    fig = readable_axes(go.Figure(go.Bar(x=["2025-12", "2026-01"], y=[3, 4])))
    assert list(fig.layout.xaxis.tickvals) == ["2025-12", "2026-01"]
    assert list(fig.layout.xaxis.ticktext) == ["Dec 2025", "Jan 2026"]
    assert list(fig.data[0].x) == ["2025-12", "2026-01"]  # a click still returns the month's key
    other = readable_axes(go.Figure(go.Bar(x=["Gold", "2026-01"], y=[3, 4])))
    assert other.layout.xaxis.ticktext is None
