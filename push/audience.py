"""Who a notice goes to, as SQL: counted for the preview, materialised into the outbox in chunks.

Audiences:
- **topics / towns / tags**: active subscribers with a subscription to one of the topics (if any
  are named), living in one of the towns (if named), carrying every tag (if named);
- **the whole account** (``to_all``): one mass-send row, WeChat fans it out;
- **a correction** (``corrects_id``): everyone the corrected notice reached;
- **a policy's eligible enterprises** (``eligible``): materialised by ``push.eligibility_audience``
  (profiles are evaluated in Python, a chunk of enterprises at a time).

Materialising walks the audience in key order from a cursor kept on the notice
(``materialised_upto``), one chunk per transaction: a 100,000-person audience is never held in
memory, and a worker that dies mid-way leaves a cursor the next one continues from. The unique
key (notice, openid) makes a repeated chunk harmless.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import insert_for
from push.config import QuietHours
from push.notice_rules import Notice
from push.notices import AudienceCount
from push.tables import (
    CONSENT_ACCEPTED,
    CONSENTS,
    DELIVERIES,
    NOTICES,
    SUBSCRIBERS,
    SUBSCRIPTIONS,
    Channel,
    DeliveryState,
)

MASS_RECIPIENT = "@all"  # the one row of a whole-account broadcast
CHUNK = 5000


def _tag_pattern(tag: str) -> str:
    """How ``tag`` appears inside the JSON text of a tags list (as SQLAlchemy's JSON writes it)."""
    text = json.dumps(tag)
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def consenting(openid: ColumnElement[str], template_id: str | None) -> ColumnElement[bool]:
    """Whether the person said yes to the subscription-message template (``subscribe_msg_*``
    events, ``push_events``): a 订阅通知 goes to nobody else (no template set: to nobody)."""
    if not template_id:
        return false()
    c = CONSENTS.c
    return exists().where(
        c.openid == openid, c.template_id == template_id, c.status == CONSENT_ACCEPTED
    )


def consented(conn: Connection, openids: Iterable[str], template_id: str | None) -> set[str]:
    """Those of ``openids`` who said yes to the subscription-message template."""
    wanted = list(openids)
    if not template_id or not wanted:
        return set()
    c = CONSENTS.c
    rows = conn.execute(
        select(c.openid).where(
            c.openid.in_(wanted), c.template_id == template_id, c.status == CONSENT_ACCEPTED
        )
    )
    return {str(openid) for (openid,) in rows}


def subscriber_filter(
    notice: Mapping[str, Any], consent_template: str | None = None
) -> ColumnElement[bool]:
    """The condition on ``push_subscriber`` rows for a topic / town / tag audience (on the
    subscription-message channel, only those who consented to ``consent_template``)."""
    s = SUBSCRIBERS.c
    conditions: list[ColumnElement[bool]] = [s.active.is_(True)]
    if notice["channel"] == Channel.SUBSCRIBE:
        conditions.append(consenting(s.openid, consent_template))
    if notice["topics"]:
        sub = SUBSCRIPTIONS.c
        conditions.append(
            exists().where(sub.subscriber_id == s.id, sub.topic.in_(list(notice["topics"])))
        )
    if notice["towns"]:
        conditions.append(s.town.in_(list(notice["towns"])))
    conditions.extend(
        cast(s.tags, String).like(_tag_pattern(tag), escape="\\") for tag in notice["tags"] or ()
    )
    return and_(*conditions)


def _correction_filter(notice: Mapping[str, Any]) -> ColumnElement[bool]:
    d = DELIVERIES.c
    return and_(d.notice_id == notice["corrects_id"], d.status == DeliveryState.SENT)


def count(
    conn: Connection, notice: Mapping[str, Any], consent_template: str | None = None
) -> AudienceCount:
    """How many people a topic / town / tag, correction or whole-account notice would reach."""
    if notice["to_all"]:
        return AudienceCount(1)
    if notice["corrects_id"] is not None:
        n = conn.execute(
            select(func.count()).select_from(DELIVERIES).where(_correction_filter(notice))
        ).scalar_one()
        return AudienceCount(int(n))
    n = conn.execute(
        select(func.count())
        .select_from(SUBSCRIBERS)
        .where(subscriber_filter(notice, consent_template))
    ).scalar_one()
    return AudienceCount(int(n))


def initial_state(quiet: QuietHours | None, now: datetime) -> tuple[DeliveryState, datetime]:
    """A new delivery is due now, or held until the account's quiet hours end."""
    if quiet is not None and quiet.contains(now):
        return DeliveryState.HELD, quiet.ends_after(now)
    return DeliveryState.PENDING, now


def materialise_chunk(
    conn: Connection,
    notice: Mapping[str, Any],
    now: datetime,
    quiet: QuietHours | None,
    chunk: int = CHUNK,
    consent_template: str | None = None,
) -> bool:
    """Add the next chunk of the notice's audience to the outbox; True when none is left."""
    nid = notice["id"]
    cursor = int(notice["materialised_upto"])
    status, due = initial_state(None if notice["channel"] == Channel.MASS else quiet, now)
    fixed = (
        literal(nid).label("notice_id"),
        literal(notice["channel"]).label("channel"),
        literal(status.value).label("status"),
        literal(0).label("attempts"),
        literal(due, DELIVERIES.c.next_attempt_at.type).label("next_attempt_at"),
    )
    columns = ["openid", "notice_id", "channel", "status", "attempts", "next_attempt_at"]
    if notice["to_all"]:
        source: Select[Any] = select(literal(MASS_RECIPIENT).label("openid"), *fixed).where(true())
        _insert(conn, source, columns)
        return _advance(conn, nid, cursor, None)
    if notice["corrects_id"] is not None:
        d = DELIVERIES.c
        key, cond, openid = d.id, _correction_filter(notice), d.openid
        table = DELIVERIES
    else:
        s = SUBSCRIBERS.c
        key, cond, openid = s.id, subscriber_filter(notice, consent_template), s.openid
        table = SUBSCRIBERS
    window = select(key).select_from(table).where(cond, key > cursor).order_by(key).limit(chunk)
    upto = conn.execute(select(func.max(window.subquery().c[0]))).scalar_one()
    if upto is None:
        return _advance(conn, nid, cursor, None)
    source = select(openid.label("openid"), *fixed).select_from(table)
    source = source.where(cond, key > cursor, key <= upto)
    _insert(conn, source, columns)
    return _advance(conn, nid, cursor, int(upto))


def _insert(conn: Connection, source: Select[Any], columns: list[str]) -> None:
    stmt = (
        insert_for(conn.dialect, DELIVERIES)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=["notice_id", "openid"])
    )
    conn.execute(stmt)


