"""Exactly-once handling of WeChat's retried callbacks, and nonce replay protection.

WeChat re-sends a message up to three times when the server is slow. The first delivery claims
the message's de-duplication key with an INSERT … ON CONFLICT DO NOTHING (a conflict means
another delivery — in this process or another one sharing the database — got there first). The
claimant stores the reply it gave; a retry waits briefly for it and answers with the same reply.

The callback path must stay fast under load, so all of this goes through one writer task per
process that batches whatever arrived while it was writing: each request waits for one shared
transaction (nonce + claim), and storing a reply is written behind the answer. Same-process
retries read recent replies from memory; other processes read the table.

Receipts also serve flood control at no extra round trip: a receipt of what a user sent names
the sender, and the batch claiming it counts the sender's last minute (``bot.flood``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import sync_sqlite_engine
from bot.flood import sent_last_minute
from bot.models import CallbackNonce, CallbackReceipt
from bot.wechat.errors import ReplayError

logger = logging.getLogger(__name__)

RECEIPTS: Table = CallbackReceipt.__table__  # type: ignore[assignment]
NONCES: Table = CallbackNonce.__table__  # type: ignore[assignment]
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
    _executor: ThreadPoolExecutor | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._closed = False
        if self.engine.dialect.name == "sqlite" and self._sync_engine is None:
            self._sync_engine = sync_sqlite_engine(self.engine)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._ensure_writer()

    async def stop(self) -> None:
        """Write everything still queued, then let the writer end."""
        self._closed = True
        if self._writer is None:
            return
        self._queue.put_nowait(_STOP)
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
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
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if _STOP in batch:
                stopping = True
                batch = [b for b in batch if b is not _STOP]
            await self._write_batch(batch)

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
        """One transaction for the batch: on SQLite a single hop to the ledger's own thread and
        connection (not one per statement), elsewhere through the async driver."""
        if not admits and not finishes:
            return {}
        if self._sync_engine is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._in_thread, admits, finishes)
        async with self.engine.begin() as conn:
            return await conn.run_sync(self._transaction, admits, finishes)

    def _in_thread(
        self, admits: Sequence[_Admit], finishes: Sequence[_Finish]
    ) -> dict[int, Claim | BaseException]:
        assert self._sync_engine is not None  # noqa: S101 - only called when it exists
        with self._sync_engine.begin() as conn:
            return self._transaction(conn, admits, finishes)

    def _transaction(
        self, conn: Connection, admits: Sequence[_Admit], finishes: Sequence[_Finish]
    ) -> dict[int, Claim | BaseException]:
        if conn.dialect.name == "postgresql":
            # Receipts only guard against handling a retry twice; losing the last few
            # milliseconds of them in a crash is acceptable, a disk flush per callback is not.
            conn.execute(text("SET LOCAL synchronous_commit = off"))
        self._write_finishes(conn, finishes)
        return self._write_admits(conn, admits) if admits else {}

    def _write_finishes(self, conn: Connection, finishes: Sequence[_Finish]) -> None:
        now = self.now()
        with_xml = [
            {"b_key": f.key, "b_status": f.status.value, "b_xml": f.reply_xml, "b_now": now}
            for f in finishes
            if f.reply_xml is not None
        ]
        without = [
            {"b_key": f.key, "b_status": f.status.value, "b_now": now}
            for f in finishes
            if f.reply_xml is None
        ]
        where = RECEIPTS.c.dedupe_key == bindparam("b_key")
        if with_xml:
            conn.execute(
                update(RECEIPTS)
                .where(where)
                .values(
                    status=bindparam("b_status"),
                    reply_xml=bindparam("b_xml"),
                    updated_at=bindparam("b_now"),
                ),
                with_xml,
            )
        if without:
            conn.execute(
                update(RECEIPTS)
                .where(where)
                .values(status=bindparam("b_status"), updated_at=bindparam("b_now")),
                without,
            )

    def _write_admits(
        self, conn: Connection, admits: Sequence[_Admit]
    ) -> dict[int, Claim | BaseException]:
        outcomes: dict[int, Claim | BaseException] = {}
        accepted = self._record_nonces(conn, admits, outcomes)
        first_of: dict[str, _Admit] = {}
        for admit in accepted:
            first_of.setdefault(admit.key, admit)
        now = self.now()
        inserted: set[str] = set()
        if first_of:
            rows = [
                {
                    "dedupe_key": key,
                    "sender": admit.sender,
                    "status": ReceiptStatus.PROCESSING.value,
                    "created_at": now,
                    "updated_at": now,
                }
                for key, admit in first_of.items()
            ]
            # executemany with RETURNING: one cached statement, sent as multi-row VALUES.
            result = conn.execute(
                _insert_ignore(conn, RECEIPTS).returning(RECEIPTS.c.dedupe_key), rows
            )
            inserted = set(result.scalars())
        existing_keys = {a.key for a in accepted} - inserted
        existing: dict[str, Claim] = {}
        if existing_keys:
            result = conn.execute(
                select(RECEIPTS.c.dedupe_key, RECEIPTS.c.status, RECEIPTS.c.reply_xml).where(
                    RECEIPTS.c.dedupe_key.in_(existing_keys)
                )
            )
            for row in result:
                existing[row.dedupe_key] = Claim(False, ReceiptStatus(row.status), row.reply_xml)
        sent = sent_last_minute(conn, {s for k in inserted if (s := first_of[k].sender)}, now)
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
        conn: Connection,
        admits: Sequence[_Admit],
        outcomes: dict[int, Claim | BaseException],
    ) -> list[_Admit]:
        """Insert new nonces; fail admits whose nonce was used for another body in the window."""
        first_digest: dict[str, _Admit] = {}
        for admit in admits:
            first_digest.setdefault(admit.nonce, admit)
        rows = [
            {"nonce": n, "body_digest": a.digest, "seen_at": a.now} for n, a in first_digest.items()
        ]
        result = conn.execute(_insert_ignore(conn, NONCES).returning(NONCES.c.nonce), rows)
        inserted = set(result.scalars())
        stored: dict[str, Any] = {}
        if conflicting := set(first_digest) - inserted:
            result = conn.execute(
                select(NONCES.c.nonce, NONCES.c.body_digest, NONCES.c.seen_at).where(
                    NONCES.c.nonce.in_(conflicting)
                )
            )
            stored = {row.nonce: row for row in result}
        accepted = []
        for admit in admits:
            known = stored.get(admit.nonce)
            if known is not None and known.seen_at < admit.now - self.window_s:
                conn.execute(  # an expired entry not yet purged: the nonce is free again
                    update(NONCES)
                    .where(NONCES.c.nonce == admit.nonce)
                    .values(body_digest=admit.digest, seen_at=admit.now)
                )
                stored.pop(admit.nonce)
                known = None
            reference = known.body_digest if known is not None else first_digest[admit.nonce].digest
            if reference != admit.digest:
                outcomes[id(admit)] = ReplayError("nonce reused within the replay window")
            else:
                accepted.append(admit)
        return accepted


def _insert_ignore(conn: Connection, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the connection's dialect."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()
