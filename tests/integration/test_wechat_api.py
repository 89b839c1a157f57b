"""Our outbound sender against a fake WeChat API server on loopback (no monkeypatching)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.token_store import SqlTokenStore
from bot.wechat.api import RetryPolicy, WeChatClient
from bot.wechat.errcodes import (
    Action,
    WeChatAPIError,
    WeChatOutcomeUnknownError,
    WeChatUnavailableError,
)
from bot.wechat.fake_api import FakeWeChatServer
from bot.wechat.replies import Article
from tests.conftest import APP_ID, APP_SECRET

CS_SEND = "/cgi-bin/message/custom/send"
TOKEN_API = "/cgi-bin/stable_token"
FAST = RetryPolicy(attempts=3, base_s=0.01, cap_s=0.02)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_client(
    session: aiohttp.ClientSession, engine: AsyncEngine, base_url: str, **kwargs: Any
) -> WeChatClient:
    return WeChatClient(
        session,
        token_store=SqlTokenStore(engine),
        app_id=APP_ID,
        app_secret=APP_SECRET,
        base_url=base_url,
        retry=FAST,
        **kwargs,
    )


async def test_send_text_posts_unescaped_chinese_json_with_a_token(
    session: aiohttp.ClientSession, engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    client = make_client(session, engine, fake_wechat.base_url)
    await client.send_text("o_user_1", "您好，社保补贴已受理")
    (token_call,) = fake_wechat.calls_to(TOKEN_API)
    assert token_call.body == {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": APP_SECRET,
        "force_refresh": False,
    }
    (call,) = fake_wechat.calls_to(CS_SEND)
    assert call.body == {
        "touser": "o_user_1",
        "msgtype": "text",
        "text": {"content": "您好，社保补贴已受理"},
    }
    assert "您好".encode() in call.raw  # not \\u-escaped
    assert call.params["access_token"].startswith("FAKE_")


async def test_send_article(
    session: aiohttp.ClientSession, engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    client = make_client(session, engine, fake_wechat.base_url)
    await client.send_article("o1", Article("标题", "摘要", "https://gov.example.cn/p/1"))
    (call,) = fake_wechat.calls_to(CS_SEND)
    assert call.body["news"]["articles"][0]["url"] == "https://gov.example.cn/p/1"


async def test_token_is_fetched_once_and_shared_through_the_database(
    session: aiohttp.ClientSession, engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    first = make_client(session, engine, fake_wechat.base_url)
    second = make_client(session, engine, fake_wechat.base_url)  # another process, same DB
    for _ in range(3):
        await first.send_text("o1", "一")
        await second.send_text("o1", "二")
    assert len(fake_wechat.calls_to(TOKEN_API)) == 1
    assert len(fake_wechat.calls_to(CS_SEND)) == 6


async def test_stale_token_is_refreshed_once_and_the_call_retried(
    session: aiohttp.ClientSession, engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    client = make_client(session, engine, fake_wechat.base_url)
    await client.send_text("o1", "一")
    fake_wechat.expire_tokens()
    await client.send_text("o1", "二")
    assert len(fake_wechat.calls_to(TOKEN_API)) == 2
    sends = fake_wechat.calls_to(CS_SEND)
    assert len(sends) == 3  # ok, rejected with 40001, retried with the new token
    assert sends[1].params["access_token"] != sends[2].params["access_token"]


async def test_a_persistently_invalid_token_does_not_loop(
    session: aiohttp.ClientSession, engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    client = make_client(session, engine, fake_wechat.base_url)
    fake_wechat.fail_next(CS_SEND, 40001, times=5)
    with pytest.raises(WeChatAPIError) as info:
        await client.send_text("o1", "一")
    assert info.value.action is Action.REFRESH_TOKEN
    assert len(fake_wechat.calls_to(CS_SEND)) == 2  # one refresh, one retry, then stop


async def test_system_busy_is_retried_with_bounded_attempts(
    session: aiohttp.ClientSession, engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    client = make_client(session, engine, fake_wechat.base_url)
    fake_wechat.fail_next(CS_SEND, -1, "system error", times=2)
    await client.send_text("o1", "一")
    assert len(fake_wechat.calls_to(CS_SEND)) == 3
    fake_wechat.fail_next(CS_SEND, -1, "system error", times=5)
    with pytest.raises(WeChatAPIError) as info:
        await client.send_text("o1", "二")
    assert info.value.errcode == -1
    assert len(fake_wechat.calls_to(CS_SEND)) == 6


@pytest.mark.parametrize(
    ("errcode", "action"),
    [
        (45015, Action.WINDOW_CLOSED),
        (45047, Action.WINDOW_CLOSED),
        (43004, Action.RECIPIENT_GONE),
        (45009, Action.QUOTA),
        (40164, Action.CONFIGURATION),
        (48001, Action.CONFIGURATION),
        (99999, Action.PERMANENT),
    ],
)
async def test_permanent_errors_are_classified_and_not_retried(
    session: aiohttp.ClientSession,
    engine: AsyncEngine,
    fake_wechat: FakeWeChatServer,
    errcode: int,
    action: Action,
) -> None:
    client = make_client(session, engine, fake_wechat.base_url)
    fake_wechat.fail_next(CS_SEND, errcode)
    with pytest.raises(WeChatAPIError) as info:
        await client.send_text("o1", "一")
    assert info.value.errcode == errcode
    assert info.value.action is action
    assert len(fake_wechat.calls_to(CS_SEND)) == 1


async def test_wrong_app_secret_is_a_configuration_error(
    session: aiohttp.ClientSession, engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    client = WeChatClient(
        session,
        token_store=SqlTokenStore(engine),
        app_id=APP_ID,
        app_secret="wrong",
        base_url=fake_wechat.base_url,
    )
    with pytest.raises(WeChatAPIError) as info:
        await client.send_text("o1", "一")
    assert info.value.action is Action.CONFIGURATION
    assert fake_wechat.calls_to(CS_SEND) == []


async def test_unreachable_api_fails_after_bounded_attempts(
    session: aiohttp.ClientSession, engine: AsyncEngine, unused_tcp_port: int
) -> None:
    client = make_client(session, engine, f"http://127.0.0.1:{unused_tcp_port}")
    with pytest.raises(WeChatUnavailableError):
        await client.send_text("o1", "一")


async def test_slow_api_times_out_instead_of_hanging(
    session: aiohttp.ClientSession, engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    client = make_client(session, engine, fake_wechat.base_url, timeout_s=0.3)
    await client.send_text("o1", "预热")
    for _ in range(3):
        fake_wechat.delay_next(CS_SEND, 2.0)
    with pytest.raises(WeChatUnavailableError):
        await client.send_text("o1", "一")


async def test_send_once_never_repeats_what_may_have_reached_wechat(
    session: aiohttp.ClientSession, engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    client = make_client(session, engine, fake_wechat.base_url, timeout_s=0.3)
    await client.send_text("o1", "预热")
    fake_wechat.delay_next(CS_SEND, 1.0)  # the request arrives; its answer does not
    with pytest.raises(WeChatOutcomeUnknownError):
        await client.send_text_once("o1", "一")
    assert len(fake_wechat.calls_to(CS_SEND)) == 2  # sent once, not retried
    fake_wechat.fail_next(CS_SEND, -1, "system busy")  # refused: certainly not delivered
    await client.send_text_once("o1", "二")
    assert len(fake_wechat.calls_to(CS_SEND)) == 4  # so it was tried again


async def test_send_once_retries_when_no_connection_was_made(
    session: aiohttp.ClientSession, engine: AsyncEngine, unused_tcp_port: int
) -> None:
    client = make_client(session, engine, f"http://127.0.0.1:{unused_tcp_port}")
    with pytest.raises(WeChatUnavailableError) as info:
        await client.send_text_once("o1", "一")
    assert not isinstance(info.value, WeChatOutcomeUnknownError)


async def test_fake_lists_calls_for_the_chat_client(
    session: aiohttp.ClientSession, engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    client = make_client(session, engine, fake_wechat.base_url)
    await client.send_text("o1", "一")
    async with session.get(fake_wechat.base_url + "/_fake/calls") as resp:
        listed = json.loads(await resp.read())
    assert [c["path"] for c in listed] == [CS_SEND]
