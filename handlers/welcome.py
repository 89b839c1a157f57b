"""What a follower meets: the welcome on follow (naming the QR code's place), greetings, help;
and what leaving does: unfollowing deletes everything personal we hold about the user."""

from __future__ import annotations

from bot.context import HandlerContext
from bot.routing import Router
from bot.wechat import ScanEvent, SubscribeEvent, TextMessage, UnsubscribeEvent
from bot.wechat.replies import TextReply
from handlers import texts

router = Router(name="welcome")

HELP_WORDS = ("帮助", "help", "?", "？", "使用说明", "怎么用", "菜单")
GREETINGS = ("你好", "您好", "在吗", "在不在", "hello", "hi", "有人吗", "你好呀", "您好呀")
# Asking for people or for the disclosure route: the phone lines and how to apply.
CONTACT_WORDS = (
    "人工",
    "转人工",
    "人工客服",
    "人工服务",
    "找人工",
    "联系我们",
    "联系方式",
    "依申请公开",
    "申请公开",
    "信息公开申请",
)
THANKS = (
    "谢谢",
    "谢谢你",
    "谢谢您",
    "多谢",
    "好的谢谢",
    "好的，谢谢",
    "感谢",
    "thanks",
    "thank you",
)


def _place(ctx: HandlerContext, scene: str | None) -> str | None:
    """Where the scanned QR code is posted, if staff named its scene in the settings."""
    return ctx.settings.qr_scenes.get(scene) if scene else None


@router.subscribe()
async def on_follow(msg: SubscribeEvent, ctx: HandlerContext) -> TextReply:
    """Greet a new follower; a QR code's scene is logged and, when known, named."""
    ctx.log.info("new follower", extra={"action": "follow", "scene": msg.scene or "-"})
    welcome = texts.welcome(ctx.settings)
    place = _place(ctx, msg.scene)
    return TextReply(f"{texts.welcome_place(place)}\n{welcome}" if place else welcome)


@router.on(ScanEvent)
async def on_scan(msg: ScanEvent, ctx: HandlerContext) -> TextReply:
    """A follower scanned a parametric QR code again."""
    ctx.log.info("follower scanned", extra={"action": "scan", "scene": msg.scene or "-"})
    return TextReply(texts.welcome_back(ctx.settings, _place(ctx, msg.scene)))


@router.on(UnsubscribeEvent)
async def on_unfollow(msg: UnsubscribeEvent, ctx: HandlerContext) -> None:
    """Forget the person: conversation, counters, the link to their questions (counts stay)."""
    await ctx.personal_data.forget(ctx.openid)
    ctx.log.info("follower left; personal data deleted", extra={"action": "unfollow"})


@router.text(equals=HELP_WORDS)
async def on_help(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.help_text(ctx.settings))


@router.text(equals=GREETINGS)
async def on_greeting(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.GREETING)


@router.text(equals=THANKS)
async def on_thanks(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.THANKS)


@router.text(equals=CONTACT_WORDS)
async def on_contact(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    return TextReply(texts.menu_contact(ctx.settings))
