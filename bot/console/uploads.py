"""Files uploaded to the console that wait for a confirmation (an import's second step).

The first POST checks the file and shows a preview; the file itself waits under the state dir
(``<GONGKAI_STATE_DIR>/<folder>``) under a random name, so any process on the host can confirm
it and nothing is kept in the session. The confirmation names the file by that token only (the
name staff chose is shown and audited, never used as a path); files older than a day are swept
at the next upload. The policy library's and the people pages' imports share this.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from push.staff import Refused

# aiohttp's default request limit (bot.app keeps it), less room for the rest of the form.
MAX_UPLOAD = 1024**2 - 16 * 1024
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
