"""Shared by the notice tests: staff accounts, a simple audience counter, a fake test sender,
subscribers and deliveries written straight into the tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from push import staff
from push.notice_rules import Notice, NoticeContent
from push.notices import AudienceCount
from push.tables import (
    DELIVERIES,
    ENTERPRISES,
    MAYBE,
    SUBSCRIBERS,
    SUBSCRIPTIONS,
    TOPICS,
    Channel,
    DeliveryState,
)

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
STAFF = {"王撰稿": "editor", "李审核": "reviewer", "张管理": "admin", "赵审计": "auditor"}
EDITOR, REVIEWER, ADMIN, AUDITOR = STAFF


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class TopicCounter:
    """Counts active subscribers of any of the notice's topics (the test's stand-in for
    ``push.audience``, which also honours towns, tags, eligibility and corrections)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def count(self, notice: Notice) -> AudienceCount:
        s, sub = SUBSCRIPTIONS.c, SUBSCRIBERS.c
        query = (
            select(func.count(func.distinct(s.subscriber_id)))
            .select_from(SUBSCRIPTIONS.join(SUBSCRIBERS, sub.id == s.subscriber_id))
            .where(s.topic.in_(notice.content.topics), sub.active.is_(True))
        )
        async with self.engine.connect() as conn:
            return AudienceCount((await conn.execute(query)).scalar_one())


@dataclass
class FakeSender:
    sent: list[tuple[str, NoticeContent]] = field(default_factory=list)
    fail_with: Exception | None = None

    async def send_test(self, openid: str, notice: NoticeContent) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((openid, notice))


async def add_staff(engine: AsyncEngine, **openids: str) -> None:
    for name, role in STAFF.items():
        await staff.add(engine, name, role, actor="测试", now=T0, openid=openids.get(name))


async def add_subscribers(engine: AsyncEngine, topic: str, openids: list[str]) -> None:
    async with engine.begin() as conn:
        if (
            await conn.execute(select(TOPICS.c.name).where(TOPICS.c.name == topic))
        ).first() is None:
            await conn.execute(insert(TOPICS).values(name=topic, description="", aliases=[]))
        for openid in openids:
            result = await conn.execute(
                insert(SUBSCRIBERS).values(
                    openid=openid, tags=[], active=True, source="import", created_at=T0
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            await conn.execute(
                insert(SUBSCRIPTIONS).values(subscriber_id=key[0], topic=topic, consented_at=T0)
            )


async def add_deliveries(engine: AsyncEngine, notice_id: int, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        for n, row in enumerate(rows):
            await conn.execute(
                insert(DELIVERIES).values(
                    notice_id=notice_id,
                    openid=row.get("openid", f"o-{notice_id}-{n}"),
                    channel=Channel.TEMPLATE.value,
                    status=DeliveryState(row["status"]).value,
                    attempts=1,
                    next_attempt_at=T0,
                    errcode=row.get("errcode"),
                )
            )


async def add_maybe(engine: AsyncEngine, notice_id: int, count: int) -> None:
    async with engine.begin() as conn:
        for n in range(count):
            result = await conn.execute(
                insert(ENTERPRISES).values(
                    uscc=f"91330100MA{n:08d}",
                    name=f"企业{n}",
                    qualifications=[],
                    tags=[],
                    updated_at=T0,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            await conn.execute(
                insert(MAYBE).values(
                    notice_id=notice_id, enterprise_id=key[0], unknown=["employees"]
                )
            )
