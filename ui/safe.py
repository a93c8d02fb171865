"""One way to put text that is not a literal of our code on screen.

Streamlit renders Markdown in st.markdown, st.caption, st.subheader, alerts (st.error,
st.warning, st.info, st.success), toasts, expander and tab labels and most widget labels:
links, images (fetched by the browser: a tracking beacon), bold, `:red[colour]`, LaTeX.
Plotly renders a subset of HTML (`<a href>`, `<b>`, `<span style>`) in trace names, legends,
hover labels, axis categories and titles. Text from outside (a customer's name, an imported
segment, region, channel, category or campaign name, a staff username, a file name, a query
parameter) goes through :func:`md` before any of the first, and every figure goes through
:func:`plotly_chart`; plain-text elements (st.text, st.code, st.dataframe) need neither.
"""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.exporting import safe_cell

# Any ASCII punctuation may be backslash-escaped in CommonMark, and an escaped character is
# always literal text. Escaped here: what can open a link or image (`[ ] ( ) !`), emphasis or
# strike (`* _ ~`), code (`` ` ``), HTML or an entity (`< > &`), a table cell (`|`), LaTeX
# (`$`), braces, a backslash itself, and a Streamlit colour or icon directive (its `[`). A
# heading, list or quote can only start a line: a leading `#`, `>`, `-`, `+` or `1.` is
# escaped, and line breaks are removed. Autolinks: `://`, `www.` and the `@` of an address
# are broken by an escape. Ordinary punctuation (`. , : ; ' " / % ? =`) is left as it is,
# so a message reads, and compares, the same.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~\[\]()!<>&|$\{}@])")
_LINE_START = re.compile(r"^(\s*\d*)([#>+.)-])")
_WWW = re.compile(r"(www)\.", re.IGNORECASE)
# Streamlit turns `:rocket:` into an emoji and `:material/verified:` into an icon after the
# Markdown is parsed, so a backslash before the colon does not stop the icon (seen in Chromium):
# a word joiner (U+2060, invisible, no width) after the opening colon does, for both.
_SHORTCODE = re.compile(r":(?=[A-Za-z0-9_+/\\-]+:)")
WORD_JOINER = "\u2060"


def md(value: Any) -> str:
    """``value`` as text that every Markdown-rendering element shows literally, on one line.

    None is shown as an empty string. Line breaks become spaces (a line break could start a
    heading, list or quote in the middle of our own sentence). An emoji or icon code
    (`:rocket:`, `:material/verified:`) gets an invisible word joiner after its first colon."""
    if value is None:
        return ""
    text = " ".join(str(value).splitlines())
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    text = _WWW.sub(r"\1\\.", text.replace("://", "\\://"))
    text = _SHORTCODE.sub(":" + WORD_JOINER, text)
    return _LINE_START.sub(r"\1\\\2", text)


def refusal(exc: BaseException) -> str:
    """A refusal's message as a sentence for st.error: capital first letter, full stop, and
    shown literally (it may quote a name or value someone typed)."""
    text = str(exc).strip()
    text = text[:1].upper() + text[1:]
    return md(text if text.endswith((".", "?", "!")) else text + ".")


def plain(value: Any) -> str:
    """``value`` as text for Plotly, which renders HTML tags but decodes entities: `<b>` is
    shown as the characters <b>, never as bold."""
    return html.escape("" if value is None else str(value), quote=False)


