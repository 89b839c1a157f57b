"""The staff JSON API for notices (``push.notices``), under ``/staff/api/notices``.

Same authentication as the rest of the staff API (the bearer token). Until the console has
sessions, the **acting staff member is named in the body** of every request that changes
something: ``"by": "王撰稿"`` (a staff account from ``gongkai user add``; their role decides what
they may do, and the author may never approve). Reading needs no name.

    GET   /staff/api/notices[?state=S]             notices, newest first
    POST  /staff/api/notices                       create a draft             → 201 the notice
          {"by", "title", "body", "url"?, "channel"?, "topics"?, "towns"?, "tags"?,
           "policy_id"?, "eligible"?, "all"?}
    GET   /staff/api/notices/{id}                  the notice and its audit history
    PATCH /staff/api/notices/{id}                  edit {"by", any content field}: voids approval
    POST  /staff/api/notices/{id}/submit           {"by"}
    POST  /staff/api/notices/{id}/approve          {"by", "comment"?}
    POST  /staff/api/notices/{id}/reject           {"by", "comment"}
    POST  /staff/api/notices/{id}/schedule         {"by", "at"?}: at = "2026-12-08 09:00"
                                                   (Beijing) or ISO with offset; none = now
    POST  /staff/api/notices/{id}/cancel           {"by", "reason"?}
    POST  /staff/api/notices/{id}/test             {"by", "to"?}: a test send to one staff member
    POST  /staff/api/notices/{id}/correct          {"by", "body", "title"?, "url"?} → 201 更正 draft
    GET   /staff/api/notices/{id}/status           {"state", "audience", "sent", "failed", …}
    GET   /staff/api/notices/{id}/preview          {"recipients", "maybe"}

A refused step is ``{"error": "…"}`` in Chinese with 400, 403 (role), 404, 409 (state) or 503.
"""

from __future__ import annotations

import functools
import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot import keys
from bot.console.desk import DeskError
from push.notice_rules import NoticeContent, parse_when
from push.notices import NoticeDesk
from push.tables import Channel

ID = "{notice_id:\\d+}"
M = TypeVar("M", bound=BaseModel)
_dumps = functools.partial(json.dumps, ensure_ascii=False)

Name = Field(min_length=1, max_length=64)
Names = Field(default=None, max_length=50)


class StaffBody(BaseModel):
    """A request body: the staff member acting (``by``) and nothing the model does not name."""

    model_config = ConfigDict(extra="forbid")

    by: str = Name


class ByBody(StaffBody):
    comment: str | None = Field(default=None, max_length=500)


class CreateBody(StaffBody):
    title: str = Field(max_length=200)
    body: str = Field(max_length=10000)
    url: str | None = Field(default=None, max_length=2048)
    channel: Channel | None = None
    topics: list[str] = Field(default_factory=list, max_length=50)
    towns: list[str] = Field(default_factory=list, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=50)
    policy_id: str | None = Field(default=None, max_length=64)
    eligible: bool = False
    all: bool = False


class EditBody(StaffBody):
    title: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=10000)
    url: str | None = Field(default=None, max_length=2048)
    channel: Channel | None = None
    topics: list[str] | None = Names
    towns: list[str] | None = Names
    tags: list[str] | None = Names
    policy_id: str | None = Field(default=None, max_length=64)
    eligible: bool | None = None


class ScheduleBody(StaffBody):
    at: str | None = Field(default=None, max_length=64)


class CancelBody(StaffBody):
    reason: str | None = Field(default=None, max_length=500)


class TestBody(StaffBody):
    to: str | None = Field(default=None, max_length=64)


class CorrectBody(StaffBody):
    body: str = Field(max_length=10000)
    title: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2048)


