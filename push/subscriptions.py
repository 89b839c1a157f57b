"""Subscribers and their topic subscriptions: subscribe, unsubscribe, import, forget.

A subscriber row exists only while the person subscribes to something (or was imported by
staff): the last ``退订`` deletes it, and unfollowing deletes everything push holds about the
person (``forget``), with whatever was still waiting to be sent to them. Each subscription
records when the person said yes (consent, PIPL Art. 14). A late unsubscribe is honoured: what
waits in the outbox for that person from notices of topics they no longer follow is cancelled in
the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, delete, func, literal, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import insert_for
from push import outbox
from push.enterprises import forget_statements
from push.errors import ImportFileError
from push.tables import (
    CONSENT_ACCEPTED,
    CONSENTS,
    DELIVERIES,
    NOTICES,
    SUBSCRIBERS,
    SUBSCRIPTION_CHANGES,
    SUBSCRIPTIONS,
    TOPICS,
    Channel,
    DeliveryState,
)
from push.topics import DEFAULT_TOPICS, Topic

MAX_LINE = 4096


@dataclass(frozen=True, slots=True)
class Change:
    added: tuple[str, ...] = ()
    already: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()


def ensure_topics(conn: Connection) -> None:
    """A new database starts with the default catalogue (staff edit it afterwards)."""
    if conn.execute(select(func.count()).select_from(TOPICS)).scalar_one():
        return
    conn.execute(
        TOPICS.insert(),
        [
            {
                "name": t.name,
                "aliases": list(t.aliases),
                "description": t.description,
                "position": i,
                "active": True,
            }
            for i, t in enumerate(DEFAULT_TOPICS)
        ],
    )


def catalogue(conn: Connection) -> list[Topic]:
    """The active topics (a new database gets the default catalogue on first use)."""
    t = TOPICS.c
    query = select(t.name, t.aliases, t.description).where(t.active.is_(True)).order_by(t.position)
    rows = conn.execute(query).all()
    if not rows:
        ensure_topics(conn)
        rows = conn.execute(query).all()
    return [Topic(r.name, tuple(r.aliases or ()), r.description or "") for r in rows]


def subscribed_topics(conn: Connection, openid: str) -> list[str]:
    s, sub, t = SUBSCRIBERS.c, SUBSCRIPTIONS.c, TOPICS.c
    rows = conn.execute(
        select(sub.topic)
        .join(SUBSCRIBERS, s.id == sub.subscriber_id)
        .join(TOPICS, t.name == sub.topic)
        .where(s.openid == openid)
        .order_by(t.position)
    )
    return list(rows.scalars())


def _subscriber_id(conn: Connection, openid: str, now: datetime, source: str) -> int:
    s = SUBSCRIBERS.c
    found = conn.execute(select(s.id).where(s.openid == openid)).scalar_one_or_none()
    if found is not None:
        conn.execute(update(SUBSCRIBERS).where(s.id == found).values(active=True))
        return int(found)
    stmt = insert_for(conn.dialect, SUBSCRIBERS).values(
        openid=openid, tags=[], active=True, source=source, created_at=now
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["openid"]))
    return int(conn.execute(select(s.id).where(s.openid == openid)).scalar_one())


def subscribe(
    conn: Connection, openid: str, topics: Sequence[str], now: datetime, *, source: str = "chat"
) -> Change:
    have = set(subscribed_topics(conn, openid))
    new = [t for t in topics if t not in have]
    sid = _subscriber_id(conn, openid, now, source)
    if new:
        stmt = insert_for(conn.dialect, SUBSCRIPTIONS).on_conflict_do_nothing(
            index_elements=["subscriber_id", "topic"]
        )
        conn.execute(stmt, [{"subscriber_id": sid, "topic": t, "consented_at": now} for t in new])
        _count_changes(conn, new, +1, now)
    return Change(
        added=tuple(new),
        already=tuple(t for t in topics if t in have),
        remaining=tuple(subscribed_topics(conn, openid)),
    )


def unsubscribe(
    conn: Connection, openid: str, topics: Sequence[str] | None, now: datetime
) -> Change:
    """Remove ``topics`` (all when None); the last one removes the subscriber."""
    s, sub = SUBSCRIBERS.c, SUBSCRIPTIONS.c
    sid = conn.execute(select(s.id).where(s.openid == openid)).scalar_one_or_none()
    if sid is None:
        return Change()
    have = subscribed_topics(conn, openid)
    gone = have if topics is None else [t for t in have if t in topics]
    if gone:
        conn.execute(delete(SUBSCRIPTIONS).where(sub.subscriber_id == sid, sub.topic.in_(gone)))
        _count_changes(conn, gone, -1, now)
    remaining = [t for t in have if t not in gone]
    _cancel_unwanted(conn, openid, remaining, now)
    if not remaining and topics is None:
        conn.execute(delete(SUBSCRIBERS).where(s.id == sid))
    elif not remaining:
        source = conn.execute(select(s.source).where(s.id == sid)).scalar_one()
        if source == "chat":  # nothing left that the person asked for
            conn.execute(delete(SUBSCRIBERS).where(s.id == sid))
    return Change(removed=tuple(gone), remaining=tuple(remaining))


def _count_changes(conn: Connection, topics: Sequence[str], delta: int, now: datetime) -> None:
    """The report's new and cancelled subscriptions (``push.figures``): counts, not people."""
    if topics:
        conn.execute(
            SUBSCRIPTION_CHANGES.insert(), [{"at": now, "topic": t, "delta": delta} for t in topics]
        )