# Trace attributes that can carry data (categories, names, labels); templates are ours.
_TRACE_TEXT = ("name", "legendgroup", "text", "hovertext", "x", "y", "labels", "ids", "customdata",
               "ticktext", "header", "cells")


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OUS":
            return np.vectorize(_escaped, otypes=[object])(value) if value.size else value
        return value
    if isinstance(value, list | tuple):
        return type(value)(_escaped(v) for v in value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


def safe_figure(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` with every data-bearing string (trace names, legend groups, text,
    hover text, categorical x and y, custom data, tick labels) HTML-escaped, and every
    layout title and annotation too. Hover templates and number formats are left alone."""
    out = go.Figure(fig)
    for trace in out.data:
        for attr in _TRACE_TEXT:
            if attr in trace and trace[attr] is not None:
                try:
                    trace[attr] = _escaped(trace[attr])
                except (ValueError, TypeError):
                    continue
    layout = out.layout
    if layout.title and layout.title.text:
        layout.title.text = plain(layout.title.text)
    if layout.legend and layout.legend.title and layout.legend.title.text:
        layout.legend.title.text = plain(layout.legend.title.text)
    for name in [k for k in layout.to_plotly_json() if k.startswith(("xaxis", "yaxis", "coloraxis"))]:
        axis = layout[name]
        title = getattr(axis, "title", None)
        if title is not None and title.text:
            title.text = plain(title.text)
        if getattr(axis, "ticktext", None) is not None:
            axis.ticktext = _escaped(list(axis.ticktext))
        colorbar = getattr(axis, "colorbar", None)
        if colorbar is not None and colorbar.title and colorbar.title.text:
            colorbar.title.text = plain(colorbar.title.text)
    for annotation in layout.annotations or ():
        if annotation.text:
            annotation.text = plain(annotation.text)
    return out


def warm_charts() -> None:
    """Build one empty figure on Plotly's default template and one two-bar Plotly Express chart
    (app start, in the background): the first figure of a process loads and checks the template
    and Plotly Express's first chart fills its path caches, a few hundred milliseconds the first
    chart of the first screen would otherwise wait for. Made-up bars: library work only."""
    import plotly.express as px
    import plotly.io as pio

    go.Figure(layout_template=pio.templates[pio.templates.default])
    fig = px.bar(pd.DataFrame({"x": ["a", "b"], "y": [1, 2]}), x="x", y="y", hover_data=["y"], title="warm")
    fig.update_layout(height=300, margin={"t": 40})
    fig.update_xaxes(type="category")


def plotly_chart(fig: go.Figure, **kwargs: Any) -> Any:
    """st.plotly_chart of :func:`safe_figure`: the only way a screen draws a figure."""
    return st.plotly_chart(readable_axes(legend_above(safe_figure(fig))), **kwargs)


def readable_axes(fig: go.Figure) -> go.Figure:
    """Every axis's numbers as the tables write them: thousands grouped ("12,000"), never
    Plotly's SI short form ("12k") or an exponent. Date and category axes ignore both. Changes
    ``fig`` and returns it."""
    fig.update_xaxes(separatethousands=True, exponentformat="none")
    fig.update_yaxes(separatethousands=True, exponentformat="none")
    _month_ticks(fig)
    return fig


_MONTH_KEY = re.compile(r"\d{4}-\d{2}")


def _month_ticks(fig: go.Figure) -> None:
    """An x axis whose every value is a month key ("2026-01", kept as the value a click
    returns) is labelled with month names ("Jan 2026"), as every other date on the screens."""
    keys: list[str] = []
    for trace in fig.data:
        if getattr(trace, "xaxis", None) not in (None, "x"):
            continue
        values = getattr(trace, "x", None)
        if values is None:
            continue
        for v in values:
            if not (isinstance(v, str) and _MONTH_KEY.fullmatch(v)):
                return
            if v not in keys:
                keys.append(v)
    if keys and fig.layout.xaxis.ticktext is None:
        fig.update_xaxes(tickmode="array", tickvals=keys,
                         ticktext=[f"{date(int(k[:4]), int(k[5:]), 1):%b %Y}" for k in keys])


def legend_above(fig: go.Figure) -> go.Figure:
    """A horizontal legend placed by no screen goes above the plot, under the title: Plotly puts
    it below the plot, where it covers the x axis's title ("Month"). The top margin grows by the
    legend's row (30 px). Changes ``fig`` and returns it."""
    legend = fig.layout.legend
    if legend.orientation == "h" and legend.y is None:
        fig.update_layout(legend={"y": 1.0, "yanchor": "bottom", "x": 0, "xanchor": "left"},
                          margin={"t": (fig.layout.margin.t if fig.layout.margin.t is not None else 80) + 30})
        if fig.layout.title.text and fig.layout.title.y is None:
            # The title at the very top of the figure, so the legend's row (with its own title,
            # "Customer" on the revenue mix) cannot run into it.
            fig.update_layout(title={"y": 1.0, "yref": "container", "yanchor": "top", "pad": {"t": 8}})
    return fig


def formula_safe(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A copy of ``df`` whose text ``columns`` a spreadsheet would not run as a formula.

    st.dataframe's own CSV download bypasses the export code, so a table of outside text
    applies the export's one rule (:func:`core.exporting.safe_cell`) to its cells."""
    df = df.copy()
    for c in columns:
        df[c] = df[c].map(safe_cell)
    return df
