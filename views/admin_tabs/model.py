"""Admin → Churn model: the last backtest and a button to re-score now (Admin screen only)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import audit
from core import formatting as fmt
from core.config import get_settings
from core.health import HEALTH_COMPONENTS
from core.readcache import cached
from core.roles import Role
from core.scoring import ScoringError, latest_model_run, score_all
from ui.db import app_engine, get_session
from ui.safe import md, plotly_chart


def _dates(days: list[str]) -> str:
    """ISO dates as the screens write them: "31 Mar 2026, 30 Jun 2026"."""
    return ", ".join(fmt.date_text(d) for d in days)

BASELINES = (("model", "Churn model"), ("recency_baseline", "Recency alone"),
             ("bgnbd_baseline", "BG/NBD expected purchases"))


@cached()
def last_run() -> dict | None:
    """Model metrics only (aggregates): no personal data."""
    with get_session() as session:
        return latest_model_run(session=session)


def _percent(share: float | None) -> float | None:
    """A share 0-1 as the percentage a "%.1f %%" column shows (0.549 -> 54.9)."""
    return None if share is None else 100 * share


def metrics_table(backtest: dict) -> pd.DataFrame:
    rows = []
    for key, label in BASELINES:
        m = backtest.get(key)
        if m:
            rows.append({"score": label, "AUC": m["auc"], "calibration gap": m.get("calibration_gap"),
                         "Brier": m["brier"],
                         "top-decile lift": m["top_decile_lift"], "mean predicted": _percent(m["mean_predicted"]),
                         "actual churn share": _percent(m["actual_share"])})
    return pd.DataFrame(rows)


def calibration_figure(backtest: dict) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=[0, 100], y=[0, 100], mode="lines", name="perfect", line=dict(dash="dot", color="#999"))
    for key, label in BASELINES:
        m = backtest.get(key)
        if m:
            cal = pd.DataFrame(m["calibration"])
            fig.add_scatter(x=cal["predicted"] * 100, y=cal["actual"] * 100, mode="lines+markers", name=label,
                            customdata=cal[["decile", "n"]],
                            hovertemplate="decile %{customdata[0]} (%{customdata[1]} customers): predicted "
                                          "%{x:.0f} %, actual %{y:.0f} %<extra>" + label + "</extra>")
    fig.update_layout(height=380, xaxis=dict(title="Predicted churn probability (%)", range=[0, 100],
                                             ticksuffix=" %"),
                      yaxis=dict(title="Actual churn share (%)", range=[0, 100], ticksuffix=" %"),
                      title="Calibration: predicted against actual churn, by decile",
                      margin=dict(l=0, r=0, t=40, b=0))
    return fig


def _rescore(user) -> None:  # noqa: ANN001
    bar = st.progress(0.0, text="Starting…")
    try:
        info = score_all(engine=app_engine(), horizon_days=get_settings().horizon_days,
                         progress=lambda frac, msg: bar.progress(min(max(frac, 0.0), 1.0), text=msg))
    except ScoringError as exc:
        st.error(md(exc))
        return
    with get_session() as session:
        audit.record(session=session, actor=user.username, action="scoring.run", record_type="model_run",
                     record_id=info["model_run_id"],
                     detail={"as_of": info["as_of"], "method": info["method"], "customers": info["n_customers"]})
    st.session_state["model_flash"] = (f"Scored {info['n_customers']:,} customers as of {fmt.date_text(info['as_of'])} "
                                       f"in {info['seconds']} s ({info['method']}).")
    st.rerun()


def render_model_admin(user) -> None:  # noqa: ANN001
    if not user.has(Role.ADMIN):
        st.error("Not allowed")
        return
    flash = st.session_state.pop("model_flash", None)
    if flash:
        st.success(flash)
    run = last_run()
    if st.button("Re-score now", key="model_rescore", type="primary",
                 help="Trains and backtests the churn model on today's data and stores a new snapshot "
                      "for every customer (about a minute for 100,000 customers)."):
        _rescore(user)
    if run is None:
        st.info("No scoring run yet. Press “Re-score now” (or run `python -m core score`).")
        return
    m = run["metrics"]
    # Tiles as wide as their figure, wrapping on a narrow screen: never cut off.
    tiles = st.container(horizontal=True, gap="small")
    tiles.metric("Scored as of", f"{fmt.date_text(run['as_of'])}", width="content")
    tiles.metric("Customers", f"{run['n_customers']:,}", width="content")
    tiles.metric("Method", "Model" if run["method"] == "model" else "Rules", width="content")
    tiles.metric("Horizon", f"{run['horizon_days']} days", width="content")
    st.caption(f"Trained {fmt.datetime_text(run['trained_at'])} UTC in {m.get('seconds', '?')} s"
               + (f" on cut-offs {_dates(m['train_cutoffs'])} ({m['n_train']:,} rows)"
                  if m.get("train_cutoffs") else "") + ".")
    if m.get("reason"):
        st.warning(m["reason"] + " It turns into the model once there is enough history.")
    bt = m.get("backtest")
    render_health_check(bt if bt and "skipped" not in bt else {}, m)
    if not bt:
        return
    if "skipped" in bt:
        st.info("Backtest skipped: " + bt["skipped"])
        return
    st.subheader("Backtest")
    st.caption(f"Trained on cut-offs {_dates(bt['train_cutoffs'])}; tested at {fmt.date_text(bt['test_cutoff'])} on "
               f"{bt['n_test']:,} customers: did they order in the {run['horizon_days']} days after? "
               "AUC: how well it ranks (0.5 is chance). Brier: mean squared error of the probability "
               "(lower is better). Top-decile lift: churn share among the riskiest 10 % over the overall share.")
    st.dataframe(metrics_table(bt), hide_index=True, width="stretch", column_config={
        "AUC": st.column_config.NumberColumn(format="%.3f"),
        "calibration gap": st.column_config.NumberColumn(
            format="%.3f", help="Mean predicted churn probability minus the share that churned, in absolute value."),
        "Brier": st.column_config.NumberColumn(format="%.3f"),
        "top-decile lift": st.column_config.NumberColumn(format="%.2f"),
        "mean predicted": st.column_config.NumberColumn(format="%.1f %%"),
        "actual churn share": st.column_config.NumberColumn(format="%.1f %%"),
    }, placeholder=fmt.DASH)
    st.subheader("Calibration by decile")
    plotly_chart(calibration_figure(bt), width="stretch", key="model_calibration")


def health_table(weights: dict, component_auc: dict) -> pd.DataFrame:
    """One row per health component: its label, weight in the score and own AUC (aggregates)."""
    return pd.DataFrame([
        {"component": HEALTH_COMPONENTS[name][1], "weight": _percent(w), "AUC (own)": component_auc.get(name)}
        for name, w in weights.items() if name in HEALTH_COMPONENTS
    ])


def render_health_check(bt: dict, m: dict) -> None:
    health = bt.get("health") or {}
    weights = m.get("health_weights") or health.get("weights")
    if not weights:
        return
    st.subheader("Health score")
    auc = health.get("auc")
    if auc is not None:
        st.caption("How well the health score ranks who ordered again in the backtest's horizon (AUC for "
                   f"staying active): {auc:.3f}; with the default weights {health['auc_default_weights']:.3f}.")
    st.caption("Weights: " + ("fitted on this store's history (a logistic regression of staying active on "
                              "the components, weights kept positive and summing to 100 %)."
                              if m.get("health_weights_fitted") else "the defaults (too little history to fit)."))
    st.dataframe(health_table(weights, health.get("component_auc", {})), hide_index=True, width="stretch",
                 key="model_health_weights",
                 column_config={"weight": st.column_config.NumberColumn(format="%.1f %%"),
                                "AUC (own)": st.column_config.NumberColumn(
                                    format="%.3f", help="Among customers who have this component; empty: "
                                                        "no backtest or no data for it in this store.")},
                                                            placeholder=fmt.DASH)
    if not health:
        return
    st.caption(f"Accounts shown as Watch rather than Healthy because their churn risk is above 60 %: "
               f"{health.get('healthy_above_max_churn_before', 0):,} in the backtest.")
    nxt = bt.get("next_order")
    if nxt and "skipped" not in nxt:
        st.caption(f"Expected next order date: median absolute error {nxt['median_abs_error_days']:.1f} days "
                   f"(recency alone {nxt['recency_baseline']:.1f}, cadence alone {nxt['cadence_baseline']:.1f}) "
                   f"over {nxt['n']:,} customers who ordered in the backtest's horizon.")
