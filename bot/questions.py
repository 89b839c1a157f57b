"""The question log: every policy question asked, how it was decided and what the user got.

One row per question put to the matcher (and per facet follow-up). It feeds the statistics of
the annual disclosure report (questions per day, decision mix, answer rate, top topics) and the
**unanswered inbox**: questions the bot could not answer have ``status = 'open'`` until staff
answer them (``answered``, see ``bot.inbox``) or set them aside (``dismissed``). The menu's
热门问题 comes from here too: the answers users were shown most often lately.

Privacy: the asker's openid is kept only on unanswered questions (in the inbox, or answered
from it by staff), and only while an answer could still reach them through WeChat's
customer-service window (48 hours); after that, and at once when the user unfollows, it is
cleared and the row stays as an anonymous count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import JSON, Index, Integer, String, Table, Text, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from bot.batches import Batches
from bot.db import Base, UTCDateTime

REACHABLE_FOR = timedelta(hours=48)
"""WeChat's customer-service window after a user's message; the openid is not kept longer."""

Decision = Literal["answer", "clarify", "none", "followup"]
OPEN = "open"  # in the unanswered inbox
ANSWERED = "answered"  # answered by staff from the inbox (bot.inbox)
DISMISSED = "dismissed"  # set aside by staff: nothing to answer
HOT_CACHE_S = 60.0  # the most asked answers are counted at most once a minute per process


class QuestionRow(Base):
    __tablename__ = "question_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    openid: Mapped[str | None] = mapped_column(String(64), index=True)  # unanswered only, ≤ 48 h
    source: Mapped[str] = mapped_column(String(8))  # text | voice
    text: Mapped[str] = mapped_column(Text)
    normalised: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(8))  # answer | clarify | none | followup
    candidates: Mapped[list[dict[str, object]]] = mapped_column(JSON)  # [{kind, id, score}]
    answered_kind: Mapped[str | None] = mapped_column(String(8))  # policy | qa: what was shown
    answered_id: Mapped[str | None] = mapped_column(String(64))
    facet: Mapped[str | None] = mapped_column(String(16))  # the guide field shown, if any
    status: Mapped[str | None] = mapped_column(String(16))  # open | answered | dismissed

    __table_args__ = (Index("ix_question_log_status_asked_at", "status", "asked_at"),)


QUESTIONS: Table = cast(Table, QuestionRow.__table__)


@dataclass(frozen=True, slots=True)
class Asked:
    """One question as the log records it."""

    text: str
    normalised: str
    decision: Decision
    candidates: tuple[tuple[str, str, float], ...] = ()  # (kind, id, score), best first
    source: str = "text"
    answered: tuple[str, str] | None = None  # (kind, id) shown at once
    facet: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerCount:
    """How often users were shown one policy or Q&A pair as the answer to their question."""

    kind: str  # policy | qa
    id: str
    times: int


class QuestionLog:
    """The log, written through the process's ``Batches``."""

    def __init__(self, batches: Batches, *, hot_cache_s: float = HOT_CACHE_S) -> None:
        self._batches = batches
        self._hot_cache_s = hot_cache_s
        self._hot: tuple[float, int, list[AnswerCount]] | None = None

    async def record(self, openid: str, asked: Asked, now: datetime) -> int:
        """Log a question; an unanswered one goes to the inbox with the asker's openid."""
        unanswered = asked.decision == "none"
        kind, target = asked.answered or (None, None)
        values = {
            "asked_at": now,
            "openid": openid if unanswered else None,
            "source": asked.source,
            "text": asked.text,
            "normalised": asked.normalised,
            "decision": asked.decision,
            "candidates": [
                {"kind": k, "id": i, "score": round(s, 4)} for k, i, s in asked.candidates
            ],
            "answered_kind": kind,
            "answered_id": target,
            "facet": asked.facet,
            "status": OPEN if unanswered else None,
        }
        statement = insert(QUESTIONS).values(**values).returning(QUESTIONS.c.id)
        return await self._batches.run(lambda conn: int(conn.execute(statement).scalar_one()))

    async def answered(self, question_id: int, kind: str, target: str) -> None:
        """The user picked this answer from the options offered for the question."""
        statement = (
            update(QUESTIONS)
            .where(QUESTIONS.c.id == question_id)
            .values(answered_kind=kind, answered_id=target)
        )
        await self._batches.run(lambda conn: conn.execute(statement))

    async def unresolved(self, question_id: int, openid: str) -> None:
        """The asker found none of the options offered: the question goes to the inbox, with
        the openid an answer needs (cleared like any other after the reply window)."""
        statement = (
            update(QUESTIONS)
            .where(QUESTIONS.c.id == question_id, QUESTIONS.c.status.is_(None))
            .values(status=OPEN, openid=openid, answered_kind=None, answered_id=None)
        )
        await self._batches.run(lambda conn: conn.execute(statement))

    async def expire_openids(self, now: datetime) -> int:
        """Clear openids that no answer could reach any more; return how many."""
        statement = (
            update(QUESTIONS)
            .where(QUESTIONS.c.openid.is_not(None), QUESTIONS.c.asked_at < now - REACHABLE_FOR)
            .values(openid=None)
        )
        return await self._batches.run(lambda conn: int(conn.execute(statement).rowcount or 0))

    async def most_answered(self, since: datetime, limit: int = 20) -> list[AnswerCount]:
        """The answers shown most often since ``since`` (follow-ups not counted), most first.

        Counted at most once every ``hot_cache_s`` per process: a menu click must not cost a
        scan of a month of questions.
        """
        cached = self._hot
        if cached and cached[1] == limit and time.monotonic() - cached[0] < self._hot_cache_s:
            return cached[2]
        counts = await self._batches.run(lambda conn: _most_answered(conn, since, limit))
        self._hot = (time.monotonic(), limit, counts)
        return counts


def _most_answered(conn: Connection, since: datetime, limit: int) -> list[AnswerCount]:
    q = QUESTIONS.c
    times = func.count().label("times")
    query = (
        select(q.answered_kind, q.answered_id, times)
        .where(q.asked_at >= since, q.answered_id.is_not(None), q.decision != "followup")
        .group_by(q.answered_kind, q.answered_id)
        .order_by(times.desc(), func.max(q.asked_at).desc(), q.answered_id)
        .limit(limit)
    )
    return [AnswerCount(str(kind), str(target), int(n)) for kind, target, n in conn.execute(query)]
