"""The notices pages of the staff console: list, compose and edit with a live WeChat preview,
the reviewer's queue with a diff, the actions of each state, and a self-refreshing progress view.

Every step goes through ``push.notices.NoticeDesk`` as the signed-in staff member, so the rules
(roles, the author never approves, approval pinned to the content hash) and the audit rows are
the ones the command line and the JSON API get. Routes are marked with who may use them
(``bot.console.web.access``); the desk checks the role again.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from aiohttp import web

from bot import keys
from bot.console import versions
from bot.console.preview import content_diff, wechat_preview
from bot.console.web import PREFIX, USER, access, flash, now, render
from push.audit import AuditEntry
from push.notice_rules import (
    CHANNEL_NAMES,
    LOCAL_TZ,
    STATE_NAMES,
    Notice,
    NoticeContent,
    checked,
    parse_when,
)
from push.notices import NoticeDesk
from push.staff import Permission, Refused
from push.tables import Channel, NoticeState

ID = "{notice_id:\\d+}"
SPLIT = re.compile(r"[\s,，、;；]+")
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
FIELD_NAMES = {
    "title": "标题",
    "body": "正文",
    "url": "链接",
    "channel": "渠道",
    "topics": "主题",
    "towns": "乡镇",
    "tags": "标签",
    "policy_id": "政策",
    "eligible": "按条件推送",
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
    for step in ("submit", "approve", "reject", "schedule", "send", "cancel", "test"):
        r.add_post(f"/notices/{ID}/{step}", STEPS[step])


def _desk(request: web.Request) -> NoticeDesk:
    return request.config_dict[keys.NOTICE_DESK]


def _id(request: web.Request) -> int:
    return int(request.match_info["notice_id"])


def _me(request: web.Request) -> str:
    return request[USER].name


def _to_notice(request: web.Request, notice_id: int) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PREFIX}/notices/{notice_id}")


def _fields(request: web.Request) -> dict[str, str]:
    return request.config_dict[keys.SETTINGS].push.template_fields


# --- reading the form ---------------------------------------------------------------------------


def _names(value: Any) -> tuple[str, ...]:
    return tuple(v for v in SPLIT.split(str(value or "")) if v)


def content_from_form(form: Any, editing: NoticeContent | None = None) -> NoticeContent:
    """The notice the compose form describes (checked by ``push.notice_rules.checked``).

    A correction (更正) keeps its audience — the recipients of the notice it corrects — so its
    form has no audience fields.
    """
    try:
        channel = Channel(str(form.get("channel") or Channel.TEMPLATE.value))
    except ValueError:
        raise Refused("请选择发送渠道。") from None
    audience = str(form.get("audience") or "topics")
    url = str(form.get("url") or "").strip() or None
    base = NoticeContent(
        title=str(form.get("title") or "").strip(),
        body=str(form.get("body") or "").strip(),
        url=url,
        channel=channel,
    )
    if editing is not None and editing.corrects_id is not None:
        content = NoticeContent(
            **{**_plain(base), "channel": editing.channel},
            to_all=editing.to_all,
            corrects_id=editing.corrects_id,
        )
    elif audience == "all":
        content = NoticeContent(**{**_plain(base), "channel": Channel.MASS, "to_all": True})
    elif audience == "policy":
        content = NoticeContent(
            **_plain(base),
            policy_id=str(form.get("policy_id") or "").strip() or None,
            eligible=form.get("eligible") == "on",
        )
    else:
        content = NoticeContent(
            **_plain(base),
            topics=_names(form.get("topics")),
            towns=_names(form.get("towns")),
            tags=_names(form.get("tags")),
        )
    return checked(content)


def _plain(c: NoticeContent) -> dict[str, Any]:
    return {"title": c.title, "body": c.body, "url": c.url, "channel": c.channel}


def form_of(content: NoticeContent | None) -> dict[str, Any]:
    c = content or NoticeContent(title="", body="")
    audience = "all" if c.to_all else ("policy" if c.policy_id or c.eligible else "topics")
    return {
        "title": c.title,
        "body": c.body,
        "url": c.url or "",
        "channel": c.channel.value,
        "audience": audience,
        "topics": "、".join(c.topics),
        "towns": "、".join(c.towns),
        "tags": "、".join(c.tags),
        "policy_id": c.policy_id or "",
        "eligible": c.eligible,
    }


def _transient(content: NoticeContent, author: str, at: datetime) -> Notice:
    """An unsaved notice, for counting the audience of what is being composed."""
    return Notice(
        id=0,
        content=content,
        state=NoticeState.DRAFT,
        author=author,
        content_hash=content.content_hash(),
        approved_hash=None,
        approved_by=None,
        approved_at=None,
        review_comment=None,
        scheduled_at=None,
        started_at=None,
        finished_at=None,
        materialised=False,
        created_at=at,
        updated_at=at,
    )


# --- pages --------------------------------------------------------------------------------------


@access("signed_in")
async def list_page(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    notices = await _desk(request).listing(state)
    return await render(
        request,
        "notices.html",
        {"notices": notices, "state": state, "states": STATE_NAMES, "local": _shown},
    )


@access(Permission.REVIEW)
async def review_page(request: web.Request) -> web.Response:
    notices = await _desk(request).listing(NoticeState.SUBMITTED)
    me = _me(request)
    return await render(
        request,
        "review.html",
        {"notices": notices, "me": me, "local": _shown},
    )


def _compose(
    request: web.Request, form: dict[str, Any], notice: Notice | None, error: str | None = None
) -> dict[str, Any]:
    return {
        "form": form,
        "notice": notice,
        "error": error,
        "channels": CHANNEL_NAMES,
        "limit": 20,
    }


@access(Permission.WRITE)
async def compose_page(request: web.Request) -> web.Response:
    return await render(request, "compose.html", _compose(request, form_of(None), None))


@access(Permission.WRITE)
async def create(request: web.Request) -> web.Response:
    form = await request.post()
    desk = _desk(request)
    try:
        notice = await desk.create(_me(request), content_from_form(form))
    except Refused as exc:
        ctx = _compose(request, _echo(form), None, str(exc))
        return await render(request, "compose.html", ctx, status=exc.status)
    await versions.save(desk.engine, notice, now())
    await flash(request, f"已保存为草稿（通知 {notice.id}）。检查预览无误后请提交审核。")
    raise _to_notice(request, notice.id)


@access(Permission.WRITE)
async def edit_page(request: web.Request) -> web.Response:
    notice = await _desk(request).get(_id(request))
    return await render(request, "compose.html", _compose(request, form_of(notice.content), notice))


@access(Permission.WRITE)
async def edit(request: web.Request) -> web.Response:
    form = await request.post()
    desk = _desk(request)
    notice = await desk.get(_id(request))
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
            notice = await desk.edit(notice.id, _me(request), changes)
    except Refused as exc:
        ctx = _compose(request, _echo(form), notice, str(exc))
        return await render(request, "compose.html", ctx, status=exc.status)
    await versions.save(desk.engine, notice, now())
    await flash(request, "已保存。" if changes else "内容没有变化。")
    raise _to_notice(request, notice.id)


def _echo(form: Any) -> dict[str, Any]:
    keys_ = ("title", "body", "url", "channel", "audience", "topics", "towns", "tags", "policy_id")
    echoed: dict[str, Any] = {k: str(form.get(k) or "") for k in keys_}
    echoed["eligible"] = form.get("eligible") == "on"
    return echoed


@access("signed_in")
async def notice_page(request: web.Request) -> web.Response:
    desk = _desk(request)
    notice = await desk.get(_id(request))
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
        "preview": wechat_preview(notice.content, _fields(request), notice.approved_at or now()),
        "review": await _review(desk, notice, history),
        "is_writer": user.name in writers or user.name == notice.author,
        "states": STATE_NAMES,
        "channels": CHANNEL_NAMES,
        "local": _shown,
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
    before = await versions.find(desk.engine, notice.id, str(last.detail["content_hash"]))
    label = f"与 {_shown(last.at)} {last.actor} {kind}的版本相比"
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
        parts.append(f"定时 {_shown(datetime.fromisoformat(str(d['at'])))}")
    if d.get("to"):
        parts.append(f"试发给 {d['to']}" + ("" if d.get("ok", True) else "（失败）"))
    if d.get("reason"):
        parts.append(f"原因：{d['reason']}")
    return {
        "at": _shown(e.at),
        "actor": e.actor,
        "action": ACTION_NAMES.get(e.action, e.action),
        "detail": "；".join(parts),
    }


@access("signed_in")
async def progress_page(request: web.Request) -> web.Response:
    desk = _desk(request)
    notice = await desk.get(_id(request))
    status = await desk.status(notice.id)
    return await render(
        request,
        "progress.html",
        {"notice": notice, "status": status, "states": STATE_NAMES},
    )


@access("signed_in")
async def status_json(request: web.Request) -> web.Response:
    status = await _desk(request).status(_id(request))
    return web.json_response(
        {**status.to_json(), "state_name": STATE_NAMES[status.state]},
        dumps=_dumps,
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
    desk = _desk(request)
    when = now()
    editing = None
    if str(data.get("notice_id") or "").isdigit():
        editing = (await desk.get(int(data["notice_id"]))).content
    try:
        content = content_from_form(data, editing)
    except Refused as exc:
        return web.json_response({"problem": str(exc)}, dumps=_dumps)
    result: dict[str, Any] = {"preview": wechat_preview(content, _fields(request), when)}
    if desk.counter is not None:
        count = await desk.counter.count(_transient(content, _me(request), when))
        result["audience"] = {"recipients": count.recipients, "maybe": count.maybe}
    return web.json_response(result, dumps=_dumps)


# --- steps --------------------------------------------------------------------------------------


async def _form(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


@access(Permission.WRITE)
async def submit(request: web.Request) -> web.Response:
    desk = _desk(request)
    notice = await desk.submit(_id(request), _me(request))
    await versions.save(desk.engine, notice, now())
    await flash(request, "已提交审核，请等待审核人批准。")
    raise _to_notice(request, notice.id)


@access(Permission.REVIEW)
async def approve(request: web.Request) -> web.Response:
    form = await _form(request)
    desk = _desk(request)
    notice = await desk.approve(_id(request), _me(request), form.get("comment"))
    await versions.save(desk.engine, notice, now())
    await flash(request, "已批准。可以立即发送或定时发送。")
    raise _to_notice(request, notice.id)


@access(Permission.REVIEW)
async def reject(request: web.Request) -> web.Response:
    form = await _form(request)
    notice = await _desk(request).reject(_id(request), _me(request), form.get("comment", ""))
    await flash(request, "已退回撰稿人修改。")
    raise _to_notice(request, notice.id)


@access(Permission.PUBLISH)
async def schedule(request: web.Request) -> web.Response:
    form = await _form(request)
    desk = _desk(request)
    text = form.get("at", "").replace("T", " ").strip()
    if not text:
        raise Refused("请选择发送时间。")
    notice = await desk.schedule(_id(request), _me(request), parse_when(text, desk.now()))
    await flash(request, f"已定时，将于 {_shown(notice.scheduled_at)} 发送。")
    raise _to_notice(request, notice.id)


@access(Permission.PUBLISH)
async def send(request: web.Request) -> web.Response:
    notice = await _desk(request).schedule(_id(request), _me(request))
    await flash(request, "已安排立即发送。发送进度如下。")
    raise web.HTTPSeeOther(f"{PREFIX}/notices/{notice.id}/progress")


@access(Permission.PUBLISH)
async def cancel(request: web.Request) -> web.Response:
    form = await _form(request)
    notice = await _desk(request).cancel(_id(request), _me(request), form.get("reason"))
    await flash(request, "已撤销。")
    raise _to_notice(request, notice.id)


@access(Permission.PUBLISH)
async def test(request: web.Request) -> web.Response:
    target = await _desk(request).test_send(_id(request), _me(request))
    await flash(request, f"已试发到 {target.name} 的微信，请在手机上查看。")
    raise _to_notice(request, _id(request))


STEPS = {
    "submit": submit,
    "approve": approve,
    "reject": reject,
    "schedule": schedule,
    "send": send,
    "cancel": cancel,
    "test": test,
}


# --- formatting ---------------------------------------------------------------------------------


def _shown(moment: datetime | None) -> str:
    """Beijing time as staff read it: 2026-12-07 10:00."""
    if moment is None:
        return ""
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
