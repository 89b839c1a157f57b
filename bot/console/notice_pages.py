"""The notices pages of the staff console: list, compose and edit with a live WeChat preview,
the reviewer's queue with a diff, the actions of each state, and a self-refreshing progress view.

Every step goes through ``push.notices.NoticeDesk`` as the signed-in staff member, so the rules
(roles, the author never approves, approval pinned to the content hash) and the audit rows are
the ones the command line and the JSON API get. Routes are marked with who may use them
(``bot.console.web.access``); the desk checks the role again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from bot.console.notice_forms import FIELD_NAMES, content_from_form, echo, form_of, transient
from bot.console.notice_steps import (
    STEPS,
    desk_of,
    dumps,
    fields,
    me,
    notice_id,
    shown,
    to_notice,
)
from bot.console.preview import content_diff, wechat_preview
from bot.console.web import USER, access, flash, now, render
from push import notice_versions
from push.audit import AuditEntry
from push.figures import audience_choices
from push.notice_rules import CHANNEL_NAMES, LOCAL_TZ, STATE_NAMES, Notice
from push.notices import NoticeDesk
from push.staff import Permission, Refused
from push.tables import NoticeState

ID = "{notice_id:\\d+}"
REVIEWED = ("notice.submit", "notice.approve")
ACTION_NAMES = {
    "notice.create": "创建",
    "notice.edit": "修改",
    "notice.submit": "提交审核",
    "notice.approve": "批准",
    "notice.reject": "退回",
    "notice.schedule": "安排发送",
    "notice.cancel": "撤销",
    "notice.test": "试发",
    "notice.correct": "创建更正",
}


def add_notice_pages(app: web.Application) -> None:
    r = app.router
    r.add_get("/notices", list_page, name="notices")
    r.add_get("/notices/new", compose_page)
    r.add_post("/notices/new", create)
    r.add_get(f"/notices/{ID}", notice_page)
    r.add_get(f"/notices/{ID}/edit", edit_page)
    r.add_post(f"/notices/{ID}/edit", edit)
    r.add_get(f"/notices/{ID}/progress", progress_page)
    r.add_get(f"/notices/{ID}/status.json", status_json)
    r.add_post("/preview.json", preview_json)
    r.add_get("/review", review_page)
    # The steps (submit, approve, …) are in bot.console.notice_steps.
    for step in ("submit", "approve", "reject", "schedule", "send", "cancel", "test"):
        r.add_post(f"/notices/{ID}/{step}", STEPS[step])


# --- pages --------------------------------------------------------------------------------------


@access("signed_in")
async def list_page(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    notices = await desk_of(request).listing(state)
    return await render(
        request,
        "notices.html",
        {"notices": notices, "state": state, "states": STATE_NAMES, "local": shown},
    )


@access(Permission.REVIEW)
async def review_page(request: web.Request) -> web.Response:
    notices = await desk_of(request).listing(NoticeState.SUBMITTED)
    name = me(request)
    return await render(
        request,
        "review.html",
        {"notices": notices, "me": name, "local": shown},
    )


async def _compose(
    request: web.Request, form: dict[str, Any], notice: Notice | None, error: str | None = None
) -> dict[str, Any]:
    choices = await audience_choices(desk_of(request).engine)
    return {
        "choices": choices,
        "form": form,
        "notice": notice,
        "error": error,
        "channels": CHANNEL_NAMES,
        "limit": 20,
    }


@access(Permission.WRITE)
async def compose_page(request: web.Request) -> web.Response:
    return await render(request, "compose.html", await _compose(request, form_of(None), None))


@access(Permission.WRITE)
async def create(request: web.Request) -> web.Response:
    form = await request.post()
    desk = desk_of(request)
    try:
        notice = await desk.create(me(request), content_from_form(form))
    except Refused as exc:
        ctx = await _compose(request, echo(form), None, str(exc))
        return await render(request, "compose.html", ctx, status=exc.status)
    await flash(request, f"已保存为草稿（通知 {notice.id}）。检查预览无误后请提交审核。")
    raise to_notice(request, notice.id)


@access(Permission.WRITE)
async def edit_page(request: web.Request) -> web.Response:
    notice = await desk_of(request).get(notice_id(request))
    return await render(
        request, "compose.html", await _compose(request, form_of(notice.content), notice)
    )


@access(Permission.WRITE)
async def edit(request: web.Request) -> web.Response:
    form = await request.post()
    desk = desk_of(request)
    notice = await desk.get(notice_id(request))
    try:
        content = content_from_form(form, notice.content)
        changes = {
            name: getattr(content, name)
            for name in FIELD_NAMES
            if getattr(content, name) != getattr(notice.content, name)
        }
        if notice.content.to_all != content.to_all:
            raise Refused("不能在群发与定向推送之间切换：请撤销后另建一条通知。")
        if changes:
            notice = await desk.edit(notice.id, me(request), changes)
    except Refused as exc:
        ctx = await _compose(request, echo(form), notice, str(exc))
        return await render(request, "compose.html", ctx, status=exc.status)
    await flash(request, "已保存。" if changes else "内容没有变化。")
    raise to_notice(request, notice.id)


@access("signed_in")
async def notice_page(request: web.Request) -> web.Response:
    desk = desk_of(request)
    notice = await desk.get(notice_id(request))
    history = await desk.history(notice.id)
    audience: dict[str, int] | str
    if notice.state in (NoticeState.SENDING, NoticeState.DONE, NoticeState.CANCELLED):
        status = await desk.status(notice.id)  # the recipients it was given to
        audience = {"count": status.audience, "maybe": status.maybe}
    else:
        try:
            count = await desk.preview(notice.id)  # who it would go to now
            audience = {"count": count.recipients, "maybe": count.maybe}
        except Refused as exc:
            audience = str(exc)
    user = request[USER]
    writers = {e.actor for e in history if e.action in ("notice.create", "notice.edit")}
    ctx = {
        "notice": notice,
        "c": notice.content,
        "history": [_entry(e) for e in history],
        "audience": audience,
        "preview": wechat_preview(notice.content, fields(request), notice.approved_at or now()),
        "review": await _review(desk, notice, history),
        "is_writer": user.name in writers or user.name == notice.author,
        "states": STATE_NAMES,
        "channels": CHANNEL_NAMES,
        "local": shown,
        "S": NoticeState,
        "earliest": now().astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M"),
    }
    return await render(request, "notice.html", ctx)


async def _review(desk: NoticeDesk, notice: Notice, history: list[AuditEntry]) -> dict[str, Any]:
    """What changed since the last version submitted or approved (other than this one)."""
    earlier = [
        e
        for e in history
        if e.action in REVIEWED and e.detail.get("content_hash") not in (None, notice.content_hash)
    ]
    if not earlier:
        return {"first": True}
    last = earlier[-1]
    kind = "批准" if last.action == "notice.approve" else "提交"
    before = await notice_versions.find(desk.engine, notice.id, str(last.detail["content_hash"]))
    label = f"与 {shown(last.at)} {last.actor} {kind}的版本相比"
    if before is None:
        changed = sorted(
            {
                FIELD_NAMES.get(f, f)
                for e in history
                if e.action == "notice.edit" and e.id > last.id
                for f in e.detail.get("changed", [])
            }
        )
        return {"first": False, "label": label, "diff": None, "changed": changed}
    return {"first": False, "label": label, "diff": content_diff(before, notice.content)}


def _entry(e: AuditEntry) -> dict[str, Any]:
    d = e.detail
    parts = []
    if "changed" in d:
        parts.append("改动：" + "、".join(FIELD_NAMES.get(f, f) for f in d["changed"]))
    if d.get("comment"):
        parts.append(f"意见：{d['comment']}")
    if "recipients" in d:
        parts.append(f"预计接收 {d['recipients']} 人")
    if d.get("now"):
        parts.append("立即发送")
    elif d.get("at"):
        parts.append(f"定时 {shown(datetime.fromisoformat(str(d['at'])))}")
    if d.get("to"):
        parts.append(f"试发给 {d['to']}" + ("" if d.get("ok", True) else "（失败）"))
    if d.get("reason"):
        parts.append(f"原因：{d['reason']}")
    return {
        "at": shown(e.at),
        "actor": e.actor,
        "action": ACTION_NAMES.get(e.action, e.action),
        "detail": "；".join(parts),
    }


@access("signed_in")
async def progress_page(request: web.Request) -> web.Response:
    desk = desk_of(request)
    notice = await desk.get(notice_id(request))
    status = await desk.status(notice.id)
    return await render(
        request,
        "progress.html",
        {"notice": notice, "status": status, "states": STATE_NAMES},
    )


@access("signed_in")
async def status_json(request: web.Request) -> web.Response:
    status = await desk_of(request).status(notice_id(request))
    return web.json_response(
        {**status.to_json(), "state_name": STATE_NAMES[status.state]},
        dumps=dumps,
    )


@access(Permission.WRITE)
async def preview_json(request: web.Request) -> web.Response:
    """The live preview of the compose form: the WeChat message and the audience count."""
    try:
        data = await request.json()
    except ValueError:
        raise Refused("请求内容必须是 JSON。") from None
    if not isinstance(data, dict):
        raise Refused("请求内容必须是 JSON 对象。")
    desk = desk_of(request)
    when = now()
    editing = None
    if str(data.get("notice_id") or "").isdigit():
        editing = (await desk.get(int(data["notice_id"]))).content
    try:
        content = content_from_form(data, editing)
    except Refused as exc:
        return web.json_response({"problem": str(exc)}, dumps=dumps)
    result: dict[str, Any] = {"preview": wechat_preview(content, fields(request), when)}
    if desk.counter is not None:
        count = await desk.counter.count(transient(content, me(request), when))
        result["audience"] = {"recipients": count.recipients, "maybe": count.maybe}
    return web.json_response(result, dumps=dumps)
