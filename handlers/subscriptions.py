"""Subscriptions in chat: ``订阅 就业创业``, ``退订 …``, ``退订 全部``, ``我的订阅``, and the menu's
我的订阅. A topic typed loosely or asked for in a sentence ("订阅 社保", "我想订阅企业补贴的通知",
"取消惠企的推送") is read by ``push.topics.resolve`` against the catalogue."""

from __future__ import annotations

import re
from typing import cast

from bot.context import HandlerContext
from bot.routing import Router
from bot.wechat import InboundMessage, TextMessage
from bot.wechat.replies import TextReply
from handlers import texts
from policy_index.normalise import to_simplified
from push.topics import Topic, core, resolve

router = Router(name="subscriptions")

# "订阅 X", "我想订阅X的通知", "帮我订阅一下X"; "退订 X", "取消订阅 X", "取消X的推送"; "我的订阅".
SUBSCRIBE = re.compile(r"^(?:我想|我要|想要|请|帮我|麻烦)?订阅(?!号)")
UNSUBSCRIBE = re.compile(
    r"^(?:我想|我要|请|帮我|麻烦)?(?:退订|取消订阅|不再订阅|取消.{0,12}(?:推送|订阅|通知))"
)
QUIET = re.compile(
    r"^(?:设置)?免打扰(?:时间|时段)?\s*(?:(?P<off>关闭|取消|不要|无)|(?P<default>默认|恢复)"
    r"|(?P<h1>\d{1,2})[:：点](?P<m1>\d{2})?\s*(?:-|—|~|～|到|至)\s*(?P<h2>\d{1,2})[:：点]?(?P<m2>\d{2})?)"
)
MINE = ("我的订阅", "查看订阅", "订阅了什么", "我订阅了什么", "我订阅了哪些", "订阅列表")


def _text(msg: InboundMessage) -> str:
    return to_simplified(cast(TextMessage, msg).content.strip())


def _wants_mine(msg: InboundMessage, _ctx: HandlerContext) -> bool:
    return _text(msg).strip("？?。.！! ") in MINE


def _wants_unsubscribe(msg: InboundMessage, _ctx: HandlerContext) -> bool:
    return UNSUBSCRIBE.search(_text(msg)) is not None


def _wants_subscribe(msg: InboundMessage, _ctx: HandlerContext) -> bool:
    return SUBSCRIBE.search(_text(msg)) is not None


def _pairs(catalogue: list[Topic]) -> list[tuple[str, str]]:
    return [(t.name, t.description) for t in catalogue]


async def my_subscriptions_reply(ctx: HandlerContext) -> TextReply:
    mine = await ctx.subscriptions.mine(ctx.openid)
    catalogue = await ctx.subscriptions.catalogue()
    return TextReply(texts.my_subscriptions(mine, _pairs(catalogue)))


def _wants_quiet(msg: InboundMessage, _ctx: HandlerContext) -> bool:
    return _text(msg).startswith(("免打扰", "设置免打扰"))


@router.on(TextMessage, when=_wants_quiet)
async def on_quiet_hours(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    """免打扰 23:00-07:00 / 免打扰 关闭 / 免打扰 默认: the person's own quiet hours."""
    m = QUIET.match(_text(msg).replace(" ", ""))
    if m is None:
        return TextReply(texts.QUIET_HOURS_HOW)
    if m["off"]:
        window: str | None = "00:00-00:00"
    elif m["default"]:
        window = None
    else:
        h1, h2 = int(m["h1"]), int(m["h2"])
        m1, m2 = int(m["m1"] or 0), int(m["m2"] or 0)
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            return TextReply(texts.QUIET_HOURS_HOW)
        window = f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"
    if not await ctx.subscriptions.set_quiet_hours(ctx.openid, window):
        return TextReply(texts.QUIET_HOURS_NOT_SUBSCRIBED)
    return TextReply(texts.quiet_hours_set(window, ctx.settings.push.quiet_hours))


@router.on(TextMessage, when=_wants_mine)
async def on_mine(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    return await my_subscriptions_reply(ctx)


@router.on(TextMessage, when=_wants_unsubscribe)
async def on_unsubscribe(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    catalogue = await ctx.subscriptions.catalogue()
    found = resolve(msg.content, catalogue)
    if found.everything or not core(msg.content):  # "退订", "退订 全部", "取消订阅"
        change = await ctx.subscriptions.unsubscribe(ctx.openid, None, ctx.now)
    else:
        named = found.topics or found.choices
        if not named:
            return TextReply(texts.unknown_topic(core(msg.content), _pairs(catalogue)))
        change = await ctx.subscriptions.unsubscribe(ctx.openid, [t.name for t in named], ctx.now)
    ctx.log.info("unsubscribed", extra={"action": "unsubscribe", "topics": len(change.removed)})
    return TextReply(texts.unsubscribed(change.removed, change.remaining))


@router.on(TextMessage, when=_wants_subscribe)
async def on_subscribe(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    catalogue = await ctx.subscriptions.catalogue()
    found = resolve(msg.content, catalogue)
    if found.choices:
        return TextReply(texts.which_topic([t.name for t in found.choices]))
    if not found.topics:  # "订阅", or a topic the catalogue does not have
        return TextReply(texts.unknown_topic(core(msg.content), _pairs(catalogue)))
    change = await ctx.subscriptions.subscribe(ctx.openid, [t.name for t in found.topics], ctx.now)
    ctx.log.info("subscribed", extra={"action": "subscribe", "topics": len(change.added)})
    return TextReply(texts.subscribed(change.added, change.already, change.remaining))
