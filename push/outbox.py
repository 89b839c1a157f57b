"""The outbox: one ``push_delivery`` row per (notice, recipient), claimed in batches with a lease.

Every function takes a synchronous ``Connection`` inside the caller's transaction (the engine
runs them through ``run_sync``), so each step is one short transaction:

- ``claim``: ``UPDATE … SET status = 'sending', lease … WHERE id IN (SELECT … LIMIT n FOR UPDATE
  SKIP LOCKED) RETURNING …``. On PostgreSQL several workers on several hosts claim disjoint
  batches; SQLite has no SKIP LOCKED (SQLAlchemy drops it), the statement is still atomic
  there, and one dispatcher process is the rule.
- ``recover``: a batch whose lease ran out belonged to a worker that died. What it may have sent
  is resent only where WeChat recognises a resend (a template message's ``client_msg_id``, a mass
  send's ``clientmsgid``) and only inside WeChat's 10-minute window for it; otherwise the row is
  ``unknown`` and staff see it — never sent blindly a second time.
- ``finish``: the outcomes of a batch written with one executemany.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.engine import Connection

from bot.db import insert_for
from push.tables import (
    CHANNEL_STATE,
    DELIVERIES,
    NOTICES,
    OPEN_DELIVERY,
    SUBSCRIBERS,
    Channel,
    DeliveryState,
    NoticeState,
)

IDEMPOTENT = frozenset({Channel.TEMPLATE, Channel.MASS})  # WeChat dedupes a resend
RESEND_WINDOW = timedelta(minutes=9)  # inside WeChat's 10 minutes, with a margin
CLAIMABLE = (DeliveryState.PENDING, DeliveryState.HELD)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    notice_id: int
    openid: str
    channel: str
    attempts: int
    first_sent_at: datetime
    enterprise_id: int | None
    detail: Any


@dataclass(slots=True)
class Outcome:
    """What became of one send, as the row will record it."""

    status: DeliveryState
    next_attempt_at: datetime | None = None
    errcode: int | None = None
    reason: str | None = None
    msgid: str | None = None
    refund_attempt: bool = False  # a pause (quota) is not the delivery's fault


@dataclass
class Effects:
    """What a batch's outcomes mean beyond its rows."""

    deactivate: set[str] = field(default_factory=set)  # 43004: unfollowed
    pause: dict[str, tuple[datetime, str, int]] = field(default_factory=dict)  # channel -> until


def paused_channels(conn: Connection, now: datetime) -> dict[str, datetime]:
    c = CHANNEL_STATE.c
    rows = conn.execute(
        select(c.channel, c.paused_until).where(c.paused_until.is_not(None), c.paused_until > now)
    )
    return {row.channel: row.paused_until for row in rows}


def pause(conn: Connection, channel: str, until: datetime, reason: str, errcode: int) -> None:
    stmt = insert_for(conn.dialect, CHANNEL_STATE).values(
        channel=channel, paused_until=until, reason=reason, errcode=errcode
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["channel"],
            set_={"paused_until": until, "reason": reason, "errcode": errcode},
        )
    )


