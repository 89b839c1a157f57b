"""Exceptions raised by the WeChat protocol layer.

Why a hierarchy: the callback endpoint catches ``CallbackError`` in exactly one place and
turns it into an HTTP status (``http_status``) and a low-cardinality log/metric label
(``reason``), without knowing which module raised it. ``WeChatError`` is the package root so
that the outbound API code can hang its own errors under the same tree.

A docstring's first line doubles as the default message, so ``raise SignatureError()`` still
says something useful in logs.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AppIdMismatchError",
    "CallbackError",
    "DecryptError",
    "MalformedMessageError",
    "ReplayError",
    "SignatureError",
    "WeChatError",
]


class WeChatError(Exception):
    """WeChat protocol error."""

    http_status: ClassVar[int] = 500
    reason: ClassVar[str] = "wechat_error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message if message else _default_message(type(self)))


def _default_message(cls: type[WeChatError]) -> str:
    doc = cls.__doc__ or cls.__name__
    return doc.strip().splitlines()[0]


class CallbackError(WeChatError):
    """Rejected WeChat callback request."""

    http_status = 400
    reason = "bad_callback"


class SignatureError(CallbackError):
    """Missing or forged signature / msg_signature."""

    http_status = 403
    reason = "bad_signature"


class ReplayError(CallbackError):
    """Stale timestamp or reused nonce."""

    http_status = 403
    reason = "replay"


class MalformedMessageError(CallbackError):
    """Malformed callback XML (bad syntax, DTD/entities or missing fields)."""

    http_status = 400
    reason = "malformed"


class DecryptError(CallbackError):
    """Encrypted payload cannot be decrypted (bad base64, padding or length)."""

    http_status = 400
    reason = "undecryptable"


class AppIdMismatchError(DecryptError):
    """Decrypted payload belongs to a different AppId."""

    http_status = 400
    reason = "wrong_appid"
