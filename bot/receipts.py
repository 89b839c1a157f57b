"""Exactly-once handling of WeChat's retried callbacks, and nonce replay protection.

WeChat re-sends a message up to three times when the server is slow. The first delivery claims
the message's de-duplication key with an INSERT … ON CONFLICT DO NOTHING (a conflict means
another delivery — in this process or another one sharing the database — got there first). The
claimant stores the reply it gave; a retry waits briefly for it and answers with the same reply.

The callback path must stay fast under load, so all of this goes through one writer task per
process that batches whatever arrived while it was writing: each request waits for one shared
transaction (nonce + claim), and storing a reply is written behind the answer. Same-process
retries read recent replies from memory; other processes read the table. The statements are in
``bot.receipt_sql``; on SQLite the batch runs on the event loop itself unless it would have to
wait for the write lock (``bot.sqlite_writer``), elsewhere through the async driver.

Receipts also serve flood control at no extra round trip: a receipt of what a user sent names
the sender, and the batch claiming it counts the sender's last minute (``bot.flood``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial

from sqlalchemy import delete, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import flood
from bot.db import sync_sqlite_engine
from bot.receipt_sql import (
    NONCES,
    RECEIPTS,
    CoreStatements,
    LedgerStatements,
    StoredNonce,
)
from bot.sqlite_writer import SqliteWriter
from bot.wechat.errors import ReplayError

logger = logging.getLogger(__name__)

MAX_BATCH = 500
_STOP = object()  # queued by stop(): the writer ends after what was queued before it
RECENT_REPLIES = 20_000


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
    sent_last_minute: int = 0  # on a first claim with a sender: their messages in the last 60 s


@dataclass(slots=True)
class _Admit:
    key: str
    nonce: str
    digest: str
    now: float
    future: asyncio.Future[Claim]
    sender: str | None = None


@dataclass(slots=True)
class _Finish:
    key: str
    status: ReceiptStatus
    reply_xml: str | None
    done: asyncio.Future[None] | None = None


@dataclass
class CallbackLedger:
    """Receipts and nonces in the database, written in batches by one task per process."""

    engine: AsyncEngine
    window_s: int
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _queue: asyncio.Queue[_Admit | _Finish | object] = field(default_factory=asyncio.Queue)
    _recent: OrderedDict[str, Claim] = field(default_factory=OrderedDict)
    _writer: asyncio.Task[None] | None = None
    _closed: bool = False
    _sync_engine: Engine | None = None
    _sqlite: SqliteWriter | None = None  # on SQLite: the ledger's own connections and thread

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._closed = False
        if self.engine.dialect.name == "sqlite" and self._sync_engine is None:
            self._sync_engine = sync_sqlite_engine(self.engine)
            self._sqlite = SqliteWriter(self._sync_engine)
        self._ensure_writer()

    async def stop(self) -> None:
        """Write everything still queued, then let the writer end."""
        self._closed = True
        if self._writer is None:
            return
        self._queue.put_nowait(_STOP)
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()
            self._sync_engine = None

    async def flush(self) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Finish("", ReceiptStatus.PROCESSING, None, done))
        await done

    # --- the callback path ---------------------------------------------------------------------

    async def admit(
        self, key: str, *, nonce: str, digest: str, now: float, sender: str | None = None
    ) -> Claim:
        """Record the nonce and claim ``key`` in one shared transaction.

        With a ``sender`` (a user's openid, for what flood control counts), a first claim says
        how many messages that sender's receipts show in the last minute, this one included.
        Raises ReplayError if the nonce was used in the window for a different body.
        """
        if not nonce or len(nonce) > 64:
            raise ReplayError("missing or oversized nonce")
        self._ensure_writer()
        future: asyncio.Future[Claim] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Admit(key, nonce, digest, now, future, sender))
        return await future

    def finish(self, key: str, status: ReceiptStatus, reply_xml: str | None = None) -> None:
        """Store the outcome; visible at once in this process, written behind for the others."""
        previous = self._recent.get(key)
        xml = reply_xml if reply_xml is not None else (previous.reply_xml if previous else None)
        self._remember(key, Claim(first=False, status=status, reply_xml=xml))
        self._ensure_writer()
        self._queue.put_nowait(_Finish(key, status, reply_xml))

    async def get(self, key: str) -> Claim | None:
        if (recent := self._recent.get(key)) is not None:
            return recent
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(RECEIPTS.c.status, RECEIPTS.c.reply_xml).where(
                        RECEIPTS.c.dedupe_key == key
                    )
                )
            ).first()
        if row is None:
            return None
        return Claim(first=False, status=ReceiptStatus(row.status), reply_xml=row.reply_xml)

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

    async def purge(self, receipts_older_than: timedelta, now: float) -> None:
        cutoff = self.now() - receipts_older_than
        async with self.engine.begin() as conn:
            await conn.execute(delete(RECEIPTS).where(RECEIPTS.c.created_at < cutoff))
            await conn.execute(delete(NONCES).where(NONCES.c.seen_at < now - self.window_s))

    # --- the writer ----------------------------------------------------------------------------

    def _ensure_writer(self) -> None:
        if self._closed:
            raise RuntimeError("the callback ledger is closed")
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run(), name="callback_ledger")

    def _remember(self, key: str, claim: Claim) -> None:
        self._recent[key] = claim
        self._recent.move_to_end(key)
        while len(self._recent) > RECENT_REPLIES:
            self._recent.popitem(last=False)

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [await self._queue.get()]
            await asyncio.sleep(0)  # let requests already running queue their claims too
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if _STOP in batch:
                stopping = True
                batch = [b for b in batch if b is not _STOP]
            await self._write_batch(batch)
            if self._sqlite is not None:
                await self._sqlite.between_batches()

    async def _write_batch(self, batch: Sequence[_Admit | _Finish | object]) -> None:
        admits = [b for b in batch if isinstance(b, _Admit)]
        finishes = [b for b in batch if isinstance(b, _Finish)]
        try:
            outcomes = await self._execute(admits, [f for f in finishes if f.key])
        except Exception as exc:
            logger.exception("callback ledger write failed", extra={"action": "ledger_failed"})
            outcomes = dict.fromkeys((id(a) for a in admits), exc)
        for admit in admits:
            if admit.future.done():  # the waiting request was cancelled
                continue
            result = outcomes[id(admit)]
            if isinstance(result, BaseException):
                admit.future.set_exception(result)
            elif not result.first and (recent := self._recent.get(admit.key)) is not None:
                admit.future.set_result(recent)  # this process already knows the reply
            else:
                admit.future.set_result(result)
        for finish in finishes:
            if finish.done is not None and not finish.done.done():
                finish.done.set_result(None)

    async def _execute(
        self, admits: Sequence[_Admit], finishes: Sequence[_Finish]
    ) -> dict[int, Claim | BaseException]:
        """One transaction for the batch: on SQLite with the ledger's own connections, elsewhere
        through the async driver."""
        if not admits and not finishes:
            return {}
        batch = partial(self._transaction, admits=admits, finishes=finishes)
        if self._sqlite is not None:
            return await self._sqlite.run(batch)
        async with self.engine.begin() as conn:
            return await conn.run_sync(self._core_transaction, batch)

    @staticmethod
    def _core_transaction(
        conn: Connection, batch: Callable[[LedgerStatements], dict[int, Claim | BaseException]]
    ) -> dict[int, Claim | BaseException]:
        if conn.dialect.name == "postgresql":
            # Receipts only guard against handling a retry twice; losing the last few
            # milliseconds of them in a crash is acceptable, a disk flush per callback is not.
            conn.execute(text("SET LOCAL synchronous_commit = off"))
        return batch(CoreStatements(conn))

    def _transaction(
        self, sql: LedgerStatements, *, admits: Sequence[_Admit], finishes: Sequence[_Finish]
    ) -> dict[int, Claim | BaseException]:
        now = self.now()
        sql.set_outcomes([(f.key, f.status.value, f.reply_xml) for f in finishes], now)
        return self._write_admits(sql, admits, now) if admits else {}

    def _write_admits(
        self, sql: LedgerStatements, admits: Sequence[_Admit], now: datetime
    ) -> dict[int, Claim | BaseException]:
        outcomes: dict[int, Claim | BaseException] = {}
        accepted = self._record_nonces(sql, admits, outcomes)
        first_of: dict[str, _Admit] = {}
        for admit in accepted:
            first_of.setdefault(admit.key, admit)
        inserted = (
            sql.insert_receipts([(key, a.sender) for key, a in first_of.items()], now)
            if first_of
            else set()
        )
        existing: dict[str, Claim] = {}
        if existing_keys := {a.key for a in accepted} - inserted:
            for key, row in sql.stored_receipts(existing_keys).items():
                existing[key] = Claim(False, ReceiptStatus(row.status), row.reply_xml)
        senders = {s for k in inserted if (s := first_of[k].sender)}
        sent = sql.sent_since(senders, now - flood.WINDOW) if senders else {}
        for admit in accepted:
            if admit.key in inserted and first_of[admit.key] is admit:
                count = sent.get(admit.sender, 0) if admit.sender else 0
                outcomes[id(admit)] = Claim(True, ReceiptStatus.PROCESSING, None, count)
            else:
                outcomes[id(admit)] = existing.get(
                    admit.key, Claim(first=False, status=ReceiptStatus.PROCESSING)
                )
        return outcomes

    def _record_nonces(
        self,
        sql: LedgerStatements,
        admits: Sequence[_Admit],
        outcomes: dict[int, Claim | BaseException],
    ) -> list[_Admit]:
        """Insert new nonces; fail admits whose nonce was used for another body in the window."""
        first_digest: dict[str, _Admit] = {}
        for admit in admits:
            first_digest.setdefault(admit.nonce, admit)
        inserted = sql.insert_nonces([(n, a.digest, a.now) for n, a in first_digest.items()])
        stored: dict[str, StoredNonce] = {}
        if conflicting := set(first_digest) - inserted:
            stored = sql.stored_nonces(conflicting)
        accepted = []
        for admit in admits:
            known = stored.get(admit.nonce)
            if known is not None and known.seen_at < admit.now - self.window_s:
                # An expired entry not yet purged: the nonce is free again.
                sql.reset_nonce(admit.nonce, admit.digest, admit.now)
                stored.pop(admit.nonce)
                known = None
            reference = known.body_digest if known is not None else first_digest[admit.nonce].digest
            if reference != admit.digest:
                outcomes[id(admit)] = ReplayError("nonce reused within the replay window")
            else:
                accepted.append(admit)
        return accepted
