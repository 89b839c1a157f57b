"""What the bot remembers of one user's dialog, for a few minutes, shared by every process.

A conversation holds the last policy shown (so "那要什么材料？" is answered from its guide), the
last facet, and the numbered options awaiting a reply with the page ``更多`` has reached. It is
saved whole after each turn and expires ``memory`` after that; an expired row reads as an empty
conversation and is removed by a periodic purge. Handlers see the ``ConversationStore``
interface: ``SqlConversationStore`` in the service, ``InMemoryConversationStore`` in unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, cast

from sqlalchemy import JSON, Integer, String, Table, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from bot.batches import Batches
from bot.db import Base, UTCDateTime, insert_for

OptionKind = Literal["policy", "qa", "facet"]
_KINDS: frozenset[str] = frozenset(("policy", "qa", "facet"))


@dataclass(frozen=True, slots=True)
class Option:
    """One numbered option: a policy, a Q&A pair, or a facet (guide field) of the last policy."""

    kind: OptionKind
    id: str


@dataclass(frozen=True, slots=True)
class Conversation:
    policy_id: str | None = None  # the last policy shown; facet follow-ups answer from it
    facet: str | None = None  # the last guide field shown
    options: tuple[Option, ...] = ()  # numbered options awaiting a reply
    page: int = 0  # the last page of options shown (``更多`` moves on)
    question_id: int | None = None  # the logged question the options belong to

    def __bool__(self) -> bool:
        return self.policy_id is not None or bool(self.options)


EMPTY = Conversation()


class ConversationRow(Base):
    """One row per user with a live conversation; ``expires_at`` is set on every save."""

    __tablename__ = "conversation"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy_id: Mapped[str | None] = mapped_column(String(64))
    facet: Mapped[str | None] = mapped_column(String(16))
    options: Mapped[list[list[str]]] = mapped_column(JSON)  # [[kind, id], ...]
    page: Mapped[int] = mapped_column(Integer)
    question_id: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


CONVERSATIONS: Table = cast(Table, ConversationRow.__table__)


class ConversationStore(Protocol):
    async def load(self, openid: str, now: datetime) -> Conversation:
        """The user's live conversation, or an empty one."""
        ...

    async def save(self, openid: str, conversation: Conversation, now: datetime) -> None:
        """Replace the user's conversation (an empty one ends it)."""
        ...

    async def purge(self, now: datetime) -> int:
        """Remove expired conversations; return how many."""
        ...


def _options(raw: Any) -> tuple[Option, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        Option(cast(OptionKind, item[0]), str(item[1]))
        for item in raw
        if isinstance(item, list) and len(item) == 2 and item[0] in _KINDS
    )


class SqlConversationStore:
    """Conversations in the database, read and written through the process's ``Batches``."""

    def __init__(self, batches: Batches, memory: timedelta) -> None:
        self._batches = batches
        self._memory = memory

    async def load(self, openid: str, now: datetime) -> Conversation:
        return await self._batches.run(lambda conn: _load(conn, openid, now))

    async def save(self, openid: str, conversation: Conversation, now: datetime) -> None:
        until = now + self._memory
        await self._batches.run(lambda conn: _save(conn, openid, conversation, until))

    async def purge(self, now: datetime) -> int:
        t = CONVERSATIONS
        return await self._batches.run(
            lambda conn: int(conn.execute(delete(t).where(t.c.expires_at <= now)).rowcount or 0)
        )


def _load(conn: Connection, openid: str, now: datetime) -> Conversation:
    t = CONVERSATIONS
    query = select(t.c.policy_id, t.c.facet, t.c.options, t.c.page, t.c.question_id).where(
        t.c.openid == openid, t.c.expires_at > now
    )
    row = conn.execute(query).first()
    if row is None:
        return EMPTY
    return Conversation(
        policy_id=row.policy_id,
        facet=row.facet,
        options=_options(row.options),
        page=row.page,
        question_id=row.question_id,
    )


def _save(conn: Connection, openid: str, conversation: Conversation, until: datetime) -> None:
    t = CONVERSATIONS
    if not conversation:
        conn.execute(delete(t).where(t.c.openid == openid))
        return
    values = {
        "policy_id": conversation.policy_id,
        "facet": conversation.facet,
        "options": [[o.kind, o.id] for o in conversation.options],
        "page": conversation.page,
        "question_id": conversation.question_id,
        "expires_at": until,
    }
    insert = insert_for(conn.dialect, t).values(openid=openid, **values)
    conn.execute(insert.on_conflict_do_update(index_elements=[t.c.openid], set_=values))


@dataclass
class InMemoryConversationStore:
    """The same interface in a dict (one process only): for unit tests."""

    memory: timedelta = timedelta(minutes=10)
    _items: dict[str, tuple[Conversation, datetime]] = field(default_factory=dict)

    async def load(self, openid: str, now: datetime) -> Conversation:
        item = self._items.get(openid)
        return item[0] if item is not None and item[1] > now else EMPTY

    async def save(self, openid: str, conversation: Conversation, now: datetime) -> None:
        if conversation:
            self._items[openid] = (conversation, now + self.memory)
        else:
            self._items.pop(openid, None)

    async def purge(self, now: datetime) -> int:
        expired = [k for k, (_c, until) in self._items.items() if until <= now]
        for key in expired:
            del self._items[key]
        return len(expired)
