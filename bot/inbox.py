"""The unanswered inbox: open questions grouped for staff, each answered once.

A question the bot could not answer waits in ``question_log`` with ``status = 'open'``. Staff
list the open questions grouped by similarity (``bot.grouping``), write one answer for a group,
and every asker still reachable is told (``push.answers``). Two tables (migration 0004):

``staff_answer``
    one row per answer staff wrote: its text, the question as answered, who wrote it, and the
    Q&A pair it was saved as in the policy library, if any.
``answer_delivery``
    one row per answered question, **keyed by the question**: a question can be answered only
    once, and its asker told only once, whatever retries, crashes or concurrent staff do. Its
    status records what happened: see ``DeliveryStatus`` and ``push.answers``.

Claiming is one transaction that *starts with a write* (``UPDATE question_log SET status =
'answered' WHERE id IN (…) AND status = 'open' RETURNING …``): on PostgreSQL the rows are locked
and a concurrent claim of the same question finds it no longer open; on SQLite the write lock is
taken first, so no transaction reads a snapshot it could not then write on. The delivery rows
are inserted in the same transaction, so an answered question always has one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ForeignKey, Integer, String, Table, Text, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime
from bot.grouping import THRESHOLD, cluster
from bot.questions import ANSWERED, DISMISSED, OPEN, QUESTIONS, REACHABLE_FOR


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # claimed with the answer, not yet tried
    SENDING = "sending"  # recorded (committed) just before the request to WeChat
    SENT = "sent"  # WeChat accepted the message
    UNREACHABLE = "unreachable"  # can never be sent: see ``reason``
    FAILED = "failed"  # certainly not delivered (WeChat refused, or was not reached): retried
    UNKNOWN = "unknown"  # may or may not have been delivered: never retried
    SAME_ASKER = "same_asker"  # the asker is told through another of their questions


class StaffAnswerRow(Base):
    __tablename__ = "staff_answer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    question: Mapped[str] = mapped_column(Text)  # the question as answered
    text: Mapped[str] = mapped_column(Text)  # the answer staff wrote
    author: Mapped[str | None] = mapped_column(String(64))
    qa_id: Mapped[str | None] = mapped_column(String(64))  # saved as this library Q&A pair
    policy_id: Mapped[str | None] = mapped_column(String(64))


class DeliveryRow(Base):
    __tablename__ = "answer_delivery"

    question_id: Mapped[int] = mapped_column(
        ForeignKey("question_log.id", ondelete="CASCADE"), primary_key=True
    )
    answer_id: Mapped[int] = mapped_column(
        ForeignKey("staff_answer.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))  # DeliveryStatus
    reason: Mapped[str | None] = mapped_column(String(32))  # why unreachable / failed / unknown
    errcode: Mapped[int | None] = mapped_column(Integer)  # WeChat's, when it refused
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # marked sending
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


STAFF_ANSWERS: Table = cast(Table, StaffAnswerRow.__table__)
DELIVERIES: Table = cast(Table, DeliveryRow.__table__)


@dataclass(frozen=True, slots=True)
class OpenQuestion:
    id: int
    asked_at: datetime
    text: str
    normalised: str
    openid: str | None  # never shown: only whether the asker can still be reached

    def reachable(self, now: datetime) -> bool:
        """Still inside WeChat's customer-service window (as far as the log knows)."""
        return self.openid is not None and self.asked_at + REACHABLE_FOR > now


@dataclass(frozen=True, slots=True)
class Group:
    """Open questions that ask the same thing; ``id`` is its oldest question's."""

    questions: tuple[OpenQuestion, ...]  # oldest first

    @property
    def id(self) -> int:
        return min(q.id for q in self.questions)

    @property
    def text(self) -> str:
        return representative(q.text for q in self.questions)

    def reachable_askers(self, now: datetime) -> int:
        return len({q.openid for q in self.questions if q.reachable(now)})


def representative(texts: Iterable[str]) -> str:
    """The most common wording (the earliest among equals)."""
    counts = Counter(t.strip() for t in texts)
    return counts.most_common(1)[0][0] if counts else ""


