"""Statistics for the annual disclosure report, from the question log.

``gongkai stats --from --to`` and ``GET /staff/api/stats`` give, for a range of dates:
questions per day, the decision mix, the answer rate, the top topics and the top unanswered
questions, and what staff did with those. Dates are the county's (Asia/Shanghai, as everywhere
the bot shows a date): a day runs from local midnight to local midnight, and the range includes
both ends.

Definitions (also in docs/conversations.md):

* *questions*: rows of the log — every question put to the matcher, and every facet follow-up;
* *decision mix*: ``answer`` (answered at once), ``clarify`` (numbered options offered),
  ``none`` (nothing found), ``followup`` (a facet of the last policy asked for);
* *answer rate*: of the questions put to the matcher (follow-ups not counted), the share for
  which the user was shown an answer, at once or by picking one of the options offered;
* *top topics*: the library topics of the policies (or Q&A pairs' policies) shown as answers,
  follow-ups not counted; a question counts once for each topic of its answer; answers no longer
  in the library count for no topic;
* *top unanswered*: the ``none`` questions, and any other sent to the inbox ("0. 都不是"), grouped
  as the inbox groups them (``bot.grouping``);
* *inbox*: the questions sent to the unanswered inbox, by what staff did (``open`` is 待答复: in
  a range that holds them all, exactly the questions ``gongkai inbox list`` shows).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.grouping import THRESHOLD, cluster
from bot.inbox import DELIVERIES, representative
from bot.privacy import mask_numbers
from bot.questions import QUESTIONS
from policy_index.index import LOCAL_TZ
from policy_index.model import Library

DECISIONS = ("answer", "clarify", "none", "followup")
DECISION_NAMES = {
    "answer": "直接答复",
    "clarify": "请用户选择",
    "none": "未找到",
    "followup": "追问",
}
TOP = 10
EXAMPLES = 3
MAX_DAYS = 3660


class StatsRangeError(ValueError):
    """The date range is reversed or too long (the message is for staff, in Chinese)."""


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    decisions: dict[str, int]
    answered: int  # questions put to the matcher whose asker was shown an answer

    @property
    def questions(self) -> int:
        return sum(self.decisions.values())


@dataclass(frozen=True, slots=True)
class Unanswered:
    text: str  # the group's most common wording
    count: int
    examples: tuple[str, ...]  # other wordings


@dataclass(frozen=True, slots=True)
class Report:
    start: date
    end: date
    days: tuple[Day, ...]
    topics: tuple[tuple[str, int], ...]
    unanswered: tuple[Unanswered, ...]
    inbox: dict[str, int] = field(default_factory=dict)  # none questions by staff status
    deliveries: dict[str, int] = field(default_factory=dict)  # staff answers by delivery status

    @property
    def decisions(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for day in self.days:
            total.update(day.decisions)
        return {d: total.get(d, 0) for d in DECISIONS}

    @property
    def questions(self) -> int:
        return sum(day.questions for day in self.days)

    @property
    def matched(self) -> int:
        """Questions put to the matcher (follow-ups not counted)."""
        return self.questions - self.decisions["followup"]

    @property
    def answered(self) -> int:
        return sum(day.answered for day in self.days)

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.matched if self.matched else None

    def to_json(self) -> dict[str, Any]:
        rate = self.answer_rate
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "timezone": str(LOCAL_TZ),
            "questions": self.questions,
            "decisions": self.decisions,
            "matched": self.matched,
            "answered": self.answered,
            "answer_rate": round(rate, 4) if rate is not None else None,
            "per_day": [
                {
                    "date": d.day.isoformat(),
                    "questions": d.questions,
                    "answered": d.answered,
                    **d.decisions,
                }
                for d in self.days
            ],
            "top_topics": [{"topic": t, "questions": n} for t, n in self.topics],
            "top_unanswered": [
                {"text": u.text, "questions": u.count, "examples": list(u.examples)}
                for u in self.unanswered
            ],
            "inbox": self.inbox,
            "deliveries": self.deliveries,
        }


def utc_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The instants (UTC) at which local ``start`` begins and local ``end`` ends."""
    if end < start:
        raise StatsRangeError(f"结束日期 {end} 早于开始日期 {start}")
    if (end - start).days >= MAX_DAYS:
        raise StatsRangeError(f"一次最多统计 {MAX_DAYS} 天（约十年），请缩短范围")
    lo = datetime.combine(start, time.min, LOCAL_TZ).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time.min, LOCAL_TZ).astimezone(UTC)
    return lo, hi


