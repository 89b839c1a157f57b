"""The access token: fetched with ``stable_token`` (normal mode), shared through the database.

``stable_token`` in normal mode returns the same token while it is valid, so several processes
may each call it without invalidating each other's token; we still cache it in one database row
and refresh it behind a per-process single-flight lock. A token error forces *one* refresh.
``/cgi-bin/token`` (which kills other holders' tokens) and ``force_refresh`` are never used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import session_factory
from bot.models import AccessToken

REFRESH_MARGIN_S = 300.0  # refresh when fewer than five minutes remain

Fetch = Callable[[], Awaitable[tuple[str, int]]]  # -> (token, expires_in seconds)


class AccessTokenProvider:
    def __init__(
        self,
        engine: AsyncEngine,
        app_id: str,
        fetch: Fetch,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = session_factory(engine)
        self._app_id = app_id
        self._fetch = fetch
        self._clock = clock
        self._lock = asyncio.Lock()
        self._cached: tuple[str, float] | None = None

    async def get(self, *, stale: str | None = None) -> str:
        """A valid token; ``stale`` names a token WeChat just rejected (refresh past it)."""
        if self._usable(self._cached, stale):
            return self._cached[0]  # type: ignore[index]
        async with self._lock:
            if self._usable(self._cached, stale):
                return self._cached[0]  # type: ignore[index]
            stored = await self._load()
            if self._usable(stored, stale):
                self._cached = stored
                return stored[0]  # type: ignore[index]
            token, expires_in = await self._fetch()
            expires_at = self._clock() + expires_in
            await self._store(token, expires_at)
            self._cached = (token, expires_at)
            return token

    def _usable(self, entry: tuple[str, float] | None, stale: str | None) -> bool:
        return (
            entry is not None and entry[0] != stale and entry[1] - REFRESH_MARGIN_S > self._clock()
        )

    async def _load(self) -> tuple[str, float] | None:
        async with self._sessions() as session:
            row = await session.get(AccessToken, self._app_id)
            return None if row is None else (row.token, row.expires_at)

    async def _store(self, token: str, expires_at: float) -> None:
        try:
            await self._upsert(token, expires_at)
        except IntegrityError:  # another process stored its (equally valid) token first
            await self._upsert(token, expires_at)

    async def _upsert(self, token: str, expires_at: float) -> None:
        async with self._sessions.begin() as session:
            row = (
                await session.execute(select(AccessToken).where(AccessToken.app_id == self._app_id))
            ).scalar_one_or_none()
            if row is None:
                session.add(AccessToken(app_id=self._app_id, token=token, expires_at=expires_at))
            else:
                row.token = token
                row.expires_at = expires_at
