"""Push's exceptions: one root, caught once per flow (the CLI prints them; the API answers 4xx)."""

from __future__ import annotations

from pathlib import Path


class PushError(Exception):
    """Something push refused to do; the message says why, in Chinese, for staff."""


class ImportFileError(PushError):
    """A bad line in an import file: nothing of the file was written."""

    def __init__(self, path: Path, line: int, field: str, reason: str) -> None:
        super().__init__(f"{path}:{line}: {field}: {reason}")
        self.path = path
        self.line = line
        self.field = field
        self.reason = reason
