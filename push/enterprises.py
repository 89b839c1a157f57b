"""Enterprise profiles and their contacts: import, staff edits, binding a contact in chat.

**Import** (``import_file``) reads the county's records (``push.profiles``), checks every line
first and writes nothing if any is wrong; then, in one transaction, upserts by 统一社会信用代码:
a new enterprise is created, a known one gets the fields the record sets (so importing the same
file twice changes nothing the second time). A record's ``openids`` are that enterprise's
imported contacts: those listed are added, imported ones no longer listed are removed; contacts
who bound themselves in chat are never touched by an import.

**Binding.** The credit code is public, so it proves nothing: staff issue a one-time binding
code for an enterprise (``issue_code``: random, 8 digits, shown once, only its SHA-256 — salted
with the enterprise's id — is stored, valid for ``CODE_TTL``) and hand it to the enterprise.
A contact sends ``绑定 <credit code> <binding code>``; ``bind`` checks the code belongs to that
enterprise, is unused and unexpired, and marks it used in the same UPDATE that checks it, so
one code binds one person once, even under concurrent tries. Wrong codes are counted per openid
(``MAX_FAILURES`` in ``FAILURE_WINDOW``; then binding is refused until the window ends), so the
8-digit space cannot be walked from one account.

**Forgetting.** ``forget(openid)`` deletes the person's contact rows and failure counter (call
it on unfollow). Contacts hold only the openid and when and how it was bound.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Delete, and_, case, delete, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.db import insert_for
from push.profiles import (
    PROFILE_FIELDS,
    Enterprise,
    EnterpriseError,
    ProfileRecord,
    check_fields,
    normalise_uscc,
    read_profiles,
    uscc_problem,
)
from push.tables import BIND_FAILURES, BINDING_CODES, CONTACTS, ENTERPRISES

logger = logging.getLogger(__name__)

CODE_DIGITS = 8
CODE_TTL = dt.timedelta(days=7)
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(hours=1)
CHUNK = 500
T = TypeVar("T")
Then = Callable[[AsyncConnection, T], Awaitable[None]]
"""Run in the write's own transaction with what was written (the console's audit row)."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def code_hash(enterprise_id: int, code: str) -> str:
    return hashlib.sha256(f"{enterprise_id}:{code}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    contacts_added: int = 0
    contacts_removed: int = 0


@dataclass(frozen=True, slots=True)
class Planned:
    """What an import would do with one record: ``new``, ``changed`` (``fields``) or ``same``."""

    record: ProfileRecord
    action: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IssuedCode:
    uscc: str
    name: str
    code: str  # shown once; only its hash is stored
    expires_at: dt.datetime


class BindResult(StrEnum):
    BOUND = "bound"
    ALREADY = "already"  # this person was already a contact (the code stays unused)
    BAD_USCC = "bad_uscc"  # the credit code itself is malformed (not counted as a try)
    REFUSED = "refused"  # unknown enterprise, or a wrong, used or expired code
    LOCKED = "locked"  # too many wrong codes lately


@dataclass(frozen=True, slots=True)
class Binding:
    result: BindResult
    enterprise: str | None = None  # its name, when bound or already bound
    reason: str | None = None  # BAD_USCC: what is wrong with the credit code
    tries_left: int | None = None  # REFUSED: wrong codes still allowed in the window
    retry_after: dt.datetime | None = None  # LOCKED: when binding may be tried again


def _profile_columns() -> list[Any]:
    e = ENTERPRISES.c
    return [e.id, e.uscc, *(e[name] for name in PROFILE_FIELDS)]


class Enterprises:
    """The enterprise service: one per process, on the shared engine."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self._engine = engine
        self._clock = clock

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    # --- import and staff edits --------------------------------------------------------------

    async def import_file(self, path: Path) -> ImportSummary:
        """All or nothing: EnterpriseFormatError (file, line, reason) before any write."""
        return await self.import_records(read_profiles(path))

    async def preview(self, records: Sequence[ProfileRecord]) -> list[Planned]:
        """What ``import_records`` would do with each record, in file order; writes nothing."""
        async with self._engine.connect() as conn:
            existing = await _existing(conn, [r.uscc for r in records])
        return [_plan(record, existing.get(record.uscc)) for record in records]

    async def import_records(
        self, records: Sequence[ProfileRecord], *, then: Then[ImportSummary] | None = None
    ) -> ImportSummary:
        """Upsert by credit code in one transaction; ``then`` (the console's audit row) runs in
        it with the counts, so both are kept or neither."""
        now = self._clock()
        counts = dict.fromkeys(
            ("created", "updated", "unchanged", "contacts_added", "contacts_removed"), 0
        )
        async with self._engine.begin() as conn:
            existing = await _existing(conn, [r.uscc for r in records])
            for record in records:
                old = existing.get(record.uscc)
                plan = _plan(record, old)
                if old is None:
                    values = {"qualifications": [], "tags": [], **record.fields}
                    result = await conn.execute(
                        ENTERPRISES.insert()
                        .values(uscc=record.uscc, updated_at=now, **values)
                        .returning(ENTERPRISES.c.id)
                    )
                    enterprise_id = int(result.scalar_one())
                    counts["created"] += 1
                else:
                    enterprise_id = old["id"]
                    if plan.fields:
                        await conn.execute(
                            update(ENTERPRISES)
                            .where(ENTERPRISES.c.id == enterprise_id)
                            .values(updated_at=now, **{k: record.fields[k] for k in plan.fields})
                        )
                    counts["updated" if plan.fields else "unchanged"] += 1
                if record.openids is not None:
                    added, removed = await _set_imported_contacts(
                        conn, enterprise_id, record.openids, now
                    )
                    counts["contacts_added"] += added
                    counts["contacts_removed"] += removed
            summary = ImportSummary(**counts)
            if then is not None:
                await then(conn, summary)
        logger.info("enterprises imported", extra={"action": "enterprise_import", **counts})
        return summary

    async def edit(
        self,
        uscc: str,
        changes: Mapping[str, Any],
        *,
        by: str,
        then: Then[Mapping[str, tuple[Any, Any]]] | None = None,
    ) -> Enterprise:
        """Staff change profile fields (as in the import format); EnterpriseError if any is bad.
        ``then`` runs in the same transaction with {field: (before, after)}, if any changed."""
        unknown = sorted(set(changes) - set(PROFILE_FIELDS))
        if unknown:
            raise EnterpriseError(f"不能修改的字段：{'、'.join(unknown)}")
        fields, problems = check_fields(changes)
        if problems:
            raise EnterpriseError("；".join(f"{f}：{m}" for f, m in problems))
        async with self._engine.begin() as conn:
            row = await _find(conn, uscc)
            if row is None:
                raise EnterpriseError(f"没有统一社会信用代码为 {uscc} 的企业")
            changed = {k: (row[k], v) for k, v in fields.items() if row[k] != v}
            if changed:
                await conn.execute(
                    update(ENTERPRISES)
                    .where(ENTERPRISES.c.id == row["id"])
                    .values(updated_at=self._clock(), **{k: v for k, (_, v) in changed.items()})
                )
                if then is not None:
                    await then(conn, changed)
            fresh = await _find(conn, uscc)
        assert fresh is not None  # noqa: S101 - found in the same transaction
        logger.info(
            "enterprise edited",
            extra={"action": "enterprise_edit", "by": by, "fields": sorted(changed)},
        )
        return Enterprise.of(fresh)

    async def all(self) -> list[Enterprise]:
        """Every enterprise with its number of contacts, in the order they were added."""
        c = CONTACTS.c
        contacts = (
            select(c.enterprise_id, func.count(c.openid).label("n"))
            .group_by(c.enterprise_id)
            .subquery()
        )
        query = (
            select(*_profile_columns(), contacts.c.n)
            .select_from(
                ENTERPRISES.outerjoin(contacts, contacts.c.enterprise_id == ENTERPRISES.c.id)
            )
            .order_by(ENTERPRISES.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [Enterprise.of(row, row["n"] or 0) for row in rows]

    async def get(self, uscc: str) -> Enterprise | None:
        async with self._engine.connect() as conn:
            row = await _find(conn, uscc)
        return Enterprise.of(row) if row is not None else None

    # --- binding codes -------------------------------------------------------------------------

    async def issue_code(self, uscc: str, *, by: str) -> IssuedCode:
        now = self._clock()
        async with self._engine.begin() as conn:
            row = await _find(conn, uscc)
            if row is None:
                raise EnterpriseError(f"没有统一社会信用代码为 {normalise_uscc(uscc)} 的企业")
            code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
            await conn.execute(
                BINDING_CODES.insert().values(
                    enterprise_id=row["id"],
                    code_hash=code_hash(row["id"], code),
                    issued_by=by,
                    created_at=now,
                    expires_at=now + CODE_TTL,
                )
            )
        logger.info("binding code issued", extra={"action": "binding_code", "by": by})
        return IssuedCode(row["uscc"], row["name"], code, now + CODE_TTL)

    async def revoke_code(self, uscc: str, code_id: int, *, then: Then[int] | None = None) -> bool:
        """Make an unused, unexpired binding code of this enterprise expire now (its row stays,
        for the record); False if it was used, expired or is not this enterprise's."""
        now = self._clock()
        b = BINDING_CODES.c
        async with self._engine.begin() as conn:
            row = await _find(conn, uscc)
            if row is None:
                return False
            done = await conn.execute(
                update(BINDING_CODES)
                .where(
                    b.id == code_id,
                    b.enterprise_id == row["id"],
                    b.used_at.is_(None),
                    b.expires_at > now,
                )
                .values(expires_at=now)
            )
            if done.rowcount != 1:
                return False
            if then is not None:
                await then(conn, code_id)
        logger.info("binding code revoked", extra={"action": "binding_code_revoked"})
        return True

    async def bind(self, openid: str, uscc: str, code: str) -> Binding:
        """Make ``openid`` a contact of the enterprise if ``code`` is its unused binding code."""
        uscc = normalise_uscc(uscc)
        if (reason := uscc_problem(uscc)) is not None:
            return Binding(BindResult.BAD_USCC, reason=reason)
        now = self._clock()
        async with self._engine.begin() as conn:
            f = BIND_FAILURES.c
            failed = (
                await conn.execute(select(f.failures, f.first_at).where(f.openid == openid))
            ).first()
            if (
                failed
                and failed.failures >= MAX_FAILURES
                and failed.first_at > now - FAILURE_WINDOW
            ):
                return Binding(BindResult.LOCKED, retry_after=failed.first_at + FAILURE_WINDOW)
            row = await _find(conn, uscc)
            if row is not None:
                c = CONTACTS.c
                known = await conn.execute(
                    select(c.openid).where(c.enterprise_id == row["id"], c.openid == openid)
                )
                if known.first() is not None:
                    return Binding(BindResult.ALREADY, enterprise=row["name"])
                b = BINDING_CODES.c
                used = await conn.execute(
                    update(BINDING_CODES)
                    .where(
                        b.enterprise_id == row["id"],
                        b.code_hash == code_hash(row["id"], code.strip()),
                        b.used_at.is_(None),
                        b.expires_at > now,
                    )
                    .values(used_at=now)
                )
                if used.rowcount == 1:
                    await conn.execute(
                        CONTACTS.insert().values(
                            enterprise_id=row["id"], openid=openid, via="binding", bound_at=now
                        )
                    )
                    await conn.execute(delete(BIND_FAILURES).where(f.openid == openid))
                    logger.info("contact bound", extra={"action": "enterprise_bind"})
                    return Binding(BindResult.BOUND, enterprise=row["name"])
            count = await _count_failure(conn, openid, now)
        logger.info("binding refused", extra={"action": "enterprise_bind_refused"})
        return Binding(BindResult.REFUSED, tries_left=max(MAX_FAILURES - count, 0))

    async def unbind(self, openid: str, uscc: str | None = None) -> list[str]:
        """Remove this person as a contact (of one enterprise, or of all); the names removed."""
        c = CONTACTS.c
        async with self._engine.begin() as conn:
            query = (
                select(ENTERPRISES.c.id, ENTERPRISES.c.name)
                .join(CONTACTS, c.enterprise_id == ENTERPRISES.c.id)
                .where(c.openid == openid)
            )
            if uscc is not None:
                query = query.where(ENTERPRISES.c.uscc == normalise_uscc(uscc))
            rows = (await conn.execute(query.order_by(ENTERPRISES.c.id))).all()
            if rows:
                ids = [r.id for r in rows]
                await conn.execute(
                    delete(CONTACTS).where(c.openid == openid, c.enterprise_id.in_(ids))
                )
        return [r.name for r in rows]

    async def mine(self, openid: str) -> list[Enterprise]:
        """The enterprises this person is a contact of."""
        c = CONTACTS.c
        query = (
            select(*_profile_columns())
            .join(CONTACTS, c.enterprise_id == ENTERPRISES.c.id)
            .where(c.openid == openid)
            .order_by(ENTERPRISES.c.id)
        )
        async with self._engine.connect() as conn:
            return [Enterprise.of(row) for row in (await conn.execute(query)).mappings()]

    async def forget(self, openid: str) -> None:
        """Delete everything enterprise-related held about this person (call on unfollow)."""
        async with self._engine.begin() as conn:
            await forget_contact(conn, openid)


def forget_statements(openid: str) -> list[Delete]:
    """The deletes that forget this person here: run them in the caller's transaction, on a
    sync connection (``bot.privacy``'s batches) or an async one alike."""
    return [
        delete(CONTACTS).where(CONTACTS.c.openid == openid),
        delete(BIND_FAILURES).where(BIND_FAILURES.c.openid == openid),
    ]


async def forget_contact(conn: AsyncConnection, openid: str) -> None:
    """``Enterprises.forget`` inside the caller's (async) transaction."""
    for statement in forget_statements(openid):
        await conn.execute(statement)


async def _existing(conn: AsyncConnection, usccs: Sequence[str]) -> dict[str, RowMapping]:
    existing: dict[str, RowMapping] = {}
    for start in range(0, len(usccs), CHUNK):
        query = select(*_profile_columns()).where(
            ENTERPRISES.c.uscc.in_(usccs[start : start + CHUNK])
        )
        existing.update((row["uscc"], row) for row in (await conn.execute(query)).mappings())
    return existing


def _plan(record: ProfileRecord, old: RowMapping | None) -> Planned:
    if old is None:
        return Planned(record, "new", tuple(record.fields))
    fields = tuple(k for k, v in record.fields.items() if old[k] != v)
    return Planned(record, "changed" if fields else "same", fields)


async def _find(conn: AsyncConnection, uscc: str) -> RowMapping | None:
    query = select(*_profile_columns()).where(ENTERPRISES.c.uscc == normalise_uscc(uscc))
    return (await conn.execute(query)).mappings().first()


async def _count_failure(conn: AsyncConnection, openid: str, now: dt.datetime) -> int:
    """One more wrong code from ``openid`` (a fresh window once the last one has passed)."""
    f = BIND_FAILURES.c
    stale = f.first_at <= now - FAILURE_WINDOW
    stmt = insert_for(conn.dialect, BIND_FAILURES).values(openid=openid, failures=1, first_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["openid"],
        set_={
            "failures": case((stale, 1), else_=f.failures + 1),
            "first_at": case((stale, now), else_=f.first_at),
        },
    )
    await conn.execute(stmt)
    return int((await conn.execute(select(f.failures).where(f.openid == openid))).scalar_one())


async def _set_imported_contacts(
    conn: AsyncConnection, enterprise_id: int, openids: Iterable[str], now: dt.datetime
) -> tuple[int, int]:
    c = CONTACTS.c
    rows = (
        await conn.execute(select(c.openid, c.via).where(c.enterprise_id == enterprise_id))
    ).all()
    wanted = set(openids)
    have = {r.openid for r in rows}
    stale = [r.openid for r in rows if r.via == "import" and r.openid not in wanted]
    new = sorted(wanted - have)
    if new:
        await conn.execute(
            CONTACTS.insert(),
            [
                {"enterprise_id": enterprise_id, "openid": o, "via": "import", "bound_at": now}
                for o in new
            ],
        )
    if stale:
        await conn.execute(
            delete(CONTACTS).where(and_(c.enterprise_id == enterprise_id, c.openid.in_(stale)))
        )
    return len(new), len(stale)