def _cancel_unwanted(
    conn: Connection, openid: str, remaining: Sequence[str], now: datetime
) -> None:
    """Waiting deliveries of topic notices none of whose topics the person still follows."""
    d, n = DELIVERIES.c, NOTICES.c
    rows = conn.execute(
        select(d.notice_id, n.topics)
        .join(NOTICES, n.id == d.notice_id)
        .where(d.openid == openid, d.status.in_(outbox.CLAIMABLE))
    ).all()
    unwanted = [nid for nid, topics in rows if topics and not set(topics) & set(remaining)]
    outbox.cancel_for(conn, openid, unwanted, now)


def forget(conn: Connection, openid: str, now: datetime) -> None:
    """Everything push holds about the person (unfollow): subscriptions, the subscriber, enterprise
    contacts, and what still waited to be sent to them."""
    outbox.cancel_for(conn, openid, None, now)
    _count_changes(conn, subscribed_topics(conn, openid), -1, now)
    conn.execute(delete(SUBSCRIBERS).where(SUBSCRIBERS.c.openid == openid))
    for statement in forget_statements(openid):  # enterprise contacts, wrong binding tries
        conn.execute(statement)
    conn.execute(delete(CONSENTS).where(CONSENTS.c.openid == openid))
    d = DELIVERIES.c
    # Delivery rows stay as counts for the notices' figures, without the person.
    conn.execute(
        update(DELIVERIES)
        .where(d.openid == openid)
        .values(openid=literal("gone:") + cast(d.id, String))
    )


# --- staff import -----------------------------------------------------------------------------


def parse_subscriber_lines(
    path: Path, lines: Iterable[str], known_topics: set[str]
) -> list[dict[str, Any]]:
    """JSON Lines ``{"openid", "topics": [...], "town", "tags"}``; a bad line names itself."""
    records, problems = check_subscriber_lines(path, lines, known_topics)
    if problems:
        raise problems[0]
    return records


def check_subscriber_lines(
    path: Path, lines: Iterable[str], known_topics: set[str]
) -> tuple[list[dict[str, Any]], list[ImportFileError]]:
    """The records of the good lines, and one error for each bad line (line, field, reason)."""
    records: list[dict[str, Any]] = []
    problems: list[ImportFileError] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(_subscriber_record(line, known_topics))
        except _BadLine as exc:
            problems.append(ImportFileError(path, number, exc.field, exc.reason))
    return records, problems


