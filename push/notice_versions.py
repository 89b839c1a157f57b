"""The content of each version of a notice, so that a reviewer sees what changed since the
version last submitted or approved (the audit log keeps only its hash).

``NoticeDesk`` keeps a version whenever a notice is created, corrected or edited — from the
console, the JSON API or the command line alike — in the same transaction as the change.
Keyed by (notice, content hash): the same content kept twice is one row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime
from push.notice_rules import NoticeContent, content_from_json, content_json


class NoticeVersion(Base):
    __tablename__ = "console_notice_version"  # its name from when only the console kept them

    notice_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime())


async def keep(conn: AsyncConnection, notice_id: int, content: NoticeContent, at: datetime) -> None:
    """Keep this content of the notice (inside the caller's transaction, which holds the
    notice's row: no one else keeps a version of it at the same moment)."""
    v = NoticeVersion
    content_hash = content.content_hash()
    kept = select(v.notice_id).where(v.notice_id == notice_id, v.content_hash == content_hash)
    if (await conn.execute(kept)).first() is not None:
        return
    values = {
        "notice_id": notice_id,
        "content_hash": content_hash,
        "content": content_json(content),
        "saved_at": at,
    }
    await conn.execute(insert(v).values(values))


async def find(engine: AsyncEngine, notice_id: int, content_hash: str) -> NoticeContent | None:
    v = NoticeVersion
    async with engine.connect() as conn:
        data = (
            await conn.execute(
                select(v.content).where(v.notice_id == notice_id, v.content_hash == content_hash)
            )
        ).scalar_one_or_none()
    return content_from_json(data) if data else None
