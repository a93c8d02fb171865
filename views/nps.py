"""NPS: the trend with its 95 % interval, the mix of promoters and detractors, splits, what
detractors talk about, and (for roles that may read comments) comment search."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import feedback as fbk
from core import formatting as fmt
from core.drilldown import NPS_GROUPS, period_window
from core.nps import nps_from_counts
from core.roles import may_see_personal_data
from db.models import utcnow
from ui import drilldown as drill
from ui import feedback as ui
from ui.auth import require_screen
from ui.filters import start_at
from ui.kpis import db_key
from ui.safe import md, plain, plotly_chart

user = require_screen("nps")
roles = ui.roles_key(user.roles)

st.title("NPS")
st.caption("NPS = % promoters (9-10) minus % detractors (0-6) among answers with a score, with a 95 % "
           "interval (adjusted Wald: three answers added, 3/4 of a promoter and 3/4 of a detractor among "
           "them, so that a few answers alike never look certain). The band is wide when there are few "
           "answers: read the counts with it.")

c1, c2, c3 = st.columns(3)


def _close_points() -> None:
    """The trend's points (and the mix's periods) are numbered afresh when the period, the step or
    the split changes: a point left open would name another one."""
    for key in ("nps_drill_point", "nps_drill_period"):
        st.session_state.pop(key, None)


periods_offered = [3, 6, 12, 24]
start_at("nps_months", fbk.NPS_DEFAULT_MONTHS)
months = c1.selectbox("Period", periods_offered, key="nps_months",
                      format_func=lambda m: f"last {m} months", on_change=_close_points)
start_at("nps_freq", "M")
freq = c2.radio("By", ["W", "M"], key="nps_freq", horizontal=True,
                format_func=lambda f: "week" if f == "W" else "month", on_change=_close_points)
split_labels = {"all": "all customers", "segment": "segment", "region": "region", "channel": "channel",
                "category": "product category bought"}
split = c3.selectbox("Split", list(split_labels), key="nps_split", format_func=split_labels.get,
                     on_change=_close_points)

since, until = fbk.nps_window(months=months, today=utcnow().date())
by = None if split == "all" else split
periods = ui.nps_periods(since, until, freq, by)
counts = ui.answer_counts(since, until)

def _nice_step(largest: int) -> int:
    """A whole-number tick step giving about five ticks up to ``largest`` (1, 2, 5, 10, 20, 50 ...)."""
    rough = max(largest, 1) / 5
    step = 1
    while step * 10 <= rough:
        step *= 10
    for m in (1, 2, 5, 10):
        if step * m >= rough:
            return step * m
    return step * 10


if periods.empty:
    st.info("No answers with a score in this period. Import survey answers on the Data screen, or "
            "choose a longer period.")
    st.stop()

overall = periods if by is None else ui.nps_periods(since, until, freq, None)
total = nps_from_counts(int(overall["promoters"].sum()), int(overall["passives"].sum()),
                        int(overall["detractors"].sum()))
# Tiles as wide as their figure, wrapping on a narrow screen: never cut off.
tile = partial(st.container(horizontal=True, gap="small").metric, width="content")
m1 = m2 = m3 = m4 = SimpleNamespace(metric=tile)
# One decimal, as the Overview's NPS tile (a "+17" here beside "+29.2" there read as two rules).
m1.metric("NPS", f"{total['nps']:+.1f}", help=f"95 % interval {total['ci_low']:+.1f} to {total['ci_high']:+.1f}")
m2.metric("95 % interval", f"{total['ci_low']:+.1f} to {total['ci_high']:+.1f}")
m3.metric("Answers with a score", f"{total['responses']:,}")
m4.metric("Answers (all)", f"{counts['answers']:,}")
st.caption(f"Promoters {total['promoters']:,} · passives {total['passives']:,} · detractors "
           f"{total['detractors']:,} · {counts['commented']:,} with a comment · {counts['flagged']:,} flagged. "
           "Response rate: not shown, because the shop's data does not record the surveys sent.")
if split == "category":
    st.caption("A customer's answer counts once in each product category they bought in the period.")

# Drill-down of the answer tiles: one list of the window's answers, unscored ones included (exec:
# by segment, region and channel).
count_words = {"answers": f"Answers of the period ({counts['answers']:,} answers, {total['responses']:,} with a "
                          "score)"}
opened = st.selectbox("Open a count", list(count_words), index=None, key="nps_drill_count",
                      format_func=count_words.get, placeholder="Choose a count to see the answers behind it")
if opened is not None:
    listed = drill.window_answers(roles if may_see_personal_data(user.roles) else None, db_key(), since, until)
    if may_see_personal_data(user.roles):
        st.caption(f"{len(listed):,} answers, {int(listed['score'].notna().sum()):,} with a score (an answer "
                   "without a score has an empty score), newest first.")
        st.dataframe(listed.drop(columns=["customer_id"]), hide_index=True, width="stretch",
                     key="nps_count_answers", column_config=drill.ANSWER_COLUMNS, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: the answers of the period by segment, region and channel.")
        st.dataframe(listed, hide_index=True, key="nps_count_breakdown", column_config={
            "segment": "Segment", "region": "Region", "channel": "Channel",
            "answers": st.column_config.NumberColumn("Answers", format="%,d"),
            "scored": st.column_config.NumberColumn("With a score", format="%,d")}, placeholder=fmt.DASH)


# ---------------------------------------------------------------- trend
fig = go.Figure()
if by is None:
    x = periods["period"]
    fig.add_trace(go.Scatter(x=list(x) + list(x[::-1]),
                             y=list(periods["ci_high"]) + list(periods["ci_low"][::-1]),
                             fill="toself", fillcolor="rgba(31,119,180,0.15)", line={"width": 0},
                             hoverinfo="skip", name="95 % interval"))
    # The 4th item of a point's customdata is the period's index: a click opens its answers.
    fig.add_trace(go.Scatter(x=x, y=periods["nps"], mode="lines+markers", name="NPS",
                             customdata=periods[["responses", "ci_low", "ci_high"]].assign(i=range(len(periods))),
                             hovertemplate="%{x|%-d %b %Y}: NPS %{y:+.1f} (%{customdata[1]:+.1f} to "
                                           "%{customdata[2]:+.1f}), %{customdata[0]:,} answers<extra></extra>"))
    fig.add_trace(go.Bar(x=x, y=periods["responses"], name="answers", yaxis="y2", opacity=0.25,
                         marker_color="gray", customdata=[[0, 0, 0, i] for i in range(len(periods))]))
    # Whole answers: integer ticks only (never 86.6).
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "Answers (count)", "showgrid": False,
                              "tickformat": ",d", "rangemode": "tozero",
                              "dtick": max(1, _nice_step(int(periods["responses"].max())))})
else:
    # The 4th item of a point's customdata is its row in `periods` (a period and a group).
    for group, part in periods.groupby(by):
        fig.add_trace(go.Scatter(x=part["period"], y=part["nps"], mode="lines+markers", name=str(group),
                                 customdata=part[["responses", "ci_low", "ci_high"]].assign(i=part.index),
                                 hovertemplate=f"{plain(group)} " + "%{x|%-d %b %Y}: NPS %{y:+.1f} "
                                               "(%{customdata[1]:+.1f} to %{customdata[2]:+.1f}), "
                                               "%{customdata[0]:,} answers<extra></extra>"))
fig.update_layout(yaxis={"title": "NPS (-100 to +100)", "range": [-100, 100]}, height=400,
                  margin={"t": 50, "b": 10}, xaxis={"title": "Period starting"}, legend={"orientation": "h"},
                  title="NPS per period with its 95 % interval")
plotly_chart(fig, width="stretch", key="nps_trend", selection_mode="points",
             on_select=drill.opens("nps_trend", "nps_drill_point", lambda p: drill.custom(p, 3)))


def _point_words(i: int) -> str:
    """A point of the trend in words: its group (when split), its period, its answers and NPS."""
    row = periods.iloc[i]
    when = f"{fmt.date_text(row['period'])}" if freq == "W" else f"{row['period']:%B %Y}"
    group_words = "" if by is None else f"{split_labels[split].capitalize()} {row[by]}, "
    return (group_words + ("the week of " if freq == "W" else "the month of ") + when
            + f" ({int(row['responses']):,} answers, NPS {row['nps']:+.0f})")


# Drill-down: the answers behind a point of the trend, of its period and (split) its group; exec: by
# segment, region and channel. Newest period first; the value is the point's row in `periods`.
point = st.selectbox(
    "Open a point", sorted(range(len(periods)), key=lambda i: (periods["period"].iloc[i], -i), reverse=True),
    index=None, key="nps_drill_point",
    placeholder="Click a point, or choose a period, to see the answers behind its NPS",
    format_func=lambda i: _point_words(i)[0].upper() + _point_words(i)[1:])
if point is not None:
    p_lo, p_hi = period_window(periods["period"].iloc[point], freq, since, until)
    # The split's line: core.feedback.nps_counts' groups (category: bought in the whole window).
    line = None if by is None else (by, str(periods[by].iloc[point]))
    if may_see_personal_data(user.roles):
        answers = drill.nps_answers(roles, db_key(), None, p_lo, p_hi, line, (since, until))
        st.caption(f"{len(answers):,} answers with a score" + ("" if line is None else
                                                               f" ({split_labels[split]} {md(line[1])})")
                   + ", newest first.")
        st.dataframe(answers.drop(columns=["customer_id"]), hide_index=True, width="stretch",
                     key="nps_point_answers", column_config=drill.ANSWER_COLUMNS, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: these answers by segment, region and channel.")
        st.dataframe(drill.nps_breakdown(db_key(), None, p_lo, p_hi, line, (since, until)), hide_index=True,
                     key="nps_point_breakdown",
                     column_config={"segment": "Segment", "region": "Region", "channel": "Channel",
                                    "answers": st.column_config.NumberColumn("Answers", format="%,d")},
                     placeholder=fmt.DASH)

mix = overall.copy()
mix_fig = go.Figure()
for column, color in (("detractors", "#d62728"), ("passives", "#bbbbbb"), ("promoters", "#2ca02c")):
    mix_fig.add_trace(go.Bar(x=mix["period"], y=mix[column], name=column.capitalize(), marker_color=color,
                             customdata=[[column, i] for i in range(len(mix))]))
mix_fig.update_layout(barmode="stack", height=320, margin={"t": 50, "b": 10},
                      yaxis={"title": "Answers (count)", "tickformat": ",d", "rangemode": "tozero",
                             "dtick": max(1, _nice_step(int(mix["responses"].max())))},
                      xaxis={"title": "Period starting"},
                      legend={"orientation": "h"}, title="Promoters, passives and detractors")


def _open_bar(point: dict) -> None:
    """A click on a bar of the mix: its group and its period (the two boxes below)."""
    group_code, index = drill.custom(point, 0), drill.custom(point, 1)
    if group_code in NPS_GROUPS and index is not None:
        st.session_state["nps_drill_period"] = int(index)
        return group_code
    return None


plotly_chart(mix_fig, width="stretch", key="nps_mix", selection_mode="points",
             on_select=drill.opens("nps_mix", "nps_drill_group", _open_bar))

# Drill-down: the answers behind a bar or a count (exec: by segment, region and channel only).
g1, g2 = st.columns(2)
group = g1.selectbox("Open the answers of", list(NPS_GROUPS), index=None, key="nps_drill_group",
                     placeholder="Click a bar, or choose promoters, passives or detractors",
                     format_func=lambda g: f"{g.capitalize()} ({int(total[g]):,} in the period)")
bars = list(mix["period"])
bar = g2.selectbox("In", [None, *range(len(bars))], key="nps_drill_period",
                   format_func=lambda i: "the whole period" if i is None else
                   ("the week of " if freq == "W" else "the month of ")
                   + (f"{fmt.date_text(bars[i])}" if freq == "W" else f"{bars[i]:%B %Y}"))
if group is not None:
    lo, hi = (since, until) if bar is None else period_window(bars[bar], freq, since, until)
    if may_see_personal_data(user.roles):
        answers = drill.nps_answers(roles, db_key(), group, lo, hi)
        st.caption(f"{len(answers):,} answers, newest first.")
        st.dataframe(answers.drop(columns=["customer_id"]), hide_index=True, width="stretch",
                     key="nps_drill_answers", column_config=drill.ANSWER_COLUMNS, placeholder=fmt.DASH)
    else:
        st.caption("Your role sees aggregates only: these answers by segment, region and channel.")
        st.dataframe(drill.nps_breakdown(db_key(), group, lo, hi), hide_index=True, key="nps_drill_breakdown",
                     column_config={"segment": "Segment", "region": "Region", "channel": "Channel",
                                    "answers": st.column_config.NumberColumn("Answers", format="%,d")},
                     placeholder=fmt.DASH)

def _open_period_row() -> None:
    """A row chosen in "Figures per period" opens its answers in "Open a point" (the same rows)."""
    rows = ((st.session_state.get("nps_periods_table") or {}).get("selection") or {}).get("rows") or []
    if rows:
        st.session_state["nps_drill_point"] = int(rows[0])


with st.expander("Figures per period" + ("" if by is None else f" and {split_labels[split]}")):
    st.caption("Choose a row to see its answers (under \"Open a point\" above).")
    st.dataframe(periods, hide_index=True, width="stretch", key="nps_periods_table", on_select=_open_period_row,
                 selection_mode="single-row",
                 column_config={"period": st.column_config.DateColumn("Period starting", format="D MMM YYYY"),
                                "nps": st.column_config.NumberColumn("NPS", format="%.0f"),
                                "ci_low": st.column_config.NumberColumn("95 % low", format="%.0f"),
                                "ci_high": st.column_config.NumberColumn("95 % high", format="%.0f")},
                                    placeholder=fmt.DASH)

# ---------------------------------------------------------------- themes
st.subheader("What detractors talk about")
theme_frame, spikes = ui.themes(max(months, 6))
if theme_frame.empty:
    st.info("No detractor named a problem theme in this period.")
else:
    for n, row in enumerate(spikes.head(3).itertuples()):
        st.warning(f"Stands out: {row.theme} in {row.month:%B %Y}: {row.mentions} detractor mentions, "
                   f"{row.times:.0f}× the usual month ({row.usual:.0f}).", icon=":material/trending_up:")
        # Opens the heatmap's cell of that theme and month (the box "Open a cell" below).
        st.button(f"Open the {row.mentions} answers", key=f"nps_spike_{n}", on_click=st.session_state.__setitem__,
                  args=("nps_drill_theme", f"{row.theme}|{row.month:%Y-%m}"))
    grid = theme_frame.pivot_table(index="theme", columns="month", values="mentions", aggfunc="sum").fillna(0)
    grid = grid.loc[grid.sum(axis=1).sort_values(ascending=False).index]
    heat = go.Figure(go.Heatmap(z=grid.values, x=[f"{m:%Y-%m}" for m in grid.columns], y=list(grid.index),
                                colorscale="Reds", hovertemplate="%{y}, %{x}: %{z} mentions<extra></extra>"))
    heat.update_layout(height=110 + 28 * len(grid), margin={"t": 50, "b": 10}, title="Detractor mentions per month",
                       xaxis={"title": "Month"}, yaxis={"title": "Theme"})
    # A transparent marker on every cell with mentions takes the click (a heatmap cannot be selected).
    cells = [(str(t), f"{m:%Y-%m}") for t in grid.index for m in grid.columns if grid.loc[t, m] > 0]
    heat.add_scatter(x=[m for _t, m in cells], y=[t for t, _m in cells], mode="markers", showlegend=False,
                     marker={"symbol": "square", "size": 18, "opacity": 0}, customdata=[f"{t}|{m}" for t, m in cells],
                     hovertemplate="%{y}, %{x}: click to see the answers<extra></extra>")
    plotly_chart(heat, width="stretch", key="nps_themes", selection_mode="points",
                 on_select=drill.opens("nps_themes", "nps_drill_theme", drill.custom))
    mentions = {(str(t), f"{m:%Y-%m}"): int(grid.loc[t, m]) for t in grid.index for m in grid.columns}
    theme_cell = st.selectbox(
        "Open a cell", [f"{t}|{m}" for t, m in cells], index=None, key="nps_drill_theme",
        placeholder="Click a cell, or choose one, to see the detractor answers behind it",
        format_func=lambda v: f"{v.split('|')[0]} in {v.split('|')[1]} "
                              f"({mentions.get(tuple(v.split('|')), 0):,} mentions)")
    if theme_cell is not None:
        theme, month_label = theme_cell.split("|")
        if may_see_personal_data(user.roles):
            answers = drill.theme_answers(roles, db_key(), theme, month_label, utcnow())
            st.caption(f"{len(answers):,} detractor answers naming {md(theme)} in {month_label}, newest first.")
            st.dataframe(answers.drop(columns=["customer_id"]), hide_index=True, width="stretch",
                         key="nps_theme_answers", column_config=drill.ANSWER_COLUMNS, placeholder=fmt.DASH)
        else:
            st.caption("Your role sees aggregates only: these answers by segment, region and channel.")
            st.dataframe(drill.theme_answers(None, db_key(), theme, month_label, utcnow()), hide_index=True,
                         key="nps_theme_breakdown", column_config={
                             "segment": "Segment", "region": "Region", "channel": "Channel",
                             "answers": st.column_config.NumberColumn("Answers", format="%,d")}, placeholder=fmt.DASH)
    st.caption("Problems named in the comments of answers scored 0-6, per month (one answer can name "
               "several). Themes come from the flagging rules.")

# ---------------------------------------------------------------- comment search
st.subheader("Search the comments")
if not may_see_personal_data(user.roles):
    st.info("Comments are customers' own words: your role sees the aggregates above only.")
else:
    word = st.text_input("Word or phrase", key="nps_search", max_chars=100,
                         placeholder="e.g. leak, refund, lavender")
    if word.strip():
        try:
            hits = ui.search(roles, word.strip())
        except fbk.FeedbackError as exc:
            st.error(md(exc))
        else:
            if hits.empty:
                # Not echoed: the search word may be pasted customer text, and st.info renders Markdown.
                st.info("No comment contains that word or phrase. Try a shorter or different word.")
            else:
                # The link reads the customer id (C000763), never the database number.
                hits = hits.assign(account=[
                    f"/account?id={int(i)}&customer={quote(str(ref))}" if pd.notna(i) else None
                    for i, ref in zip(hits["customer_id"], hits["customer_ref"], strict=True)])
                st.caption(f"{len(hits):,} most recent matches" + (" (first 200)" if len(hits) >= 200 else ""))
                hits["state"] = hits["state"].map(lambda v: fmt.label(v, fbk.STATE_LABELS))
                st.dataframe(hits[["submitted_at", "nps_score", "comment", "flagged", "state", "account"]],
                             hide_index=True, width="stretch", key="nps_hits",
                             column_config={
                                 "submitted_at": st.column_config.DatetimeColumn("Submitted",
                                                                                 format="D MMM YYYY"),
                                 "nps_score": st.column_config.NumberColumn("Score", format="%d"),
                                 "comment": st.column_config.TextColumn("Comment", width="large"),
                                 "flagged": st.column_config.CheckboxColumn("Flagged"),
                                 "state": st.column_config.TextColumn("State"),
                                 "account": st.column_config.LinkColumn("Customer",
                                                                        display_text=r"customer=([^&]+)$"),
                             }, placeholder=fmt.DASH)
