"""Subscribing in chat, through signed, AES-encrypted callbacks: topics typed loosely or inside a
sentence, unsubscribing one topic or all, 我的订阅 (text and menu), consent kept with its time,
and unfollowing deleting everything push held about the person."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from push.tables import SUBSCRIBERS, SUBSCRIPTIONS
from push.topics import DEFAULT_TOPICS, resolve
from tests.integration.test_conversations import Resident
from tests.wechat_peer import WeChatPeer


@pytest.fixture
async def resident(client: TestClient[Any, Any], peer: WeChatPeer, openid: str) -> Resident:
    return Resident(client, peer, openid)


async def topics_of(engine: AsyncEngine, openid: str) -> list[str]:
    s, sub = SUBSCRIBERS.c, SUBSCRIPTIONS.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(sub.topic)
            .join(SUBSCRIBERS, s.id == sub.subscriber_id)
            .where(s.openid == openid)
            .order_by(sub.topic)
        )
        return list(rows.scalars())


@pytest.mark.parametrize(
    ("typed", "topic"),
    [
        ("订阅 就业创业", "就业创业"),
        ("订阅 社保", "社保医保"),
        ("我想订阅企业补贴的通知", "惠企/免申即享"),
        ("訂閱 免申即享", "惠企/免申即享"),  # traditional characters
        ("帮我订阅一下低保方面的消息", "救助"),
        ("订阅就叶创业", "就业创业"),  # a typo
    ],
)
async def test_a_topic_typed_loosely_is_subscribed(
    resident: Resident, engine: AsyncEngine, typed: str, topic: str
) -> None:
    reply = await resident.say(typed)
    assert f"已为您订阅：{topic}" in reply
    assert "退订" in reply  # how to stop is said at once
    assert await topics_of(engine, resident.openid) == [topic]


async def test_consent_time_is_recorded(resident: Resident, engine: AsyncEngine) -> None:
    await resident.say("订阅 人才")
    async with engine.connect() as conn:
        consented = (await conn.execute(select(SUBSCRIPTIONS.c.consented_at))).scalar_one()
    assert consented is not None
    assert consented.tzinfo is not None


async def test_subscribing_twice_says_so_and_keeps_one(
    resident: Resident, engine: AsyncEngine
) -> None:
    await resident.say("订阅 教育")
    again = await resident.say("订阅 教育")
    assert "之前已订阅：教育" in again
    assert await topics_of(engine, resident.openid) == ["教育"]


async def test_unsubscribe_one_then_all_deletes_the_subscriber(
    resident: Resident, engine: AsyncEngine
) -> None:
    await resident.say("订阅 就业创业")
    await resident.say("订阅 住房")
    one = await resident.say("退订 住房")
    assert "已取消订阅：住房" in one
    assert "仍订阅：就业创业" in one
    assert await topics_of(engine, resident.openid) == ["就业创业"]
    everything = await resident.say("退订 全部")
    assert "已取消订阅：就业创业" in everything
    assert "已删除" in everything
    async with engine.connect() as conn:
        left = (await conn.execute(select(func.count()).select_from(SUBSCRIBERS))).scalar_one()
    assert left == 0


async def test_my_subscriptions_by_text_and_by_menu(resident: Resident) -> None:
    empty = await resident.say("我的订阅")
    assert "还没有订阅" in empty
    assert "就业创业" in empty
    await resident.say("订阅 退役军人")
    by_text = await resident.say("我的订阅")
    by_menu = await resident.event("CLICK", "MY_SUBSCRIPTIONS")
    assert "您订阅的主题：退役军人" in by_text
    assert by_menu == by_text


async def test_an_unknown_topic_shows_the_catalogue(
    resident: Resident, engine: AsyncEngine
) -> None:
    reply = await resident.say("订阅 火星移民")
    assert "没有找到“火星移民”这个主题" in reply
    assert "科技创新" in reply
    assert await topics_of(engine, resident.openid) == []


async def test_unfollow_deletes_the_subscriptions(resident: Resident, engine: AsyncEngine) -> None:
    await resident.say("订阅 养老服务")
    await resident.event("unsubscribe")
    assert await topics_of(engine, resident.openid) == []
    async with engine.connect() as conn:
        left = (await conn.execute(select(func.count()).select_from(SUBSCRIBERS))).scalar_one()
    assert left == 0


async def test_a_policy_question_is_not_taken_for_a_subscription(resident: Resident) -> None:
    reply = await resident.say("低保怎么申请")
    assert "订阅" not in reply.split("\n")[0]


def test_topic_words_are_weighed_by_how_much_they_say() -> None:
    # The longer alias wins: 养老保险 is social insurance, not elderly care.
    assert [t.name for t in resolve("订阅 养老保险", DEFAULT_TOPICS).topics] == ["社保医保"]
    # Equally good words of two topics: neither is guessed.
    tie = resolve("订阅 科技人才", DEFAULT_TOPICS)
    assert not tie.topics
    assert {t.name for t in tie.choices} == {"科技创新", "人才"}
    assert resolve("订阅 全部", DEFAULT_TOPICS).everything


async def test_two_equally_likely_topics_are_asked_about(
    resident: Resident, engine: AsyncEngine
) -> None:
    reply = await resident.say("订阅科技人才")
    assert "您想订阅哪个主题" in reply
    assert "科技创新" in reply
    assert "人才" in reply
    assert await topics_of(engine, resident.openid) == []


async def test_own_quiet_hours_in_chat(resident: Resident, engine: AsyncEngine) -> None:
    assert "还没有订阅" in await resident.say("免打扰 23:00-07:00")

    async def window() -> str | None:
        async with engine.connect() as conn:
            return (await conn.execute(select(SUBSCRIBERS.c.quiet_hours))).scalar_one()

    await resident.say("订阅 教育")
    assert "23:00-07:00" in await resident.say("免打扰 23:00-7:00")
    assert await window() == "23:00-07:00"
    assert "已关闭免打扰" in await resident.say("免打扰 关闭")
    assert await window() == "00:00-00:00"
    assert "恢复默认" in await resident.say("免打扰 默认")
    assert await window() is None
    assert "免打扰 22:00-08:00" in await resident.say("免打扰 什么时候")
