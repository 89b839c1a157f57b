"""Polite answers for whatever no other handler took; always last in the router."""

from __future__ import annotations

from bot.context import HandlerContext
from bot.routing import Router
from bot.wechat import (
    ClickEvent,
    ImageMessage,
    LinkMessage,
    LocationMessage,
    TextMessage,
    VideoMessage,
    VoiceMessage,
)
from bot.wechat.replies import TextReply
from handlers import texts

router = Router(name="fallback")


@router.on(VoiceMessage)
async def on_unrecognised_voice(msg: VoiceMessage, ctx: HandlerContext) -> TextReply:
    """Voice with a recognition result is dispatched as text; this one had none."""
    return TextReply(texts.VOICE_NOT_RECOGNISED)


@router.on(ImageMessage)
async def on_image(msg: ImageMessage, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.IMAGE_RECEIVED)


@router.on(VideoMessage)
async def on_video(msg: VideoMessage, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.VIDEO_RECEIVED)


@router.on(LocationMessage)
async def on_location(msg: LocationMessage, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.LOCATION_RECEIVED)


@router.on(LinkMessage)
async def on_link(msg: LinkMessage, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.LINK_RECEIVED)


@router.on(ClickEvent)
async def on_unknown_menu(msg: ClickEvent, ctx: HandlerContext) -> TextReply:
    ctx.log.warning("menu key without a handler", extra={"action": "menu_unknown", "key": msg.key})
    return TextReply(texts.MENU_UNAVAILABLE)


@router.on(TextMessage)
async def on_anything_else(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.not_understood(ctx.settings))