def add_notice_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/notices", list_notices)
    r.add_post("/notices", create_notice)
    r.add_get(f"/notices/{ID}", show_notice)
    r.add_patch(f"/notices/{ID}", edit_notice)
    r.add_post(f"/notices/{ID}/submit", submit_notice)
    r.add_post(f"/notices/{ID}/approve", approve_notice)
    r.add_post(f"/notices/{ID}/reject", reject_notice)
    r.add_post(f"/notices/{ID}/schedule", schedule_notice)
    r.add_post(f"/notices/{ID}/cancel", cancel_notice)
    r.add_post(f"/notices/{ID}/test", trial_notice)
    r.add_post(f"/notices/{ID}/correct", correct_notice)
    r.add_get(f"/notices/{ID}/status", notice_status)
    r.add_get(f"/notices/{ID}/preview", notice_preview)


def _desk(request: web.Request) -> NoticeDesk:
    return request.config_dict[keys.NOTICE_DESK]


def _id(request: web.Request) -> int:
    return int(request.match_info["notice_id"])


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


async def _body(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(await request.json())
    except ValidationError as exc:
        problems = "；".join(
            f"{'.'.join(str(p) for p in e['loc']) or '请求'}: {e['msg']}" for e in exc.errors()
        )
        raise DeskError(f"请求内容不对：{problems}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeskError("请求内容必须是 JSON。") from exc


async def list_notices(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    notices = await _desk(request).listing(state)
    return _json({"notices": [n.to_json() for n in notices]})


async def create_notice(request: web.Request) -> web.Response:
    b = await _body(request, CreateBody)
    channel = b.channel or (Channel.MASS if b.all else Channel.TEMPLATE)
    content = NoticeContent(
        title=b.title,
        body=b.body,
        url=b.url,
        channel=channel,
        topics=tuple(b.topics),
        towns=tuple(b.towns),
        tags=tuple(b.tags),
        policy_id=b.policy_id,
        eligible=b.eligible,
        to_all=b.all,
    )
    notice = await _desk(request).create(b.by, content)
    return _json(notice.to_json(), 201)


async def show_notice(request: web.Request) -> web.Response:
    desk, notice_id = _desk(request), _id(request)
    notice = await desk.get(notice_id)
    history = await desk.history(notice_id)
    return _json({**notice.to_json(), "history": [e.to_json() for e in history]})


async def edit_notice(request: web.Request) -> web.Response:
    b = await _body(request, EditBody)
    given = b.model_dump(exclude_unset=True, exclude={"by"})
    # null clears a link or a policy; for the other fields it means "unchanged"
    changes = {k: v for k, v in given.items() if v is not None or k in ("url", "policy_id")}
    notice = await _desk(request).edit(_id(request), b.by, changes)
    return _json(notice.to_json())


async def submit_notice(request: web.Request) -> web.Response:
    b = await _body(request, ByBody)
    return _json((await _desk(request).submit(_id(request), b.by)).to_json())


async def approve_notice(request: web.Request) -> web.Response:
    b = await _body(request, ByBody)
    return _json((await _desk(request).approve(_id(request), b.by, b.comment)).to_json())


async def reject_notice(request: web.Request) -> web.Response:
    b = await _body(request, ByBody)
    return _json((await _desk(request).reject(_id(request), b.by, b.comment or "")).to_json())


async def schedule_notice(request: web.Request) -> web.Response:
    b = await _body(request, ScheduleBody)
    desk = _desk(request)
    at = parse_when(b.at, desk.now()) if b.at else None
    return _json((await desk.schedule(_id(request), b.by, at)).to_json())


async def cancel_notice(request: web.Request) -> web.Response:
    b = await _body(request, CancelBody)
    return _json((await _desk(request).cancel(_id(request), b.by, b.reason)).to_json())


async def trial_notice(request: web.Request) -> web.Response:
    b = await _body(request, TestBody)
    target = await _desk(request).test_send(_id(request), b.by, b.to)
    return _json({"sent_to": target.name})


async def correct_notice(request: web.Request) -> web.Response:
    b = await _body(request, CorrectBody)
    notice = await _desk(request).correct(_id(request), b.by, b.body, title=b.title, url=b.url)
    return _json(notice.to_json(), 201)


async def notice_status(request: web.Request) -> web.Response:
    return _json((await _desk(request).status(_id(request))).to_json())


async def notice_preview(request: web.Request) -> web.Response:
    count = await _desk(request).preview(_id(request))
    return _json({"recipients": count.recipients, "maybe": count.maybe})
