"""WeChat's retries: one handler run, the same reply every time, across server processes; and
the 5-second rule: a late answer goes out once through the customer-service API."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.config import Settings
from bot.context import HandlerContext
from bot.db import create_engine
from bot.routing import Router
from bot.wechat import SubscribeEvent, TextMessage, TextReply
from bot.wechat.fake_api import FakeWeChatServer
from tests.integration.callback_helpers import next_msg_id, post_raw, send
from tests.wechat_peer import WeChatPeer

CS_SEND = "/cgi-bin/message/custom/send"


@dataclass
class CountingBot:
    """A router whose handler counts its runs and can be made slow."""

    delay: float = 0.0
    runs: list[str] = field(default_factory=list)

    def router(self) -> Router:
        router = Router(name="counting")

        @router.on(TextMessage, SubscribeEvent)
        async def handle(msg: Any, ctx: HandlerContext) -> TextReply:
            self.runs.append(msg.dedupe_key)
            run = len(self.runs)
            await asyncio.sleep(self.delay)
            return TextReply(f"第{run}次处理")

        return router


async def wait_for(predicate: Any, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_retries_get_the_identical_reply_and_run_the_handler_once(
    make_client: Any, peer: WeChatPeer, openid: str, mode: Any
) -> None:
    bot = CountingBot()
    client = await make_client(router=bot.router())
    xml = peer.text_xml(openid, "社保补贴", next_msg_id())
    answers = [await send(client, peer, xml, mode=mode) for _ in range(4)]  # first + 3 retries
    assert len(bot.runs) == 1
    assert {a.status for a in answers} == {200}
    assert {a.xml for a in answers} == {answers[0].xml}  # byte-identical reply XML
    assert answers[0].content == "第1次处理"


async def test_events_are_deduplicated_by_sender_time_event_and_key(
    make_client: Any, peer: WeChatPeer, openid: str
) -> None:
    bot = CountingBot()
    client = await make_client(router=bot.router())
    now = int(time.time())
    follow = peer.event_xml(openid, "subscribe", "", create_time=now)
    await send(client, peer, follow)
    await send(client, peer, follow)
    assert len(bot.runs) == 1
    # A different user following in the same second is a different event.
    await send(client, peer, peer.event_xml(openid + "x", "subscribe", "", create_time=now))
    assert len(bot.runs) == 2


async def test_retry_during_processing_waits_for_the_same_reply(
    make_client: Any, peer: WeChatPeer, openid: str
) -> None:
    bot = CountingBot(delay=0.4)
    client = await make_client(router=bot.router())
    xml = peer.text_xml(openid, "慢一点的问题", next_msg_id())
    first = asyncio.create_task(send(client, peer, xml))
    await asyncio.sleep(0.1)
    retry = await send(client, peer, xml)
    assert retry.content == (await first).content == "第1次处理"
    assert len(bot.runs) == 1


async def test_slow_handler_answers_success_then_one_customer_service_message(
    make_settings: Any,
    make_client: Any,
    peer: WeChatPeer,
    openid: str,
    fake_wechat: FakeWeChatServer,
) -> None:
    bot = CountingBot(delay=1.0)
    settings: Settings = make_settings(reply_budget_s=0.3)
    client = await make_client(settings=settings, router=bot.router())
    xml = peer.text_xml(openid, "一个很难的问题", next_msg_id())

    started = time.monotonic()
    answer = await send(client, peer, xml)
    assert answer.body == b"success"
    assert time.monotonic() - started < 0.9  # answered at the budget, not after the handler
    assert fake_wechat.calls_to(CS_SEND) == []

    await wait_for(lambda: len(fake_wechat.calls_to(CS_SEND)) >= 1)
    messages = fake_wechat.messages_to(openid)
    assert messages == [{"touser": openid, "msgtype": "text", "text": {"content": "第1次处理"}}]
    sent = fake_wechat.calls_to(CS_SEND)[0]
    assert sent.params["access_token"].startswith("FAKE_")

    retry = await send(client, peer, xml)  # WeChat would not retry after "success"; still safe
    assert retry.body == b"success"
    await asyncio.sleep(0.2)
    assert len(bot.runs) == 1
    assert len(fake_wechat.calls_to(CS_SEND)) == 1


async def test_two_server_processes_on_one_database_handle_a_retried_message_once(
    settings: Settings, engine: AsyncEngine, database_url: str, peer: WeChatPeer, openid: str
) -> None:
    """Two app instances, each with its own engine (connection pool), share one database."""
    bot = CountingBot(delay=0.3)
    other_engine = create_engine(database_url)
    clients = [
        TestClient(TestServer(create_app(settings, engine=eng, router=bot.router())))
        for eng in (engine, other_engine)
    ]
    try:
        for c in clients:
            await c.start_server()
        xml = peer.text_xml(openid, "同一条消息", next_msg_id())
        builds = [peer.build(xml, mode="safe") for _ in range(4)]  # fresh nonce each delivery
        answers = await asyncio.gather(
            *(post_raw(clients[i % 2], peer, q, b) for i, (q, b) in enumerate(builds))
        )
        assert len(bot.runs) == 1
        assert {a.content for a in answers} == {"第1次处理"}
        late = await send(clients[1], peer, xml)
        assert late.content == "第1次处理"
        assert len(bot.runs) == 1
    finally:
        for c in clients:
            await c.close()
        await other_engine.dispose()


async def test_a_burst_of_concurrent_deliveries_is_handled_once_per_message(
    make_client: Any, peer: WeChatPeer, openid: str
) -> None:
    """Deliveries arriving together are written in shared batches; each message still runs once."""
    bot = CountingBot(delay=0.05)
    client = await make_client(router=bot.router())
    messages = [peer.text_xml(f"{openid}{i}", f"问题{i}", next_msg_id()) for i in range(20)]
    answers = await asyncio.gather(*(send(client, peer, xml) for xml in messages * 2))
    assert len(bot.runs) == 20
    assert sorted(bot.runs) == sorted(set(bot.runs))
    for i in range(20):
        assert answers[i].content == answers[i + 20].content
    assert len({a.content for a in answers}) == 20


async def test_nonce_reuse_within_one_batch_is_refused(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str
) -> None:
    first = peer.text_xml(openid, "甲", next_msg_id())
    second = peer.text_xml(openid, "乙", next_msg_id())
    answers = await asyncio.gather(
        send(client, peer, first, nonce="777001"), send(client, peer, second, nonce="777001")
    )
    assert sorted(a.status for a in answers) == [200, 403]
