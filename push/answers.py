"""Telling each asker the staff answer through the customer-service API — at most once.

WeChat lets an account send customer-service messages (客服消息) to a user for 48 hours after
the user's last message, at most 5 per user message. Every answered question has one row in
``answer_delivery`` (``bot.inbox``); ``Courier.deliver`` takes an answer's rows that are
``pending`` (or ``failed``: certainly not delivered) and, for each, in this order:

1. **claims** the row in its own committed transaction — ``UPDATE … SET status = 'sending',
   attempted_at = now WHERE question_id = ? AND status IN ('pending', 'failed')`` — and, in that
   transaction, checks the asker is reachable: the openid is still known (it is cleared on
   unfollow and 48 hours after the question), the user's last known message is less than 48
   hours old, and fewer than 5 of our messages went to them since it; otherwise the row becomes
   ``unreachable`` with the reason (``no_openid``, ``window_closed``, ``over_limit``) and nothing
   is sent. Only the process whose UPDATE changed the row sends; a concurrent ``deliver`` in
   another process finds it taken.
2. **sends** once (``WeChatClient.send_text_once``: nothing that may have reached WeChat is
   repeated by the sender's own retries);
3. **records** the outcome: ``sent``; ``unreachable`` when WeChat says the user cannot get it
   (45015 outside the window, 45047 over the limit, 43004 unfollowed, 40003, 43101 — classified
   once in ``bot.wechat.errcodes``); ``failed`` when WeChat refused for a reason of ours (quota,
   IP whitelist, permission, token) or could not be reached — certainly not delivered, so a later
   ``deliver`` tries again; ``unknown`` when the request went out but no answer came back.

**The crash between sending and recording.** WeChat's customer-service send has no idempotency
key, so nothing can tell afterwards whether a message whose outcome was not recorded arrived.
Retrying it risks a second message; not retrying risks none. The issue says nothing is sent
twice, so this is **at most once**: a row left ``sending`` (the process died, or the database
write after the send failed) is never sent again; after ``STALE_SENDING`` (longer than any send
with its retries can take) ``deliver`` marks it ``unknown`` (reason ``interrupted``) so staff
see that this asker may not have been told. ``failed`` is retried because WeChat answered with
an error code (the message was refused) or no connection was made at all.

The window is measured from the asker's latest logged question: their later messages, which the
log does not keep, would only extend it, so the check errs towards "unreachable" — and WeChat's
own 45015/45047 answers are recorded the same way when it decides otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.inbox import DELIVERIES, STAFF_ANSWERS, DeliveryStatus
from bot.questions import QUESTIONS, REACHABLE_FOR
from bot.wechat.errcodes import (
    Action,
    WeChatAPIError,
    WeChatOutcomeUnknownError,
    WeChatUnavailableError,
)

logger = logging.getLogger(__name__)

MAX_PER_USER_MESSAGE = 5  # customer-service messages WeChat allows after one user message
STALE_SENDING = timedelta(minutes=5)
CONCURRENCY = 4

RETRYABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
COUNTED = (DeliveryStatus.SENT, DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)
REFUSED_REASONS = {45015: "window_closed", 45047: "over_limit", 43004: "unsubscribed"}

Compose = Callable[[str, datetime, str], str]
"""(the question as asked, when it was asked, the answer) -> the message sent."""


class Sender(Protocol):
    async def send_text_once(self, openid: str, content: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    status: DeliveryStatus
    reason: str | None = None
    errcode: int | None = None


@dataclass(frozen=True, slots=True)
class _Target:
    openid: str
    question: str
    asked_at: datetime


def classify(exc: Exception) -> Outcome:
    """What a failed send means for the delivery (errcodes classified in one place)."""
    if isinstance(exc, WeChatAPIError):
        if exc.action in (Action.WINDOW_CLOSED, Action.RECIPIENT_GONE):
            reason = REFUSED_REASONS.get(exc.errcode, exc.action.value)
            return Outcome(DeliveryStatus.UNREACHABLE, reason, exc.errcode)
        return Outcome(DeliveryStatus.FAILED, exc.action.value, exc.errcode)
    if isinstance(exc, WeChatOutcomeUnknownError):
        return Outcome(DeliveryStatus.UNKNOWN, "no_response")
    if isinstance(exc, WeChatUnavailableError):
        return Outcome(DeliveryStatus.FAILED, "unavailable")
    return Outcome(DeliveryStatus.UNKNOWN, "error")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Courier:
    def __init__(
        self,
        engine: AsyncEngine,
        sender: Sender,
        compose: Compose,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._sender = sender
        self._compose = compose
        self._clock = clock

    async def _run(self, fn: Callable[[Connection], Any]) -> Any:
        async with self._engine.begin() as conn:
            return await conn.run_sync(fn)

    async def deliver(self, answer_id: int) -> None:
        """Send the answer to every reachable asker not yet told (see the module docstring)."""
        now = self._clock()
        text = await self._run(lambda c: _mark_stale(c, answer_id, now))
        if text is None:
            return
        d = DELIVERIES.c
        todo = await self._run(
            lambda c: [
                row[0]
                for row in c.execute(
                    select(d.question_id)
                    .where(d.answer_id == answer_id, d.status.in_(RETRYABLE))
                    .order_by(d.question_id)
                )
            ]
        )
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(question_id: int) -> None:
            async with limit:
                await self._deliver_one(question_id, text)

        await asyncio.gather(*(one(qid) for qid in todo))

    async def _deliver_one(self, question_id: int, answer: str) -> None:
        target: _Target | None = await self._run(lambda c: _claim(c, question_id, self._clock()))
        if target is None:
            return
        outcome = Outcome(DeliveryStatus.SENT)
        try:
            message = self._compose(target.question, target.asked_at, answer)
            await self._sender.send_text_once(target.openid, message)
        except Exception as exc:
            outcome = classify(exc)
            if outcome.reason == "error":
                logger.exception("staff answer delivery failed", extra={"action": "delivery"})
        await self._run(lambda c: _finish(c, question_id, outcome, self._clock()))
        logger.info(
            "staff answer delivery: %s",
            outcome.status.value,
            extra={"action": "delivery", "question_id": question_id, "reason": outcome.reason},
        )


def _mark_stale(conn: Connection, answer_id: int, now: datetime) -> str | None:
    """Rows left ``sending`` by a crash become ``unknown``; returns the answer's text."""
    d = DELIVERIES.c
    conn.execute(
        update(DELIVERIES)
        .where(
            d.answer_id == answer_id,
            d.status == DeliveryStatus.SENDING,
            d.attempted_at < now - STALE_SENDING,
        )
        .values(status=DeliveryStatus.UNKNOWN, reason="interrupted", finished_at=now)
    )
    text = conn.execute(select(STAFF_ANSWERS.c.text).where(STAFF_ANSWERS.c.id == answer_id))
    return text.scalar_one_or_none()


