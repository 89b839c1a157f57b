"""start_eagerly: a coroutine that never waits is done at once; one that waits is finished by
whoever awaits the rest, exactly as if it had been awaited from the start."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from bot.tasks import Finished, Started, start_eagerly

where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="-")


async def instant(value: int) -> int:
    return value * 2


async def waits(steps: list[str], future: asyncio.Future[int]) -> int:
    steps.append("before")
    await asyncio.sleep(0)  # a bare yield
    steps.append(where.get())
    value = await future  # a real wait on a future
    steps.append("after")
    return value + 1


async def rest_of(started: Started[int]) -> int:
    return await started


async def test_a_coroutine_that_never_waits_is_finished_at_once() -> None:
    outcome = start_eagerly(instant(21))
    assert outcome == Finished(42)


async def test_a_coroutine_that_waits_is_finished_by_a_task() -> None:
    steps: list[str] = []
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    where.set("request")
    outcome = start_eagerly(waits(steps, future))
    assert isinstance(outcome, Started)
    assert steps == ["before"]  # ran in the caller, up to its first wait
    task = asyncio.create_task(rest_of(outcome))
    await asyncio.sleep(0.01)
    assert steps == ["before", "request"]  # the task carries the caller's context on
    assert not task.done()
    future.set_result(1)
    assert await task == 2
    assert steps[-1] == "after"


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    steps: list[str] = []
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    outcome = start_eagerly(waits(steps, future))
    assert isinstance(outcome, Started)
    task = asyncio.create_task(rest_of(outcome))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert future.cancelled()  # the cancellation reached what the coroutine awaited
    assert "after" not in steps


async def test_errors_before_and_after_the_first_wait_propagate() -> None:
    async def fails_at_once() -> int:
        raise ValueError("now")

    async def fails_later() -> int:
        await asyncio.sleep(0)
        raise ValueError("later")

    with pytest.raises(ValueError, match="now"):
        start_eagerly(fails_at_once())
    later = start_eagerly(fails_later())
    assert isinstance(later, Started)
    with pytest.raises(ValueError, match="later"):
        await asyncio.create_task(rest_of(later))
