"""One database worker per process for the conversation layer: small statements, batched.

Every text question writes a little (a question-log row, the conversation). Done one
transaction at a time through the async driver that costs a connection per handler and, on
SQLite, writers colliding on the database lock; so, as the callback ledger does, the work goes
through one task that runs whatever is queued in a single transaction: on SQLite in its own
thread on a synchronous connection (one thread hop per batch), elsewhere on one pooled
connection. Each piece of work is a plain function of the connection; its caller awaits its
result (read-your-writes: when ``run`` returns, the change is committed and visible to every
process). If a batch fails, it was rolled back whole and each piece is run again on its own, so
one bad piece fails only its own caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import sync_sqlite_engine

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 200
_STOP = object()


@dataclass(slots=True)
class _Work:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]


class Batches:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._queue: asyncio.Queue[_Work | object] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._sync_engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self.engine.dialect.name == "sqlite" and self._sync_engine is None:
            self._sync_engine = sync_sqlite_engine(self.engine)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="batches")

    async def stop(self) -> None:
        """Finish what was queued, then release the thread and connection."""
        if self._task is not None:
            self._queue.put_nowait(_STOP)
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()
            self._sync_engine = None

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in the next batch's transaction; return its result once committed."""
        if self._task is None:
            raise RuntimeError("the database batches are not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Work(fn, future))
        return await future

    async def _loop(self) -> None:
        stopping = False
        while not stopping:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            stopping = _STOP in batch
            work = [w for w in batch if isinstance(w, _Work)]
            if work:
                await self._execute(work)

    async def _execute(self, work: Sequence[_Work]) -> None:
        try:
            outcomes: list[Any] = await self._transaction(work)
        except Exception as exc:
            if len(work) > 1:
                outcomes = [await self._alone(item) for item in work]
            else:
                logger.exception("batched write failed", extra={"action": "batch_failed"})
                outcomes = [exc]
        for item, outcome in zip(work, outcomes, strict=True):
            if item.future.done():  # the caller was cancelled
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)

    async def _alone(self, item: _Work) -> Any:
        try:
            return (await self._transaction([item]))[0]
        except Exception as exc:
            logger.exception("batched write failed", extra={"action": "batch_failed"})
            return exc

    async def _transaction(self, work: Sequence[_Work]) -> list[Any]:
        if self._sync_engine is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._in_thread, work)
        async with self.engine.begin() as conn:
            return await conn.run_sync(_run_all, work)

    def _in_thread(self, work: Sequence[_Work]) -> list[Any]:
        assert self._sync_engine is not None  # noqa: S101 - only called when it exists
        with self._sync_engine.begin() as conn:
            return _run_all(conn, work)


def _run_all(conn: Connection, work: Sequence[_Work]) -> list[Any]:
    return [item.fn(conn) for item in work]
