"""Background tasks with an owner: kept referenced, logged on failure, drained on shutdown;
and ``start_eagerly``, which runs a coroutine at once and makes it a task only if it waits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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


@dataclass(frozen=True, slots=True)
class Finished(Generic[T]):
    """A coroutine that ``start_eagerly`` ran to the end without it ever waiting."""

    result: T


class Started(Generic[T]):
    """A coroutine that ``start_eagerly`` ran up to its first wait: await it (in a task) for the
    rest. It hands what the coroutine waits on to the awaiting task, exactly as ``await`` would
    have done had the coroutine been awaited from the start."""

    __slots__ = ("_coro", "_waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, T], waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, T]:
        coro, message = self._coro, self._waiting_on
        while True:
            try:
                sent = yield message
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # e.g. CancelledError: the coroutine decides
                try:
                    message = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
            else:
                try:
                    message = coro.send(sent)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]


def start_eagerly(coro: Coroutine[Any, Any, T]) -> Finished[T] | Started[T]:
    """Run ``coro`` now, in the caller's context, up to its first real wait.

    Most callbacks are answered without the handler ever waiting (the help text, the welcome):
    then the result is here at once, with no task, no timer and no loop iteration spent. Only a
    coroutine that does wait needs a task (and a timeout) for the rest. Python 3.12's eager
    tasks do the same for every task; this does it for the one place that needs it.
    Exceptions raised before the first wait propagate to the caller.
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration as stop:
        return Finished(stop.value)
    return Started(coro, waiting_on)
