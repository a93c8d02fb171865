"""`python -m core users add|list|set-password|disable|enable`"""

from __future__ import annotations

import argparse
import getpass
import os

from core import users
from core.config import get_settings
from db.engine import get_engine, session_scope


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("users", help="manage staff logins")
    sub = p.add_subparsers(dest="users_command", required=True)

    add = sub.add_parser("add", help="add a staff user")
    add.add_argument("username")
    add.add_argument("--name", required=True)
    add.add_argument("--role", action="append", required=True,
                     help="account_manager, support_lead, exec or admin; repeat for several")
    add.add_argument("--email")
    add.add_argument("--password", help="else HEARTH_NEW_PASSWORD, else asked for")
    add.set_defaults(func=_add)

    lst = sub.add_parser("list", help="list staff users")
    lst.set_defaults(func=_list)

    pw = sub.add_parser("set-password", help="set a new password (ends the user's sessions)")
    pw.add_argument("username")
    pw.add_argument("--password")
    pw.set_defaults(func=_set_password)

    dis = sub.add_parser("disable", help="disable a user (ends the user's sessions)")
    dis.add_argument("username")
    dis.set_defaults(func=_disable)

    en = sub.add_parser("enable", help="enable a disabled user")
    en.add_argument("username")
    en.set_defaults(func=_enable)


def _password(args: argparse.Namespace) -> str:
    return args.password or os.environ.get("HEARTH_NEW_PASSWORD") or getpass.getpass("New password: ")


def _add(args: argparse.Namespace) -> int:
    with session_scope(get_engine(get_settings().database_url)) as session:
        user = users.add_user(session=session, username=args.username, name=args.name,
                              password=_password(args), roles=args.role, email=args.email, actor="cli")
        print(f"added {user.username} ({user.roles})")
    return 0


def _list(args: argparse.Namespace) -> int:
    with session_scope(get_engine(get_settings().database_url)) as session:
        rows = users.list_users(session=session)
        print(f"{'username':<16} {'roles':<32} {'state':<10} name")
        for u in rows:
            state = "disabled" if u.disabled else ("demo" if u.is_demo else "active")
            print(f"{u.username:<16} {u.roles:<32} {state:<10} {u.name}")
        print(f"{len(rows)} users")
    return 0


def _set_password(args: argparse.Namespace) -> int:
    with session_scope(get_engine(get_settings().database_url)) as session:
        users.set_password(session=session, username=args.username, password=_password(args), actor="cli")
    print(f"password of {args.username} changed; their open sessions are ended")
    return 0


def _disable(args: argparse.Namespace) -> int:
    with session_scope(get_engine(get_settings().database_url)) as session:
        users.set_disabled(session=session, username=args.username, disabled=True, actor="cli")
    print(f"{args.username} disabled; their open sessions are ended")
    return 0


def _enable(args: argparse.Namespace) -> int:
    with session_scope(get_engine(get_settings().database_url)) as session:
        users.set_disabled(session=session, username=args.username, disabled=False, actor="cli")
    print(f"{args.username} enabled")
    return 0
