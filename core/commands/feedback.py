"""`python -m core feedback flag|reflag|evaluate`"""

from __future__ import annotations

import argparse
import time

from sqlmodel import Session

from core import feedback as core_feedback
from core import sentiment
from db.engine import get_engine


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("feedback", help="flag feedback answers; measure the flag")
    sub = p.add_subparsers(dest="feedback_command", required=True)
    f = sub.add_parser("flag", help="score and flag the answers that have no sentiment yet")
    f.set_defaults(func=run_flag)
    r = sub.add_parser("reflag", help="score and flag every answer again (triage state is kept)")
    r.set_defaults(func=run_reflag)
    e = sub.add_parser("evaluate", help="precision and recall of the flag against plain VADER on a labelled CSV")
    e.add_argument("csv", help="columns comment, nps_score, needs_human")
    e.set_defaults(func=run_evaluate)


def _run(reflag: bool) -> int:
    started = time.perf_counter()
    with Session(get_engine()) as session:
        if reflag:
            n = core_feedback.reflag(session=session)
        else:
            n = core_feedback.flag_unscored(session=session)
        session.commit()
    verb = "re-scored" if reflag else "scored"
    print(f"{verb} {n:,} feedback answers in {time.perf_counter() - started:.1f} s")
    return 0


def run_flag(args: argparse.Namespace) -> int:
    return _run(reflag=False)


def run_reflag(args: argparse.Namespace) -> int:
    return _run(reflag=True)


def run_evaluate(args: argparse.Namespace) -> int:
    print(sentiment.format_evaluation(sentiment.evaluate(args.csv)))
    return 0
