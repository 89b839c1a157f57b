"""The unanswered inbox of the staff console (待答复): questions the bot could not answer,
grouped by similarity; one answer for a whole group, delivered to every asker still reachable;
groups set aside as out of scope.

Every step goes through ``bot.console.desk.StaffDesk`` — the one the JSON API and ``gongkai
inbox`` use — so answering is safe to repeat and nobody is told twice (``push.answers``). The
answer is sent through WeChat's customer-service API (48-hour window) by the app's own sender,
as a task that runs to its end even if the browser goes away. Each step is written to the audit
log in the same transaction as the change: ``inbox.answer`` with the claim (the answer recorded,
its questions out of the inbox), ``inbox.dismiss`` with the dismissal; what the deliveries then
did is one more row, ``inbox.deliver``, after the network calls (also when delivering again).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import keys
from bot.console.api import shielded
from bot.console.desk import (
    LONGEST_QUOTE,
    MAX_QUESTIONS_PER_ANSWER,
    AnswerOutcome,
    AnswerRequest,
    DeskError,
    StaffDesk,
)
from bot.console.web import PREFIX, USER, access, flash, now, render
from bot.inbox import Answer, Claim, Claimed, DeliveryStatus, Group
from bot.wechat.replies import TEXT_LIMIT_BYTES
from policy_index.index import LOCAL_TZ
from push import audit
from push.staff import Permission, Refused

MAX_GROUPS = 200
QID = "{question_id:\\d+}"
AID = "{answer_id:\\d+}"

STATUS_NAMES = {
    DeliveryStatus.PENDING: "待发送",
    DeliveryStatus.SENDING: "发送中",
    DeliveryStatus.SENT: "已送达",
    DeliveryStatus.UNREACHABLE: "无法送达",
    DeliveryStatus.FAILED: "发送失败（可重发）",
    DeliveryStatus.UNKNOWN: "结果不明（不再重发）",
    DeliveryStatus.SAME_ASKER: "同一提问人，已合并告知",
}
REASON_NAMES = {
    "no_openid": "提问人已取消关注，或超过时限后已删除其标识",
    "window_closed": "已超过微信 48 小时客服消息时限",
    "over_limit": "已达微信对该用户的客服消息条数上限",
    "unsubscribed": "提问人已取消关注",
    "interrupted": "发送中途中断，无法确认是否送达",
    "no_response": "微信未响应，无法确认是否送达",
    "unavailable": "未能连上微信接口",
    "error": "发送时出错",
    "retry": "微信暂时不可用",
    "refresh_token": "微信接口凭证失效",
    "recipient_gone": "提问人已取消关注或拒收",
    "quota": "已达微信接口调用额度",
    "configuration": "公众号接口配置有误（如 IP 白名单、权限），请联系管理员",
    "permanent": "微信拒绝发送",
}
RETRYABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
PROBLEMS_FIRST = (
    DeliveryStatus.FAILED,
    DeliveryStatus.UNKNOWN,
    DeliveryStatus.PENDING,
    DeliveryStatus.SENDING,
    DeliveryStatus.UNREACHABLE,
    DeliveryStatus.SENT,
)
RECENT = 20


def add_inbox_pages(app: web.Application) -> None:
    r = app.router
    r.add_get("/inbox", inbox_page, name="inbox")
    r.add_get(f"/inbox/groups/{QID}", group_page)
    r.add_post("/inbox/answer", answer)
    r.add_post("/inbox/dismiss", dismiss)
    r.add_get(f"/inbox/answers/{AID}", answer_page)
    r.add_post(f"/inbox/answers/{AID}/deliver", deliver)


def _desk(request: web.Request) -> StaffDesk:
    return request.config_dict[keys.STAFF_DESK]


def shown(moment: datetime | None) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if moment else ""


def _ids(form: MultiDictProxy[Any]) -> tuple[int, ...]:
    values = [v for v in form.getall("question_id", []) if isinstance(v, str) and v.isdigit()]
    if not values:
        raise Refused("请至少勾选一个问题。")
    if len(values) > MAX_QUESTIONS_PER_ANSWER:
        raise Refused(f"一次最多处理 {MAX_QUESTIONS_PER_ANSWER} 个问题。")
    return tuple(int(v) for v in values)


def _group(group: Group, moment: datetime) -> dict[str, Any]:
    return {
        "id": group.id,
        "text": group.text,
        "size": len(group.questions),
        "reachable": group.reachable_askers(moment),
        "first": shown(group.questions[0].asked_at),
        "last": shown(group.questions[-1].asked_at),
        "members": [
            {"id": q.id, "text": q.text, "at": shown(q.asked_at), "reachable": q.reachable(moment)}
            for q in group.questions
        ],
    }


async def _audit(
    request: web.Request,
    action: str,
    object_type: str,
    object_id: int,
    detail: dict[str, Any],
) -> None:
    async with request.config_dict[keys.ENGINE].begin() as conn:
        await _record(conn, request, action, object_type, object_id, detail)


async def _record(
    conn: AsyncConnection,
    request: web.Request,
    action: str,
    object_type: str,
    object_id: int,
    detail: dict[str, Any],
) -> None:
    await audit.record(
        conn,
        actor=request[USER].name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        at=now(),
        detail=detail,
    )


# --- pages --------------------------------------------------------------------------------------


@access(Permission.ANSWER)
async def inbox_page(request: web.Request) -> web.Response:
    desk = _desk(request)
    groups = await desk.groups()
    moment = desk.now()
    recent = [
        {
            "id": a.id,
            "question": a.question,
            "author": a.author or "",
            "at": shown(a.created_at),
            "qa": a.qa_id is not None,
            "counts": [
                (s.value, STATUS_NAMES[s], a.counts[s.value])
                for s in PROBLEMS_FIRST
                if a.counts.get(s.value)
            ],
            "retryable": any(a.counts.get(s.value) for s in RETRYABLE),
        }
        for a in await desk.inbox.recent_answers(RECENT)
    ]
    return await render(
        request,
        "inbox.html",
        {
            "groups": [_group(g, moment) for g in groups[:MAX_GROUPS]],
            "more": max(0, len(groups) - MAX_GROUPS),
            "open_questions": sum(len(g.questions) for g in groups),
            "recent": recent,
        },
    )


def _policies(request: web.Request) -> list[tuple[str, str]]:
    """(id, title) of the library's policies, for the "based on policy" choice."""
    library = request.config_dict[keys.POLICIES].index.library
    return [(p.id, p.title) for p in library.policies]


