"""A horizontal legend goes above the plot, where it covers neither the plot nor the x axis's
title: Plotly's default place for it, under the plot, is where "Month" is written."""

from __future__ import annotations

import plotly.graph_objects as go

from ui.safe import legend_above


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
