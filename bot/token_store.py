"""The access token's row in the database: the ``bot.wechat.token.TokenStore`` every server and
``gongkai push run`` process shares, so one refresh serves them all."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import session_factory
from bot.models import AccessToken


class SqlTokenStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def load(self, app_id: str) -> tuple[str, float] | None:
        async with self._sessions() as session:
            row = await session.get(AccessToken, app_id)
            return None if row is None else (row.token, row.expires_at)

    async def save(self, app_id: str, token: str, expires_at: float) -> None:
        try:
            await self._upsert(app_id, token, expires_at)
        except IntegrityError:  # another process stored its (equally valid) token first
            await self._upsert(app_id, token, expires_at)

    async def _upsert(self, app_id: str, token: str, expires_at: float) -> None:
        async with self._sessions.begin() as session:
            row = (
                await session.execute(select(AccessToken).where(AccessToken.app_id == app_id))
            ).scalar_one_or_none()
            if row is None:
                session.add(AccessToken(app_id=app_id, token=token, expires_at=expires_at))
            else:
                row.token = token
                row.expires_at = expires_at
