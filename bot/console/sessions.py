"""Server-side console sessions: an aiohttp-session storage that keeps session data in the
database, so that logout ends a session everywhere and no secret sits in the browser.

The cookie carries only a random session id (32 bytes, URL-safe); the table stores the SHA-256
of it, so a copy of the database cannot be replayed as a cookie. A session ends after
``idle`` without a request (等保 timeout logout) or ``ABSOLUTE`` after it began, whichever is
first; an ended session is deleted when next seen and swept at each login. ``rotate`` gives a
signed-in user a new id (no session fixation): the old row is deleted, the data moves over.

aiohttp-session ships cookie, NaCl, Redis and memcached storages; none keeps data in our own
database, hence this one (its ``AbstractStorage`` does the cookie handling).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, get_session, new_session
from sqlalchemy import JSON, Index, String, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from bot import keys
from bot.db import Base, UTCDateTime

COOKIE = "gongkai_console"
ABSOLUTE = timedelta(hours=12)
TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most this often per session
# Set when the request came with a session that had ended while signed in (the login page says so).
EXPIRED: web.RequestKey[bool] = web.RequestKey("console_session_expired", bool)


class ConsoleSession(Base):
    """One signed-in (or signing-in) browser: its data and when it was last used."""

    __tablename__ = "console_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_console_session_last_seen", "last_seen"),)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class DatabaseStorage(AbstractStorage):
    """aiohttp-session storage over the ``console_session`` table (engine from the app)."""

    def __init__(self, *, idle: timedelta, secure: bool, path: str = "/console") -> None:
        super().__init__(
            cookie_name=COOKIE,
            path=path,
            secure=secure,
            httponly=True,
            samesite="Strict",
            max_age=None,  # a browser-session cookie; the server decides when it ends
        )
        self.idle = idle

    def _expired(self, created: datetime, last_seen: datetime, now: datetime) -> bool:
        return now - last_seen > self.idle or now - created > ABSOLUTE

    async def load_session(self, request: web.Request) -> Session:
        cookie = self.load_cookie(request)
        if not cookie:
            return Session(None, data=None, new=True, max_age=None)
        engine = request.config_dict[keys.ENGINE]
        key, now = _hash(cookie), _now()
        c = ConsoleSession
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    select(c.data, c.created_at, c.last_seen).where(c.id_hash == key)
                )
            ).first()
            if row is None:
                return Session(None, data=None, new=True, max_age=None)
            if self._expired(row.created_at, row.last_seen, now):
                await conn.execute(delete(ConsoleSession).where(c.id_hash == key))
                request[EXPIRED] = bool((row.data or {}).get("user"))
                return Session(None, data=None, new=True, max_age=None)
            if now - row.last_seen > TOUCH_EVERY:
                await conn.execute(
                    update(ConsoleSession).where(c.id_hash == key).values(last_seen=now)
                )
        created = int(row.created_at.timestamp())
        return Session(cookie, data={"created": created, "session": row.data}, new=False)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        engine = request.config_dict[keys.ENGINE]
        now = _now()
        data = json.loads(json.dumps(dict(session)))
        old = session.identity
        async with engine.begin() as conn:
            if session.empty:
                if old:
                    await conn.execute(
                        delete(ConsoleSession).where(ConsoleSession.id_hash == _hash(old))
                    )
                self.save_cookie(response, "", max_age=0)
                return
            if old and not session.new:
                await conn.execute(
                    update(ConsoleSession)
                    .where(ConsoleSession.id_hash == _hash(old))
                    .values(data=data, last_seen=now)
                )
                return
            fresh = secrets.token_urlsafe(32)
            await conn.execute(
                insert(ConsoleSession).values(
                    id_hash=_hash(fresh), data=data, created_at=now, last_seen=now
                )
            )
        session.set_new_identity(fresh)
        self.save_cookie(response, fresh)


async def rotate(request: web.Request) -> Session:
    """A new session id carrying nothing over (login): the old row is deleted."""
    old = await get_session(request)
    if old.identity and not old.new:
        engine = request.config_dict[keys.ENGINE]
        async with engine.begin() as conn:
            await conn.execute(
                delete(ConsoleSession).where(ConsoleSession.id_hash == _hash(old.identity))
            )
    return await new_session(request)


async def sweep(engine: AsyncEngine, idle: timedelta, now: datetime | None = None) -> int:
    """Delete ended sessions (idle too long or too old)."""
    now = now or _now()
    c = ConsoleSession
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(ConsoleSession).where(
                (c.last_seen < now - idle) | (c.created_at < now - ABSOLUTE)
            )
        )
    return int(result.rowcount or 0)


async def end_sessions_of(engine: AsyncEngine, name: str, *, keep: str | None = None) -> int:
    """Sign ``name`` out everywhere (a password set by someone else, or changed by its owner on
    another browser), except the session with the cookie ``keep``."""
    c = ConsoleSession
    kept = _hash(keep) if keep else None
    async with engine.begin() as conn:
        rows = (await conn.execute(select(c.id_hash, c.data))).all()
        ended = [
            r.id_hash for r in rows if (r.data or {}).get("user") == name and r.id_hash != kept
        ]
        if ended:
            await conn.execute(delete(ConsoleSession).where(c.id_hash.in_(ended)))
    return len(ended)