def _claim(conn: Connection, question_id: int, now: datetime) -> _Target | None:
    """Mark the row ``sending`` (write first), or ``unreachable`` if it cannot be sent."""
    d, q = DELIVERIES.c, QUESTIONS.c
    taken = conn.execute(
        update(DELIVERIES)
        .where(d.question_id == question_id, d.status.in_(RETRYABLE))
        .values(
            status=DeliveryStatus.SENDING,
            attempted_at=now,
            reason=None,
            errcode=None,
            finished_at=None,
        )
        .returning(d.question_id)
    ).first()
    if taken is None:
        return None  # another process has it, or it is done
    row = conn.execute(select(q.openid, q.asked_at, q.text).where(q.id == question_id)).one()
    reason = _unreachable(conn, question_id, row.openid, now)
    if reason is not None:
        conn.execute(
            update(DELIVERIES)
            .where(d.question_id == question_id)
            .values(status=DeliveryStatus.UNREACHABLE, reason=reason, finished_at=now)
        )
        return None
    return _Target(row.openid, row.text, row.asked_at)


def _unreachable(
    conn: Connection, question_id: int, openid: str | None, now: datetime
) -> str | None:
    """Why the asker cannot get a customer-service message now, or None if they can."""
    if openid is None:
        return "no_openid"  # unfollowed, or the window passed and the openid was cleared
    d, q = DELIVERIES.c, QUESTIONS.c
    last = conn.execute(select(func.max(q.asked_at)).where(q.openid == openid)).scalar_one()
    if last is None or last + REACHABLE_FOR <= now:
        return "window_closed"
    sent = conn.execute(
        select(func.count())
        .select_from(DELIVERIES.join(QUESTIONS, q.id == d.question_id))
        .where(
            q.openid == openid,
            d.question_id != question_id,
            d.status.in_(COUNTED),
            d.attempted_at > last,
        )
    ).scalar_one()
    return "over_limit" if sent >= MAX_PER_USER_MESSAGE else None


def _finish(conn: Connection, question_id: int, outcome: Outcome, now: datetime) -> None:
    d = DELIVERIES.c
    conn.execute(
        update(DELIVERIES)
        .where(
            d.question_id == question_id,
            d.status.in_((DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)),
        )
        .values(
            status=outcome.status,
            reason=outcome.reason,
            errcode=outcome.errcode,
            finished_at=now,
        )
    )