@dataclass(frozen=True, slots=True)
class Claim:
    """What an answer took from the inbox."""

    answer_id: int | None  # None when none of the questions was still open
    question: str  # the question as answered
    claimed: tuple[int, ...]
    texts: tuple[str, ...]  # the claimed questions' wordings, oldest first
    earlier: dict[int, int]  # question id -> the earlier answer it already has
    not_open: tuple[int, ...]  # dismissed, unknown, or never in the inbox


@dataclass(frozen=True, slots=True)
class Delivery:
    question_id: int
    question: str
    asked_at: datetime
    status: DeliveryStatus
    reason: str | None
    errcode: int | None
    attempted_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Answer:
    id: int
    created_at: datetime
    question: str
    text: str
    author: str | None
    qa_id: str | None
    policy_id: str | None
    deliveries: tuple[Delivery, ...]

    def summary(self) -> dict[str, int]:
        """Deliveries by status (every status present, in enum order)."""
        counts = Counter(d.status for d in self.deliveries)
        return {s.value: counts.get(s, 0) for s in DeliveryStatus}


@dataclass(frozen=True, slots=True)
class AnswerHead:
    """An answer as listed: without its deliveries, only how many ended how."""

    id: int
    created_at: datetime
    question: str
    author: str | None
    qa_id: str | None
    counts: dict[str, int]  # DeliveryStatus value -> deliveries (only those present)


Dismissed = Callable[[AsyncConnection, list[int]], Awaitable[None]]
Claimed = Callable[[AsyncConnection, Claim], Awaitable[None]]


