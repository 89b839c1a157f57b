"""Factories for push tests: subscribers on topics, and notices already approved and due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from push.subscriptions import ensure_topics
from push.tables import NOTICES, SUBSCRIBERS, SUBSCRIPTIONS, Channel, NoticeState


async def make_subscribers(
    engine: AsyncEngine,
    count: int,
    topic: str,
    *,
    prefix: str = "o_sub_",
    now: datetime,
    town: str | None = None,
    tags: Sequence[str] = (),
    quiet_hours: str | None = None,
) -> list[str]:
    """``count`` subscribers of ``topic`` (openids returned in order)."""
    openids = [f"{prefix}{i:06d}" for i in range(count)]
    async with engine.begin() as conn:
        await conn.run_sync(ensure_topics)
        for start in range(0, count, 5000):
            chunk = openids[start : start + 5000]
            await conn.execute(
                insert(SUBSCRIBERS),
                [
                    {
                        "openid": o,
                        "town": town,
                        "tags": list(tags),
                        "active": True,
                        "source": "import",
                        "quiet_hours": quiet_hours,
                        "created_at": now,
                    }
                    for o in chunk
                ],
            )
            ids = (
                await conn.execute(select(SUBSCRIBERS.c.id).where(SUBSCRIBERS.c.openid.in_(chunk)))
            ).scalars()
            await conn.execute(
                insert(SUBSCRIPTIONS),
                [{"subscriber_id": i, "topic": topic, "consented_at": now} for i in ids],
            )
    return openids


async def make_notice(
    engine: AsyncEngine,
    *,
    now: datetime,
    topics: Sequence[str] = (),
    channel: Channel = Channel.TEMPLATE,
    state: NoticeState = NoticeState.SCHEDULED,
    title: str = "关于发放2026年度稳岗返还资金的通知",
    body: str = "符合条件的企业无需申请，资金将直接拨付至企业对公账户。",
    **extra: Any,
) -> int:
    """An approved notice, scheduled for ``now`` (the review itself is tested elsewhere)."""
    values: dict[str, Any] = {
        "title": title,
        "body": body,
        "url": "https://example.gov.cn/notice/1",
        "channel": channel.value,
        "topics": list(topics),
        "towns": [],
        "tags": [],
        "state": state.value,
        "author": "editor",
        "content_hash": "x" * 64,
        "approved_hash": "x" * 64,
        "approved_by": "reviewer",
        "approved_at": now,
        "scheduled_at": now,
        "created_at": now,
        "updated_at": now,
    }
    values.update(extra)
    async with engine.begin() as conn:
        result = await conn.execute(insert(NOTICES).values(**values).returning(NOTICES.c.id))
        return int(result.scalar_one())
