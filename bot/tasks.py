"""Background tasks with an owner: kept referenced, logged on failure, drained on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


class TaskSet:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._periodic: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error(
                "background task failed",
                exc_info=exc,
                extra={"action": "task_failed", "task": task.get_name()},
            )

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, grace_s: float) -> None:
        """Stop periodic jobs; let running work finish for ``grace_s`` seconds, cancel the rest."""
        for job in self._periodic:
            job.cancel()
        await asyncio.gather(*self._periodic, return_exceptions=True)
        self._periodic.clear()
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def every(
        self, seconds: float, job: Callable[[], Awaitable[object]], *, name: str
    ) -> asyncio.Task[None]:
        """Run ``job`` every ``seconds`` until cancelled; a failing run is logged, not fatal."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except Exception:
                    logger.exception("periodic job failed", extra={"action": name})

        task = asyncio.create_task(loop(), name=name)
        self._periodic.add(task)
        return task
