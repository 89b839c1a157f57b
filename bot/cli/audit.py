"""``gongkai audit``: the audit log (``push.audit``) — check its chain, read its rows."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli.common import (
    fail,
    on_database,
    prepared_settings,
    say,
)
from push import audit


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        check = on_database(prepared_settings(), audit.verify)
    except SQLAlchemyError as exc:
        return fail(f"the database is not ready ({type(exc).__name__}).", 1)
    if args.json:
        say(
            json.dumps(
                {
                    "ok": check.ok,
                    "rows": check.rows,
                    "broken_id": check.broken_id,
                    "problem": check.problem,
                },
                ensure_ascii=False,
            )
        )
    elif check.ok:
        say(f"审计日志完整：{check.rows} 条记录的哈希链全部吻合。")
    else:
        say(f"审计日志在第 {check.broken_id} 条记录处断开：{check.problem}")
        say(f"（此前 {check.rows} 条记录吻合。）")
    return 0 if check.ok else 1


def cmd_list(args: argparse.Namespace) -> int:
    kind, _, key = (args.object or "").partition(":")

    async def work(engine: AsyncEngine) -> list[audit.AuditEntry]:
        return await audit.entries(
            engine, object_type=kind or None, object_id=key or None, limit=args.limit
        )

    try:
        rows = on_database(prepared_settings(), work)
    except SQLAlchemyError as exc:
        return fail(f"the database is not ready ({type(exc).__name__}).", 1)
    if args.json:
        say(json.dumps([r.to_json() for r in rows], ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        e = row.to_json()
        detail = json.dumps(e["detail"], ensure_ascii=False)
        say(f"{e['id']:>6}  {e['at']}  {e['actor']}  {e['action']}  {e['object']}  {detail}")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``gongkai audit``."""
    parser = sub.add_parser(
        "audit",
        help="the audit log: verify its hash chain, list its rows",
        description="Every staff step on notices and accounts is one row, each chained to the "
        "one before by a SHA-256 hash, so that a changed or deleted row shows.",
    )
    actions = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check the chain (exit 1 at the first break)")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(func=cmd_verify)
    listing = actions.add_parser("list", help="the latest rows, oldest first")
    listing.add_argument("--object", metavar="TYPE:ID", help="only this object, e.g. notice:3")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_list)
