"""Request bodies larger than the service's limit, for the one route that needs them.

The service keeps aiohttp's 1 MB request limit (the WeChat callback must stay small), and
aiohttp sizes every request by the root application — a sub-application's ``client_max_size``
is never consulted. So a console route that accepts a large upload (the library import) is
marked ``large_body``, and the console's guard gives that route's request a larger limit itself
(``request.clone(client_max_size=upload_limit(request))``), once the staff member is known to be
allowed to send it, and closes the spooled files afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiMapping

from bot import keys

LARGE_BODY = "console_large_body"
TOO_LARGE = (
    "提交的内容超过 {mb} MB 的上限，已拒绝，没有保存任何内容。"
    "政策库文件过大时，请拆分成几个文件分别导入，或在服务器上用 gongkai import 命令导入。"
)

H = TypeVar("H", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


def large_body(handler: H) -> H:
    """Mark a handler that may receive up to ``GONGKAI_STAFF__CONSOLE_UPLOAD_MB``."""
    setattr(handler, LARGE_BODY, True)
    return handler


def is_large(handler: Any) -> bool:
    return bool(getattr(handler, LARGE_BODY, False))


def upload_limit(request: web.Request) -> int:
    """The largest body a ``large_body`` route accepts, in bytes."""
    return int(request.config_dict[keys.SETTINGS].staff.console_upload_mb * 1024**2)


def too_large(request: web.Request) -> str:
    """Why a body over the request's limit was refused, in the words staff read."""
    return TOO_LARGE.format(mb=f"{request.client_max_size / 1024**2:g}")


def close_files(form: MultiMapping[Any]) -> None:
    """Close the uploads aiohttp spooled for a cloned request (it closes only the original's)."""
    for value in form.values():
        if isinstance(value, web.FileField):
            value.file.close()
