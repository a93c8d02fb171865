"""`python -m core score [--as-of YYYY-MM-DD] [--horizon-days N]`"""

from __future__ import annotations

import argparse
from datetime import date

from core.config import get_settings, resolve_horizon
from core.scoring import score_all
from db.engine import get_engine


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score", help="score every customer's health and churn risk; backtest the churn model")
    p.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                   help="use only what happened on or before this date (default: today, UTC)")
    p.add_argument("--horizon-days", type=int, default=None, metavar="N",
                   help="churn horizon H in days (default: HEARTH_HORIZON_DAYS, 90)")
    p.add_argument("--backtest", nargs="?", const="", default=None, metavar="FILE",
                   help="only backtest, store nothing: on the database's store, or on an order history "
                        "CSV (customer_id, ordered_at, total; .csv.gz too), holding out its last horizon")
    p.set_defaults(func=run)


def _fmt(m: dict | None) -> str:
    if not m:
        return "n/a"
    auc = "n/a" if m.get("auc") is None else f"{m['auc']:.3f}"
    lift = "n/a" if m.get("top_decile_lift") is None else f"{m['top_decile_lift']:.2f}"
    return (f"AUC {auc}  Brier {m['brier']:.3f}  top-decile lift {lift}  "
            f"mean predicted {m['mean_predicted']:.1%} vs actual {m['actual_share']:.1%}")


def summary_lines(info: dict) -> list[str]:
    """The backtest and the run in a few lines, for the terminal."""
    lines = [f"method: {info['method']}" + (f" ({info['reason']})" if info.get("reason") else "")]
    bt = info.get("backtest")
    if bt and "skipped" in bt:
        lines.append(f"backtest skipped: {bt['skipped']}")
    elif bt:
        lines.append(f"backtest: trained on cut-offs {', '.join(bt['train_cutoffs'])} "
                     f"({bt['n_train']:,} rows), tested at {bt['test_cutoff']} on {bt['n_test']:,} customers")
        lines.extend(backtest_lines({**bt, "horizon_days": info["horizon_days"]})[1:])
    bands = info.get("bands", {})
    lines.append(f"bands: {bands.get('healthy', 0):,} healthy, {bands.get('watch', 0):,} watch, "
                 f"{bands.get('at_risk', 0):,} at risk; mean churn probability "
                 f"{info['mean_churn_probability']:.1%}")
    return lines


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def backtest_lines(bt: dict) -> list[str]:
    """The goals' figures of one backtest, for the terminal and the README."""
    lines = [f"held out: trained on cut-offs {', '.join(bt['train_cutoffs'])} ({bt['n_train']:,} rows), "
             f"tested at {bt['test_cutoff']} on {bt['n_test']:,} customers: no order in the next "
             f"{bt.get('horizon_days', 90)} days?"]
    m = bt["model"]
    lines.append(f"  churn probability   AUC {_pct(m['auc'])}  calibration gap {m['calibration_gap']:.3f}  "
                 f"Brier {m['brier']:.3f}  most shared value among the 100 riskiest: "
                 f"{m.get('top100_same_value', 0)} accounts")
    lines.append(f"  recency alone       AUC {_pct(bt['recency_baseline']['auc'])}  calibration gap "
                 f"{bt['recency_baseline']['calibration_gap']:.3f}")
    bg = bt.get("bgnbd_baseline")
    lines.append("  BG/NBD expected     " + (f"AUC {_pct(bg['auc'])}  calibration gap {bg['calibration_gap']:.3f}"
                                             if bg else "skipped: " + bt.get("bgnbd_skipped", "")))
    hl = bt.get("health")
    if hl:
        lines.append(f"  health score        AUC {_pct(hl['auc'])} for staying active (default weights "
                     f"{_pct(hl['auc_default_weights'])}); Healthy with churn risk above 60 %: "
                     f"{hl['healthy_above_max_churn']} (without the rule: {hl['healthy_above_max_churn_before']})")
        parts = [f"{name} {w:.0%} (AUC {_pct(hl['component_auc'].get(name))})"
                 for name, w in hl["weights"].items()]
        lines.append("    weights (own AUC): " + ", ".join(parts))
    no = bt.get("next_order")
    if no and "skipped" not in no:
        lines.append(f"  next order date     median absolute error {no['median_abs_error_days']:.1f} days "
                     f"(recency alone {no['recency_baseline']:.1f}, cadence alone {no['cadence_baseline']:.1f}) "
                     f"over {no['n']:,} customers who ordered")
    return lines


def run_backtest(args: argparse.Namespace, horizon: int) -> int:
    from core.scoring import backtest_order_history, backtest_store

    if args.backtest:
        import pandas as pd

        try:
            orders = pd.read_csv(args.backtest, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {args.backtest}: {exc}") from exc
        print(f"order history: {args.backtest} ({len(orders):,} rows)")
        try:
            bt = backtest_order_history(orders, horizon_days=horizon, as_of=args.as_of)
        except ValueError as exc:
            raise ValueError(f"{args.backtest}: {exc}") from exc
    else:
        engine = get_engine(get_settings().database_url)
        print(f"database: {engine.url.render_as_string(hide_password=True)}")
        bt = backtest_store(engine=engine, as_of=args.as_of, horizon_days=horizon)
    bt["horizon_days"] = horizon
    print(f"{bt['n_customers']:,} customers, {bt['n_orders']:,} orders up to {bt['as_of']}")
    for line in backtest_lines(bt):
        print(line)
    return 0


def run(args: argparse.Namespace) -> int:
    horizon = resolve_horizon(args.horizon_days)
    if args.backtest is not None:
        return run_backtest(args, horizon)
    engine = get_engine(get_settings().database_url)
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    info = score_all(engine=engine, as_of=args.as_of, horizon_days=horizon,
                     progress=lambda frac, msg: print(f"  [{frac:4.0%}] {msg}", flush=True))
    for line in summary_lines(info):
        print(line)
    print(f"stored {info['n_customers']:,} snapshots for {info['as_of']} (model run {info['model_run_id']}) "
          f"in {info['seconds']} s")
    return 0
