"""`python -m core feedback flag|reflag|evaluate|train`"""

from __future__ import annotations

import argparse
import os
import sys
import time

from sqlmodel import Session

from core import feedback as core_feedback
from core import sentiment
from core.config import get_settings
from db.engine import get_engine


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("feedback", help="flag feedback answers; measure the flag")
    sub = p.add_subparsers(dest="feedback_command", required=True)
    f = sub.add_parser("flag", help="score and flag the answers that have no sentiment yet")
    f.set_defaults(func=run_flag)
    r = sub.add_parser("reflag", help="score and flag every answer again (triage state is kept)")
    r.set_defaults(func=run_reflag)
    e = sub.add_parser("evaluate", help="precision, recall, F1 and confusion counts of the flag beside plain "
                       "VADER, on a labelled CSV or the held-aside shared sentences")
    e.add_argument("csv", nargs="?", help="columns comment, nps_score, needs_human (1 = negative)")
    e.add_argument("--shared-holdout", action="store_true",
                   help="measure on the held-aside fifth of ../shared/data/sentiment/ instead")
    e.add_argument("--cross-domain", action="store_true",
                   help="measure on each kind of shared sentence with a model fitted on the other kinds only "
                   "(text the flag was not trained on; about a minute)")
    e.set_defaults(func=run_evaluate)
    t = sub.add_parser("train", help="retrain the flag on the shared sentences plus the team's triage labels; "
                       "switch only when not worse")
    t.add_argument("--by", default="cli", help="who asked (for the audit log)")
    t.add_argument("--data", default=None, help="folder of the shared sentences (default ../shared/data/sentiment)")
    t.set_defaults(func=run_train)


def _run(reflag: bool) -> int:
    started = time.perf_counter()
    with Session(get_engine(get_settings().database_url)) as session:
        if reflag:
            n = core_feedback.reflag(session=session, processes=os.cpu_count() or 1)
        else:
            n = core_feedback.flag_unscored(session=session, processes=os.cpu_count() or 1)
        session.commit()
    verb = "re-scored" if reflag else "scored"
    print(f"{verb} {n:,} feedback answers in {time.perf_counter() - started:.1f} s")
    return 0


def run_flag(args: argparse.Namespace) -> int:
    return _run(reflag=False)


def run_reflag(args: argparse.Namespace) -> int:
    return _run(reflag=True)


def _print_figures(figures: dict, labels: tuple[tuple[str, str], ...]) -> None:
    for name, label in labels:
        s = figures[name]
        print(f"  {label:34s} precision {s.precision:.3f}  recall {s.recall:.3f}  F1 {s.f1:.3f}  "
              f"(TP {s.true_positives}, FP {s.false_positives}, FN {s.false_negatives}, TN {s.true_negatives})")


def run_evaluate(args: argparse.Namespace) -> int:
    from core import flag_training

    if args.cross_domain:
        try:
            figures = flag_training.cross_domain(say=lambda line: print(line, flush=True))
        except flag_training.TrainingDataMissing as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("held-aside sentences of each source, flag fitted without that source:")
        for source, by_flag in figures.items():
            print(f" {source}")
            _print_figures(by_flag, (("hearth", "Hearth flag"), ("model", "the model alone"),
                                     ("vader", "plain VADER (compound < -0.05)")))
        return 0
    if args.shared_holdout:
        try:
            by_source = flag_training.holdout_by_source()
        except flag_training.TrainingDataMissing as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        holdout = flag_training.shared_holdout()
        print(f"{len(holdout):,} held-aside shared sentences, {int(holdout['negative'].sum()):,} negative "
              f"(mean rating < {flag_training.NEGATIVE_BELOW})")
        sizes = holdout["source"].astype(str).value_counts()
        for source, figures in by_source.items():
            if source != "all":
                print(f" {source} ({int(sizes[source]):,} sentences)")
            _print_figures(figures, (("hearth", "Hearth flag"), ("vader", "plain VADER (compound < -0.05)")))
        return 0
    if not args.csv:
        print("error: name a labelled CSV or pass --shared-holdout", file=sys.stderr)
        return 2
    try:
        result = sentiment.evaluate(args.csv)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(sentiment.format_evaluation(result))
    return 0


def run_train(args: argparse.Namespace) -> int:
    from core import flag_training

    started = time.perf_counter()
    try:
        with Session(get_engine(get_settings().database_url)) as session:
            result = flag_training.retrain(session=session, actor=args.by, directory=args.data)
    except flag_training.TrainingDataMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(flag_training.format_retrain(result))
    if result.switched:
        print("run 'python -m core feedback reflag' to flag the stored answers with the new model")
    print(f"took {time.perf_counter() - started:.0f} s")
    return 0
