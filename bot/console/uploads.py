"""Files uploaded to the console: how large they may be, and where they wait for a confirmation.

**Size.** The service keeps aiohttp's 1 MB request limit (the WeChat callback must stay small),
and aiohttp sizes every request by the root application — a sub-application's
``client_max_size`` is never consulted. So a console route that accepts a large upload (the
library, enterprise and subscriber imports) is marked ``large_body``, and the console's guard
gives that route's request a larger limit itself
(``request.clone(client_max_size=upload_limit(request))``, ``GONGKAI_STAFF__CONSOLE_UPLOAD_MB``),
once the staff member is known to be allowed to send it, and closes the spooled files afterwards.

**Waiting.** The first POST checks the file and shows a preview; the file itself waits under the
state dir (``<GONGKAI_STATE_DIR>/<folder>``) under a random name, so any process on the host can
confirm it and nothing is kept in the session. The confirmation names the file by that token
only (the name staff chose is shown and audited, never used as a path); files older than a day
are swept at the next upload.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiMapping

from bot import keys
from push.staff import Refused

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


def largest_file(request: web.Request) -> int:
    """The largest file an import form takes (the page checks it before sending), in bytes."""
    return upload_limit(request) - FORM_ROOM


def too_large(request: web.Request) -> str:
    """Why a body over the request's limit was refused, in the words staff read."""
    return TOO_LARGE.format(mb=f"{request.client_max_size / 1024**2:g}")


def close_files(form: MultiMapping[Any]) -> None:
    """Close the uploads aiohttp spooled for a cloned request (it closes only the original's)."""
    for value in form.values():
        if isinstance(value, web.FileField):
            value.file.close()


FORM_ROOM = 16 * 1024  # the rest of an import form, besides the file
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,40}$")
KEEP_UPLOADS_S = 24 * 3600
GONE = "找不到待导入的文件（可能已导入或已过期），请重新上传。"


@dataclass(frozen=True, slots=True)
class Upload:
    token: str
    name: str  # the file name staff chose (shown and audited, never used as a path)
    path: Path


class Uploads:
    """One folder of waiting uploads, accepting only ``suffixes`` (lower case, with the dot)."""

    def __init__(self, folder: Path, suffixes: Sequence[str], wrong_kind: str) -> None:
        self._folder = folder
        self._suffixes = tuple(suffixes)
        self._wrong_kind = wrong_kind  # the refusal for another kind of file, for staff

    def stash(self, name: str, data: bytes) -> Upload:
        suffix = Path(name).suffix.lower()
        if suffix not in self._suffixes:
            raise Refused(self._wrong_kind)
        self._folder.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - KEEP_UPLOADS_S
        for old in self._folder.iterdir():
            if old.is_file() and old.stat().st_mtime < cutoff:
                old.unlink(missing_ok=True)
        token = secrets.token_urlsafe(18)
        path = self._folder / f"{token}{suffix}"
        path.write_bytes(data)
        return Upload(token, Path(name).name, path)

    def upload(self, token: str, name: str) -> Upload:
        """The waiting upload ``token`` names; ``Refused`` (404) once imported or swept."""
        if TOKEN.match(token):
            for suffix in self._suffixes:
                if (path := self._folder / f"{token}{suffix}").is_file():
                    return Upload(token, Path(name).name or path.name, path)
        raise Refused(GONE, status=404)
