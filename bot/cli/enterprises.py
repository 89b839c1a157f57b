"""``gongkai enterprises``: enterprise profiles (一企一档), binding codes, and who meets a policy.

gongkai enterprises import FILE            # JSON Lines; all or nothing, errors name the line
gongkai enterprises list [--json]
gongkai enterprises edit USCC --set employees=120 [--set …] --by NAME
gongkai enterprises code USCC --by NAME    # a one-time binding code, shown once
gongkai enterprises eligible POLICY_ID [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.cli.common import (
    fail,
    guarded,
    prepared_settings,
    print_json,
    say,
)
from bot.db import create_engine
from policy_index.index import LOCAL_TZ
from policy_index.model import Policy, Status
from push.enterprises import Enterprises
from push.profiles import EnterpriseError, EnterpriseFormatError
from push.targeting import Assessment, Candidate

T = TypeVar("T")


def _run(work: Callable[[Enterprises], Awaitable[T]]) -> T:
    settings = prepared_settings()

    async def main() -> T:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            return await work(Enterprises(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


_guarded = guarded(EnterpriseError)


@_guarded
def cmd_import(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        return fail(f"{path}: no such file", 1)
    try:
        s = _run(lambda service: service.import_file(path))
    except EnterpriseFormatError as exc:
        return fail(str(exc), 1)
    say(
        f"已导入企业档案：新增 {s.created} 家，更新 {s.updated} 家，未变 {s.unchanged} 家；"
        f"联系人新增 {s.contacts_added} 个，移除 {s.contacts_removed} 个。"
    )
    return 0


@_guarded
def cmd_list(args: argparse.Namespace) -> int:
    enterprises = _run(lambda service: service.all())
    if args.json:
        print_json([e.to_json() for e in enterprises])
        return 0
    if not enterprises:
        say("还没有企业档案。用 `gongkai enterprises import FILE` 导入。")
        return 0
    for e in enterprises:
        facts = [
            e.industry or "行业未登记",
            f"{e.employees} 人" if e.employees is not None else "人数未登记",
            e.town or "镇街未登记",
            f"成立于 {e.founded}" if e.founded else "成立日期未登记",
        ]
        quals = "、".join(e.qualifications) or "无"
        say(f"{e.uscc}  {e.name}  {'，'.join(facts)}；资质：{quals}；联系人 {e.contacts} 个")
    say(f"共 {len(enterprises)} 家。")
    return 0


def _changes(pairs: list[str]) -> dict[str, Any]:
    """``--set field=value``: numbers as numbers, lists as JSON or split on 、/, ; empty clears."""
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise EnterpriseError(f"--set 应为 字段=值，这里是 {pair!r}")
        name = name.strip()
        if value == "":
            changes[name] = [] if name in ("qualifications", "tags") else None
        elif name == "employees":
            changes[name] = int(value) if value.strip().isdigit() else value
        elif name in ("qualifications", "tags"):
            if value.startswith("["):
                try:
                    changes[name] = json.loads(value)
                except ValueError:
                    raise EnterpriseError(f"{name} 的 JSON 列表有误：{value}") from None
            else:
                changes[name] = [v.strip() for v in value.replace("、", ",").split(",")]
        else:
            changes[name] = value
    return changes


@_guarded
def cmd_edit(args: argparse.Namespace) -> int:
    changes = _changes(args.set)
    e = _run(lambda service: service.edit(args.uscc, changes, by=args.by))
    say(f"已修改 {e.name}（{e.uscc}）：{'、'.join(sorted(changes))}")
    return 0


@_guarded
def cmd_code(args: argparse.Namespace) -> int:
    issued = _run(lambda service: service.issue_code(args.uscc, by=args.by))
    until = issued.expires_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    say(f"{issued.name}（{issued.uscc}）的绑定码：{issued.code}")
    say(f"一次有效，{until}（北京时间）前使用。只显示这一次，请交给企业联系人。")
    say(f"联系人在公众号发送：绑定 {issued.uscc} {issued.code}")
    return 0


def _candidate(c: Candidate) -> dict[str, Any]:
    return {
        "uscc": c.enterprise.uscc,
        "name": c.enterprise.name,
        "verdict": c.evaluation.verdict.value,
        "reasons": list(c.evaluation.reasons),
        "unknown": c.evaluation.unknown_json(),
        "contacts": len(c.openids),
    }


@_guarded
def cmd_eligible(args: argparse.Namespace) -> int:
    async def work(service: Enterprises) -> tuple[Policy, Assessment] | None:
        from policy_index.repository import LibraryRepository
        from push.targeting import assess

        policy = (await LibraryRepository(service.engine).load()).policy(args.policy_id)
        return None if policy is None else (policy, await assess(service.engine, policy))

    found = _run(work)
    if found is None:
        return fail(f"no policy with ID {args.policy_id!r} in the library", 1)
    policy, result = found
    status = policy.status_on(datetime.now(LOCAL_TZ).date())
    if args.json:
        print_json(
            {
                "policy": result.policy_id,
                "status": status.value,
                "conditional": result.conditional,
                "eligible": [_candidate(c) for c in result.eligible],
                "maybe": [_candidate(c) for c in result.maybe],
                "notified": result.notified,
            }
        )
        return 0
    if status is not Status.CURRENT:
        say(f"注意：政策 {policy.id} 当前状态为“{status.value}”，不应再据此通知企业。")
    if not result.conditional:
        say(f"政策 {result.policy_id} 没有可机器判断的条件（conditions），无法匹配企业。")
        return 0
    say(
        f"政策 {result.policy_id}：符合 {len(result.eligible)} 家，待确认 {len(result.maybe)} 家，"
        f"已通知过 {result.notified} 家（不再重复通知）。"
    )
    for c in result.eligible:
        contacts = f"联系人 {len(c.openids)} 个" if c.openids else "无联系人，无法通知"
        say(f"  符合  {c.enterprise.uscc}  {c.enterprise.name}（{contacts}）")
        say(f"        理由：{'；'.join(c.evaluation.reasons)}")
    for c in result.maybe:
        unknown = "；".join(u["text"] for u in c.evaluation.unknown_json())
        say(f"  待确认  {c.enterprise.uscc}  {c.enterprise.name}")
        say(f"        档案缺少信息，无法判断：{unknown}")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``gongkai enterprises``."""
    group = sub.add_parser(
        "enterprises",
        help="enterprise profiles (一企一档): import, list, edit, binding codes, eligibility",
        description="Enterprise profiles and their contacts. A contact binds in chat with the "
        "credit code and a one-time binding code issued here; the credit code alone binds "
        "nothing.",
    )
    actions = group.add_subparsers(dest="enterprises_command", required=True, metavar="ACTION")

    imp = actions.add_parser(
        "import",
        help="import profiles from a JSON Lines file (all or nothing)",
        description='One JSON object a line: {"uscc", "name", "industry", "employees", "town", '
        '"founded", "qualifications": [...], "tags": [...], "openids": [...]}. Upserts by '
        "credit code; a bad line is reported with its number and nothing is written.",
    )
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.set_defaults(func=cmd_import)

    listing = actions.add_parser("list", help="every enterprise profile", description="List them.")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_list)

    edit = actions.add_parser(
        "edit",
        help="change fields of one profile",
        description="Change profile fields: --set employees=120 --set qualifications=高新技术企业、"
        "专精特新中小企业 --set town= (empty clears).",
    )
    edit.add_argument("uscc", metavar="USCC")
    edit.add_argument("--set", action="append", required=True, metavar="FIELD=VALUE")
    edit.add_argument("--by", required=True, help="who edits (staff name)")
    edit.set_defaults(func=cmd_edit)

    code = actions.add_parser(
        "code",
        help="issue a one-time binding code for an enterprise (shown once)",
        description="Issue a one-time binding code (valid 7 days); only its hash is stored.",
    )
    code.add_argument("uscc", metavar="USCC")
    code.add_argument("--by", required=True, help="who issues it (staff name)")
    code.set_defaults(func=cmd_code)

    eligible = actions.add_parser(
        "eligible",
        help="which enterprises meet a policy's conditions, and which cannot be decided",
        description="符合 with the reasons; 待确认 with the conditions the profile cannot settle.",
    )
    eligible.add_argument("policy_id", metavar="POLICY_ID")
    eligible.add_argument("--json", action="store_true", help="print JSON")
    eligible.set_defaults(func=cmd_eligible)