class Inbox:
    def __init__(self, engine: AsyncEngine, *, similarity: float = THRESHOLD) -> None:
        self.engine = engine
        self.similarity = similarity

    async def _run(self, fn: Any) -> Any:
        async with self.engine.begin() as conn:
            return await conn.run_sync(fn)

    async def open_questions(self, since: datetime | None = None) -> list[OpenQuestion]:
        q = QUESTIONS.c
        query = select(q.id, q.asked_at, q.text, q.normalised, q.openid).where(q.status == OPEN)
        if since is not None:
            query = query.where(q.asked_at >= since)
        query = query.order_by(q.asked_at, q.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [OpenQuestion(*row) for row in rows]

    async def groups(self, since: datetime | None = None) -> list[Group]:
        """Open questions grouped by similarity, largest groups first."""
        questions = await self.open_questions(since)
        clusters = cluster(questions, key=lambda q: q.normalised, threshold=self.similarity)
        return [Group(c.members) for c in clusters]

    async def group_of(self, question_id: int) -> Group | None:
        """The current group of an open question."""
        for group in await self.groups():
            if any(q.id == question_id for q in group.questions):
                return group
        return None

    async def claim(
        self,
        question_ids: Sequence[int],
        text: str,
        now: datetime,
        *,
        question: str | None = None,
        author: str | None = None,
        then: Claimed | None = None,
    ) -> Claim:
        """Take the questions still open out of the inbox under one new answer. ``then`` (the
        console's audit row) runs in the same transaction when an answer was recorded."""
        ids = sorted(set(question_ids))
        async with self.engine.begin() as conn:
            claim = cast(
                Claim, await conn.run_sync(lambda c: _claim(c, ids, text, now, question, author))
            )
            if claim.answer_id is not None and then is not None:
                await then(conn, claim)
        return claim

    async def set_saved_qa(self, answer_id: int, qa_id: str, policy_id: str | None) -> None:
        statement = (
            update(STAFF_ANSWERS)
            .where(STAFF_ANSWERS.c.id == answer_id)
            .values(qa_id=qa_id, policy_id=policy_id)
        )
        await self._run(lambda c: c.execute(statement))

    async def dismiss(
        self, question_ids: Sequence[int], *, then: Dismissed | None = None
    ) -> list[int]:
        """Set open questions aside (nothing to answer); returns those that were open.
        ``then`` (the console's audit row) runs in the same transaction when any was."""
        q = QUESTIONS.c
        statement = (
            update(QUESTIONS)
            .where(q.id.in_(sorted(set(question_ids))), q.status == OPEN)
            .values(status=DISMISSED)
            .returning(q.id)
        )
        async with self.engine.begin() as conn:
            dismissed = sorted(await conn.run_sync(lambda c: [r[0] for r in c.execute(statement)]))
            if dismissed and then is not None:
                await then(conn, dismissed)
        return dismissed

    async def answer(self, answer_id: int) -> Answer | None:
        """An answer and what became of each of its deliveries."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(lambda c: _answer(c, answer_id))

    async def recent_answers(self, limit: int = 20) -> list[AnswerHead]:
        """The latest answers, newest first."""
        a, d = STAFF_ANSWERS.c, DELIVERIES.c
        async with self.engine.connect() as conn:
            heads = (
                await conn.execute(
                    select(a.id, a.created_at, a.question, a.author, a.qa_id)
                    .order_by(a.id.desc())
                    .limit(limit)
                )
            ).all()
            counts: dict[int, dict[str, int]] = {h.id: {} for h in heads}
            if heads:
                rows = await conn.execute(
                    select(d.answer_id, d.status, func.count())
                    .where(d.answer_id.in_(list(counts)))
                    .group_by(d.answer_id, d.status)
                )
                for answer_id, status, n in rows:
                    counts[answer_id][status] = int(n)
        return [AnswerHead(*h, counts=counts[h.id]) for h in heads]

    async def answer_ids_for(self, question_ids: Sequence[int]) -> dict[int, int]:
        d = DELIVERIES.c
        query = select(d.question_id, d.answer_id).where(d.question_id.in_(list(question_ids)))
        async with self.engine.connect() as conn:
            return {int(qid): int(aid) for qid, aid in (await conn.execute(query)).all()}


def _claim(
    conn: Connection,
    ids: list[int],
    text: str,
    now: datetime,
    question: str | None,
    author: str | None,
) -> Claim:
    q, d = QUESTIONS.c, DELIVERIES.c
    taken = []
    if ids:
        statement = (
            update(QUESTIONS)
            .where(q.id.in_(ids), q.status == OPEN)
            .values(status=ANSWERED)
            .returning(q.id, q.openid, q.asked_at, q.text)
        )
        taken = sorted(conn.execute(statement).all(), key=lambda r: (r.asked_at, r.id))
    rest = [i for i in ids if i not in {r.id for r in taken}]
    earlier: dict[int, int] = {}
    if rest:
        found = conn.execute(select(d.question_id, d.answer_id).where(d.question_id.in_(rest)))
        earlier = {int(qid): int(aid) for qid, aid in found}
    not_open = tuple(i for i in rest if i not in earlier)
    texts = tuple(r.text for r in taken)
    wording = (question or "").strip() or representative(texts)
    if not taken:
        return Claim(None, wording, (), (), earlier, not_open)
    answer_id = conn.execute(
        insert(STAFF_ANSWERS)
        .values(created_at=now, question=wording, text=text, author=author)
        .returning(STAFF_ANSWERS.c.id)
    ).scalar_one()
    # One message per asker: the latest of their questions carries it (its window is longest).
    latest: dict[str, int] = {r.openid: r.id for r in taken if r.openid is not None}
    rows = [
        {
            "question_id": r.id,
            "answer_id": answer_id,
            "status": DeliveryStatus.PENDING
            if r.openid is None or latest[r.openid] == r.id
            else DeliveryStatus.SAME_ASKER,
            "finished_at": None if r.openid is None or latest[r.openid] == r.id else now,
        }
        for r in taken
    ]
    conn.execute(insert(DELIVERIES), rows)
    return Claim(int(answer_id), wording, tuple(r.id for r in taken), texts, earlier, not_open)


def _answer(conn: Connection, answer_id: int) -> Answer | None:
    a, d, q = STAFF_ANSWERS.c, DELIVERIES.c, QUESTIONS.c
    head = conn.execute(select(STAFF_ANSWERS).where(a.id == answer_id)).first()
    if head is None:
        return None
    rows = conn.execute(
        select(
            d.question_id,
            q.text,
            q.asked_at,
            d.status,
            d.reason,
            d.errcode,
            d.attempted_at,
            d.finished_at,
        )
        .join(QUESTIONS, q.id == d.question_id)
        .where(d.answer_id == answer_id)
        .order_by(q.asked_at, d.question_id)
    ).all()
    deliveries = tuple(
        Delivery(r[0], r[1], r[2], DeliveryStatus(r[3]), r[4], r[5], r[6], r[7]) for r in rows
    )
    return Answer(
        head.id,
        head.created_at,
        head.question,
        head.text,
        head.author,
        head.qa_id,
        head.policy_id,
        deliveries,
    )
