"""Exactly-once handling of WeChat's retried callbacks, and nonce replay protection.

WeChat re-sends a message up to three times when the server is slow. The first delivery claims
the message's de-duplication key with an INSERT (a primary-key conflict means another delivery —
in this process or another one sharing the database — got there first). The claimant stores the
reply it gave; a retry waits briefly for it and answers with the very same reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.db import session_factory
from bot.models import CallbackNonce, CallbackReceipt
from bot.wechat.errors import ReplayError


class ReceiptStatus(StrEnum):
    PROCESSING = "processing"
    REPLIED = "replied"  # answered passively; reply_xml is what we returned
    LATE = "late"  # answered "success"; the answer goes out through the customer-service API
    SENT_LATE = "sent_late"


@dataclass(frozen=True, slots=True)
class Claim:
    """Outcome of claiming a message: ``first`` is True for the delivery that must handle it."""

    first: bool
    status: ReceiptStatus
    reply_xml: str | None = None


class ReceiptStore:
    """Callback receipts in the database (works across processes)."""

    def __init__(self, engine: AsyncEngine, *, now: Callable[[], datetime] | None = None) -> None:
        self._sessions: async_sessionmaker = session_factory(engine)  # type: ignore[type-arg]
        self._now = now or (lambda: datetime.now(UTC))

    async def claim(self, key: str) -> Claim:
        now = self._now()
        try:
            async with self._sessions.begin() as session:
                session.add(
                    CallbackReceipt(
                        dedupe_key=key,
                        status=ReceiptStatus.PROCESSING,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            existing = await self.get(key)
            if existing is None:  # purged between our INSERT and SELECT: treat as a retry
                return Claim(first=False, status=ReceiptStatus.LATE)
            return existing
        return Claim(first=True, status=ReceiptStatus.PROCESSING)

    async def get(self, key: str) -> Claim | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(CallbackReceipt.status, CallbackReceipt.reply_xml).where(
                        CallbackReceipt.dedupe_key == key
                    )
                )
            ).first()
        if row is None:
            return None
        return Claim(first=False, status=ReceiptStatus(row.status), reply_xml=row.reply_xml)

    async def finish(self, key: str, status: ReceiptStatus, reply_xml: str | None = None) -> None:
        values: dict[str, object] = {"status": status, "updated_at": self._now()}
        if reply_xml is not None:
            values["reply_xml"] = reply_xml
        async with self._sessions.begin() as session:
            await session.execute(
                update(CallbackReceipt).where(CallbackReceipt.dedupe_key == key).values(**values)
            )

    async def wait_settled(self, key: str, within_s: float, poll: float = 0.05) -> Claim | None:
        """Wait until the claimant has answered; None if it is still working after ``within_s``."""
        deadline = time.monotonic() + within_s
        while True:
            claim = await self.get(key)
            if claim is not None and claim.status is not ReceiptStatus.PROCESSING:
                return claim
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(poll)

    async def purge(self, older_than: timedelta) -> int:
        cutoff = self._now() - older_than
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(CallbackReceipt).where(CallbackReceipt.created_at < cutoff)
            )
        return int(getattr(result, "rowcount", 0) or 0)


class NonceGuard:
    """Rejects a nonce reused within the window for a *different* payload.

    WeChat's own retries may repeat a request byte for byte; those pass here and are answered by
    the receipt store with the stored reply, so a replayed request never runs a handler twice.
    """

    def __init__(self, engine: AsyncEngine, window_s: int) -> None:
        self._sessions: async_sessionmaker = session_factory(engine)  # type: ignore[type-arg]
        self._window = window_s

    async def check(self, nonce: str, body_digest: str, now: float) -> None:
        if not nonce or len(nonce) > 64:
            raise ReplayError("missing or oversized nonce")
        try:
            async with self._sessions.begin() as session:
                session.add(CallbackNonce(nonce=nonce, body_digest=body_digest, seen_at=now))
        except IntegrityError:
            async with self._sessions.begin() as session:
                row = (
                    await session.execute(
                        select(CallbackNonce.body_digest, CallbackNonce.seen_at).where(
                            CallbackNonce.nonce == nonce
                        )
                    )
                ).first()
                if row is None:
                    return
                if row.seen_at < now - self._window:  # expired entry not yet purged: reuse it
                    await session.execute(
                        update(CallbackNonce)
                        .where(CallbackNonce.nonce == nonce)
                        .values(body_digest=body_digest, seen_at=now)
                    )
                    return
                if row.body_digest != body_digest:
                    raise ReplayError("nonce reused within the replay window") from None

    async def purge(self, now: float) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(CallbackNonce).where(CallbackNonce.seen_at < now - self._window)
            )
        return int(getattr(result, "rowcount", 0) or 0)
