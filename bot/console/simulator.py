"""The chat simulator (对话模拟): staff talk to the bot as a resident would, to check an answer
before and after changing the policy library.

A line typed here becomes a ``TextMessage`` from the openid ``console-sim-<staff name>`` and goes
through ``bot.dispatch.handle_message`` — the router and handlers a real WeChat message reaches
from the callback endpoint — with the live index (the library pages rebuild it on every change).
What the simulator leaves out, by design:

- nothing is sent to WeChat: the reply is shown on the page, as WeChat would show a passive
  reply (text cut to its 2 KB limit, one news card), and never delivered late through the
  customer-service API;
- the simulated person never reaches the question log, so neither the unanswered inbox nor the
  statistics count them (``SandboxQuestions``), and subscriptions made while testing stay in the
  staff member's console session instead of the subscriber tables, so no notice is ever pushed
  to them (``SandboxSubscriptions``); enterprise binding is not available;
- the callback ledger and flood control are not involved (no callback was received).

The dialog state (numbered choices awaiting 回复数字, the last policy for follow-ups) is kept
in the ordinary conversation store under the simulator's openid, so follow-ups behave exactly as
for a resident and expire the same way; 清空对话 deletes it. The exchange shown on the page
(the last ``HISTORY`` messages) lives in the staff member's session.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from bot import keys
from bot.console.web import USER, access, render
from bot.context import HandlerContext
from bot.conversations import EMPTY
from bot.dispatch import handle_message
from bot.log_setup import OpenidHash, openid_hash
from bot.questions import AnswerCount, Asked, QuestionLog
from bot.wechat import TextMessage
from bot.wechat.replies import NewsReply, Reply, fit_text
from push.subscriptions import Change, SubscriptionDesk

SIM_PREFIX = "console-sim-"
HISTORY = 30  # messages kept on the page (both sides)
MAX_TEXT = 600  # characters a resident can type in one WeChat message, near enough
SESSION_HISTORY = "sim_history"
SESSION_TOPICS = "sim_topics"
LINK = re.compile(r"""<a\s+href\s*=\s*["'](https?://[^"']*)["'][^>]*>(.*?)</a>""", re.DOTALL)


def add_simulator(app: web.Application) -> None:
    app.router.add_get("/simulator", simulator_page, name="simulator")
    app.router.add_post("/simulator", say)
    app.router.add_post("/simulator/reset", reset)


def sim_openid(staff_name: str) -> str:
    return SIM_PREFIX + staff_name


# --- the sandbox --------------------------------------------------------------------------------


class SandboxQuestions(QuestionLog):
    """The question log as the handlers see it, writing nothing: the simulated person stays out
    of the unanswered inbox and the statistics. Reading (热门问题) uses the real log."""

    def __init__(self, real: QuestionLog) -> None:  # no batches of its own: it never writes
        self._real = real
        self._ids = itertools.count(1)

    async def record(self, openid: str, asked: Asked, now: datetime) -> int:
        return next(self._ids)

    async def answered(self, question_id: int, kind: str, target: str) -> None:
        return None

    async def unresolved(self, question_id: int, openid: str) -> None:
        return None

    async def most_answered(self, since: datetime, limit: int = 20) -> list[AnswerCount]:
        return await self._real.most_answered(since, limit)


class SandboxSubscriptions(SubscriptionDesk):
    """Subscriptions kept in ``topics`` (the console session), not in the subscriber tables;
    the catalogue is the real one."""

    def __init__(self, real: SubscriptionDesk, topics: Sequence[str]) -> None:
        self._real = real
        self.topics = list(topics)

    async def catalogue(self) -> Any:
        return await self._real.catalogue()

    async def mine(self, openid: str) -> list[str]:
        return list(self.topics)

    async def subscribe(self, openid: str, topics: Sequence[str], now: datetime) -> Change:
        added = tuple(t for t in dict.fromkeys(topics) if t not in self.topics)
        already = tuple(t for t in topics if t in self.topics)
        self.topics += added
        return Change(added=added, already=already, remaining=tuple(self.topics))

    async def unsubscribe(self, openid: str, topics: Sequence[str] | None, now: datetime) -> Change:
        gone = tuple(t for t in self.topics if topics is None or t in topics)
        self.topics = [t for t in self.topics if t not in gone]
        return Change(removed=gone, remaining=tuple(self.topics))

    async def template_result(self, msgid: str, status: str, now: datetime) -> bool:
        return False

    async def record_consents(
        self, openid: str, answers: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        return None

    async def set_quiet_hours(self, openid: str, window: str | None) -> bool:
        return bool(self.topics)


# --- the reply as WeChat shows it ---------------------------------------------------------------


def text_parts(text: str) -> list[dict[str, str]]:
    """WeChat text with its ``<a href>`` links as parts: plain text and links (escaped by the
    template; only http(s) addresses become links)."""
    parts, at = [], 0
    for m in LINK.finditer(text):
        if m.start() > at:
            parts.append({"text": text[at : m.start()], "url": ""})
        parts.append({"text": m[2], "url": m[1]})
        at = m.end()
    if at < len(text):
        parts.append({"text": text[at:], "url": ""})
    return parts


def shown(reply: Reply | None) -> dict[str, Any]:
    if reply is None:
        return {"kind": "none"}
    if isinstance(reply, NewsReply):
        a = reply.articles[0]  # a passive reply to a message shows one card
        return {
            "kind": "news",
            "title": a.title,
            "description": a.description,
            "url": a.url,
            "more": len(reply.articles) - 1,
        }
    return {"kind": "text", "parts": text_parts(fit_text(reply.content))}


# --- pages --------------------------------------------------------------------------------------


@access("signed_in")
async def simulator_page(request: web.Request) -> web.Response:
    session = await get_session(request)
    return await render(
        request,
        "simulator.html",
        {
            "history": session.get(SESSION_HISTORY, []),
            "openid": sim_openid(request[USER].name),
            "revision": request.config_dict[keys.POLICIES].index.revision,
            "topics": session.get(SESSION_TOPICS, []),
            "prefill": request.query.get("q", "")[:MAX_TEXT],  # 试问 from a policy's page
        },
    )


@access("signed_in")
async def say(request: web.Request) -> web.Response:
    form = await request.post()
    text = str(form.get("text", "")).strip()[:MAX_TEXT]
    target = request.app.router["simulator"].url_for()
    if not text:
        raise web.HTTPSeeOther(target)
    session = await get_session(request)
    root = request.match_info.apps[0]  # the service (handlers live on it, not on the console)
    settings = root[keys.SETTINGS]
    subscriptions = SandboxSubscriptions(root[keys.SUBSCRIPTIONS], session.get(SESSION_TOPICS, []))
    questions = SandboxQuestions(root[keys.QUESTIONS])

    def sandbox(ctx: HandlerContext) -> HandlerContext:
        return dataclasses.replace(
            ctx, questions=questions, subscriptions=subscriptions, enterprises=None
        )

    openid = sim_openid(request[USER].name)
    openid_hash.set(OpenidHash(openid, settings.openid_hash_salt))  # as the callback logs it
    msg = TextMessage(
        to_user=settings.wechat.app_id or "gh_console_simulator",
        from_user=openid,
        create_time=int(time.time()),
        msg_id=time.time_ns(),
        content=text,
    )
    reply = await handle_message(root, msg, sandbox=sandbox)
    at = datetime.now(UTC).isoformat()
    history = [
        *session.get(SESSION_HISTORY, []),
        {"who": "me", "text": text, "at": at},
        {"who": "bot", "reply": shown(reply), "at": at},
    ]
    session[SESSION_HISTORY] = history[-HISTORY:]
    session[SESSION_TOPICS] = subscriptions.topics
    raise web.HTTPSeeOther(f"{target}#last")


@access("signed_in")
async def reset(request: web.Request) -> web.Response:
    session = await get_session(request)
    session.pop(SESSION_HISTORY, None)
    session.pop(SESSION_TOPICS, None)
    root = request.match_info.apps[0]
    await root[keys.CONVERSATIONS].save(sim_openid(request[USER].name), EMPTY, datetime.now(UTC))
    raise web.HTTPSeeOther(request.app.router["simulator"].url_for())
