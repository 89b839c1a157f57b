"""From a parsed message to a reply: build the handler context and run the router.

This is the single place where a handler's failure is caught: it is logged once with its
traceback and the user gets a short apology instead of silence. Flood control is decided here
from the count the callback ledger took when it claimed the message (``sent_last_minute``);
the flood router then answers a user over the limit politely.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from bot import keys
from bot.context import HandlerContext
from bot.wechat import InboundMessage, TextMessage, VoiceMessage
from bot.wechat.replies import Reply, TextReply

logger = logging.getLogger(__name__)
handler_logger = logging.getLogger("handlers")

APOLOGY = "抱歉，系统暂时出了点问题，请稍后再试。急事可拨打 12345 政务服务便民热线。"


def make_context(
    app: web.Application, msg: InboundMessage, sent_last_minute: int
) -> HandlerContext:
    settings = app[keys.SETTINGS]
    return HandlerContext(
        settings=settings,
        openid=msg.from_user,
        account=msg.to_user,
        now=datetime.now(UTC),
        state=None,
        log=logging.LoggerAdapter(handler_logger, {"kind": msg.kind}),
        policies=app[keys.POLICIES],
        conversations=app[keys.CONVERSATIONS],
        questions=app[keys.QUESTIONS],
        personal_data=app[keys.PERSONAL_DATA],
        subscriptions=app[keys.SUBSCRIPTIONS],
        over_limit=sent_last_minute > settings.conversation.max_per_minute,
        enterprises=app[keys.ENTERPRISES],
    )


def as_text(msg: InboundMessage) -> InboundMessage:
    """A voice message WeChat transcribed is answered exactly like the same words typed."""
    if isinstance(msg, VoiceMessage) and msg.recognition and msg.recognition.strip():
        return TextMessage(
            to_user=msg.to_user,
            from_user=msg.from_user,
            create_time=msg.create_time,
            msg_id=msg.msg_id,
            raw=msg.raw,
            content=msg.recognition.strip(),
        )
    return msg


async def handle_message(
    app: web.Application,
    msg: InboundMessage,
    *,
    sent_last_minute: int = 0,
    sandbox: Callable[[HandlerContext], HandlerContext] | None = None,
) -> Reply | None:
    """``sandbox`` swaps parts of the context (the console's chat simulator: nothing of the
    simulated person reaches the question log or the subscriptions)."""
    msg = as_text(msg)
    ctx = make_context(app, msg, sent_last_minute)
    if sandbox is not None:
        ctx = sandbox(ctx)
    try:
        return await app[keys.ROUTER].dispatch(msg, ctx)
    except Exception:
        logger.exception("handler failed", extra={"action": "handler_failed", "kind": msg.kind})
        return TextReply(APOLOGY)