def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


async def report(
    engine: AsyncEngine, library: Library, start: date, end: date, *, similarity: float = THRESHOLD
) -> Report:
    """The statistics of the local dates ``start`` to ``end`` (inclusive)."""
    bounds = utc_bounds(start, end)
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: _report(c, library, start, end, bounds, similarity))


def _report(
    conn: Connection,
    library: Library,
    start: date,
    end: date,
    bounds: tuple[datetime, datetime],
    similarity: float,
) -> Report:
    q, d = QUESTIONS.c, DELIVERIES.c
    in_range = (q.asked_at >= bounds[0], q.asked_at < bounds[1])
    decisions: dict[date, Counter[str]] = {}
    answered: Counter[date] = Counter()
    rows = conn.execute(select(q.asked_at, q.decision, q.answered_id.is_not(None)).where(*in_range))
    for asked_at, decision, was_answered in rows:
        day = local_day(asked_at)
        decisions.setdefault(day, Counter())[decision] += 1
        if was_answered and decision != "followup":
            answered[day] += 1
    days = tuple(
        Day(day, {k: decisions.get(day, Counter()).get(k, 0) for k in DECISIONS}, answered[day])
        for day in (start + timedelta(days=n) for n in range((end - start).days + 1))
    )
    shown = conn.execute(
        select(q.answered_kind, q.answered_id, func.count())
        .where(*in_range, q.answered_id.is_not(None), q.decision != "followup")
        .group_by(q.answered_kind, q.answered_id)
    )
    unanswered = or_(q.decision == "none", q.status.is_not(None))
    none = conn.execute(
        select(q.id, q.text, q.normalised).where(*in_range, unanswered).order_by(q.id)
    ).all()
    # What went to the inbox, whatever the matcher decided ("0. 都不是" after options sends a
    # clarify question there too): the same rows `gongkai inbox list` shows while open.
    inbox = conn.execute(
        select(q.status, func.count()).where(*in_range, q.status.is_not(None)).group_by(q.status)
    )
    deliveries = conn.execute(
        select(d.status, func.count())
        .select_from(DELIVERIES.join(QUESTIONS, q.id == d.question_id))
        .where(*in_range)
        .group_by(d.status)
    )
    return Report(
        start,
        end,
        days,
        topics=tuple(_topics(library, [(k, i, n) for k, i, n in shown]).most_common(TOP)),
        unanswered=_unanswered(none, similarity),
        inbox={str(status): int(n) for status, n in inbox},
        deliveries={str(status): int(n) for status, n in deliveries},
    )


def _topics(library: Library, shown: list[tuple[str, str, int]]) -> Counter[str]:
    topics: Counter[str] = Counter()
    for kind, target, times in shown:
        policy_id: str | None = target
        if kind == "qa":
            qa = library.qa(target)
            policy_id = qa.policy_id if qa else None
        policy = library.policy(policy_id) if policy_id else None
        for topic in policy.topics if policy else ():
            topics[topic] += times
    return topics


def _unanswered(rows: Sequence[Any], similarity: float) -> tuple[Unanswered, ...]:
    groups = cluster(rows, key=lambda r: str(r.normalised), threshold=similarity)[:TOP]
    out = []
    for group in groups:
        texts = [mask_numbers(str(r.text).strip()) for r in group.members]
        text = representative(texts)
        others = tuple(t for t in dict.fromkeys(texts) if t != text)[:EXAMPLES]
        out.append(Unanswered(text, len(texts), others))
    return tuple(out)
