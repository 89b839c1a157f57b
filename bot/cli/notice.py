"""``gongkai notice``: write, review and release notices (``push.notices``).

Every step names who does it (``--by``, a staff account from ``gongkai user add``); a step that
is not allowed or not possible exits 1 with the reason on stderr and changes nothing. Steps
print one line, or with ``--json`` the notice as the staff API gives it.

    gongkai notice create --by 王 --title T --body B --topic 就业创业 --json   → {"id": 1, …}
    gongkai notice submit 1 --by 王
    gongkai notice approve 1 --by 李            (never the author)
    gongkai notice send 1 --by 王 [--at "2026-12-08 09:00"]   (Beijing time unless an offset)
    gongkai notice status 1 --json             → {"state", "audience", "sent", "failed", …}
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli.common import (
    guarded,
    on_database,
    prepared_settings,
    print_json,
    say,
    wechat_client,
)
from bot.config import Settings
from bot.db import create_engine
from push.audience import SqlAudienceCounter
from push.notice_rules import CHANNEL_NAMES, STATE_NAMES, Notice, NoticeContent, parse_when
from push.notices import AudienceCounter, NoticeDesk, NoticeStatus, Refused, TextTestSender
from push.tables import Channel, NoticeState

T = TypeVar("T")


def _counter(engine: AsyncEngine, settings: Settings) -> AudienceCounter:
    """The audience preview: what materialising the notice now would give."""
    consent = settings.push.subscribe_template_id or None
    return SqlAudienceCounter(engine, consent_template=consent)


def _run(work: Callable[[NoticeDesk], Awaitable[T]]) -> T:
    settings = prepared_settings()

    async def with_desk(engine: AsyncEngine) -> T:
        return await work(NoticeDesk(engine, counter=_counter(engine, settings)))

    return on_database(settings, with_desk)


def _line(notice: Notice) -> str:
    return (
        f"通知 {notice.id}「{notice.content.title}」  {STATE_NAMES[notice.state]}"
        f"  {CHANNEL_NAMES[notice.content.channel]}  发给：{notice.content.audience_text()}"
    )


def _body(args: argparse.Namespace) -> str | None:
    if getattr(args, "body_file", None) is not None:
        try:
            return Path(args.body_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise Refused(f"读不了正文文件 {args.body_file}：{exc}") from None
    return getattr(args, "body", None)


# --- the steps --------------------------------------------------------------------------------


_guarded = guarded(Refused)


@_guarded
def cmd_create(args: argparse.Namespace) -> int:
    channel = args.channel or (Channel.MASS.value if args.all else Channel.TEMPLATE.value)
    content = NoticeContent(
        title=args.title,
        body=_body(args) or "",
        url=args.url,
        channel=Channel(channel),
        topics=tuple(args.topic or ()),
        towns=tuple(args.town or ()),
        tags=tuple(args.tag or ()),
        policy_id=args.policy,
        eligible=args.eligible,
        to_all=args.all,
    )
    notice = _run(lambda desk: desk.create(args.by, content))
    if args.json:
        print_json({"id": notice.id, "state": notice.state.value})
    else:
        say(f"已保存草稿：{_line(notice)}")
        say(f"下一步：gongkai notice submit {notice.id} --by {args.by}")
    return 0


def _stepped(notice: Notice, args: argparse.Namespace, done: str) -> int:
    if args.json:
        print_json(notice.to_json())
    else:
        say(f"{done}：{_line(notice)}")
    return 0


@_guarded
def cmd_edit(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    for name in ("title", "url", "channel"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if (body := _body(args)) is not None:
        changes["body"] = body
    for name in ("topic", "town", "tag"):
        if getattr(args, name) is not None:
            changes[name + "s"] = getattr(args, name)
    before: list[Notice] = []

    async def work(desk: NoticeDesk) -> Notice:
        before.append(await desk.get(args.id))
        return await desk.edit(args.id, args.by, changes)

    notice = _run(work)
    voided = before[0].approved_hash is not None and notice.approved_hash is None
    done = "已修改，原审核批准作废，需重新提交审核" if voided else "已修改"
    return _stepped(notice, args, done)


@_guarded
def cmd_submit(args: argparse.Namespace) -> int:
    return _stepped(_run(lambda d: d.submit(args.id, args.by)), args, "已提交审核")


@_guarded
def cmd_approve(args: argparse.Namespace) -> int:
    notice = _run(lambda d: d.approve(args.id, args.by, args.comment))
    return _stepped(notice, args, "已批准")


@_guarded
def cmd_reject(args: argparse.Namespace) -> int:
    notice = _run(lambda d: d.reject(args.id, args.by, args.comment))
    return _stepped(notice, args, "已退回")


@_guarded
def cmd_send(args: argparse.Namespace) -> int:
    async def work(desk: NoticeDesk) -> Notice:
        at = parse_when(args.at, desk.now()) if args.at else None
        return await desk.schedule(args.id, args.by, at)

    notice = _run(work)
    if args.json:
        print_json(notice.to_json())
    elif args.at:
        shown = notice.to_json()["scheduled_at"]
        say(f"已定时，将于 {shown}（北京时间）开始发送：{_line(notice)}")
    else:
        say(f"已安排立即发送（由 gongkai push run 投递）：{_line(notice)}")
    return 0


@_guarded
def cmd_cancel(args: argparse.Namespace) -> int:
    notice = _run(lambda d: d.cancel(args.id, args.by, args.reason))
    return _stepped(notice, args, "已撤销")


@_guarded
def cmd_correct(args: argparse.Namespace) -> int:
    body = _body(args) or ""
    notice = _run(lambda d: d.correct(args.id, args.by, body, title=args.title, url=args.url))
    if args.json:
        print_json(notice.to_json())
    else:
        say(f"已保存更正通知草稿：{_line(notice)}")
        say(f"更正通知同样需要审核：gongkai notice submit {notice.id} --by {args.by}")
    return 0


@_guarded
def cmd_test(args: argparse.Namespace) -> int:
    settings = prepared_settings()

    async def main() -> tuple[str, bool]:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            async with wechat_client(settings, engine) as (client, local_fake):
                desk = NoticeDesk(engine, sender=TextTestSender(client))
                target = await desk.test_send(args.id, args.by, args.to)
                return target.name, local_fake
        finally:
            await engine.dispose()

    name, local_fake = asyncio.run(main())
    say(f"已把通知 {args.id} 试发给 {name}（客服消息，仅本人可见）。")
    if local_fake:
        say("（本地模式：试发到了内置的模拟微信接口，没有发到真实微信。）")
    return 0


# --- reading ----------------------------------------------------------------------------------


@_guarded
def cmd_show(args: argparse.Namespace) -> int:
    async def work(desk: NoticeDesk) -> tuple[Notice, list[Any]]:
        return await desk.get(args.id), await desk.history(args.id)

    notice, history = _run(work)
    if args.json:
        print_json({**notice.to_json(), "history": [e.to_json() for e in history]})
        return 0
    data = notice.to_json()
    say(_line(notice))
    say(f"撰稿：{notice.author}  创建：{data['created_at']}")
    if notice.approved_by:
        holds = "" if notice.approval_holds else "（内容已变，批准无效）"
        say(f"批准：{notice.approved_by}  {data['approved_at']}{holds}")
    if notice.review_comment:
        say(f"审核意见：{notice.review_comment}")
    if notice.scheduled_at:
        say(f"发送时间：{data['scheduled_at']}")
    if notice.content.url:
        say(f"链接：{notice.content.url}")
    say("")
    say(notice.content.body)
    say("")
    say("经过：")
    for entry in history:
        e = entry.to_json()
        detail = json.dumps(e["detail"], ensure_ascii=False)
        say(f"  {e['at']}  {e['actor']}  {e['action']}  {detail}")
    return 0


@_guarded
def cmd_list(args: argparse.Namespace) -> int:
    notices = _run(lambda d: d.listing(args.state, args.limit))
    if args.json:
        print_json([n.to_json() for n in notices])
        return 0
    if not notices:
        say("没有通知。")
    for notice in notices:
        say(_line(notice))
    return 0


def _say_status(status: NoticeStatus) -> None:
    failures = "，".join(f"{code}×{n}" for code, n in sorted(status.errcodes.items()))
    say(f"通知 {status.id}：{STATE_NAMES[status.state]}")
    say(
        f"接收人 {status.audience}，已送达 {status.sent}，失败 {status.failed}"
        + (f"（错误码 {failures}）" if failures else "")
        + f"，待发送 {status.pending}，不确定是否送达 {status.unknown}，已取消 {status.cancelled}"
    )
    if status.maybe:
        say(f"可能符合条件、待工作人员确认的企业 {status.maybe} 家（没有推送）")


@_guarded
def cmd_status(args: argparse.Namespace) -> int:
    status = _run(lambda d: d.status(args.id))
    if args.json:
        print_json(status.to_json())
    else:
        _say_status(status)
    return 0


@_guarded
def cmd_preview(args: argparse.Namespace) -> int:
    count = _run(lambda d: d.preview(args.id))
    if args.json:
        print_json({"recipients": count.recipients, "maybe": count.maybe})
    else:
        say(f"通知 {args.id} 现在发送的话：接收人 {count.recipients}，可能符合 {count.maybe}")
    return 0


# --- the parser -------------------------------------------------------------------------------


def _content_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    parser.add_argument("--title", required=creating, help="the title (at most 64 characters)")
    body = parser.add_mutually_exclusive_group(required=creating)
    body.add_argument("--body", help="the text")
    body.add_argument("--body-file", type=Path, help="read the text from this UTF-8 file")
    parser.add_argument("--url", help="a link to the full notice (https://…)")
    parser.add_argument(
        "--channel",
        choices=[c.value for c in Channel],
        help="template (default), subscribe, custom, or mass (with --all)",
    )
    for name, meaning in (("topic", "subscribers of"), ("town", "in"), ("tag", "tagged")):
        parser.add_argument(
            f"--{name}",
            action="extend",
            nargs="+",
            metavar=name.upper(),
            help=f"audience: {meaning} this {name} (repeatable; topics, towns, tags combine)",
        )


def _step(actions: Any, name: str, helptext: str, func: Callable[[argparse.Namespace], int]) -> Any:
    parser = actions.add_parser(name, help=helptext, description=helptext)
    parser.add_argument("id", type=int, metavar="ID", help="the notice")
    parser.add_argument("--by", required=True, help="the staff account doing it")
    parser.add_argument("--json", action="store_true", help="print the notice as JSON")
    parser.set_defaults(func=func)
    return parser


def add_parser(sub: Any) -> None:
    """Register ``gongkai notice``."""
    notice = sub.add_parser(
        "notice",
        help="notices: write, review (先审后发), send, cancel, correct, status",
        description="Notices to subscribers. An editor writes one, a reviewer who did not write "
        "it approves it, then it is sent now or at a set time. Every step is in the audit log.",
    )
    actions = notice.add_subparsers(dest="notice_command", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="write a notice (a draft)")
    create.add_argument("--by", required=True, help="the author (an editor or admin)")
    _content_options(create, creating=True)
    create.add_argument("--policy", metavar="ID", help="with --eligible: a policy's enterprises")
    create.add_argument(
        "--eligible", action="store_true", help="to the enterprises that meet the policy"
    )
    create.add_argument("--all", action="store_true", help="every follower (mass send)")
    create.add_argument("--json", action="store_true", help='print {"id": …}')
    create.set_defaults(func=cmd_create)

    edit = _step(actions, "edit", "change a notice (voids an approval)", cmd_edit)
    _content_options(edit, creating=False)

    _step(actions, "submit", "submit a draft for review", cmd_submit)
    approve = _step(actions, "approve", "approve a submitted notice", cmd_approve)
    approve.add_argument("--comment", help="a note for the record")
    reject = _step(actions, "reject", "send a submitted notice back", cmd_reject)
    reject.add_argument("--comment", required=True, help="what to change")
    send = _step(actions, "send", "send an approved notice now, or --at a later time", cmd_send)
    send.add_argument(
        "--at",
        metavar="TIME",
        help="when: 2026-12-08 09:00 (Beijing time) or ISO 8601 with an offset",
    )
    cancel = _step(actions, "cancel", "cancel a notice (until it is done)", cmd_cancel)
    cancel.add_argument("--reason", help="why, for the record")

    correct = _step(actions, "correct", "write a 更正 for a notice already sent", cmd_correct)
    correct.add_argument("--title", help="default: 【更正】 and the original title")
    body = correct.add_mutually_exclusive_group(required=True)
    body.add_argument("--body", help="the correction")
    body.add_argument("--body-file", type=Path)
    correct.add_argument("--url", help="default: the original's link")

    test = actions.add_parser("test", help="send a notice to one staff member before release")
    test.add_argument("id", type=int, metavar="ID")
    test.add_argument("--by", required=True, help="who tests")
    test.add_argument("--to", metavar="STAFF", help="whose openid gets it (default: --by)")
    test.set_defaults(func=cmd_test)

    for name, helptext, func in (
        ("show", "a notice and its history", cmd_show),
        ("status", "delivery counts of a notice", cmd_status),
        ("preview", "how many would receive it now", cmd_preview),
    ):
        parser = actions.add_parser(name, help=helptext, description=helptext)
        parser.add_argument("id", type=int, metavar="ID")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(func=func)

    listing = actions.add_parser("list", help="notices, newest first")
    listing.add_argument("--state", choices=[s.value for s in NoticeState])
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_list)