class _BadLine(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _subscriber_record(line: str, known_topics: set[str]) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise _BadLine("-", "这一行太长")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _BadLine("-", f"不是有效的 JSON（{exc.msg}）") from None
    if not isinstance(data, dict):
        raise _BadLine("-", "每行应是一个 JSON 对象")
    openid = data.get("openid")
    if not isinstance(openid, str) or not 6 <= len(openid) <= 64 or not openid.isascii():
        raise _BadLine("openid", "缺少或不是有效的 openid")
    topics = data.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise _BadLine("topics", "应是主题名称的列表")
    unknown = [t for t in topics if t not in known_topics]
    if unknown:
        raise _BadLine("topics", "没有这个主题：" + "、".join(unknown))
    town = data.get("town")
    if town is not None and (not isinstance(town, str) or len(town) > 64):
        raise _BadLine("town", "应是不超过 64 字的乡镇（街道）名称")
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _BadLine("tags", "应是标签的列表")
    return {"openid": openid, "topics": topics, "town": town, "tags": tags}


def plan_subscribers(conn: Connection, records: Sequence[dict[str, Any]]) -> list[str]:
    """What ``import_subscribers`` would do with each record: ``new``, ``changed`` (town, tags
    or a topic not yet subscribed) or ``same``; writes nothing."""
    s, sub = SUBSCRIBERS.c, SUBSCRIPTIONS.c
    openids = [r["openid"] for r in records]
    known: dict[str, tuple[Any, list[str], set[str]]] = {}
    for start in range(0, len(openids), 500):
        chunk = openids[start : start + 500]
        for openid, town, tags in conn.execute(
            select(s.openid, s.town, s.tags).where(s.openid.in_(chunk))
        ):
            known[openid] = (town, list(tags or ()), set())
        for openid, topic in conn.execute(
            select(s.openid, sub.topic)
            .join(SUBSCRIPTIONS, sub.subscriber_id == s.id)
            .where(s.openid.in_(chunk))
        ):
            known[openid][2].add(topic)
    actions = []
    for r in records:
        if (have := known.get(r["openid"])) is None:
            actions.append("new")
        elif have[0] != r["town"] or have[1] != r["tags"] or set(r["topics"]) - have[2]:
            actions.append("changed")
        else:
            actions.append("same")
    return actions


def import_subscribers(conn: Connection, records: Sequence[dict[str, Any]], now: datetime) -> int:
    """Upsert subscribers and their topics (idempotent: a second import changes nothing)."""
    s = SUBSCRIBERS.c
    for r in records:
        sid = _subscriber_id(conn, r["openid"], now, "import")
        conn.execute(update(SUBSCRIBERS).where(s.id == sid).values(town=r["town"], tags=r["tags"]))
        subscribe(conn, r["openid"], r["topics"], now, source="import")
    return len(records)


def set_quiet_hours(conn: Connection, openid: str, window: str | None) -> bool:
    """A subscriber's own quiet hours ("HH:MM-HH:MM"; "00:00-00:00" none; None the default)."""
    s = SUBSCRIBERS.c
    result = conn.execute(update(SUBSCRIBERS).where(s.openid == openid).values(quiet_hours=window))
    return bool(result.rowcount)


TEMPLATE_FAILURES = {"failed:user block": "user_block", "failed: system failed": "system_failed"}


def template_result(conn: Connection, msgid: str, status: str, now: datetime) -> bool:
    """WeChat's final word on a template message: a block or a system failure turns the
    delivery recorded as sent into failed (the notice's figures stay true)."""
    reason = TEMPLATE_FAILURES.get(status.strip().lower())
    if reason is None or not msgid:
        return False
    d = DELIVERIES.c
    result = conn.execute(
        update(DELIVERIES)
        .where(d.msgid == msgid, d.channel == Channel.TEMPLATE, d.status == DeliveryState.SENT)
        .values(status=DeliveryState.FAILED, reason=reason, finished_at=now)
    )
    return bool(result.rowcount)


def record_consents(
    conn: Connection, openid: str, answers: Sequence[tuple[str, str]], now: datetime
) -> None:
    """The consent ledger of subscription notices: accept / reject per template."""
    stmt = insert_for(conn.dialect, CONSENTS)
    for template_id, status in answers:
        value = CONSENT_ACCEPTED if status.lower() == CONSENT_ACCEPTED else "reject"
        conn.execute(
            stmt.values(
                openid=openid, template_id=template_id, status=value, updated_at=now
            ).on_conflict_do_update(
                index_elements=["openid", "template_id"],
                set_={"status": value, "updated_at": now},
            )
        )


class SubscriptionDesk:
    """What the chat handlers use (they do no SQL themselves)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _tx(self, fn: Any) -> Any:
        async with self._engine.begin() as conn:
            return await conn.run_sync(fn)

    async def catalogue(self) -> list[Topic]:
        topics: list[Topic] = await self._tx(catalogue)
        return topics

    async def mine(self, openid: str) -> list[str]:
        topics: list[str] = await self._tx(lambda c: subscribed_topics(c, openid))
        return topics

    async def subscribe(self, openid: str, topics: Sequence[str], now: datetime) -> Change:
        change: Change = await self._tx(lambda c: subscribe(c, openid, topics, now))
        return change

    async def unsubscribe(self, openid: str, topics: Sequence[str] | None, now: datetime) -> Change:
        change: Change = await self._tx(lambda c: unsubscribe(c, openid, topics, now))
        return change

    async def template_result(self, msgid: str, status: str, now: datetime) -> bool:
        changed: bool = await self._tx(lambda c: template_result(c, msgid, status, now))
        return changed

    async def record_consents(
        self, openid: str, answers: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        await self._tx(lambda c: record_consents(c, openid, answers, now))

    async def set_quiet_hours(self, openid: str, window: str | None) -> bool:
        done: bool = await self._tx(lambda c: set_quiet_hours(c, openid, window))
        return done
