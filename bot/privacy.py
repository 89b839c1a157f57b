"""Everything stored about one person, in one place, so that all of it can be forgotten at once.

When a user unfollows, their conversation and the link between them and the questions they
asked are deleted in one transaction; the questions stay as anonymous counts for the
statistics. (Callback receipts, which name the sender for flood control, are operational and
purged after an hour anyway.) A table that starts holding openids (push subscriptions, for
instance) adds its line here: push forgets the person's subscriptions, enterprise contacts and
what still waited to be sent to them (``push.subscriptions.forget``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.batches import Batches
from bot.conversations import CONVERSATIONS
from bot.questions import QUESTIONS
from push.people import held as held_by_push
from push.subscriptions import forget as forget_push

AfterForget = Callable[[AsyncConnection], Awaitable[None]]

# A run of 7 or more digits (with the ID card's final X): phone numbers, ID card, bank card and
# account numbers residents type into a question. Shorter numbers (years, amounts, ages) stay.
_NUMBER = re.compile(r"(?<![0-9０-９])[0-9０-９]{7,}[Xx]?(?![0-9０-９])")


def mask_numbers(text: str) -> str:
    """The text with personal numbers masked (138****5678): for figures and exports that leave
    the inbox, where residents' own words are shown to more people than answer them."""

    def mask(found: re.Match[str]) -> str:
        number = found.group()
        keep_head, keep_tail = (3, 4) if len(number) > 8 else (2, 2)
        return (
            number[:keep_head] + "*" * (len(number) - keep_head - keep_tail) + number[-keep_tail:]
        )

    return _NUMBER.sub(mask, text)


class PersonalData:
    def __init__(self, batches: Batches) -> None:
        self._batches = batches

    async def forget(self, openid: str, *, then: AfterForget | None = None) -> None:
        """Forget the person. ``then`` (the console's audit row for an erasure on request) runs
        in the same transaction, on its own connection rather than in a batch: both are kept,
        or neither."""

        def forget(conn: Connection) -> None:
            conn.execute(delete(CONVERSATIONS).where(CONVERSATIONS.c.openid == openid))
            conn.execute(update(QUESTIONS).where(QUESTIONS.c.openid == openid).values(openid=None))
            forget_push(conn, openid, datetime.now(UTC))

        if then is None:
            await self._batches.run(forget)
            return
        async with self._batches.engine.begin() as conn:
            await conn.run_sync(forget)
            await then(conn)


async def held(engine: AsyncEngine, openid: str) -> dict[str, int]:
    """What ``PersonalData.forget`` would delete or unlink for this person, counted (shown to
    staff before they erase it)."""
    async with engine.connect() as conn:
        counts = await held_by_push(conn, openid)
        conversation = select(func.count()).where(CONVERSATIONS.c.openid == openid)
        questions = select(func.count()).where(QUESTIONS.c.openid == openid)
        counts["conversation"] = int((await conn.execute(conversation)).scalar_one())
        counts["questions"] = int((await conn.execute(questions)).scalar_one())
    return counts
