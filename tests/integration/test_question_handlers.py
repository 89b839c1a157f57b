"""The question handlers with a matcher whose decision the test sets (the sample library's index,
the real question log and conversation store in the test database)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.batches import Batches
from bot.config import Settings
from bot.context import HandlerContext
from bot.conversations import ConversationStore, InMemoryConversationStore, SqlConversationStore
from bot.privacy import PersonalData
from bot.questions import QUESTIONS, QuestionLog
from bot.wechat import TextMessage, TextReply
from handlers import build_router, texts
from handlers.choices import clarify_band
from policy_index.index import PolicyIndex, build_index
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.matching import Candidate, Decision, MatchResult
from push.subscriptions import SubscriptionDesk

OPENID = "o_handler_test"


@cache
def sample_index() -> PolicyIndex:
    return build_index(read_library([SAMPLE_LIBRARY]))


class SetPolicies:
    """The policy service's interface, answering every question with one preset result."""

    def __init__(self, *candidates: Candidate, decision: Decision = Decision.CLARIFY) -> None:
        self.result = MatchResult("q", "q", decision, candidates)

    @property
    def index(self) -> PolicyIndex:
        return sample_index()

    async def match(self, query: str, *, top: int = 5) -> MatchResult:
        return self.result


class Chat:
    def __init__(self, batches: Batches, policies: SetPolicies, store: ConversationStore):
        self.batches, self.policies, self.store = batches, policies, store
        self.now = datetime.now(UTC)

    async def say(self, content: str) -> str:
        ctx = HandlerContext(
            settings=Settings(),
            openid=OPENID,
            account="gh",
            now=self.now,
            state=None,
            log=logging.LoggerAdapter(logging.getLogger("test"), {}),
            policies=self.policies,
            conversations=self.store,
            questions=QuestionLog(self.batches),
            personal_data=PersonalData(self.batches),
            subscriptions=SubscriptionDesk(self.batches.engine),
        )
        msg = TextMessage(to_user="gh", from_user=OPENID, create_time=1, msg_id=1, content=content)
        reply = await build_router().dispatch(msg, ctx)
        assert isinstance(reply, TextReply)
        return reply.content


def band() -> float:
    """The matcher's clarify band (scores below are set relative to it: it is recalibrated)."""
    return clarify_band(sample_index(), Settings())


def low_income_questions() -> SetPolicies:
    """Only one policy in question (its Q&A pairs and itself), no facet named."""
    return SetPolicies(
        Candidate(0, "qa", "qh-b-001-qa1", "qh-b-001", band() + 0.05),
        Candidate(1, "policy", "qh-b-001", "qh-b-001", band() + 0.02),
        Candidate(2, "qa", "qh-a-036-qa1", "qh-a-036", band() * 0.1),
    )


async def test_one_policy_in_question_asks_the_facet_then_answers_it(
    engine: AsyncEngine, batches: Batches
) -> None:
    chat = Chat(
        batches, low_income_questions(), SqlConversationStore(batches, timedelta(minutes=10))
    )
    asked = await chat.say("我想了解一下低保的事")
    assert asked.startswith("您想了解《青禾区最低生活保障实施办法》的哪方面？")
    assert "1. 申请条件" in asked
    assert "4. 所需材料" in asked
    assert "6. 政策简介和原文" in asked
    materials = await chat.say("4")
    assert materials.startswith("《青禾区最低生活保障实施办法》· 所需材料")
    assert (await chat.say("5")).startswith("《青禾区最低生活保障实施办法》· 咨询电话")
    assert (await chat.say("6")).startswith("《青禾区最低生活保障实施办法》\n文号")
    assert await chat.say("9") == texts.choice_out_of_range(6)
    async with engine.connect() as conn:
        [logged] = (await conn.execute(select(QUESTIONS))).all()
    assert (logged.decision, logged.status) == ("clarify", None)


async def test_one_policy_in_question_with_a_facet_named_answers_at_once(
    engine: AsyncEngine, batches: Batches
) -> None:
    chat = Chat(batches, low_income_questions(), InMemoryConversationStore())
    reply = await chat.say("吃低保要啥条件")
    assert reply.startswith("《青禾区最低生活保障实施办法》· 申请条件")
    assert "【申请对象】" in reply
    assert (await chat.say("要什么材料")).startswith("《青禾区最低生活保障实施办法》· 所需材料")


async def test_none_offers_related_topics_to_pick(engine: AsyncEngine, batches: Batches) -> None:
    policies = SetPolicies(
        Candidate(0, "qa", "qh-a-036-qa1", "qh-a-036", band() * 0.8),
        Candidate(1, "policy", "qh-a-037", "qh-a-037", band() * 0.6),
        Candidate(2, "qa", "qh-a-016-qa1", "qh-a-016", band() * 0.1),
        decision=Decision.NONE,
    )
    chat = Chat(batches, policies, InMemoryConversationStore())
    reply = await chat.say("护照怎么加急")
    assert "1. 外地人在青禾区怎么办居住证？" in reply
    assert "2. 《云州市户口迁移登记管理规定》" in reply
    assert "3." not in reply  # too weak to be related
    assert (await chat.say("2")).startswith("《云州市户口迁移登记管理规定》")
    async with engine.connect() as conn:
        [logged] = (await conn.execute(select(QUESTIONS))).all()
    assert (logged.status, logged.openid, logged.answered_id) == ("open", OPENID, "qh-a-037")


async def test_an_entry_removed_since_it_was_offered(engine: AsyncEngine, batches: Batches) -> None:
    policies = SetPolicies(
        Candidate(0, "policy", "gone-1", "gone-1", 0.9),
        Candidate(1, "policy", "gone-2", "gone-2", 0.9),
    )
    chat = Chat(batches, policies, InMemoryConversationStore())
    await chat.say("某政策")
    assert await chat.say("1") == texts.ENTRY_GONE
    assert await chat.say("1") == texts.choice_expired(10)


async def test_punctuation_or_an_emoji_is_not_a_question(
    engine: AsyncEngine, batches: Batches
) -> None:
    chat = Chat(batches, low_income_questions(), InMemoryConversationStore())
    assert await chat.say("/::)") == texts.not_understood(Settings())
    assert await chat.say("你好") == texts.GREETING
    async with engine.connect() as conn:
        assert (await conn.execute(select(QUESTIONS))).all() == []
