"""Dates as precise as a catalogue gives them: ``2023``, ``2023-02`` or ``2023-02-15``.

Real catalogues often know only the month or the year a policy was issued. A :class:`PartialDate`
is an ordinary :class:`datetime.date` (so it compares, sorts and is stored like one) that also
remembers its precision: it stands for the first day of its period, or — for an expiry date,
``end=True`` — the last, so "有效期至2025年" lapses on 1 January 2026. It is written back and shown
as precisely as it was given: ``2023-02`` and 2023年2月.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from enum import StrEnum
from typing import Any, Self

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{1,2}))?$")


class Precision(StrEnum):
    YEAR = "year"
    MONTH = "month"
    DAY = "day"


class PartialDate(dt.date):
    """A date known to the year or month only; as a date, the first (or last) day of that period."""

    __slots__ = ("precision",)
    precision: Precision

    def __new__(
        cls, year: int, month: int = 1, day: int = 1, precision: Precision = Precision.DAY
    ) -> Self:
        self = super().__new__(cls, year, month, day)
        self.precision = precision
        return self

    @classmethod
    def of(cls, year: int, month: int | None = None, *, end: bool = False) -> PartialDate:
        """The year (``month`` None) or month as a date: its first day, or its last when ``end``."""
        if month is None:
            return cls(year, 12 if end else 1, 31 if end else 1, Precision.YEAR)
        last = calendar.monthrange(year, month)[1]
        return cls(year, month, last if end else 1, Precision.MONTH)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.year, self.month, self.day, self.precision))

    def __str__(self) -> str:
        if self.precision is Precision.YEAR:
            return f"{self.year:04d}"
        if self.precision is Precision.MONTH:
            return f"{self.year:04d}-{self.month:02d}"
        return super().__str__()

    def __repr__(self) -> str:
        return f"PartialDate({str(self)!r})"


def parse_date(text: str, *, end: bool = False) -> dt.date:
    """``YYYY-MM-DD`` as a date; ``YYYY`` or ``YYYY-MM`` as a :class:`PartialDate` (its first
    day, or its last when ``end``). Raises ValueError for anything else."""
    text = text.strip()
    if m := _PARTIAL.match(text):
        month = int(m[2]) if m[2] else None
        if month is not None and not 1 <= month <= 12:
            raise ValueError(f"no month {month}")
        return PartialDate.of(int(m[1]), month, end=end)
    return dt.date.fromisoformat(text)


def precision_of(day: dt.date) -> Precision:
    return day.precision if isinstance(day, PartialDate) else Precision.DAY


def with_precision(day: dt.date, precision: Precision | str | None) -> dt.date:
    """``day`` (as stored) with the precision it was given (as stored beside it)."""
    if precision is None or Precision(precision) is Precision.DAY:
        return day
    return PartialDate(day.year, day.month, day.day, Precision(precision))


def iso(day: dt.date) -> str:
    """The date as it was written: ``2023``, ``2023-02`` or ``2023-02-15``."""
    return str(day) if isinstance(day, PartialDate) else day.isoformat()


def chinese(day: dt.date) -> str:
    """The date as people write it: 2023年, 2023年2月 or 2023年2月15日."""
    precision = precision_of(day)
    if precision is Precision.YEAR:
        return f"{day.year}年"
    if precision is Precision.MONTH:
        return f"{day.year}年{day.month}月"
    return f"{day.year}年{day.month}月{day.day}日"
