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
    48001: Action.CONFIGURATION,
}


def classify(errcode: int) -> Action:
    return CLASSIFICATION.get(errcode, Action.PERMANENT)


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
