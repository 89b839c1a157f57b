"""The policy library in the database: upsert a Library in one transaction, load it back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Delete, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bot.db import session_factory
from policy_index.conditions import parse_conditions, to_json
from policy_index.dates import Precision, precision_of, with_precision
from policy_index.export import DATE_FIELDS
from policy_index.interchange import read_library
from policy_index.model import Alias, Guide, Interpretation, Level, Library, Policy, QAPair, Status
from policy_index.tables import AliasRow, InterpretationRow, LibraryState, PolicyRow, QAPairRow

CHUNK = 500

AfterWrite = Callable[[AsyncConnection], Awaitable[None]]
"""Run in the write's own transaction (the console's audit row): both are kept, or neither."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    policies: int
    qa_pairs: int
    aliases: int
    revision: int


def _precision(day: date | None) -> str | None:
    """What the precision column keeps: NULL for a whole date (and for none)."""
    if day is None or (precision := precision_of(day)) is Precision.DAY:
        return None
    return precision.value


def _dated(day: date | None, precision: str | None) -> date | None:
    return None if day is None else with_precision(day, precision)


def _policy_values(p: Policy, now: datetime) -> dict[str, Any]:
    return {
        "id": p.id,
        "title": p.title,
        "doc_number": p.doc_number,
        "issuer": p.issuer,
        "level": p.level.value if p.level else None,
        "region": p.region,
        "date": p.date,
        "effective_date": p.effective_date,
        "expiry_date": p.expiry_date,
        **{f"{n}_precision": _precision(getattr(p, n)) for n in DATE_FIELDS},
        "status": p.status.value,
        "replaced_by": p.replaced_by,
        "audience": list(p.audience),
        "topics": list(p.topics),
        "summary": p.summary,
        "body": p.body,
        "source_url": p.source_url,
        "exempt_application": p.exempt_application,
        "aliases": list(p.aliases),
        "guide": dict(p.guide.items()) if p.guide else None,
        "conditions": to_json(p.conditions) if p.conditions is not None else None,
        "updated_at": now,
    }


async def _insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await conn.execute(table.insert(), rows[start : start + CHUNK])


