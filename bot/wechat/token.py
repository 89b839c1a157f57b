"""The access token: fetched with ``stable_token`` (normal mode), shared through a store.

``stable_token`` in normal mode returns the same token while it is valid, so several processes
may each call it without invalidating each other's token; we still cache it in one shared row
(the ``TokenStore`` port: the service keeps it in the database, ``bot.token_store``) and refresh
it behind a per-process single-flight lock. A token error forces *one* refresh, however many
sends saw it at once. ``/cgi-bin/token`` (which kills other holders' tokens) and
``force_refresh`` are never used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

REFRESH_MARGIN_S = 300.0  # refresh when fewer than five minutes remain

Fetch = Callable[[], Awaitable[tuple[str, int]]]  # -> (token, expires_in seconds)


class TokenStore(Protocol):
    """Where the account's current token is shared between processes."""

    async def load(self, app_id: str) -> tuple[str, float] | None:
        """(token, expires_at as a Unix time), or None if none is stored."""
        ...

    async def save(self, app_id: str, token: str, expires_at: float) -> None: ...


class MemoryTokenStore:
    """A store for one process (tests, tools that own the account alone)."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[str, float]] = {}

    async def load(self, app_id: str) -> tuple[str, float] | None:
        return self._rows.get(app_id)

    async def save(self, app_id: str, token: str, expires_at: float) -> None:
        self._rows[app_id] = (token, expires_at)


class AccessTokenProvider:
    def __init__(
        self,
        store: TokenStore,
        app_id: str,
        fetch: Fetch,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._app_id = app_id
        self._fetch = fetch
        self._clock = clock
        self._lock = asyncio.Lock()
        self._cached: tuple[str, float] | None = None
        self.refreshes = 0  # tokens this process fetched from WeChat

    async def get(self, *, stale: str | None = None) -> str:
        """A valid token; ``stale`` names a token WeChat just rejected (refresh past it)."""
        if self._usable(self._cached, stale):
            return self._cached[0]  # type: ignore[index]
        async with self._lock:
            if self._usable(self._cached, stale):
                return self._cached[0]  # type: ignore[index]
            stored = await self._store.load(self._app_id)
            if self._usable(stored, stale):
                self._cached = stored
                return stored[0]  # type: ignore[index]
            token, expires_in = await self._fetch()
            self.refreshes += 1
            expires_at = self._clock() + expires_in
            await self._store.save(self._app_id, token, expires_at)
            self._cached = (token, expires_at)
            return token

    def _usable(self, entry: tuple[str, float] | None, stale: str | None) -> bool:
        return (
            entry is not None and entry[0] != stale and entry[1] - REFRESH_MARGIN_S > self._clock()
        )
