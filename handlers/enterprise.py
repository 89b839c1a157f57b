"""Enterprise contacts in chat: ``绑定 <统一社会信用代码> <绑定码>``, ``解绑``, ``我的企业``.

A contact binds with the credit code and the one-time binding code staff gave the enterprise
(``push.enterprises``); the credit code alone is public and binds nothing. The forms are fixed
and checked on the text as typed on a phone: full-width spaces, colons and letters are read as
their ASCII forms, and the credit code may be lower case. A message that only starts with 绑定
("绑定银行卡怎么办") is a question for the matcher, not a binding. The binding code is never
logged or put in a reply.
"""

from __future__ import annotations

import re
import unicodedata
from typing import cast

from bot.context import HandlerContext
from bot.routing import Router
from bot.wechat import InboundMessage, TextMessage
from bot.wechat.replies import TextReply
from policy_index.index import LOCAL_TZ
from push.enterprises import Binding, BindResult, Enterprises

router = Router(name="enterprise")

MINE_WORDS = ("我的企业", "我绑定的企业", "企业绑定", "查看绑定")
UNBIND = re.compile(r"^(?:解绑|解除绑定)(?:企业)?[\s:,;、]*([0-9A-Za-z]{18})?[\s。.!]*$")
BIND_WORD = re.compile(r"^(?:绑定|企业绑定)(?:企业)?[\s:,;、]*")
# After 绑定: the 18-character credit code and the binding code, with any separators (or the
# labels people copy from the notice staff give them).
BIND = re.compile(
    r"^(?:绑定|企业绑定)(?:企业)?[\s:,;、]*(?:统一社会信用代码|信用代码)?[\s:,;、]*"
    r"([0-9A-Za-z]{18})[\s:,;、]*(?:绑定码|验证码)?[\s:,;、]*(\d{4,12})[\s。.!]*$"
)

HOW_TO_BIND = (
    "绑定企业请发送：绑定 统一社会信用代码 绑定码\n"
    "例如：绑定 91350100M000100Y43 12345678\n"
    "绑定码由区里的工作人员提供给企业，一次有效。"
)
UNAVAILABLE = "企业绑定暂不可用，请稍后再试。"


def _plain(msg: InboundMessage) -> str:
    """The text with full-width forms as ASCII (""，　９１" -> ":, 91")."""
    return unicodedata.normalize("NFKC", cast(TextMessage, msg).content).strip()


def _binds(msg: InboundMessage, _ctx: HandlerContext) -> bool:
    text = _plain(msg)
    if BIND_WORD.match(text) is None:
        return False
    rest = BIND_WORD.sub("", text, count=1)
    # Only the bare command or one that carries a credit-code-like token is ours.
    return not rest or re.search(r"[0-9A-Za-z]{15,}", rest) is not None


def _unbinds(msg: InboundMessage, _ctx: HandlerContext) -> bool:
    return UNBIND.match(_plain(msg)) is not None


def _service(ctx: HandlerContext) -> Enterprises | None:
    return ctx.enterprises


def bind_reply(outcome: Binding) -> str:
    if outcome.result is BindResult.BOUND:
        return (
            f"绑定成功！您已是“{outcome.enterprise}”的联系人。\n"
            "该企业符合条件的惠企政策（如免申即享）会通过本公众号通知您。"
            "发送“我的企业”查看，发送“解绑”解除。"
        )
    if outcome.result is BindResult.ALREADY:
        return f"您已是“{outcome.enterprise}”的联系人，无需重复绑定。"
    if outcome.result is BindResult.BAD_USCC:
        return f"{outcome.reason}。请核对后重新发送。\n{HOW_TO_BIND}"
    if outcome.result is BindResult.LOCKED:
        assert outcome.retry_after is not None  # noqa: S101 - set for every LOCKED
        at = outcome.retry_after.astimezone(LOCAL_TZ).strftime("%H:%M")
        return f"绑定码错误次数过多，请于 {at} 以后再试。如有疑问请联系发放绑定码的工作人员。"
    left = f"（还可再试 {outcome.tries_left} 次）" if outcome.tries_left else ""
    return (
        "绑定未成功：统一社会信用代码与绑定码不匹配，或绑定码已使用、已过期。"
        f"请核对后重试{left}，或请工作人员重新发放绑定码。"
    )


@router.on(TextMessage, when=_binds)
async def on_bind(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    service = _service(ctx)
    if service is None:
        return TextReply(UNAVAILABLE)
    found = BIND.match(_plain(msg))
    if found is None:
        return TextReply(HOW_TO_BIND)
    outcome = await service.bind(ctx.openid, found.group(1), found.group(2))
    ctx.log.info("binding attempt", extra={"action": "enterprise_bind", "result": outcome.result})
    return TextReply(bind_reply(outcome))


@router.on(TextMessage, when=_unbinds)
async def on_unbind(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    service = _service(ctx)
    if service is None:
        return TextReply(UNAVAILABLE)
    found = UNBIND.match(_plain(msg))
    uscc = found.group(1) if found else None
    names = await service.unbind(ctx.openid, uscc)
    if not names:
        return TextReply("您目前没有绑定这家企业。" if uscc else "您目前没有绑定企业。")
    listed = "、".join(f"“{n}”" for n in names)
    return TextReply(f"已解除与{listed}的绑定，今后不再收到相关的企业政策通知。")


@router.text(equals=MINE_WORDS)
async def on_mine(msg: TextMessage, ctx: HandlerContext) -> TextReply:
    service = _service(ctx)
    if service is None:
        return TextReply(UNAVAILABLE)
    mine = await service.mine(ctx.openid)
    if not mine:
        return TextReply(f"您还没有绑定企业。\n{HOW_TO_BIND}")
    lines = [f"{i}. {e.name}（{e.uscc}）" for i, e in enumerate(mine, 1)]
    return TextReply("您绑定的企业：\n" + "\n".join(lines) + "\n发送“解绑”可解除绑定。")