async def _upsert(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE every other column, in chunks."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    for start in range(0, len(rows), CHUNK):
        await conn.execute(stmt, rows[start : start + CHUNK])


def _policy(row: PolicyRow, interpretations: list[InterpretationRow]) -> Policy:
    return Policy(
        id=row.id,
        title=row.title,
        doc_number=row.doc_number,
        issuer=row.issuer,
        level=Level(row.level) if row.level else None,
        region=row.region,
        date=_dated(row.date, row.date_precision),
        effective_date=_dated(row.effective_date, row.effective_date_precision),
        expiry_date=_dated(row.expiry_date, row.expiry_date_precision),
        status=Status(row.status),
        replaced_by=row.replaced_by,
        audience=tuple(row.audience or ()),
        topics=tuple(row.topics or ()),
        summary=row.summary,
        body=row.body,
        source_url=row.source_url,
        exempt_application=row.exempt_application,
        aliases=tuple(row.aliases or ()),
        interpretations=tuple(
            Interpretation(i.title, i.url, i.kind, i.summary)
            for i in sorted(interpretations, key=lambda i: i.position)
        ),
        guide=Guide(**row.guide) if row.guide else None,
        conditions=parse_conditions(row.conditions) if row.conditions is not None else None,
    )


class LibraryRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def policy_ids(self) -> set[str]:
        async with self._sessions() as session:
            return set((await session.execute(select(PolicyRow.id))).scalars())

    async def import_files(self, paths: Iterable[Path]) -> ImportResult:
        """Validate the files against the library in the database, then upsert all or nothing."""
        library = read_library(list(paths), known_policy_ids=await self.policy_ids())
        return await self.upsert(library)

    async def upsert(self, library: Library, *, then: AfterWrite | None = None) -> ImportResult:
        """Insert or replace every record by id, all in one transaction (``then`` included)."""
        now = datetime.now(UTC)
        policy_rows = [_policy_values(p, now) for p in library.policies]
        interpretation_rows = [
            {
                "policy_id": p.id,
                "position": n,
                "title": i.title,
                "url": i.url,
                "kind": i.kind,
                "summary": i.summary,
            }
            for p in library.policies
            for n, i in enumerate(p.interpretations)
        ]
        qa_rows = [
            {
                "id": q.id,
                "question": q.question,
                "similar": list(q.similar),
                "answer": q.answer,
                "policy_id": q.policy_id,
                "updated_at": now,
            }
            for q in library.qa_pairs
        ]
        alias_rows = [{"alias": a.alias, "canonical": a.canonical} for a in library.aliases]
        async with self._sessions.begin() as session:
            conn = await session.connection()
            ids = [p.id for p in library.policies]
            for start in range(0, len(ids), CHUNK):
                await conn.execute(
                    delete(InterpretationRow).where(
                        InterpretationRow.policy_id.in_(ids[start : start + CHUNK])
                    )
                )
            await _upsert(conn, PolicyRow.__table__, policy_rows, ["id"])  # type: ignore[arg-type]
            await _insert(conn, InterpretationRow.__table__, interpretation_rows)  # type: ignore[arg-type]
            await _upsert(conn, QAPairRow.__table__, qa_rows, ["id"])  # type: ignore[arg-type]
            await _upsert(conn, AliasRow.__table__, alias_rows, ["alias"])  # type: ignore[arg-type]
            revision = await _bump(session, now)
            if then is not None:
                await then(conn)
        return ImportResult(
            len(library.policies), len(library.qa_pairs), len(library.aliases), revision
        )

    async def save_policy(
        self, policy: Policy, qa: Iterable[QAPair], *, then: AfterWrite | None = None
    ) -> ImportResult:
        """One policy as edited: its Q&A pairs become exactly ``qa`` (pairs no longer listed
        are deleted, unlike an import, which never deletes)."""
        pairs = list(qa)
        keep = [q.id for q in pairs]

        async def drop_then(conn: AsyncConnection) -> None:
            await conn.execute(
                delete(QAPairRow).where(QAPairRow.policy_id == policy.id, QAPairRow.id.not_in(keep))
            )
            if then is not None:
                await then(conn)

        return await self.upsert(Library.of([policy], pairs), then=drop_then)

    async def remove_alias(self, alias: str, *, then: AfterWrite | None = None) -> bool:
        """Delete a library-wide alias; False (nothing written) when there is none."""
        return await self._remove(delete(AliasRow).where(AliasRow.alias == alias), then)

    async def remove_qa(self, qa_id: str, *, then: AfterWrite | None = None) -> bool:
        """Delete one Q&A pair; False (nothing written) when there is none."""
        return await self._remove(delete(QAPairRow).where(QAPairRow.id == qa_id), then)

    async def _remove(self, statement: Delete, then: AfterWrite | None) -> bool:
        """Run a delete and, if it removed anything, bump the revision and run ``then``, all in
        one transaction."""
        async with self._sessions.begin() as session:
            conn = await session.connection()
            gone = await conn.execute(statement)
            if not gone.rowcount:
                return False
            await _bump(session, datetime.now(UTC))
            if then is not None:
                await then(conn)
            return True

    async def load(self) -> Library:
        async with self._sessions() as session:
            policies = (
                (await session.execute(select(PolicyRow).order_by(PolicyRow.id))).scalars().all()
            )
            interpretations: dict[str, list[InterpretationRow]] = {}
            for row in (await session.execute(select(InterpretationRow))).scalars():
                interpretations.setdefault(row.policy_id, []).append(row)
            qa = (await session.execute(select(QAPairRow).order_by(QAPairRow.id))).scalars().all()
            aliases = (
                (await session.execute(select(AliasRow).order_by(AliasRow.alias))).scalars().all()
            )
        return Library.of(
            (_policy(p, interpretations.get(p.id, [])) for p in policies),
            (QAPair(q.id, q.question, q.answer, tuple(q.similar or ()), q.policy_id) for q in qa),
            (Alias(a.alias, a.canonical) for a in aliases),
        )

    async def retire_expired(self, today: date, now: datetime) -> list[str]:
        """Policies in force whose expiry date has passed are marked 已失效 (定期清理), so that
        the library shows what the answers already say; returns their ids."""
        async with self._sessions.begin() as session:
            lapsed = (
                (
                    await session.execute(
                        select(PolicyRow).where(
                            PolicyRow.status == Status.CURRENT.value, PolicyRow.expiry_date < today
                        )
                    )
                )
                .scalars()
                .all()
            )
            for row in lapsed:
                row.status = Status.EXPIRED.value
                row.updated_at = now
            if lapsed:
                await _bump(session, now)
            return [row.id for row in lapsed]

    async def revision(self) -> int:
        async with self._sessions() as session:
            state = await session.get(LibraryState, 1)
            return state.revision if state else 0


async def _bump(session: AsyncSession, now: datetime) -> int:
    state = await session.get(LibraryState, 1, with_for_update=True)
    if state is None:
        state = LibraryState(id=1, revision=1, updated_at=now)
        session.add(state)
    else:
        state.revision += 1
        state.updated_at = now
    return state.revision
