"""The conversation store, the ledger's flood-control counts and the question log, against a
real database."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.batches import Batches
from bot.conversations import (
    EMPTY,
    Conversation,
    ConversationStore,
    InMemoryConversationStore,
    Option,
    SqlConversationStore,
)
from bot.questions import QUESTIONS, Asked, QuestionLog
from bot.receipts import CallbackLedger, Claim

NOW = datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC)
MEMORY = timedelta(minutes=10)


@pytest.fixture(params=["sql", "memory"])
def store(request: pytest.FixtureRequest, batches: Batches) -> ConversationStore:
    if request.param == "sql":
        return SqlConversationStore(batches, MEMORY)
    return InMemoryConversationStore(MEMORY)


async def test_a_conversation_is_saved_whole_and_expires(store: ConversationStore) -> None:
    talk = Conversation(
        policy_id="qh-b-001",
        facet="materials",
        options=(Option("policy", "p1"), Option("qa", "q1"), Option("facet", "phone")),
        page=1,
        question_id=7,
    )
    await store.save("o1", talk, NOW)
    assert await store.load("o1", NOW + MEMORY - timedelta(seconds=1)) == talk
    assert await store.load("o2", NOW) is EMPTY
    assert await store.load("o1", NOW + MEMORY) == EMPTY
    assert not Conversation()

    await store.save("o1", Conversation(policy_id="p2"), NOW)  # replaced whole
    assert await store.load("o1", NOW) == Conversation(policy_id="p2")
    await store.save("o1", Conversation(), NOW)  # an empty conversation ends it
    assert await store.load("o1", NOW) == EMPTY


async def test_purge_removes_only_expired_conversations(store: ConversationStore) -> None:
    await store.save("old", Conversation(policy_id="p"), NOW - MEMORY)
    await store.save("new", Conversation(policy_id="p"), NOW)
    assert await store.purge(NOW) == 1
    assert await store.load("new", NOW) == Conversation(policy_id="p")


async def test_the_ledger_counts_what_each_sender_sent_in_the_last_minute(
    engine: AsyncEngine,
) -> None:
    clock = [NOW]
    ledger = CallbackLedger(engine, 300, now=lambda: clock[0])
    ledger.start()
    try:

        async def admit(key: str, sender: str | None) -> Claim:
            return await ledger.admit(
                key, nonce=secrets.token_hex(8), digest="d", now=NOW.timestamp(), sender=sender
            )

        assert [(await admit(f"m:a:{n}", "a")).sent_last_minute for n in range(3)] == [1, 2, 3]
        assert (await admit("m:b:1", "b")).sent_last_minute == 1  # others are not affected
        assert (await admit("e:a:1:subscribe:", None)).sent_last_minute == 0  # not counted
        retry = await admit("m:a:2", "a")
        assert not retry.first  # a retry is no new message
        clock[0] = NOW + timedelta(seconds=61)
        assert (await admit("m:a:9", "a")).sent_last_minute == 1  # the old ones left the window
    finally:
        await ledger.stop()


async def test_openids_are_kept_only_on_unanswered_questions_for_48_hours(
    engine: AsyncEngine, batches: Batches
) -> None:
    log = QuestionLog(batches)
    none = Asked("怎么考驾照", "怎么考驾照", "none")
    answered = Asked(
        "低保", "低保", "answer", (("policy", "qh-b-001", 0.9),), answered=("policy", "qh-b-001")
    )
    old = await log.record("o1", none, NOW - timedelta(hours=49))
    recent = await log.record("o1", none, NOW - timedelta(hours=1))
    await log.record("o1", answered, NOW)
    assert await log.expire_openids(NOW) == 1
    async with engine.connect() as conn:
        stored = {r.id: r for r in (await conn.execute(select(QUESTIONS))).all()}
    assert stored[old].openid is None
    assert stored[old].status == "open"
    assert stored[recent].openid == "o1"
    assert [r.openid for r in stored.values() if r.decision == "answer"] == [None]
    assert [r.candidates for r in stored.values() if r.decision == "answer"] == [
        [{"kind": "policy", "id": "qh-b-001", "score": 0.9}]
    ]
