"""Every sentence the bot says, in one place (Simplified Chinese), as small formatting functions."""

from __future__ import annotations

from bot.config import Settings


def welcome(settings: Settings) -> str:
    return (
        f"您好，欢迎关注{settings.account_name}！\n"
        "我是政策咨询助手，可以帮您：\n"
        "· 查政策：直接发问题，比如“灵活就业人员社保补贴怎么申请”\n"
        "· 看依据：每条答复都注明发文机关、文号和有效期，并附原文与政策解读链接\n"
        "· 办事指南：申请条件、所需材料、办理流程、咨询电话\n"
        "· 订阅通知：企业可订阅免申即享、惠企补贴等政策通知\n"
        f"回复“帮助”查看用法。找不到答案时，可拨打 {settings.hotline} 政务服务便民热线。"
    )


def help_text(settings: Settings) -> str:
    return (
        "【使用说明】\n"
        "1. 直接用文字提问，说清楚“谁、办什么事”，比如：\n"
        "   “失业了能领失业保险金吗”\n"
        "   “小微企业有哪些税费减免”\n"
        "2. 也可以发语音，我会按识别出的文字来查。\n"
        "3. 答复里有多个选项时，回复对应数字即可。\n"
        f"4. 没找到想要的，可拨打 {settings.hotline}，或向政府信息公开工作机构申请依申请公开。"
    )


def not_understood(settings: Settings) -> str:
    return (
        "抱歉，我暂时没能理解您的问题。\n"
        "请换个说法再试试，比如“申请低保需要什么条件”；回复“帮助”查看用法。\n"
        f"也可以拨打 {settings.hotline} 政务服务便民热线咨询。"
    )


VOICE_NOT_RECOGNISED = "抱歉，这条语音没有识别出文字。请直接打字告诉我您想咨询的问题。"
IMAGE_RECEIVED = "收到您的图片。我目前只能读懂文字提问，请用文字描述您想咨询的政策或事项。"
VIDEO_RECEIVED = "收到您的视频。我目前只能读懂文字提问，请用文字描述您想咨询的政策或事项。"
LOCATION_RECEIVED = (
    "收到您的位置。如需查询办事地点，请直接发送“事项名称 + 在哪里办”，比如“社保卡在哪里办”。"
)
LINK_RECEIVED = "收到您分享的链接。如需咨询其中的政策，请用文字告诉我您想了解哪一点。"
MENU_UNAVAILABLE = "这个菜单暂时还没有内容，您可以直接发文字提问。"
