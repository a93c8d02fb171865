"""`python -m core loyalty expire [--as-of D]` and `python -m core loyalty balance --customer ID`"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

from sqlmodel import select

from core import loyalty
from core.config import get_settings
from db.engine import get_engine, session_scope
from db.models import Customer


def _date(text: str) -> date:
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("loyalty", help="loyalty points: expiry job, one customer's balance")
    sub = p.add_subparsers(dest="loyalty_command", required=True)
    exp = sub.add_parser("expire", help="write the expire entries due by the end of a date (default today)")
    exp.add_argument("--as-of", type=_date, default=None, help="YYYY-MM-DD, default today (UTC)")
    exp.add_argument("--by", default="system", help="actor recorded in the audit log")
    exp.set_defaults(func=_expire)
    bal = sub.add_parser("balance", help="one customer's balance, expiring points and tier")
    bal.add_argument("--customer", required=True, help="the customer's id in the shop (external id)")
    bal.add_argument("--as-of", type=_date, default=None)
    bal.set_defaults(func=_balance)


def _expire(args: argparse.Namespace) -> int:
    as_of = args.as_of or datetime.now(UTC).date()
    with session_scope(get_engine(get_settings().database_url)) as session:
        written = loyalty.expire_points(session=session, as_of=as_of, actor=args.by)
    print(f"expire entries written as of {as_of}: {written}")
    return 0


def _balance(args: argparse.Namespace) -> int:
    as_of = args.as_of or datetime.now(UTC).date()
    with session_scope(get_engine(get_settings().database_url)) as session:
        customer = session.exec(select(Customer).where(Customer.external_id == args.customer)).first()
        if customer is None:
            raise loyalty.LoyaltyError(f"no customer with id {args.customer}")
        b = loyalty.customer_balance(session=session, customer_id=customer.id, as_of=as_of)
    print(f"customer {args.customer} as of {as_of}")
    print(f"  balance          {b['balance']} points")
    print(f"  expiring in 30 d {b['expiring_points']} points"
          + (f" (next expiry {b['next_expiry_date']})" if b["next_expiry_date"] else ""))
    print(f"  tier             {b['tier'] or '-'} ({b['earned_12m']} points earned in the last 12 months)"
          + (f", drops on {b['tier_drop_date']}" if b["tier_drop_date"] else ""))
    print(f"  lifetime         earned {b['earned']}, redeemed {b['redeemed']}, expired {b['expired']}, "
          f"adjusted {b['adjusted']}, reversed {b['reversed']}")
    return 0
