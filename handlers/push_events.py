"""Events WeChat sends about our pushes: a template message's final result
(TEMPLATESENDJOBFINISH, which corrects a delivery recorded as sent when the user had blocked the
account), and a user's answers to subscription-notice consent pop-ups and settings (the consent
ledger the subscription-message channel sends by). No reply is due for any of them."""

from __future__ import annotations

from bot.context import HandlerContext
from bot.routing import Router
from bot.wechat import (
    SubscribeMsgChangeEvent,
    SubscribeMsgPopupEvent,
    TemplateSendJobFinishEvent,
)

router = Router(name="push_events")


@router.on(TemplateSendJobFinishEvent)
async def on_template_result(msg: TemplateSendJobFinishEvent, ctx: HandlerContext) -> None:
    changed = await ctx.subscriptions.template_result(str(msg.msg_id or ""), msg.status, ctx.now)
    ctx.log.info(
        "template message result",
        extra={"action": "template_result", "status": msg.status, "changed": changed},
    )


@router.on(SubscribeMsgPopupEvent)
async def on_consent_popup(msg: SubscribeMsgPopupEvent, ctx: HandlerContext) -> None:
    await _consent(msg, ctx)


@router.on(SubscribeMsgChangeEvent)
async def on_consent_change(msg: SubscribeMsgChangeEvent, ctx: HandlerContext) -> None:
    await _consent(msg, ctx)


async def _consent(
    msg: SubscribeMsgPopupEvent | SubscribeMsgChangeEvent, ctx: HandlerContext
) -> None:
    answers = [(item.template_id, item.status or "") for item in msg.items if item.template_id]
    await ctx.subscriptions.record_consents(ctx.openid, answers, ctx.now)
    ctx.log.info("subscription-notice consent", extra={"action": "consent", "n": len(answers)})
