"""``gongkai user``: staff accounts (``push.staff``) — add, change, list.

Whoever runs the command line is trusted as the system's operator; each change is recorded in
the audit log under ``命令行（<login name>）``. A password is read from standard input
(``--password-stdin``), never from the command line, where other users could see it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli.common import (
    fail,
    on_database,
    prepared_settings,
    say,
)
from push import staff
from push.staff import ROLE_NAMES, Refused, StaffUser
from push.tables import Role

ROLES = [r.value for r in Role]


def operator() -> str:
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "?"
    return f"命令行（{login}）"


def _password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise Refused("标准输入里没有读到密码。")
    return line


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            settings = prepared_settings()
            args.settings = settings
            return command(args)
        except Refused as exc:
            return fail(str(exc), 1)
        except SQLAlchemyError as exc:
            return fail(
                f"the database is not ready ({type(exc).__name__}); check GONGKAI_DATABASE_URL "
                "and run `gongkai db upgrade`.",
                1,
            )

    return run


def _describe(user: StaffUser) -> str:
    extra = []
    if user.has_password:
        extra.append("可登录控制台")
    if user.openid:
        extra.append("已登记试发 openid")
    if not user.active:
        extra.append("已停用")
    tail = f"（{'，'.join(extra)}）" if extra else ""
    return f"{user.name}  {ROLE_NAMES[user.role]}（{user.role.value}）{tail}"


@_guarded
def cmd_add(args: argparse.Namespace) -> int:
    password = _password(args)

    async def work(engine: AsyncEngine) -> StaffUser:
        return await staff.add(
            engine,
            args.name,
            args.role,
            actor=operator(),
            now=datetime.now(UTC),
            password=password,
            openid=args.openid,
        )

    user = on_database(args.settings, work)
    if args.json:
        say(json.dumps(user.to_json(), ensure_ascii=False))
    else:
        say(f"已添加工作人员：{_describe(user)}")
    return 0


@_guarded
def cmd_set(args: argparse.Namespace) -> int:
    password = _password(args)
    active = None if args.active is None else args.active == "enable"

    async def work(engine: AsyncEngine) -> StaffUser:
        return await staff.change(
            engine,
            args.name,
            actor=operator(),
            now=datetime.now(UTC),
            role=args.role,
            active=active,
            password=password,
            openid=args.openid,
            clear_openid=args.no_openid,
        )

    user = on_database(args.settings, work)
    say(f"已修改：{_describe(user)}")
    return 0


@_guarded
def cmd_list(args: argparse.Namespace) -> int:
    users = on_database(args.settings, staff.all_users)
    if args.json:
        say(json.dumps([u.to_json() for u in users], ensure_ascii=False, indent=2))
        return 0
    if not users:
        say("还没有工作人员账号（gongkai user add 姓名 --role editor|reviewer|admin）。")
    for user in users:
        say(_describe(user))
    return 0


def add_parser(sub: Any) -> None:
    """Register ``gongkai user``."""
    user = sub.add_parser(
        "user",
        help="staff accounts: editors, reviewers, admins, auditors",
        description="Staff accounts and their roles: an editor writes notices, a reviewer "
        "approves or rejects them (never their own), an admin may do both and manages "
        "accounts, an auditor reads the audit log.",
    )
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="add a staff account", description="Add a staff account.")
    add.add_argument("name", metavar="NAME", help="the name staff use with --by")
    add.add_argument("--role", required=True, choices=ROLES, help="what the account may do")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a console password from the first line of standard input",
    )
    add.add_argument("--openid", help="the staff member's openid, where test sends go")
    add.add_argument("--json", action="store_true", help="print the account as JSON")
    add.set_defaults(func=cmd_add)

    change = actions.add_parser(
        "set",
        help="change an account's role, password, test openid or status",
        description="Change a staff account.",
    )
    change.add_argument("name", metavar="NAME")
    change.add_argument("--role", choices=ROLES)
    change.add_argument("--password-stdin", action="store_true", help="a new password on stdin")
    openid = change.add_mutually_exclusive_group()
    openid.add_argument("--openid", help="where this person's test sends go")
    openid.add_argument("--no-openid", action="store_true", help="forget the test-send openid")
    status = change.add_mutually_exclusive_group()
    status.add_argument("--disable", dest="active", action="store_const", const="disable")
    status.add_argument("--enable", dest="active", action="store_const", const="enable")
    change.set_defaults(func=cmd_set, active=None)

    listing = actions.add_parser("list", help="list staff accounts", description="List accounts.")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_list)
