"""`python -m core score [--as-of YYYY-MM-DD] [--horizon-days N]`"""

from __future__ import annotations

import argparse
from datetime import date

from core.config import get_settings
from core.scoring import score_all
from db.engine import get_engine


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score", help="score every customer's health and churn risk; backtest the churn model")
    p.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                   help="use only what happened on or before this date (default: today, UTC)")
    p.add_argument("--horizon-days", type=int, default=None, metavar="N",
                   help="churn horizon H in days (default: HEARTH_HORIZON_DAYS, 90)")
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
        lines.append(f"  churn model       {_fmt(bt['model'])}")
        lines.append(f"  recency baseline  {_fmt(bt['recency_baseline'])}")
        lines.append(f"  BG/NBD baseline   {_fmt(bt['bgnbd_baseline'])}")
    bands = info.get("bands", {})
    lines.append(f"bands: {bands.get('healthy', 0):,} healthy, {bands.get('watch', 0):,} watch, "
                 f"{bands.get('at_risk', 0):,} at risk; mean churn probability "
                 f"{info['mean_churn_probability']:.1%}")
    return lines


def run(args: argparse.Namespace) -> int:
    horizon = args.horizon_days or get_settings().horizon_days
    engine = get_engine()
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    info = score_all(engine=engine, as_of=args.as_of, horizon_days=horizon,
                     progress=lambda frac, msg: print(f"  [{frac:4.0%}] {msg}", flush=True))
    for line in summary_lines(info):
        print(line)
    print(f"stored {info['n_customers']:,} snapshots for {info['as_of']} (model run {info['model_run_id']}) "
          f"in {info['seconds']} s")
    return 0
