"""Flood control's answer: a user over the limit is told politely to slow down.

The counting happens before routing (``bot.flood``, in the database, across processes); this
router only decides what to say, so no message is ever dropped in silence. It comes first.
"""

from __future__ import annotations

from bot.context import HandlerContext
from bot.routing import Router
from bot.wechat import (
    ClickEvent,
    ImageMessage,
    InboundMessage,
    LinkMessage,
    LocationMessage,
    TextMessage,
    UnknownMessage,
    VideoMessage,
    VoiceMessage,
)
from bot.wechat.replies import TextReply
from handlers import texts

router = Router(name="flood")


SENT_BY_USERS = (
    TextMessage,
    VoiceMessage,
    ImageMessage,
    VideoMessage,
    LocationMessage,
    LinkMessage,
    UnknownMessage,
    ClickEvent,
)


@router.on(*SENT_BY_USERS, when=lambda _m, c: c.over_limit)
async def on_too_many(msg: InboundMessage, ctx: HandlerContext) -> TextReply:
    ctx.log.info("flood control", extra={"action": "flood_limited"})
    return TextReply(texts.slow_down(ctx.settings))
