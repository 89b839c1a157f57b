"""The delivery engine: due notices materialised into the outbox, then claimed, sent and
recorded a batch at a time (``gongkai push run``).

One ``Dispatcher`` per process runs a few lanes; each lane loops *claim a batch → send it
(bounded concurrency, a rate limit per WeChat API) → record the outcomes in one transaction*.
Between rounds the dispatcher starts due notices, materialises the next chunk of each audience
and closes notices that are finished. Every decision is in the database, so a process that is
killed loses nothing: its leases run out and ``outbox.recover`` hands its batch on.

Several ``push run`` processes may share one PostgreSQL database (claims use SKIP LOCKED);
on SQLite run one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from policy_index.model import Policy
from policy_index.repository import LibraryRepository
from push import audience, eligibility_audience, outbox
from push.channels import OutgoingNotice, Sender, content_of, outcome_of, send
from push.config import PushSettings, QuietHours, local_day_start, next_local_midnight
from push.outbox import Claimed, Effects, Outcome
from push.tables import Channel, DeliveryState

logger = logging.getLogger(__name__)

LANES = 3
MATERIALISE_CHUNKS_PER_ROUND = 2


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def _policy(engine: AsyncEngine, policy_id: str | None) -> Policy | None:
    """The policy an eligibility notice is about, with its conditions, as the library has it."""
    if policy_id is None:
        return None
    return (await LibraryRepository(engine).load()).policy(policy_id)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    held: int = 0
    recovered: int = 0
    notices_done: list[int] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        sender: Sender,
        settings: PushSettings,
        *,
        worker: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._sender = sender
        self._settings = settings
        self._quiet = settings.quiet()
        self._consent_template = settings.subscribe_template_id or None
        self._clock = clock
        self.worker = worker or worker_name()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._limits = {ch: AsyncLimiter(settings.rate_per_s, 1.0) for ch in Channel}
        self._notices: dict[int, OutgoingNotice] = {}
        self._paused: dict[str, datetime] = {}
        self._advance_lock = asyncio.Lock()
        self.stats = RunStats()

    async def _tx(self, fn: Callable[[Connection], Any]) -> Any:
        async with self._engine.begin() as conn:
            return await conn.run_sync(fn)

    # --- the notices ----------------------------------------------------------------------

    async def advance(self) -> list[int]:
        """Start due notices, materialise a little of each audience, close finished notices,
        hand on crashed workers' batches. Returns the notices whose audience is not yet all
        in the outbox."""
        async with self._advance_lock:
            now = self._clock()
            sending: list[int] = await self._tx(lambda c: outbox.due_notices(c, now))
            for nid in sending:
                await self._materialise_some(nid, now)
            await self._tx(lambda c: outbox.cancel_stragglers(c, now))
            resent, unknown = await self._tx(lambda c: outbox.recover(c, now))
            self.stats.recovered += resent
            self.stats.unknown += unknown
            if resent or unknown:
                logger.warning(
                    "took over an interrupted batch: %d to resend, %d unknown",
                    resent,
                    unknown,
                    extra={"action": "push_recover"},
                )
            done = await self._tx(lambda c: outbox.close_finished(c, sending, now))
            for nid in done:
                logger.info("notice %d delivered", nid, extra={"action": "notice_done"})
            self.stats.notices_done.extend(done)
            self._paused = await self._tx(lambda c: outbox.paused_channels(c, now))
            growing: list[int] = await self._tx(lambda c: outbox.unmaterialised(c, sending))
            return growing

    async def _materialise_some(self, notice_id: int, now: datetime) -> None:
        notice = await self._tx(lambda c: outbox.notice_row(c, notice_id))
        if notice["materialised"]:
            return
        if notice["eligible"]:
            policy = await _policy(self._engine, notice["policy_id"])
            await self._tx(
                lambda c: eligibility_audience.materialise(
                    c, notice, policy, now, self._quiet, self._consent_template
                )
            )
            return
        for _ in range(MATERIALISE_CHUNKS_PER_ROUND):
            if await self._tx(lambda c: self._materialise(c, notice_id, now)):
                return

    def _materialise(self, conn: Connection, notice_id: int, now: datetime) -> bool:
        """The next chunk, from the cursor as it stands in this transaction."""
        notice = outbox.notice_row(conn, notice_id)
        if notice["materialised"]:  # another worker finished it
            return True
        return audience.materialise_chunk(
            conn, notice, now, self._quiet, consent_template=self._consent_template
        )

    async def _content(self, notice_id: int) -> OutgoingNotice:
        content = self._notices.get(notice_id)
        if content is None:
            row = await self._tx(lambda c: outbox.notice_row(c, notice_id))
            content = self._notices[notice_id] = content_of(row)
        return content

    # --- the deliveries -------------------------------------------------------------------

    async def round(self) -> int:
        """Claim one batch, send it, record it; returns how many rows were claimed."""
        now = self._clock()
        lease = timedelta(seconds=self._settings.lease_s)
        claimed: list[Claimed] = await self._tx(
            lambda c: outbox.claim(
                c,
                worker=self.worker,
                now=now,
                lease=lease,
                limit=self._settings.batch,
                skip_channels=self._paused,
            )
        )
        if not claimed:
            return 0
        ready = await self._hold_back(claimed, now)
        effects = Effects()
        results = await asyncio.gather(*(self._send_one(row, effects) for row in ready))
        finished_at = self._clock()
        await self._tx(
            lambda c: outbox.finish(c, results, effects, worker=self.worker, now=finished_at)
        )
        for channel, (until, _reason, _code) in effects.pause.items():
            self._paused[channel] = until
        self._count(results)
        return len(claimed)

    async def _hold_back(self, claimed: list[Claimed], now: datetime) -> list[Claimed]:
        """Rows inside their recipient's quiet hours or over the daily cap wait (``held``)."""
        people = [row.openid for row in claimed if row.channel != Channel.MASS]
        day_start = local_day_start(now)

        def read(conn: Connection) -> tuple[dict[str, str], dict[str, int]]:
            return outbox.own_quiet_hours(conn, people), outbox.sent_today(conn, people, day_start)

        own, today = await self._tx(read)
        held: list[tuple[int, datetime]] = []
        ready: list[Claimed] = []
        taken: dict[str, int] = {}
        for row in claimed:
            due = self._due(row, now, own, today, taken)
            if due is None:
                ready.append(row)
            else:
                held.append((row.id, due))
        if held:
            await self._tx(lambda c: outbox.hold(c, held, self.worker))
            self.stats.held += len(held)
        return ready

    def _due(
        self,
        row: Claimed,
        now: datetime,
        own: dict[str, str],
        today: dict[str, int],
        taken: dict[str, int],
    ) -> datetime | None:
        """When a held row may go (None: now)."""
        if row.channel == Channel.MASS:
            return None
        quiet = QuietHours.parse(own[row.openid]) if row.openid in own else self._quiet
        if quiet is not None and quiet.contains(now):
            return quiet.ends_after(now)
        count = today.get(row.openid, 0) + taken.get(row.openid, 0)
        if count >= self._settings.daily_cap:
            midnight = next_local_midnight(now)
            return quiet.ends_after(midnight) if quiet is not None else midnight
        taken[row.openid] = taken.get(row.openid, 0) + 1
        return None

    async def _send_one(self, row: Claimed, effects: Effects) -> tuple[int, Outcome]:
        async with self._slots:
            content = await self._content(row.notice_id)
            until = self._paused.get(row.channel)
            if until is not None and until > self._clock():  # paused by a send of another lane
                return row.id, Outcome(
                    DeliveryState.PENDING, next_attempt_at=until, refund_attempt=True
                )
            async with self._limits[Channel(row.channel)]:
                try:
                    msgid = await send(self._sender, row, content, self._settings)
                except Exception as exc:
                    outcome = outcome_of(exc, row, self._clock(), self._settings, effects)
                    if outcome.reason == "error":
                        logger.exception("notice send failed", extra={"action": "push_send"})
                    if row.channel in effects.pause:  # the other lanes stop at once
                        self._paused[row.channel] = effects.pause[row.channel][0]
                    return row.id, outcome
            return row.id, outcome_of(None, row, self._clock(), self._settings, effects, msgid)

    def _count(self, results: list[tuple[int, Outcome]]) -> None:
        for _id, o in results:
            match o.status:
                case DeliveryState.SENT:
                    self.stats.sent += 1
                case DeliveryState.FAILED:
                    self.stats.failed += 1
                case DeliveryState.UNKNOWN:
                    self.stats.unknown += 1
                case _:
                    self.stats.retried += 1

    # --- the loop -------------------------------------------------------------------------

    async def run(self, *, until_idle: bool = False, stop: asyncio.Event | None = None) -> RunStats:
        """Deliver until ``stop`` is set (or, ``until_idle``, until nothing due is left)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            growing = await self.advance()
            claimed = await self._lanes(stop)
            if claimed or growing:
                continue
            if until_idle:
                next_due = await self._tx(lambda c: outbox.waiting(c, self._clock(), self._paused))
                if next_due is None:
                    break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.poll_s)
        await self.advance()
        return self.stats

    async def _lanes(self, stop: asyncio.Event) -> int:
        """Run claim/send/record rounds in parallel lanes until one finds nothing."""
        total = 0

        async def lane() -> None:
            nonlocal total
            while not stop.is_set():
                n = await self.round()
                total += n
                if n < self._settings.batch:
                    return

        await asyncio.gather(*(lane() for _ in range(LANES)))
        return total
