"""The audit log (审计日志): append-only, each row chained to the one before it.

Every staff step on a notice or a staff account writes one row — who, when, what, on which
object, and a small ``detail`` — **in the same transaction as the change**, so a step is either
done and recorded or neither. A row's ``hash`` is SHA-256 over the previous row's hash and the
canonical JSON of the row itself (time, actor, action, object, detail); the first row chains to
``GENESIS``. Editing, deleting or inserting a row anywhere breaks the chain from that row on, and
``verify`` names the first row that does not hold (GB/T 22239-2019 asks for audit records
protected from alteration; notes/push_reliability.md §5.2). The chain shows tampering; it cannot
stop someone who rewrites every later row too, which is why the log is also exported to
write-once storage (operations).

Appending must be serialised, or two writers would both chain to the same row: on PostgreSQL a
transaction-scoped advisory lock is taken before the last hash is read; on SQLite the caller has
already written in the transaction (or ``record`` takes the write lock with an empty UPDATE), and
SQLite admits one writer at a time, so the last row read is the last row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from push.tables import AUDIT

GENESIS = "0" * 64
LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # rows are shown in Beijing time, stored in UTC
ADVISORY_LOCK = 0x6175_6469_74  # "audit": serialises appends on PostgreSQL
VERIFY_CHUNK = 1000


def canonical_json(value: Any) -> str:
    """One spelling for one value: sorted keys, no spaces, Chinese as it is."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def row_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    detail: Mapping[str, Any],
) -> str:
    body = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "detail": detail,
    }
    return hashlib.sha256((prev_hash + canonical_json(body)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.astimezone(LOCAL_TZ).isoformat(timespec="seconds"),
            "actor": self.actor,
            "action": self.action,
            "object": f"{self.object_type}:{self.object_id}",
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class AuditCheck:
    rows: int  # rows checked
    broken_id: int | None = None  # the first row that does not hold
    problem: str | None = None  # why, for staff (Chinese)

    @property
    def ok(self) -> bool:
        return self.broken_id is None


async def record(
    conn: AsyncConnection,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
) -> str:
    """Append one row in the caller's transaction; returns its hash."""
    detail = dict(detail or {})
    # Round-trip the detail through JSON now, so the hash covers what the database gives back.
    detail = json.loads(canonical_json(detail))
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
    else:
        # Takes SQLite's write lock if the transaction has not written yet (see the docstring).
        await conn.execute(update(AUDIT).where(AUDIT.c.id == -1).values(actor=AUDIT.c.actor))
    prev = (
        await conn.execute(select(AUDIT.c.hash).order_by(AUDIT.c.id.desc()).limit(1))
    ).scalar_one_or_none() or GENESIS
    oid = str(object_id)
    digest = row_hash(prev, at, actor, action, object_type, oid, detail)
    await conn.execute(
        insert(AUDIT).values(
            at=at,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=oid,
            detail=detail,
            prev_hash=prev,
            hash=digest,
        )
    )
    return digest


async def entries(
    engine: AsyncEngine,
    *,
    object_type: str | None = None,
    object_id: str | int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The latest rows (oldest first), optionally of one object."""
    a = AUDIT.c
    query = select(AUDIT).order_by(a.id.desc()).limit(limit)
    if object_type is not None:
        query = query.where(a.object_type == object_type)
    if object_id is not None:
        query = query.where(a.object_id == str(object_id))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_entry(r) for r in reversed(rows)]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What the audit page (and anyone reading the log) narrows it to; None: no condition."""

    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("notice." for every step)
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]  # newest first
    total: int  # rows that match the filter


def _entry(r: Any) -> AuditEntry:
    return AuditEntry(
        r.id, r.at, r.actor, r.action, r.object_type, r.object_id, dict(r.detail or {})
    )


async def search(
    engine: AsyncEngine, where: AuditFilter, *, offset: int = 0, limit: int = 50
) -> AuditPage:
    """One page of the rows that match, newest first, and how many match in all."""
    a = AUDIT.c
    conditions: list[ColumnElement[bool]] = []
    if where.actor:
        conditions.append(a.actor == where.actor)
    if where.action and where.action.endswith("."):
        conditions.append(a.action.startswith(where.action, autoescape=True))
    elif where.action:
        conditions.append(a.action == where.action)
    if where.object_type:
        conditions.append(a.object_type == where.object_type)
    if where.object_id:
        conditions.append(a.object_id == where.object_id)
    if where.since is not None:
        conditions.append(a.at >= where.since)
    if where.until is not None:
        conditions.append(a.at < where.until)
    async with engine.connect() as conn:
        total = (
            await conn.execute(select(func.count()).select_from(AUDIT).where(*conditions))
        ).scalar_one()
        rows = (
            await conn.execute(
                select(AUDIT).where(*conditions).order_by(a.id.desc()).offset(offset).limit(limit)
            )
        ).all()
    return AuditPage([_entry(r) for r in rows], int(total))


async def choices(engine: AsyncEngine) -> dict[str, list[str]]:
    """The actors, actions and object types the log holds (the audit page's filter lists)."""
    a = AUDIT.c
    out: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        for name, column in (("actor", a.actor), ("action", a.action), ("type", a.object_type)):
            found = await conn.execute(select(column).distinct().order_by(column))
            out[name] = [str(v) for v in found.scalars()]
    return out


async def verify(engine: AsyncEngine) -> AuditCheck:
    """Walk the chain from the first row; report the first row that does not hold."""
    a = AUDIT.c
    prev, last_id, checked = GENESIS, 0, 0
    async with engine.connect() as conn:
        while True:
            rows = (
                await conn.execute(
                    select(AUDIT).where(a.id > last_id).order_by(a.id).limit(VERIFY_CHUNK)
                )
            ).all()
            if not rows:
                return AuditCheck(checked)
            for r in rows:
                if r.prev_hash != prev:
                    return AuditCheck(
                        checked, r.id, "与上一行的链接不符：前面有记录被删除、插入或改动"
                    )
                expected = row_hash(
                    prev, r.at, r.actor, r.action, r.object_type, r.object_id, r.detail or {}
                )
                if r.hash != expected:
                    return AuditCheck(checked, r.id, "记录内容与其哈希不符：这一行被改动过")
                prev, last_id, checked = r.hash, r.id, checked + 1
