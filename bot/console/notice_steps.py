"""The notice steps of the console (POST): submit, approve, reject, schedule, send now, cancel,
test send — each through ``push.notices.NoticeDesk`` as the signed-in staff member, then back to
the notice with a message. Refusals are shown by the console's guard (``bot.console.web``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from bot import keys
from bot.console.web import PREFIX, USER, access, flash
from push.notice_rules import LOCAL_TZ, parse_when
from push.notices import NoticeDesk
from push.staff import Permission, Refused


def desk_of(request: web.Request) -> NoticeDesk:
    return request.config_dict[keys.NOTICE_DESK]


def notice_id(request: web.Request) -> int:
    return int(request.match_info["notice_id"])


def me(request: web.Request) -> str:
    return request[USER].name


def to_notice(request: web.Request, number: int) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PREFIX}/notices/{number}")


def fields(request: web.Request) -> dict[str, str]:
    return request.config_dict[keys.SETTINGS].push.template_fields


async def _form(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


@access(Permission.WRITE)
async def submit(request: web.Request) -> web.Response:
    desk = desk_of(request)
    notice = await desk.submit(notice_id(request), me(request))
    await flash(request, "已提交审核，请等待审核人批准。")
    raise to_notice(request, notice.id)


@access(Permission.REVIEW)
async def approve(request: web.Request) -> web.Response:
    form = await _form(request)
    desk = desk_of(request)
    notice = await desk.approve(notice_id(request), me(request), form.get("comment"))
    await flash(request, "已批准。可以立即发送或定时发送。")
    raise to_notice(request, notice.id)


@access(Permission.REVIEW)
async def reject(request: web.Request) -> web.Response:
    form = await _form(request)
    notice = await desk_of(request).reject(notice_id(request), me(request), form.get("comment", ""))
    await flash(request, "已退回撰稿人修改。")
    raise to_notice(request, notice.id)


@access(Permission.PUBLISH)
async def schedule(request: web.Request) -> web.Response:
    form = await _form(request)
    desk = desk_of(request)
    text = form.get("at", "").replace("T", " ").strip()
    if not text:
        raise Refused("请选择发送时间。")
    notice = await desk.schedule(notice_id(request), me(request), parse_when(text, desk.now()))
    await flash(request, f"已定时，将于 {shown(notice.scheduled_at)} 发送。")
    raise to_notice(request, notice.id)


@access(Permission.PUBLISH)
async def send(request: web.Request) -> web.Response:
    notice = await desk_of(request).schedule(notice_id(request), me(request))
    await flash(request, "已安排立即发送。发送进度如下。")
    raise web.HTTPSeeOther(f"{PREFIX}/notices/{notice.id}/progress")


@access(Permission.PUBLISH)
async def cancel(request: web.Request) -> web.Response:
    form = await _form(request)
    notice = await desk_of(request).cancel(notice_id(request), me(request), form.get("reason"))
    await flash(request, "已撤销。")
    raise to_notice(request, notice.id)


@access(Permission.PUBLISH)
async def test(request: web.Request) -> web.Response:
    target = await desk_of(request).test_send(notice_id(request), me(request))
    await flash(request, f"已试发到 {target.name} 的微信，请在手机上查看。")
    raise to_notice(request, notice_id(request))


STEPS = {
    "submit": submit,
    "approve": approve,
    "reject": reject,
    "schedule": schedule,
    "send": send,
    "cancel": cancel,
    "test": test,
}


def shown(moment: datetime | None) -> str:
    """Beijing time as staff read it: 2026-12-07 10:00."""
    if moment is None:
        return ""
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
