"""What a new follower meets: the welcome on follow and the help text."""

from __future__ import annotations

from bot.context import HandlerContext
from bot.routing import Router
from bot.wechat import SubscribeEvent, TextMessage, UnsubscribeEvent
from bot.wechat.replies import TextReply
from handlers import texts

router = Router(name="welcome")

HELP_WORDS = ("帮助", "help", "?", "？", "使用说明", "怎么用", "菜单")


@router.subscribe()
async def on_follow(msg: SubscribeEvent, ctx: HandlerContext) -> TextReply:
    """Greet a new follower (a QR-code scene, if any, is logged for the statistics)."""
    ctx.log.info("new follower", extra={"action": "follow", "scene": msg.scene or "-"})
    return TextReply(texts.welcome(ctx.settings))


@router.on(UnsubscribeEvent)
async def on_unfollow(msg: UnsubscribeEvent, ctx: HandlerContext) -> None:
    ctx.log.info("follower left", extra={"action": "unfollow"})


@router.text(equals=HELP_WORDS)
async def on_help(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.help_text(ctx.settings))