def _advance(conn: Connection, notice_id: int, cursor: int, upto: int | None) -> bool:
    """Move the notice's cursor (only from where this worker found it); True when finished."""
    n = NOTICES.c
    values: dict[str, Any] = {"materialised": True} if upto is None else {"materialised_upto": upto}
    conn.execute(
        update(NOTICES)
        .where(n.id == notice_id, n.materialised_upto == cursor, n.materialised.is_(False))
        .values(**values)
    )
    return upto is None


def as_row(notice: Notice) -> dict[str, Any]:
    """The audience fields of a notice, as a ``notice`` row holds them."""
    c = notice.content
    return {
        "id": notice.id,
        "topics": list(c.topics),
        "towns": list(c.towns),
        "tags": list(c.tags),
        "to_all": c.to_all,
        "corrects_id": c.corrects_id,
        "policy_id": c.policy_id,
        "eligible": c.eligible,
        "channel": c.channel.value,
    }


class SqlAudienceCounter:
    """The notice desk's audience preview: what materialising the notice now would give."""

    def __init__(self, engine: AsyncEngine, *, consent_template: str | None = None) -> None:
        self._engine = engine
        self._consent_template = consent_template

    async def count(self, notice: Notice) -> AudienceCount:
        row = as_row(notice)
        if notice.content.eligible:
            from policy_index.repository import LibraryRepository
            from push import eligibility_audience

            policy = None
            if notice.content.policy_id is not None:
                library = await LibraryRepository(self._engine).load()
                policy = library.policy(notice.content.policy_id)
            async with self._engine.connect() as conn:
                sent, maybe = await conn.run_sync(
                    lambda c: eligibility_audience.count(c, policy, row, self._consent_template)
                )
            return AudienceCount(sent, maybe)
        async with self._engine.connect() as conn:
            result: AudienceCount = await conn.run_sync(
                lambda c: count(c, row, self._consent_template)
            )
            return result
