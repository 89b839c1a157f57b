"""The policy library's figures for a period of local dates (the annual disclosure report).

Pure: a ``Library`` in, counts out (``bot.annual`` adds the question and push figures). The
library records a policy's dates, not when staff entered it, so a period is read by the
policy's own dates:

* *published* (主动公开): policies whose date of issue (``date``) falls in the period; a partial
  date (a year or a month) counts on its first day, as the library stores it;
* *interpretations* (政策解读): the interpretations attached to those policies (an
  interpretation carries no date of its own and is published with its policy);
* *expired* (到期失效): policies whose expiry date falls in the period;
* *replaced* (废止或修改): policies marked 已废止 or 已修改 whose replacement was issued in the
  period (a repeal without a named replacement has no date, so it is only in the total);
* *no longer in force* (期末已废止、失效): the policies that had lapsed or been repealed by the
  period's end: lapsed if the expiry date is at the latest the last day; repealed or amended if
  the replacement was issued by then (or, without a dated replacement, as the library marks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from policy_index.model import Library, Policy, Status


@dataclass(frozen=True, slots=True)
class LibraryFigures:
    published: int
    interpretations: int
    expired: int
    replaced: int
    not_in_force: int
    total: int  # policies in the library


def library_figures(library: Library, start: date, end: date) -> LibraryFigures:
    def within(day: date | None) -> bool:
        return day is not None and start <= day <= end

    published = [p for p in library.policies if within(p.date)]
    replaced = 0
    for p in library.policies:
        if p.status in (Status.REPEALED, Status.AMENDED) and p.replaced_by:
            successor = library.policy(p.replaced_by)
            replaced += successor is not None and within(successor.date)
    return LibraryFigures(
        published=len(published),
        interpretations=sum(len(p.interpretations) for p in published),
        expired=sum(within(p.expiry_date) for p in library.policies),
        replaced=replaced,
        not_in_force=sum(_gone_by(library, p, end) for p in library.policies),
        total=len(library),
    )


def _gone_by(library: Library, p: Policy, end: date) -> bool:
    if p.expiry_date is not None and p.expiry_date <= end:
        return True
    if p.status is Status.CURRENT:
        return False
    successor = library.policy(p.replaced_by) if p.replaced_by else None
    if successor is not None and successor.date is not None:
        return successor.date <= end
    return p.expiry_date is None  # marked so, with nothing to date it by
