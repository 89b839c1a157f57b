"""The clock: APScheduler 3.11 triggers the periodic jobs; the database holds every decision.

Jobs (each idempotent, so a missed or doubled run does no harm):
- ``start_due_notices`` (every 5 s): scheduled notices whose time has come become ``sending``;
- ``release_held`` (every minute): deliveries held for quiet hours or the daily cap whose time
  has come are pending again (the dispatcher would take them anyway; this keeps counts true);
- ``refresh_token`` (every 5 minutes): the shared access token is renewed before it expires, so
  no send waits for it;
- ``sweep_policies`` (at start and daily at 00:05 Beijing time): policies past their expiry
  date are marked 已失效 (定期清理).

With several processes on PostgreSQL only the one holding a session-level advisory lock (on a
connection of its own, kept open) runs the jobs; the others try again each minute, and take
over when the holder dies (its connection, and so its lock, goes with it). On SQLite there is
one process, which always runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policy_index.repository import LibraryRepository
from push import outbox
from push.config import LOCAL_TZ
from push.tables import DELIVERIES, DeliveryState

logger = logging.getLogger(__name__)
# APScheduler logs every run of every job at INFO; its warnings (a missed run) are what matter.
logging.getLogger("apscheduler").setLevel(logging.WARNING)

LEADER_LOCK = 0x676B_7075_7368  # "gkpush": one advisory lock id for the push clock
Job = Callable[[], Awaitable[object]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Leadership:
    """Whether this process runs the clock's jobs (PostgreSQL advisory lock; SQLite: yes)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._engine.dialect.name != "postgresql" or self._conn is not None

    async def try_acquire(self) -> bool:
        if self.held:
            return True
        conn = await self._engine.connect()
        try:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK})
            ).scalar_one()
            await conn.commit()  # the lock is the session's; the transaction can end
        except Exception:
            await conn.close()
            raise
        if got:
            self._conn = conn
            logger.info("this process runs the push clock", extra={"action": "clock_leader"})
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK})
            finally:
                await conn.close()


class PushClock:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        refresh_token: Job | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._refresh_token = refresh_token
        self._clock = clock
        self.leadership = Leadership(engine)
        self._scheduler = AsyncIOScheduler(timezone=LOCAL_TZ)

    async def start(self) -> None:
        jobs: list[tuple[str, Job, Any]] = [
            ("start_due_notices", self.start_due_notices, IntervalTrigger(seconds=5)),
            ("release_held", self.release_held, IntervalTrigger(minutes=1)),
            ("sweep_policies", self.sweep_policies, CronTrigger(hour=0, minute=5)),
        ]
        if self._refresh_token is not None:
            jobs.append(("refresh_token", self._refresh_token, IntervalTrigger(minutes=5)))
        for name, job, trigger in jobs:
            self._scheduler.add_job(
                self._guarded(name, job),
                trigger,
                id=name,
                name=name,
                max_instances=1,
                coalesce=True,
            )
        self._scheduler.add_job(
            self._guarded("sweep_policies", self.sweep_policies),
            id="sweep_at_start",
            name="sweep_at_start",
        )
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self.leadership.release()

    def _guarded(self, name: str, job: Job) -> Job:
        async def run() -> None:
            try:
                if await self.leadership.try_acquire():
                    await job()
            except Exception:
                logger.exception("clock job failed", extra={"action": name})

        return run

    async def _tx(self, fn: Callable[[Any], Any]) -> Any:
        async with self._engine.begin() as conn:
            return await conn.run_sync(fn)

    async def start_due_notices(self) -> None:
        now = self._clock()
        await self._tx(lambda c: outbox.due_notices(c, now))

    async def release_held(self) -> int:
        now = self._clock()
        d = DELIVERIES.c

        def release(conn: Any) -> int:
            result = conn.execute(
                update(DELIVERIES)
                .where(d.status == DeliveryState.HELD, d.next_attempt_at <= now)
                .values(status=DeliveryState.PENDING)
            )
            return int(result.rowcount or 0)

        released: int = await self._tx(release)
        return released

    async def sweep_policies(self) -> list[str]:
        now = self._clock()
        retired = await LibraryRepository(self._engine).retire_expired(
            now.astimezone(LOCAL_TZ).date(), now
        )
        if retired:
            logger.info(
                "%d expired policies marked 已失效",
                len(retired),
                extra={"action": "sweep_policies"},
            )
        return retired
