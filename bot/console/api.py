"""The staff JSON API, mounted at ``/staff/api/`` on the service's own port.

Every request needs ``Authorization: Bearer <GONGKAI_STAFF__TOKEN>`` (compared in constant
time; 401 otherwise). Without a configured token the API is not mounted at all, so every path
under it is 404; local mode generates a token and prints it with the other local credentials.
It is meant for the county's own network: expose only the callback path through the reverse
proxy (docs/configuration.md).

    GET  /staff/api/inbox[?since=YYYY-MM-DD]          open questions, grouped by similarity
    POST /staff/api/inbox/answers                     answer questions (a group) and deliver
    GET  /staff/api/inbox/answers/{id}                an answer and each delivery's outcome
    POST /staff/api/inbox/answers/{id}/deliver        deliver what is still undelivered
    POST /staff/api/inbox/dismiss                     set questions aside
    GET  /staff/api/stats?from=YYYY-MM-DD&to=YYYY-MM-DD   statistics (bot.stats)
    …    /staff/api/notices…                          notices and their review (notices_api.py)

Bodies and answers are JSON (UTF-8, Chinese unescaped); a refused request gets
``{"error": "…"}`` (in Chinese, for staff) with 400, 401, 404 or 409.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date, datetime, time
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot import keys
from bot.config import Settings
from bot.console.desk import AnswerRequest, DeskError, StaffDesk
from bot.console.notices_api import add_notice_routes
from bot.console.views import answer_json, group_json, outcome_json
from policy_index.index import LOCAL_TZ
from push.staff import Refused

logger = logging.getLogger(__name__)

PREFIX = "/staff/api"
REALM = 'Bearer realm="gongkai-staff"'
MAX_GROUPS = 200
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_dumps = functools.partial(json.dumps, ensure_ascii=False)


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question_ids: list[int] = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1, max_length=4000)
    save_qa: bool = False
    policy_id: str | None = Field(default=None, max_length=64)
    question: str | None = Field(default=None, max_length=500)
    by: str | None = Field(default=None, max_length=64)


class DismissBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question_ids: list[int] = Field(min_length=1, max_length=500)


def staff_api(settings: Settings) -> web.Application | None:
    """The API as a sub-application, or None when no staff token is configured."""
    if settings.staff.token is None:
        return None
    app = web.Application(middlewares=[_bearer(settings.staff.token.get_secret_value())])
    app.router.add_get("/inbox", list_inbox)
    app.router.add_post("/inbox/answers", create_answer)
    app.router.add_get("/inbox/answers/{answer_id:\\d+}", show_answer)
    app.router.add_post("/inbox/answers/{answer_id:\\d+}/deliver", deliver_answer)
    app.router.add_post("/inbox/dismiss", dismiss)
    app.router.add_get("/stats", stats)
    add_notice_routes(app)
    return app


def _bearer(token: str) -> Any:
    expected = token.encode()

    @web.middleware
    async def authorised(request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            logger.warning(
                "staff API: refused an unauthenticated request",
                extra={"action": "staff_unauthorised", "peer": request.remote},
            )
            return _error("需要有效的工作人员令牌（Authorization: Bearer …）。", 401, REALM)
        try:
            return await handler(request)
        except DeskError as exc:
            return _error(str(exc), exc.status)
        except Refused as exc:  # push.staff / push.notices: a step not allowed or not possible
            return _error(str(exc), exc.status)

    return authorised


def _error(message: str, status: int, challenge: str | None = None) -> web.Response:
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return web.json_response({"error": message}, status=status, headers=headers, dumps=_dumps)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _desk(request: web.Request) -> StaffDesk:
    return request.config_dict[keys.STAFF_DESK]


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(await request.json())
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError):
            problems = "；".join(
                f"{'.'.join(str(p) for p in e['loc']) or '请求'}: {e['msg']}" for e in exc.errors()
            )
            raise DeskError(f"请求内容不对：{problems}") from exc
        raise DeskError("请求内容必须是 JSON。") from exc


def _date(request: web.Request, name: str, *, required: bool = False) -> date | None:
    value = request.query.get(name, "").strip()
    if not value:
        if required:
            raise DeskError(f"缺少参数 {name}（YYYY-MM-DD）。")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DeskError(f"参数 {name} 应为日期 YYYY-MM-DD，收到 {value!r}。") from None


async def shielded(request: web.Request, coro: Coroutine[Any, Any, T]) -> T:
    """Run staff work to its end even if the client goes away (a send is never cut short)."""
    task = request.config_dict[keys.TASKS].spawn(coro, name="staff")
    return await asyncio.shield(task)


async def list_inbox(request: web.Request) -> web.Response:
    desk = _desk(request)
    day = _date(request, "since")
    since = datetime.combine(day, time.min, LOCAL_TZ) if day else None
    groups = await desk.groups(since)
    now = desk.now()
    return _json(
        {
            "open_questions": sum(len(g.questions) for g in groups),
            "similarity_threshold": desk.inbox.similarity,
            "groups": [group_json(g, now) for g in groups[:MAX_GROUPS]],
            "more_groups": max(0, len(groups) - MAX_GROUPS),
        }
    )


async def create_answer(request: web.Request) -> web.Response:
    body: AnswerBody = await _body(request, AnswerBody)
    answer = AnswerRequest(
        question_ids=tuple(body.question_ids),
        text=body.text,
        save_qa=body.save_qa,
        policy_id=body.policy_id,
        question=body.question,
        author=body.by,
    )
    outcome = await shielded(request, _desk(request).answer(answer))
    if outcome.answer is None and not outcome.earlier:
        raise DeskError("这些问题都不在待答复列表中（可能已被搁置，或编号不对）。", 409)
    return _json(outcome_json(outcome), 201 if outcome.answer else 200)


async def show_answer(request: web.Request) -> web.Response:
    answer = await _desk(request).get_answer(int(request.match_info["answer_id"]))
    return _json(answer_json(answer))


async def deliver_answer(request: web.Request) -> web.Response:
    answer_id = int(request.match_info["answer_id"])
    answer = await shielded(request, _desk(request).deliver(answer_id))
    return _json(answer_json(answer))


async def dismiss(request: web.Request) -> web.Response:
    body: DismissBody = await _body(request, DismissBody)
    dismissed = await _desk(request).dismiss(body.question_ids)
    return _json({"dismissed": dismissed})


async def stats(request: web.Request) -> web.Response:
    start = _date(request, "from", required=True)
    end = _date(request, "to", required=True)
    assert start is not None  # noqa: S101 - required above
    assert end is not None  # noqa: S101 - required above
    library = request.config_dict[keys.POLICIES].index.library
    report = await _desk(request).stats(library, start, end)
    return _json(report.to_json())
