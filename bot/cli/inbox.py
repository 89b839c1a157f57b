"""``gongkai inbox``: the unanswered inbox (``gongkai stats`` is in ``bot.cli.stats``).

The same operations as the staff JSON API (``bot.console.desk``), run against the database in
``GONGKAI_DATABASE_URL``; answers go out through the account's customer-service API with the
credentials from the environment (in local mode: to a built-in fake started for the command,
so nothing reaches a real user). ``--json`` prints what the API would answer.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from bot.cli.common import (
    fail,
    guarded,
    prepared_settings,
    print_json,
    say,
    wechat_client,
)
from bot.config import Settings
from bot.console.desk import AnswerOutcome, AnswerRequest, DeskError, StaffDesk
from bot.console.views import answer_json, group_json, local, outcome_json
from bot.db import create_engine
from bot.inbox import Answer, DeliveryStatus, Group
from bot.wechat.errcodes import explain
from policy_index.index import LOCAL_TZ

T = TypeVar("T")

STATUS_TEXT = {
    DeliveryStatus.PENDING: "待发送",
    DeliveryStatus.SENDING: "发送中",
    DeliveryStatus.SENT: "已发送",
    DeliveryStatus.UNREACHABLE: "无法送达",
    DeliveryStatus.FAILED: "发送失败（可重试）",
    DeliveryStatus.UNKNOWN: "不确定是否送达（不会重发）",
    DeliveryStatus.SAME_ASKER: "同一提问人，已随另一条问题发送",
}
REASON_TEXT = {
    "no_openid": "用户已取消关注，或提问已超过 48 小时",
    "window_closed": "超过微信客服消息 48 小时时限",
    "over_limit": "已达微信客服消息条数上限（每条用户消息后最多 5 条）",
    "unsubscribed": "用户已取消关注",
    "recipient_gone": "用户无法接收消息",
    "quota": "接口今日调用次数已用完",
    "configuration": "公众号配置或权限问题",
    "refresh_token": "access_token 无效",
    "permanent": "微信拒绝了这条消息",
    "retry": "微信系统繁忙",
    "unavailable": "无法连接微信接口",
    "no_response": "微信没有回应，无法确认是否送达",
    "interrupted": "发送过程中断，无法确认是否送达",
    "error": "发送时出错，无法确认是否送达",
}
DECISION_TEXT = {
    "answer": "直接答复",
    "clarify": "请用户选择",
    "none": "未找到",
    "followup": "追问",
}


class _NoSending:
    """The sender of commands that send nothing (list, show, dismiss, stats)."""

    async def send_text_once(self, openid: str, content: str) -> None:
        raise AssertionError("this command does not send messages")


def _run(
    settings: Settings, work: Callable[[StaffDesk], Awaitable[T]], *, sends: bool = False
) -> tuple[T, bool]:
    """Run ``work`` with a desk on the configured database (and, if it ``sends``, the account's
    sender); returns its result and whether messages went to the built-in fake."""

    async def main() -> tuple[T, bool]:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            if not sends:
                return await work(StaffDesk(engine, settings, _NoSending())), False
            async with wechat_client(settings, engine) as (client, local_fake):
                return await work(StaffDesk(engine, settings, client)), local_fake
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _short(moment: datetime) -> str:
    shown = moment.astimezone(LOCAL_TZ)
    return f"{shown.month}月{shown.day}日 {shown:%H:%M}"


# --- gongkai inbox list ---------------------------------------------------------------------------


_guarded = guarded(DeskError)


@_guarded
def cmd_list(args: argparse.Namespace) -> int:
    settings = prepared_settings()
    since = datetime.combine(args.since, time.min, LOCAL_TZ) if args.since else None

    async def work(desk: StaffDesk) -> tuple[list[Group], datetime]:
        return await desk.groups(since), desk.now()

    (groups, now), _local = _run(settings, work)
    if args.json:
        print_json(
            {
                "open_questions": sum(len(g.questions) for g in groups),
                "similarity_threshold": settings.staff.similarity,
                "groups": [group_json(g, now) for g in groups],
            }
        )
        return 0
    if not groups:
        say("待答复列表是空的：没有未能答复的问题。")
        return 0
    total = sum(len(g.questions) for g in groups)
    threshold = settings.staff.similarity
    say(f"待答复的问题：共 {total} 条，按相似度分为 {len(groups)} 组（阈值 {threshold}）。")
    for group in groups:
        say("")
        say(
            f"[组 {group.id}] {group.text} —— {len(group.questions)} 条提问，"
            f"{group.reachable_askers(now)} 位提问人仍可收到答复"
        )
        for q in group.questions:
            reach = "可送达" if q.reachable(now) else "已不能送达"
            say(f"    #{q.id}  {_short(q.asked_at)}  {q.text}  （{reach}）")
    say("")
    say('答复一组：gongkai inbox answer 组号 --text "答复内容" [--save-qa [--policy 政策编号]]')
    return 0


# --- gongkai inbox answer -------------------------------------------------------------------------


def _text_of(args: argparse.Namespace) -> str:
    if args.text_file is not None:
        return str(args.text_file.read_text(encoding="utf-8"))
    return str(args.text or "")


@_guarded
def cmd_answer(args: argparse.Namespace) -> int:
    settings = prepared_settings()
    try:
        text = _text_of(args)
    except OSError as exc:
        return fail(f"cannot read {exc.filename}: {exc.strerror}")

    async def work(desk: StaffDesk) -> AnswerOutcome:
        ids: list[int] = list(args.ids)
        if not args.only:
            for qid in args.ids:
                group = await desk.inbox.group_of(qid)
                ids += [q.id for q in group.questions] if group else []
        request = AnswerRequest(
            question_ids=tuple(dict.fromkeys(ids)),
            text=text,
            save_qa=args.save_qa,
            policy_id=args.policy,
            question=args.question,
            author=args.by,
        )
        return await desk.answer(request)

    outcome, local_fake = _run(settings, work, sends=True)
    if args.json:
        print_json(outcome_json(outcome))
    else:
        _say_outcome(outcome)
    if local_fake:
        say("本地模式 LOCAL MODE：消息发往本命令自带的模拟微信接口，没有发给真实用户。")
    return 0 if outcome.answer or outcome.earlier else 1


def _say_outcome(outcome: AnswerOutcome) -> None:
    if outcome.answer is not None:
        ids = "、".join(f"#{i}" for i in outcome.claim.claimed)
        say(f"答复 {outcome.answer.id} 已记录，答复了问题 {ids}。")
        _say_deliveries(outcome.answer)
    for earlier in outcome.earlier:
        say(f"问题已在答复 {earlier.id} 中答复过，不会重复发送：")
        _say_deliveries(earlier)
    if outcome.claim.not_open:
        ids = "、".join(f"#{i}" for i in outcome.claim.not_open)
        say(f"不在待答复列表中（已搁置或编号不对）：{ids}")
    if outcome.qa is not None:
        say(
            f"已保存为问答 {outcome.qa.id}：“{outcome.qa.question}”。"
            "各服务进程将在几秒内更新政策索引，之后机器人会直接回答这个问题。"
        )


def _say_deliveries(answer: Answer) -> None:
    counts = {s: n for s, n in answer.summary().items() if n}
    say(
        "送达情况：" + "，".join(f"{STATUS_TEXT[DeliveryStatus(s)]} {n}" for s, n in counts.items())
    )
    for d in answer.deliveries:
        line = f"    #{d.question_id}  {d.question}  —— {STATUS_TEXT[d.status]}"
        if d.reason:
            line += "：" + REASON_TEXT.get(d.reason, d.reason)
        if d.errcode:
            meaning = explain(d.errcode)
            line += f"（errcode {d.errcode}{'，' + meaning if meaning else ''}）"
        say(line)
    if counts.get(DeliveryStatus.FAILED.value):
        say(f"发送失败的可以稍后重试：gongkai inbox deliver {answer.id}")


# --- gongkai inbox show / deliver / dismiss -------------------------------------------------------


@_guarded
def cmd_show(args: argparse.Namespace) -> int:
    settings = prepared_settings()
    answer, _local = _run(settings, lambda desk: desk.get_answer(args.answer_id))
    _say_answer(answer, as_json=args.json)
    return 0


@_guarded
def cmd_deliver(args: argparse.Namespace) -> int:
    settings = prepared_settings()
    answer, local_fake = _run(settings, lambda desk: desk.deliver(args.answer_id), sends=True)
    _say_answer(answer, as_json=args.json)
    if local_fake:
        say("本地模式 LOCAL MODE：消息发往本命令自带的模拟微信接口，没有发给真实用户。")
    return 0


def _say_answer(answer: Answer, *, as_json: bool) -> None:
    if as_json:
        print_json(answer_json(answer))
        return
    by = f"，{answer.author}" if answer.author else ""
    say(f"答复 {answer.id}（{local(answer.created_at)}{by}）")
    say(f"问题：{answer.question}")
    say(f"答复：{answer.text}")
    if answer.qa_id:
        say(
            f"已保存为问答 {answer.qa_id}"
            + (f"（依据 {answer.policy_id}）" if answer.policy_id else "")
        )
    _say_deliveries(answer)


@_guarded
def cmd_dismiss(args: argparse.Namespace) -> int:
    settings = prepared_settings()
    dismissed, _local = _run(settings, lambda desk: desk.dismiss(args.ids))
    if dismissed:
        say("已搁置（不再答复）：" + "、".join(f"#{i}" for i in dismissed))
    missed = sorted(set(args.ids) - set(dismissed))
    if missed:
        say("不在待答复列表中：" + "、".join(f"#{i}" for i in missed))
    return 0 if dismissed else 1


# --- the parsers ----------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    """Register ``gongkai inbox``."""
    inbox = sub.add_parser(
        "inbox",
        help="the unanswered inbox: list questions in groups, answer them, see deliveries",
        description="Questions the bot could not answer, grouped by similarity. Answering a "
        "group records the answer and sends it through the customer-service API to every "
        "asker still inside WeChat's 48-hour window (at most 5 messages per user message); "
        "the others are recorded as not reachable. Nothing is sent twice: running an answer "
        "again only finishes what was not delivered.",
    )
    actions = inbox.add_subparsers(dest="inbox_command", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list", help="open questions, grouped", description="List the open questions, grouped."
    )
    listing.add_argument("--since", type=_day, help="only questions asked since this local date")
    listing.add_argument("--json", action="store_true", help="print JSON (as the staff API)")
    listing.set_defaults(func=cmd_list)

    answer = actions.add_parser(
        "answer",
        help="answer a group of questions and deliver the answer",
        description="Answer the group of each question ID given (the group number shown by "
        "`inbox list` is its oldest question's ID), or with --only just those questions, and "
        "send the answer to every asker who can still receive it.",
    )
    answer.add_argument("ids", nargs="+", type=int, metavar="ID", help="a question or group ID")
    text = answer.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the answer (Chinese, as residents will read it)")
    text.add_argument("--text-file", type=Path, help="read the answer from this UTF-8 file")
    answer.add_argument("--only", action="store_true", help="only these questions, not groups")
    answer.add_argument(
        "--save-qa", action="store_true", help="also save the answer as a Q&A pair in the library"
    )
    answer.add_argument("--policy", help="with --save-qa: the policy ID the answer rests on")
    answer.add_argument(
        "--question",
        help="with --save-qa: the question as saved (default: the group's most common wording; "
        "edit it if residents' words hold personal details)",
    )
    answer.add_argument("--by", help="who answers (recorded with the answer)")
    answer.add_argument("--json", action="store_true", help="print JSON (as the staff API)")
    answer.set_defaults(func=cmd_answer)

    show = actions.add_parser(
        "show",
        help="an answer and what became of each delivery",
        description="Show an answer and the outcome of each delivery.",
    )
    show.add_argument("answer_id", type=int, metavar="ANSWER_ID")
    show.add_argument("--json", action="store_true", help="print JSON (as the staff API)")
    show.set_defaults(func=cmd_show)

    deliver = actions.add_parser(
        "deliver",
        help="send an answer to askers not yet reached (after a failure or an interruption)",
        description="Deliver what is still undelivered of an answer: deliveries WeChat refused "
        "for a reason of ours (quota, IP whitelist …) are tried again; those that may have "
        "been sent are never repeated.",
    )
    deliver.add_argument("answer_id", type=int, metavar="ANSWER_ID")
    deliver.add_argument("--json", action="store_true", help="print JSON (as the staff API)")
    deliver.set_defaults(func=cmd_deliver)

    dismiss = actions.add_parser(
        "dismiss",
        help="set questions aside (nothing to answer)",
        description="Take questions out of the inbox without answering them.",
    )
    dismiss.add_argument("ids", nargs="+", type=int, metavar="ID", help="question IDs")
    dismiss.set_defaults(func=cmd_dismiss)
