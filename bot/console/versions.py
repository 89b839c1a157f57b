"""The content of each version of a notice that the console saved, so that a reviewer sees what
changed since the version last submitted or approved (the audit log keeps only its hash).

Keyed by (notice, content hash): saving the same content twice is one row. Notices written from
the command line or the JSON API have no rows here; the review page then lists the changed
fields from the audit log instead of a diff.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from bot.console.preview import content_from_json, content_json
from bot.db import Base, UTCDateTime
from push.notice_rules import Notice, NoticeContent


class NoticeVersion(Base):
    __tablename__ = "console_notice_version"

    notice_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime())


async def save(engine: AsyncEngine, notice: Notice, at: datetime) -> None:
    values = {
        "notice_id": notice.id,
        "content_hash": notice.content_hash,
        "content": content_json(notice.content),
        "saved_at": at,
    }
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(NoticeVersion).values(values))
    except IntegrityError:
        pass  # this version is already kept


async def find(engine: AsyncEngine, notice_id: int, content_hash: str) -> NoticeContent | None:
    v = NoticeVersion
    async with engine.connect() as conn:
        data = (
            await conn.execute(
                select(v.content).where(v.notice_id == notice_id, v.content_hash == content_hash)
            )
        ).scalar_one_or_none()
    return content_from_json(data) if data else None
