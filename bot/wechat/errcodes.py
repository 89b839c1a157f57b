"""WeChat API error codes, classified once into what a sender does about them.

Source: the global return-code table and the notes in shared/notes/wechat.md §I.34.
"""

from __future__ import annotations

from enum import StrEnum

from bot.wechat.errors import WeChatError


class Action(StrEnum):
    RETRY = "retry"  # transient: back off and try again (bounded)
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - an action name, not a secret; the access token is stale: refresh once, retry once
    RECIPIENT_GONE = "recipient_gone"  # the user unfollowed / refused / bad openid: stop for them
    WINDOW_CLOSED = "window_closed"  # customer-service window or count used up: other channel
    QUOTA = "quota"  # daily or minute quota reached: pause that API
    CONFIGURATION = "configuration"  # our setup is wrong (IP whitelist, permission, template)
    PERMANENT = "permanent"  # anything else: do not retry


CLASSIFICATION: dict[int, Action] = {
    -1: Action.RETRY,
    40001: Action.REFRESH_TOKEN,
    40014: Action.REFRESH_TOKEN,
    42001: Action.REFRESH_TOKEN,
    40003: Action.RECIPIENT_GONE,
    43004: Action.RECIPIENT_GONE,
    43101: Action.RECIPIENT_GONE,
    45015: Action.WINDOW_CLOSED,
    45047: Action.WINDOW_CLOSED,
    45009: Action.QUOTA,
    45011: Action.QUOTA,
    45028: Action.QUOTA,
    40013: Action.CONFIGURATION,  # invalid appid
    40125: Action.CONFIGURATION,  # invalid appsecret
    40037: Action.CONFIGURATION,
    40164: Action.CONFIGURATION,
    47003: Action.PERMANENT,  # a template value is invalid: the notice's content, not the user
    48001: Action.CONFIGURATION,
}


MENU_NOT_FOUND = 46003  # menu/get when the account has no menu
MASS_DUPLICATE = 45065  # mass send: this clientmsgid was sent already (so it was delivered)

EXPLANATIONS: dict[int, str] = {
    40013: "AppID 不正确（GONGKAI_WECHAT__APP_ID）",
    40125: "AppSecret 不正确（GONGKAI_WECHAT__APP_SECRET）",
    40164: "本机出口 IP 不在公众平台“IP白名单”中（设置与开发 → 基本配置）",
    48001: "公众号没有这个接口的权限（未认证，或权限被收回）",
    45009: "今天调用这个接口的次数已用完，明天再试",
    40016: "一级菜单个数不对（应为 1–3 个）",
    40017: "一级菜单的 type 不正确",
    40018: "一级菜单名称长度不合要求",
    40019: "一级菜单的 key 长度不合要求",
    40020: "一级菜单的 url 长度不合要求",
    40023: "子菜单个数不对（每个一级菜单 1–5 个）",
    40024: "子菜单的 type 不正确",
    40025: "子菜单名称长度不合要求",
    40026: "子菜单的 key 长度不合要求",
    40027: "子菜单的 url 长度不合要求",
    40054: "子菜单 url 的域名不被接受",
    40055: "一级菜单 url 的域名不被接受",
    MENU_NOT_FOUND: "公众号当前没有自定义菜单",
}
"""What an errcode means for the person running a command (global return codes)."""


def classify(errcode: int) -> Action:
    return CLASSIFICATION.get(errcode, Action.PERMANENT)


def explain(errcode: int) -> str | None:
    return EXPLANATIONS.get(errcode)


class WeChatAPIError(WeChatError):
    """The WeChat API answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str, *, api: str = "") -> None:
        super().__init__(f"{api or 'WeChat API'}: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api
        self.action = classify(errcode)


class WeChatUnavailableError(WeChatError):
    """The WeChat API could not be reached or answered garbage (network error, 5xx, timeout)."""


class WeChatOutcomeUnknownError(WeChatUnavailableError):
    """The request may have reached WeChat, but no answer came back (timeout, dropped
    connection, 5xx, garbage): whether it took effect is unknown."""
