"""The question log: every policy question asked, how it was decided and what the user got.

One row per question put to the matcher (and per facet follow-up). It feeds the statistics of
the annual disclosure report (questions per day, decision mix, answer rate, top topics) and the
**unanswered inbox**: questions the bot could not answer have ``status = 'open'`` until staff
deal with them.

Privacy: the asker's openid is kept only on unanswered questions, and only while an answer
could still reach them through WeChat's customer-service window (48 hours); after that, and at
once when the user unfollows, it is cleared and the row stays as an anonymous count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import JSON, Index, Integer, String, Table, Text, insert, update
from sqlalchemy.orm import Mapped, mapped_column

from bot.batches import Batches
from bot.db import Base, UTCDateTime

REACHABLE_FOR = timedelta(hours=48)
"""WeChat's customer-service window after a user's message; the openid is not kept longer."""

Decision = Literal["answer", "clarify", "none", "followup"]
OPEN = "open"  # in the unanswered inbox


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
    status: Mapped[str | None] = mapped_column(String(16))  # open (inbox) | later: answered …

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


class QuestionLog:
    """The log, written through the process's ``Batches``."""

    def __init__(self, batches: Batches) -> None:
        self._batches = batches

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

    async def expire_openids(self, now: datetime) -> int:
        """Clear openids that no answer could reach any more; return how many."""
        statement = (
            update(QUESTIONS)
            .where(QUESTIONS.c.openid.is_not(None), QUESTIONS.c.asked_at < now - REACHABLE_FOR)
            .values(openid=None)
        )
        return await self._batches.run(lambda conn: int(conn.execute(statement).rowcount or 0))
