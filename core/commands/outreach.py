"""`python -m core outreach trigger|deliver|requeue|unsubscribe|consent`"""

from __future__ import annotations

import argparse
import signal
import threading

from sqlmodel import Session

from core import consent, delivery
from core import outreach as core_outreach
from core.commands.actors import OUTREACH_ROLES, staff_actor
from core.config import get_settings
from core.worker import record_heartbeat
from db.engine import get_engine


def _engine():
    # The URL explicitly: get_engine() without one is cached under None, so a process that
    # changes DATABASE_URL (the tests) would keep the first database.
    return get_engine(get_settings().database_url)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("outreach", help="trigger outreach and run the delivery worker")
    sub = p.add_subparsers(dest="outreach_command", required=True)

    t = sub.add_parser("trigger", help="queue one outreach for a customer (rules apply)")
    t.add_argument("--customer", required=True, help="the customer's id in the shop (external id)")
    t.add_argument("--template", required=True, choices=core_outreach.TEMPLATES)
    t.add_argument("--by", required=True,
                   help="your staff username (account manager, support lead or admin), recorded as the trigger")
    t.add_argument("--feedback", type=int, default=None, help="feedback id an apology refers to")
    t.add_argument("--key", default=None, help="idempotency key (default: customer, template and day)")
    t.set_defaults(func=run_trigger)

    d = sub.add_parser("deliver", help="send queued messages (keeps polling unless --once)")
    d.add_argument("--once", action="store_true", help="one pass, then exit")
    d.add_argument("--poll-seconds", type=float, default=5.0)
    d.set_defaults(func=run_deliver)

    r = sub.add_parser("requeue", help="put a failed message back in the queue")
    r.add_argument("--outreach", type=int, required=True)
    r.add_argument("--by", required=True, help="your staff username (account manager, support lead or admin)")
    r.set_defaults(func=run_requeue)

    u = sub.add_parser("unsubscribe", help="record that a customer unsubscribed (withdraws email consent)")
    u.add_argument("--customer", required=True)
    u.add_argument("--by", required=True, help="your staff username (account manager, support lead or admin)")
    u.set_defaults(func=run_unsubscribe)

    c = sub.add_parser("consent", help="show a customer's consent history, or record a change "
                                       "(a complaint, a bounce, a change made by staff)")
    c.add_argument("--customer", required=True)
    c.add_argument("--channel", choices=consent.CHANNELS, default="email")
    what = c.add_mutually_exclusive_group()
    what.add_argument("--withdraw", action="store_true")
    what.add_argument("--give", action="store_true")
    c.add_argument("--source", choices=("complaint", "bounce", "manual"), default="manual")
    c.add_argument("--detail", default=None, help="a note kept with the change")
    c.add_argument("--by", help="staff username recorded with the change (needed to record one)")
    c.set_defaults(func=run_consent)


def run_trigger(args: argparse.Namespace) -> int:
    with Session(_engine(), expire_on_commit=False) as session:
        actor = staff_actor(session=session, username=args.by, may=OUTREACH_ROLES, doing="queue outreach")
        customer = core_outreach.find_customer(session=session, external_id=args.customer)
        result = core_outreach.trigger_outreach(
            session=session, customer_id=customer.id, template=args.template, triggered_by=actor,
            feedback_id=args.feedback, idempotency_key=args.key)
    print(f"customer {args.customer}, {args.template}: {result.describe()}")
    return 0


def run_deliver(args: argparse.Namespace) -> int:
    engine = _engine()
    stop = threading.Event()

    def _stop(signum, _frame) -> None:  # noqa: ANN001
        print("stopping after the current message…", flush=True)
        stop.set()

    if not args.once and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        print(f"outreach worker polling every {args.poll_seconds:g} s (Ctrl-C stops)", flush=True)

    def _report(report: delivery.DeliveryReport) -> None:
        record_heartbeat(engine=engine, source="cli")
        if report.touched or args.once:
            print(report.summary(), flush=True)
            for err in report.errors[:20]:
                print(f"  {err}", flush=True)

    total = delivery.deliver(engine=engine, once=args.once, poll_seconds=args.poll_seconds, stop=stop,
                             on_pass=_report)
    if not args.once:
        print(f"stopped; this run: {total.summary()}")
    return 0


def run_requeue(args: argparse.Namespace) -> int:
    with Session(_engine(), expire_on_commit=False) as session:
        actor = staff_actor(session=session, username=args.by, may=OUTREACH_ROLES, doing="requeue a message")
        o = delivery.requeue_outreach(session=session, outreach_id=args.outreach, actor=actor)
    print(f"outreach {o.id} queued again")
    return 0


def run_unsubscribe(args: argparse.Namespace) -> int:
    with Session(_engine(), expire_on_commit=False) as session:
        actor = staff_actor(session=session, username=args.by, may=OUTREACH_ROLES,
                            doing="record an unsubscribe")
        customer = core_outreach.find_customer(session=session, external_id=args.customer)
        core_outreach.record_unsubscribe(session=session, customer_id=customer.id, actor=actor,
                                         source="command line")
    print(f"customer {args.customer}: email consent withdrawn")
    return 0


def run_consent(args: argparse.Namespace) -> int:
    with Session(_engine(), expire_on_commit=False) as session:
        customer = core_outreach.find_customer(session=session, external_id=args.customer)
        if args.withdraw or args.give:
            if not args.by:
                raise ValueError("--by is needed to record a consent change")
            actor = staff_actor(session=session, username=args.by, may=OUTREACH_ROLES,
                                doing="change a customer's consent")
            consent.set_consent(session=session, customer_id=customer.id, channel=args.channel,
                                granted=bool(args.give), source=args.source, by=actor, detail=args.detail)
            session.commit()
            print(f"customer {args.customer}: {args.channel} consent "
                  f"{'given' if args.give else 'withdrawn'} ({args.source})")
        history = consent.history(session=session, customer_id=customer.id)
    if history.empty:
        print(f"customer {args.customer}: no consent changes recorded")
    else:
        print(history.to_string(index=False))
    return 0
