"""Looking people up for staff: subscribers and enterprises, searched and shown (read only).

The console's 订阅用户 and 企业 pages read through here; changes go through the services that
own them (``push.subscriptions``, ``push.enterprises``, ``bot.privacy``). Searches are
case-insensitive substring matches with the pattern characters escaped (a ``%`` typed by staff
is a ``%``), capped at ``limit`` rows with the total counted, so a vague search on a large county
stays one page. Openids are returned whole — pages show them through ``masked``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from push.outbox import CLAIMABLE
from push.profiles import Enterprise, normalise_uscc
from push.tables import (
    BINDING_CODES,
    CONSENTS,
    CONTACTS,
    DELIVERIES,
    ENTERPRISES,
    POLICY_LEDGER,
    SUBSCRIBERS,
    SUBSCRIPTIONS,
    DeliveryState,
)

LIMIT = 100
T = TypeVar("T")


def masked(openid: str) -> str:
    """``oAbc…xyz9``: enough to tell people apart on a page, not enough to message them."""
    if len(openid) <= 10:
        return openid[:2] + "…"
    return f"{openid[:4]}…{openid[-4:]}"


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    openid: str
    town: str | None
    tags: tuple[str, ...]
    active: bool  # False once WeChat said the person cannot be reached (43004)
    source: str  # chat | import | binding
    quiet_hours: str | None
    created_at: dt.datetime
    topics: tuple[tuple[str, dt.datetime], ...] = ()  # (topic, consented at)
    enterprises: tuple[tuple[str, str], ...] = ()  # (uscc, name) the person is a contact of


@dataclass(frozen=True, slots=True)
class Contact:
    openid: str
    via: str  # import | binding
    bound_at: dt.datetime
    subscriber_id: int | None  # their subscriber row, if they subscribe to anything


@dataclass(frozen=True, slots=True)
class OpenCode:
    id: int
    issued_by: str
    issued_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Found(Generic[T]):
    rows: list[T]
    total: int  # all that match; ``rows`` holds at most the limit


async def _count(conn: AsyncConnection, query: Select[Any]) -> int:
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    return int((await conn.execute(counted)).scalar_one())


async def search_subscribers(
    engine: AsyncEngine, text: str = "", topic: str | None = None, *, limit: int = LIMIT
) -> Found[Subscriber]:
    """Subscribers whose openid contains ``text``, or who are a contact of an enterprise whose
    name or credit code contains it; of ``topic`` when given. Newest first."""
    s, sub, c, e = SUBSCRIBERS.c, SUBSCRIPTIONS.c, CONTACTS.c, ENTERPRISES.c
    query = select(s.id)
    text = text.strip()
    if text:
        via_enterprise = (
            select(c.openid)
            .join(ENTERPRISES, e.id == c.enterprise_id)
            .where(
                or_(
                    e.name.icontains(text, autoescape=True),
                    e.uscc.icontains(normalise_uscc(text), autoescape=True),
                )
            )
        )
        query = query.where(
            or_(s.openid.icontains(text, autoescape=True), s.openid.in_(via_enterprise))
        )
    if topic:
        query = query.where(s.id.in_(select(sub.subscriber_id).where(sub.topic == topic)))
    async with engine.connect() as conn:
        total = await _count(conn, query)
        ids = (await conn.execute(query.order_by(s.id.desc()).limit(limit))).scalars().all()
        rows = await _subscribers(conn, list(ids))
    return Found(rows, total)


async def subscriber(engine: AsyncEngine, subscriber_id: int) -> Subscriber | None:
    async with engine.connect() as conn:
        found = await _subscribers(conn, [subscriber_id])
    return found[0] if found else None


async def _subscribers(conn: AsyncConnection, ids: Sequence[int]) -> list[Subscriber]:
    if not ids:
        return []
    s, sub, c, e = SUBSCRIBERS.c, SUBSCRIPTIONS.c, CONTACTS.c, ENTERPRISES.c
    rows = (await conn.execute(select(SUBSCRIBERS).where(s.id.in_(ids)))).all()
    topics: dict[int, list[tuple[str, dt.datetime]]] = defaultdict(list)
    for sid, topic, at in await conn.execute(
        select(sub.subscriber_id, sub.topic, sub.consented_at)
        .where(sub.subscriber_id.in_(ids))
        .order_by(sub.consented_at, sub.topic)
    ):
        topics[sid].append((topic, at))
    openids = [r.openid for r in rows]
    enterprises: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for openid, uscc, name in await conn.execute(
        select(c.openid, e.uscc, e.name)
        .join(ENTERPRISES, e.id == c.enterprise_id)
        .where(c.openid.in_(openids))
        .order_by(e.id)
    ):
        enterprises[openid].append((uscc, name))
    order = {sid: i for i, sid in enumerate(ids)}
    return sorted(
        (
            Subscriber(
                id=r.id,
                openid=r.openid,
                town=r.town,
                tags=tuple(r.tags or ()),
                active=bool(r.active),
                source=r.source,
                quiet_hours=r.quiet_hours,
                created_at=r.created_at,
                topics=tuple(topics[r.id]),
                enterprises=tuple(enterprises[r.openid]),
            )
            for r in rows
        ),
        key=lambda x: order[x.id],
    )


async def search_enterprises(
    engine: AsyncEngine, text: str = "", *, limit: int = LIMIT
) -> Found[Enterprise]:
    """Enterprises whose name or 统一社会信用代码 contains ``text``, in the order added."""
    c, e = CONTACTS.c, ENTERPRISES.c
    contacts = (
        select(c.enterprise_id, func.count(c.openid).label("n")).group_by(c.enterprise_id)
    ).subquery()
    query = select(e.id)
    text = text.strip()
    if text:
        query = query.where(
            or_(
                e.name.icontains(text, autoescape=True),
                e.uscc.icontains(normalise_uscc(text), autoescape=True),
            )
        )
    async with engine.connect() as conn:
        total = await _count(conn, query)
        page = (
            select(ENTERPRISES, contacts.c.n)
            .select_from(ENTERPRISES.outerjoin(contacts, contacts.c.enterprise_id == e.id))
            .where(e.id.in_(query.order_by(e.id).limit(limit).scalar_subquery()))
            .order_by(e.id)
        )
        rows = (await conn.execute(page)).mappings().all()
    return Found([Enterprise.of(row, row["n"] or 0) for row in rows], total)


async def contacts(engine: AsyncEngine, enterprise_id: int) -> list[Contact]:
    c, s = CONTACTS.c, SUBSCRIBERS.c
    query = (
        select(c.openid, c.via, c.bound_at, s.id)
        .select_from(CONTACTS.outerjoin(SUBSCRIBERS, s.openid == c.openid))
        .where(c.enterprise_id == enterprise_id)
        .order_by(c.bound_at, c.openid)
    )
    async with engine.connect() as conn:
        return [Contact(*row) for row in (await conn.execute(query)).all()]


async def open_codes(engine: AsyncEngine, enterprise_id: int, now: dt.datetime) -> list[OpenCode]:
    """This enterprise's binding codes issued and not yet used nor expired, newest first (never
    the code: only its hash is stored)."""
    b = BINDING_CODES.c
    query = (
        select(b.id, b.issued_by, b.created_at, b.expires_at)
        .where(b.enterprise_id == enterprise_id, b.used_at.is_(None), b.expires_at > now)
        .order_by(b.created_at.desc(), b.id.desc())
    )
    async with engine.connect() as conn:
        return [OpenCode(*row) for row in (await conn.execute(query)).all()]


async def notified(engine: AsyncEngine, enterprise_id: int) -> dict[str, dt.datetime]:
    """The policies this enterprise was already told of (``policy_push_ledger``), and when."""
    ledger = POLICY_LEDGER.c
    query = select(ledger.policy_id, ledger.at).where(ledger.enterprise_id == enterprise_id)
    async with engine.connect() as conn:
        return {str(pid): at for pid, at in (await conn.execute(query)).all()}


async def held(conn: AsyncConnection, openid: str) -> dict[str, int]:
    """What push holds about one person (what ``push.subscriptions.forget`` removes), counted."""
    s, sub, c, d = SUBSCRIBERS.c, SUBSCRIPTIONS.c, CONTACTS.c, DELIVERIES.c

    async def count(query: Select[Any]) -> int:
        return int((await conn.execute(query)).scalar_one())

    return {
        "subscriber": await count(select(func.count()).where(s.openid == openid)),
        "subscriptions": await count(
            select(func.count())
            .select_from(SUBSCRIPTIONS.join(SUBSCRIBERS, s.id == sub.subscriber_id))
            .where(s.openid == openid)
        ),
        "contacts": await count(select(func.count()).where(c.openid == openid)),
        "waiting": await count(
            select(func.count()).where(d.openid == openid, d.status.in_(CLAIMABLE))
        ),
        "delivered": await count(
            select(func.count()).where(d.openid == openid, d.status == DeliveryState.SENT)
        ),
        "consents": await count(select(func.count()).where(CONSENTS.c.openid == openid)),
    }