def claim(
    conn: Connection,
    *,
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    skip_channels: Iterable[str] = (),
) -> list[Claimed]:
    d = DELIVERIES.c
    due = (
        select(d.id)
        .where(d.status.in_(CLAIMABLE), d.next_attempt_at <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    skip = list(skip_channels)
    if skip:
        due = due.where(d.channel.not_in(skip))
    rows = conn.execute(
        update(DELIVERIES)
        .where(d.id.in_(due.scalar_subquery()))
        .values(
            status=DeliveryState.SENDING,
            lease_until=now + lease,
            leased_by=worker,
            attempts=d.attempts + 1,
            first_sent_at=func.coalesce(d.first_sent_at, now),
        )
        .returning(
            d.id,
            d.notice_id,
            d.openid,
            d.channel,
            d.attempts,
            d.first_sent_at,
            d.enterprise_id,
            d.detail,
        )
    ).all()
    return [Claimed(*row) for row in rows]


def recover(conn: Connection, now: datetime) -> tuple[int, int]:
    """Rows whose worker died: resendable ones back to pending, the rest ``unknown``.

    Returns (resent, unknown)."""
    d = DELIVERIES.c
    expired = and_(d.status == DeliveryState.SENDING, d.lease_until < now)
    safe = and_(d.channel.in_(list(IDEMPOTENT)), d.first_sent_at > now - RESEND_WINDOW)
    resent = conn.execute(
        update(DELIVERIES)
        .where(expired, safe)
        .values(status=DeliveryState.PENDING, next_attempt_at=now, lease_until=None)
    ).rowcount
    unknown = conn.execute(
        update(DELIVERIES)
        .where(expired)
        .values(
            status=DeliveryState.UNKNOWN, reason="interrupted", finished_at=now, lease_until=None
        )
    ).rowcount
    return int(resent or 0), int(unknown or 0)


def hold(conn: Connection, held: Sequence[tuple[int, datetime]], worker: str) -> None:
    """Claimed rows that must wait (quiet hours, the daily cap) go back unsent."""
    if not held:
        return
    d = DELIVERIES.c
    conn.execute(
        update(DELIVERIES)
        .where(d.id == bindparam("b_id"), d.leased_by == worker)
        .values(
            status=DeliveryState.HELD,
            next_attempt_at=bindparam("b_due"),
            attempts=d.attempts - 1,
            lease_until=None,
        ),
        [{"b_id": i, "b_due": due} for i, due in held],
    )


def sent_today(conn: Connection, openids: Sequence[str], day_start: datetime) -> dict[str, int]:
    """Notices each of ``openids`` was sent since ``day_start`` (the daily cap)."""
    if not openids:
        return {}
    d = DELIVERIES.c
    rows = conn.execute(
        select(d.openid, func.count())
        .where(
            d.openid.in_(list(openids)),
            d.status == DeliveryState.SENT,
            d.finished_at >= day_start,
        )
        .group_by(d.openid)
    )
    return {openid: int(n) for openid, n in rows}


def own_quiet_hours(conn: Connection, openids: Sequence[str]) -> dict[str, str]:
    s = SUBSCRIBERS.c
    if not openids:
        return {}
    rows = conn.execute(
        select(s.openid, s.quiet_hours).where(
            s.openid.in_(list(openids)), s.quiet_hours.is_not(None)
        )
    )
    return {row.openid: row.quiet_hours for row in rows}


def finish(
    conn: Connection,
    results: Sequence[tuple[int, Outcome]],
    effects: Effects,
    *,
    worker: str,
    now: datetime,
) -> None:
    """Record a batch's outcomes and their effects in one transaction."""
    d = DELIVERIES.c
    if results:
        conn.execute(
            update(DELIVERIES)
            .where(d.id == bindparam("b_id"), d.leased_by == worker, d.status == "sending")
            .values(
                status=bindparam("b_status"),
                next_attempt_at=func.coalesce(
                    bindparam("b_next", type_=d.next_attempt_at.type), d.next_attempt_at
                ),
                errcode=bindparam("b_errcode"),
                reason=bindparam("b_reason"),
                msgid=bindparam("b_msgid"),
                finished_at=bindparam("b_finished", type_=d.finished_at.type),
                attempts=d.attempts - bindparam("b_refund"),
                lease_until=None,
            ),
            [
                {
                    "b_id": row_id,
                    "b_status": o.status.value,
                    "b_next": o.next_attempt_at,
                    "b_errcode": o.errcode,
                    "b_reason": o.reason,
                    "b_msgid": o.msgid,
                    "b_finished": None if o.status in OPEN_DELIVERY else now,
                    "b_refund": 1 if o.refund_attempt else 0,
                }
                for row_id, o in results
            ],
        )
    if effects.deactivate:
        s = SUBSCRIBERS.c
        conn.execute(
            update(SUBSCRIBERS).where(s.openid.in_(sorted(effects.deactivate))).values(active=False)
        )
        # Whatever else waits for them would meet the same 43004.
        conn.execute(
            update(DELIVERIES)
            .where(d.openid.in_(sorted(effects.deactivate)), d.status.in_(CLAIMABLE))
            .values(
                status=DeliveryState.FAILED, errcode=43004, reason="unfollowed", finished_at=now
            )
        )
    for channel, (until, reason, errcode) in effects.pause.items():
        pause(conn, channel, until, reason, errcode)


def cancel_for(
    conn: Connection, openid: str, notice_ids: Iterable[int] | None, now: datetime
) -> int:
    """Cancel what still waits for ``openid`` (of these notices; of all when None)."""
    d = DELIVERIES.c
    stmt = update(DELIVERIES).where(d.openid == openid, d.status.in_(CLAIMABLE))
    if notice_ids is not None:
        ids = list(notice_ids)
        if not ids:
            return 0
        stmt = stmt.where(d.notice_id.in_(ids))
    result = conn.execute(
        stmt.values(status=DeliveryState.CANCELLED, reason="unsubscribed", finished_at=now)
    )
    return int(result.rowcount or 0)


def due_notices(conn: Connection, now: datetime) -> list[int]:
    """Scheduled notices whose time has come become ``sending`` — only while the approval still
    covers the content (an edit voids it); returns every notice sending."""
    n = NOTICES.c
    conn.execute(
        update(NOTICES)
        .where(
            n.state == NoticeState.SCHEDULED,
            n.scheduled_at <= now,
            n.approved_hash.is_not(None),
            n.approved_hash == n.content_hash,
        )
        .values(state=NoticeState.SENDING, started_at=now, updated_at=now)
    )
    return list(conn.execute(select(n.id).where(n.state == NoticeState.SENDING)).scalars())


def cancel_stragglers(conn: Connection, now: datetime) -> int:
    """Deliveries a cancelled notice still has waiting (materialised while it was being
    cancelled) are cancelled too."""
    d, n = DELIVERIES.c, NOTICES.c
    cancelled = select(n.id).where(n.state == NoticeState.CANCELLED).scalar_subquery()
    result = conn.execute(
        update(DELIVERIES)
        .where(d.status.in_(CLAIMABLE), d.notice_id.in_(cancelled))
        .values(status=DeliveryState.CANCELLED, reason="notice_cancelled", finished_at=now)
    )
    return int(result.rowcount or 0)


def notice_row(conn: Connection, notice_id: int) -> Any:
    return conn.execute(select(NOTICES).where(NOTICES.c.id == notice_id)).mappings().one()


def unmaterialised(conn: Connection, notice_ids: Sequence[int]) -> list[int]:
    if not notice_ids:
        return []
    n = NOTICES.c
    stmt = select(n.id).where(n.id.in_(list(notice_ids)), n.materialised.is_(False))
    return list(conn.execute(stmt).scalars())


def close_finished(conn: Connection, notice_ids: Sequence[int], now: datetime) -> list[int]:
    """Notices fully materialised with nothing left open are ``done``; returns them."""
    if not notice_ids:
        return []
    n, d = NOTICES.c, DELIVERIES.c
    still_open = (
        select(d.notice_id)
        .where(d.notice_id.in_(list(notice_ids)), d.status.in_(OPEN_DELIVERY))
        .distinct()
    )
    busy = set(conn.execute(still_open).scalars())
    done = [
        nid
        for nid in conn.execute(
            select(n.id).where(
                n.id.in_(list(notice_ids)),
                n.state == NoticeState.SENDING,
                n.materialised.is_(True),
            )
        ).scalars()
        if nid not in busy
    ]
    if done:
        conn.execute(
            update(NOTICES)
            .where(n.id.in_(done), n.state == NoticeState.SENDING)
            .values(state=NoticeState.DONE, finished_at=now, updated_at=now)
        )
    return done


def waiting(conn: Connection, now: datetime, skip_channels: Iterable[str]) -> datetime | None:
    """When the next delivery that is not held back becomes due (None: nothing waits).

    Rows held for quiet hours or the daily cap, and rows of a paused channel, do not count:
    they are tomorrow's work, not this run's."""
    d = DELIVERIES.c
    skip = list(skip_channels)
    pending = select(func.min(d.next_attempt_at)).where(d.status == DeliveryState.PENDING)
    leased = select(func.min(d.lease_until)).where(d.status == DeliveryState.SENDING)
    if skip:
        pending = pending.where(d.channel.not_in(skip))
        leased = leased.where(d.channel.not_in(skip))
    times = [conn.execute(q).scalar_one_or_none() for q in (pending, leased)]
    return min((t for t in times if t is not None), default=None)
