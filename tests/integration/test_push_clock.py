"""The push clock's jobs on a real database: expired policies swept to 已失效, held deliveries
released when their time comes, scheduled notices started, and on PostgreSQL only one process
(the advisory-lock holder) running them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import create_engine
from policy_index.model import Library, Policy, Status
from policy_index.repository import LibraryRepository
from push.clock import PushClock
from push.tables import DELIVERIES, NOTICES, DeliveryState, NoticeState
from tests.push_factories import make_notice

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def policy(pid: str, expiry: date | None, status: Status = Status.CURRENT) -> Policy:
    return Policy(
        id=pid, title=f"关于{pid}的通知", status=status, expiry_date=expiry, topics=("就业创业",)
    )


async def test_expired_policies_are_swept_to_lapsed(engine: AsyncEngine) -> None:
    repo = LibraryRepository(engine)
    await repo.upsert(
        Library.of(
            [
                policy("lapsed", date(2026, 12, 6)),
                policy("today", date(2026, 12, 7)),  # valid through its expiry day
                policy("open", None),
                policy("repealed", date(2020, 1, 1), Status.REPEALED),
            ]
        )
    )
    before = await repo.revision()
    clock = PushClock(engine, clock=lambda: NOW)
    assert await clock.sweep_policies() == ["lapsed"]
    library = await repo.load()
    assert library.policy("lapsed").status is Status.EXPIRED  # type: ignore[union-attr]
    assert library.policy("today").status is Status.CURRENT  # type: ignore[union-attr]
    assert library.policy("repealed").status is Status.REPEALED  # type: ignore[union-attr]
    assert await repo.revision() == before + 1  # every process's matcher rebuilds
    assert await clock.sweep_policies() == []  # nothing twice


async def test_held_deliveries_are_released_when_due(engine: AsyncEngine) -> None:
    nid = await make_notice(engine, now=NOW, topics=["救助"], state=NoticeState.SENDING)
    async with engine.begin() as conn:
        await conn.execute(
            DELIVERIES.insert(),
            [
                {"notice_id": nid, "openid": f"o{i}", "channel": "template", "status": "held",
                 "attempts": 0, "next_attempt_at": NOW + timedelta(hours=h)}
                for i, h in enumerate((-1, 1))
            ],
        )  # fmt: skip
    released = await PushClock(engine, clock=lambda: NOW).release_held()
    assert released == 1
    async with engine.connect() as conn:
        states = dict((await conn.execute(select(DELIVERIES.c.openid, DELIVERIES.c.status))).all())
    assert states == {"o0": DeliveryState.PENDING, "o1": DeliveryState.HELD}


async def test_scheduled_notices_start_when_due(engine: AsyncEngine) -> None:
    due = await make_notice(engine, now=NOW - timedelta(minutes=1), topics=["教育"])
    later = await make_notice(
        engine, now=NOW, topics=["教育"], scheduled_at=NOW + timedelta(hours=2)
    )
    await PushClock(engine, clock=lambda: NOW).start_due_notices()
    async with engine.connect() as conn:
        states = dict((await conn.execute(select(NOTICES.c.id, NOTICES.c.state))).all())
    assert states == {due: NoticeState.SENDING, later: NoticeState.SCHEDULED}


async def test_one_leader_among_processes(engine: AsyncEngine, database_url: str) -> None:
    other_engine = create_engine(database_url)
    first, second = PushClock(engine), PushClock(other_engine)
    try:
        assert await first.leadership.try_acquire()
        if engine.dialect.name == "postgresql":
            assert not await second.leadership.try_acquire()
            await first.leadership.release()  # the leader stops (or dies)
            assert await second.leadership.try_acquire()  # another takes over
        else:  # SQLite: one process by rule; it always runs the jobs
            assert await second.leadership.try_acquire()
    finally:
        await first.stop()
        await second.stop()
        await other_engine.dispose()