async def _group_view(
    request: web.Request,
    group: Group,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    desk = _desk(request)
    view = _group(group, desk.now())
    filled = form or {
        "ids": (),  # all of the group's questions ticked
        "text": "",
        "save_qa": False,
        "policy_id": "",
        "question": view["text"],
    }
    # The answer's room in one customer-service message, after the greeting and the quote.
    frame = desk.message(LONGEST_QUOTE, desk.now(), "")
    context = {
        "g": view,
        "form": filled,
        "error": error,
        "policies": _policies(request),
        "max_bytes": TEXT_LIMIT_BYTES - len(frame.encode()),
    }
    return await render(request, "inbox_group.html", context, status=status)


@access(Permission.ANSWER)
async def group_page(request: web.Request) -> web.Response:
    question_id = int(request.match_info["question_id"])
    group = await _desk(request).inbox.group_of(question_id)
    if group is None:
        await flash(request, "这组问题已不在待答复列表中（可能已被其他同事答复或搁置）。", "error")
        raise web.HTTPSeeOther(f"{PREFIX}/inbox")
    return await _group_view(request, group)


@access(Permission.ANSWER)
async def answer(request: web.Request) -> web.Response:
    form = await request.post()
    desk = _desk(request)
    save_qa = form.get("save_qa") == "on"
    text = str(form.get("text") or "")
    policy_id = str(form.get("policy_id") or "").strip()
    question = str(form.get("question") or "").strip()
    typed: dict[str, Any] = {
        "ids": (),
        "text": text,
        "save_qa": save_qa,
        "policy_id": policy_id,
        "question": question,
    }
    group_id = str(form.get("group") or "")
    try:
        typed["ids"] = ids = _ids(form)
        wanted = AnswerRequest(
            question_ids=ids,
            text=text,
            save_qa=save_qa,
            policy_id=(policy_id or None) if save_qa else None,
            question=question or None,
            author=request[USER].name,
        )

        async def audited(conn: AsyncConnection, claim: Claim) -> None:
            assert claim.answer_id is not None  # noqa: S101 - called only when one was recorded
            detail: dict[str, Any] = {
                "questions": len(claim.claimed),
                "already_answered": len(claim.earlier),
            }
            if save_qa:
                detail["save_qa"] = True
            await _record(conn, request, "inbox.answer", "answer", claim.answer_id, detail)

        outcome = await shielded(request, _answering(desk, wanted, audited))
        if isinstance(outcome, DeskError):
            raise outcome
    except (DeskError, Refused) as exc:  # nothing was written: the form comes back, text kept
        status = exc.status
        group = await desk.inbox.group_of(int(group_id)) if group_id.isdigit() else None
        if group is None:
            raise Refused(str(exc), status) from exc
        return await _group_view(request, group, typed, str(exc), status)
    if outcome.answer is None and not outcome.earlier:
        await flash(request, "这些问题已不在待答复列表中（可能已被其他同事答复或搁置）。", "error")
        raise web.HTTPSeeOther(f"{PREFIX}/inbox")
    done = outcome.answer or outcome.earlier[0]
    # The answer itself was audited in its own transaction (``audited``); this row records
    # what the deliveries did, after the network calls.
    detail: dict[str, Any] = {
        "questions": len(outcome.claim.claimed),
        "already_answered": len(outcome.claim.earlier),
        "deliveries": {k: v for k, v in done.summary().items() if v},
    }
    if outcome.qa is not None:
        detail["qa_id"] = outcome.qa.id
        detail["policy_id"] = outcome.qa.policy_id
    await _audit(request, "inbox.deliver", "answer", done.id, detail)
    if outcome.answer is None:  # all answered already (a second click): finished, not redone
        await flash(request, f"这些问题已经答复过（答复 {done.id}），没有重复发送。")
    else:
        await flash(request, _summary(done, outcome.qa.id if outcome.qa else None))
    raise web.HTTPSeeOther(f"{PREFIX}/inbox/answers/{done.id}")


async def _answering(
    desk: StaffDesk, wanted: AnswerRequest, then: Claimed
) -> AnswerOutcome | DeskError:
    """The answer, or the desk's refusal as a value (a refusal is no failure of the task)."""
    try:
        return await desk.answer(wanted, then=then)
    except DeskError as exc:
        return exc


def _summary(answer: Answer, qa_id: str | None) -> str:
    counts = answer.summary()
    parts = [f"已答复 {len(answer.deliveries)} 个问题，送达 {counts['sent']} 人"]
    if counts["unreachable"]:
        parts.append(f"{counts['unreachable']} 人无法送达")
    if counts["failed"]:
        parts.append(f"{counts['failed']} 人发送失败，可重发")
    if counts["unknown"]:
        parts.append(f"{counts['unknown']} 人结果不明")
    text = "，".join(parts) + "。"
    if qa_id:
        text += f"已保存为问答 {qa_id}，机器人以后可直接回答同类问题。"
    return text


@access(Permission.ANSWER)
async def dismiss(request: web.Request) -> web.Response:
    ids = _ids(await request.post())

    async def audited(conn: AsyncConnection, dismissed: list[int]) -> None:
        detail = {"question_ids": list(dismissed)}
        await _record(conn, request, "inbox.dismiss", "question", min(dismissed), detail)

    try:
        dismissed: Sequence[int] = await _desk(request).dismiss(ids, then=audited)
    except DeskError as exc:
        raise Refused(str(exc), exc.status) from exc
    if dismissed:
        await flash(request, f"已搁置 {len(dismissed)} 个问题（不属于答复范围），不会通知提问人。")
    else:
        await flash(request, "这些问题已不在待答复列表中，未作改动。", "error")
    raise web.HTTPSeeOther(f"{PREFIX}/inbox")


@access(Permission.ANSWER)
async def answer_page(request: web.Request) -> web.Response:
    try:
        found = await _desk(request).get_answer(int(request.match_info["answer_id"]))
    except DeskError as exc:
        raise Refused(str(exc), exc.status) from exc
    deliveries = [
        {
            "question": d.question,
            "asked_at": shown(d.asked_at),
            "status": d.status.value,
            "status_name": STATUS_NAMES[d.status],
            "reason": REASON_NAMES.get(d.reason or "", d.reason or ""),
            "errcode": d.errcode,
            "at": shown(d.finished_at or d.attempted_at),
        }
        for d in found.deliveries
    ]
    context = {
        "a": found,
        "created": shown(found.created_at),
        "deliveries": deliveries,
        "counts": found.summary(),
        "names": {s.value: n for s, n in STATUS_NAMES.items()},
        "retryable": any(d.status in RETRYABLE for d in found.deliveries),
    }
    return await render(request, "inbox_answer.html", context)


@access(Permission.ANSWER)
async def deliver(request: web.Request) -> web.Response:
    answer_id = int(request.match_info["answer_id"])
    try:
        done = await shielded(request, _desk(request).deliver(answer_id))
    except DeskError as exc:
        raise Refused(str(exc), exc.status) from exc
    detail = {"deliveries": {k: v for k, v in done.summary().items() if v}}
    await _audit(request, "inbox.deliver", "answer", answer_id, detail)
    await flash(request, "已重新发送未送达的答复。" + _summary(done, None))
    raise web.HTTPSeeOther(f"{PREFIX}/inbox/answers/{answer_id}")
