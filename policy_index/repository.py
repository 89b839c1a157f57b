"""The policy library in the database: upsert a Library in one transaction, load it back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.db import session_factory
from policy_index.interchange import read_library
from policy_index.model import Alias, Guide, Interpretation, Level, Library, Policy, QAPair, Status
from policy_index.tables import AliasRow, InterpretationRow, LibraryState, PolicyRow, QAPairRow


@dataclass(frozen=True, slots=True)
class ImportResult:
    policies: int
    qa_pairs: int
    aliases: int
    revision: int


def _policy_row(p: Policy, now: datetime) -> PolicyRow:
    return PolicyRow(
        id=p.id,
        title=p.title,
        doc_number=p.doc_number,
        issuer=p.issuer,
        level=p.level.value if p.level else None,
        region=p.region,
        date=p.date,
        effective_date=p.effective_date,
        expiry_date=p.expiry_date,
        status=p.status.value,
        replaced_by=p.replaced_by,
        audience=list(p.audience),
        topics=list(p.topics),
        summary=p.summary,
        body=p.body,
        source_url=p.source_url,
        exempt_application=p.exempt_application,
        aliases=list(p.aliases),
        guide=dict(p.guide.items()) if p.guide else None,
        updated_at=now,
    )


def _policy(row: PolicyRow, interpretations: list[InterpretationRow]) -> Policy:
    return Policy(
        id=row.id,
        title=row.title,
        doc_number=row.doc_number,
        issuer=row.issuer,
        level=Level(row.level) if row.level else None,
        region=row.region,
        date=row.date,
        effective_date=row.effective_date,
        expiry_date=row.expiry_date,
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

    async def upsert(self, library: Library) -> ImportResult:
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            for policy in library.policies:
                await session.execute(
                    delete(InterpretationRow).where(InterpretationRow.policy_id == policy.id)
                )
                await session.merge(_policy_row(policy, now))
                session.add_all(
                    InterpretationRow(
                        policy_id=policy.id,
                        position=n,
                        title=i.title,
                        url=i.url,
                        kind=i.kind,
                        summary=i.summary,
                    )
                    for n, i in enumerate(policy.interpretations)
                )
            await session.flush()
            for qa in library.qa_pairs:
                await session.merge(
                    QAPairRow(
                        id=qa.id,
                        question=qa.question,
                        similar=list(qa.similar),
                        answer=qa.answer,
                        policy_id=qa.policy_id,
                        updated_at=now,
                    )
                )
            for alias in library.aliases:
                await session.merge(AliasRow(alias=alias.alias, canonical=alias.canonical))
            revision = await _bump(session, now)
        return ImportResult(
            len(library.policies), len(library.qa_pairs), len(library.aliases), revision
        )

    async def load(self) -> Library:
        async with self._sessions() as session:
            policies = (await session.execute(select(PolicyRow))).scalars().all()
            interpretations: dict[str, list[InterpretationRow]] = {}
            for row in (await session.execute(select(InterpretationRow))).scalars():
                interpretations.setdefault(row.policy_id, []).append(row)
            qa = (await session.execute(select(QAPairRow))).scalars().all()
            aliases = (await session.execute(select(AliasRow))).scalars().all()
        return Library.of(
            (_policy(p, interpretations.get(p.id, [])) for p in policies),
            (QAPair(q.id, q.question, q.answer, tuple(q.similar or ()), q.policy_id) for q in qa),
            (Alias(a.alias, a.canonical) for a in aliases),
        )

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
