"""Push's figures for a period: notices sent and their deliveries, subscribers and subscriptions.

Read by the staff console's dashboard and its report export (``bot.annual``), for the
《政府信息公开工作年度报告》 figures a WeChat channel can supply. A period is a pair of UTC
instants ``[lo, hi)`` (the caller turns local dates into them). Definitions (also in
docs/console.md):

* *notices sent*: notices that began sending (``started_at``) in the period, whatever became of
  them later (done, or cancelled part-way);
* *deliveries*: the outbox rows of those notices, by state; *delivered* is ``sent``, *pending*
  is what still waits (``pending``, ``held``, ``sending``);
* *subscribers at the end*: people with at least one subscription now who subscribed before the
  period ended (someone who gave up everything since is no longer known: the row is deleted);
* *subscriptions at the end*: the subscriptions held now, less the changes counted after the
  period (``push_subscription_change``);
* *new* and *cancelled subscriptions*: the topic subscriptions taken (+1) and given up (-1, by
  ``退订`` or by unfollowing) in the period, from the same change counts;
* *subscribers per topic*: now, for each active topic (the chart; not a period figure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from push.tables import (
    DELIVERIES,
    NOTICES,
    OPEN_DELIVERY,
    SUBSCRIBERS,
    SUBSCRIPTION_CHANGES,
    SUBSCRIPTIONS,
    TOPICS,
    DeliveryState,
)


@dataclass(frozen=True, slots=True)
class PushFigures:
    notices_sent: int
    deliveries: dict[str, int]  # every DeliveryState value, zero when none
    subscribers_at_end: int
    subscriptions_at_end: int
    new_subscriptions: int
    cancelled_subscriptions: int
    per_topic: tuple[tuple[str, int], ...]  # (topic, subscribers now), in catalogue order

    @property
    def delivered(self) -> int:
        return self.deliveries[DeliveryState.SENT]

    @property
    def failed(self) -> int:
        return self.deliveries[DeliveryState.FAILED]

    @property
    def pending(self) -> int:
        return sum(self.deliveries[s] for s in OPEN_DELIVERY)


async def push_figures(engine: AsyncEngine, lo: datetime, hi: datetime) -> PushFigures:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: _figures(c, lo, hi))


def _figures(conn: Connection, lo: datetime, hi: datetime) -> PushFigures:
    n, d, s, sub = NOTICES.c, DELIVERIES.c, SUBSCRIBERS.c, SUBSCRIPTIONS.c
    ch = SUBSCRIPTION_CHANGES.c
    started = (n.started_at >= lo, n.started_at < hi)
    notices = conn.execute(select(func.count()).select_from(NOTICES).where(*started)).scalar_one()
    states = {
        str(state): int(count)
        for state, count in conn.execute(
            select(d.status, func.count())
            .select_from(DELIVERIES.join(NOTICES, n.id == d.notice_id))
            .where(*started)
            .group_by(d.status)
        )
    }
    holding = select(sub.subscriber_id).distinct()
    subscribers = conn.execute(
        select(func.count())
        .select_from(SUBSCRIBERS)
        .where(s.active.is_(True), s.created_at < hi, s.id.in_(holding))
    ).scalar_one()
    now_held = conn.execute(select(func.count()).select_from(SUBSCRIPTIONS)).scalar_one()
    after = conn.execute(select(func.coalesce(func.sum(ch.delta), 0)).where(ch.at >= hi))
    changes = {
        int(delta): int(count)
        for delta, count in conn.execute(
            select(ch.delta, func.count()).where(ch.at >= lo, ch.at < hi).group_by(ch.delta)
        )
    }
    return PushFigures(
        notices_sent=int(notices),
        deliveries={str(state): int(states.get(state, 0)) for state in DeliveryState},
        subscribers_at_end=int(subscribers),
        subscriptions_at_end=max(int(now_held) - int(after.scalar_one()), 0),
        new_subscriptions=int(changes.get(1, 0)),
        cancelled_subscriptions=int(changes.get(-1, 0)),
        per_topic=topic_counts(conn),
    )


def topic_counts(conn: Connection) -> tuple[tuple[str, int], ...]:
    """(topic, active subscribers now) for each topic of the catalogue, in its order."""
    t, sub, s = TOPICS.c, SUBSCRIPTIONS.c, SUBSCRIBERS.c
    rows = conn.execute(
        select(t.name, func.count(s.id))
        .select_from(
            TOPICS.outerjoin(SUBSCRIPTIONS, sub.topic == t.name).outerjoin(
                SUBSCRIBERS, (s.id == sub.subscriber_id) & s.active.is_(True)
            )
        )
        .where(t.active.is_(True))
        .group_by(t.name, t.position)
        .order_by(t.position, t.name)
    )
    return tuple((str(name), int(count)) for name, count in rows)


@dataclass(frozen=True, slots=True)
class AudienceChoices:
    """What the compose form offers to pick from: topics with their subscribers, known towns."""

    topics: tuple[tuple[str, int], ...]
    towns: tuple[str, ...]


async def audience_choices(engine: AsyncEngine) -> AudienceChoices:
    def read(conn: Connection) -> AudienceChoices:
        s = SUBSCRIBERS.c
        towns = conn.execute(
            select(s.town)
            .where(s.town.is_not(None), s.active.is_(True))
            .distinct()
            .order_by(s.town)
        ).scalars()
        return AudienceChoices(topic_counts(conn), tuple(str(town) for town in towns if town))

    async with engine.connect() as conn:
        return await conn.run_sync(read)
