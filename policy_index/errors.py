"""Errors of the policy library: one root, and format errors that name file, line and field."""

from __future__ import annotations

from dataclasses import dataclass


class PolicyIndexError(Exception):
    """Something went wrong in the policy library or the matcher."""


@dataclass(frozen=True, slots=True)
class RecordError:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class LibraryFormatError(PolicyIndexError):
    """The library file has bad records; nothing was imported."""

    def __init__(self, errors: list[RecordError]) -> None:
        self.errors = errors
        shown = "\n".join(f"  {e}" for e in errors[:50])
        more = f"\n  … and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{len(errors)} problem(s) in the library file(s):\n{shown}{more}")
