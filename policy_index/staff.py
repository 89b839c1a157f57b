"""Q&A pairs written by staff from the unanswered inbox, saved into the policy library.

A staff answer becomes an ordinary Q&A pair (the question, the residents' other phrasings as
``similar``, the answer, optionally the policy it rests on), checked exactly as an imported
record is and upserted like an import: in one transaction that bumps the library revision, so
every server process rebuilds its index within ``GONGKAI_MATCHER__REFRESH_S`` and the bot then
answers the question itself. The pair's id is derived from its question and answer, so saving
the same answer again (a retried command) replaces the pair instead of adding another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from policy_index.errors import PolicyIndexError
from policy_index.interchange import parse_qa
from policy_index.model import Library, QAPair
from policy_index.repository import LibraryRepository

STAFF_QA_PREFIX = "staff-"
MAX_SIMILAR = 20


class StaffQAError(PolicyIndexError):
    """The Q&A pair cannot be saved (a bad field or an unknown policy); nothing was written."""


def staff_qa_id(question: str, answer: str) -> str:
    """A stable id for a staff Q&A pair: the same question and answer give the same id."""
    digest = hashlib.sha256(f"{question.strip()}\0{answer.strip()}".encode()).hexdigest()
    return STAFF_QA_PREFIX + digest[:16]


def staff_qa(
    question: str, answer: str, *, policy_id: str | None = None, similar: Sequence[str] = ()
) -> QAPair:
    """The pair as the library format reads it; ``StaffQAError`` names a bad field."""
    others = [s for s in dict.fromkeys(s.strip() for s in similar) if s and s != question.strip()]
    raw = {
        "id": staff_qa_id(question, answer),
        "question": question,
        "answer": answer,
        "similar": others[:MAX_SIMILAR],
        "policy_id": policy_id,
    }
    qa, errors = parse_qa(raw)
    if qa is None:
        raise StaffQAError("; ".join(f"{name}: {message}" for name, message in errors))
    return qa


async def policy_exists(engine: AsyncEngine, policy_id: str) -> bool:
    return policy_id in await LibraryRepository(engine).policy_ids()


async def save_staff_qa(
    engine: AsyncEngine,
    question: str,
    answer: str,
    *,
    policy_id: str | None = None,
    similar: Sequence[str] = (),
) -> QAPair:
    """Add (or replace) a staff Q&A pair in the library and bump its revision."""
    qa = staff_qa(question, answer, policy_id=policy_id, similar=similar)
    if policy_id is not None and not await policy_exists(engine, policy_id):
        raise StaffQAError(f"policy_id: no policy {policy_id!r} in the library")
    await LibraryRepository(engine).upsert(Library.of(qa_pairs=[qa]))
    return qa
