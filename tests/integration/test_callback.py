"""The callback endpoint against real protocol bytes, in all three modes."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handlers import texts
from tests.integration.callback_helpers import next_msg_id, send
from tests.wechat_peer import Mode, WeChatPeer

MODES: tuple[Mode, ...] = ("plain", "compat", "safe")


async def test_url_verification_echoes_echostr(
    client: TestClient[Any, Any], peer: WeChatPeer
) -> None:
    resp = await client.get("/wechat", params=peer.verify_query("5837472839201"))
    assert resp.status == 200
    assert await resp.text() == "5837472839201"


async def test_url_verification_with_forged_signature_is_refused(
    client: TestClient[Any, Any], peer: WeChatPeer
) -> None:
    query = peer.verify_query("hello")
    query["signature"] = "0" * 40
    resp = await client.get("/wechat", params=query)
    assert resp.status == 403
    assert "hello" not in await resp.text()
    resp = await client.get("/wechat", params={"echostr": "hello"})
    assert resp.status == 403


@pytest.mark.parametrize("mode", MODES)
async def test_help_in_every_mode(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str, mode: Mode
) -> None:
    xml = peer.text_xml(openid, "帮助", next_msg_id(), to="gh_account")
    answer = await send(client, peer, xml, mode=mode)
    assert answer.status == 200
    if mode == "plain":
        assert b"<Encrypt>" not in answer.body
    else:
        assert b"<Encrypt>" in answer.body
        assert "使用说明".encode() not in answer.body
    fields = answer.fields
    assert fields["MsgType"] == "text"
    assert fields["ToUserName"] == openid
    assert fields["FromUserName"] == "gh_account"
    assert "使用说明" in fields["Content"]


async def test_welcome_on_follow(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str
) -> None:
    answer = await send(client, peer, peer.event_xml(openid, "subscribe", ""))
    assert "欢迎关注" in answer.content
    assert "帮助" in answer.content


async def test_welcome_on_follow_by_qr_scene(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str
) -> None:
    xml = peer.event_xml(
        openid, "subscribe", "qrscene_town_hall_3", extra={"Ticket": "gQH47joAAAAAAAAAASxodHRwOi8v"}
    )
    answer = await send(client, peer, xml)
    assert answer.status == 200
    assert "欢迎关注" in answer.content


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(
            lambda p, o: p.voice_xml(o, "media1", next_msg_id(), recognition="帮助。"),
            "使用说明",
            id="voice-recognised-as-text",
        ),
        pytest.param(
            lambda p, o: p.voice_xml(o, "media2", next_msg_id()),
            texts.VOICE_NOT_RECOGNISED,
            id="voice-without-recognition",
        ),
        pytest.param(
            lambda p, o: p.voice_xml(o, "media3", next_msg_id(), recognition=""),
            texts.VOICE_NOT_RECOGNISED,
            id="voice-empty-recognition",
        ),
        pytest.param(
            lambda p, o: p.image_xml(o, "http://mmbiz.qpic.cn/x.jpg", "img1", next_msg_id()),
            texts.IMAGE_RECEIVED,
            id="image",
        ),
        pytest.param(
            lambda p, o: p.location_xml(o, 30.27, 120.15, 15, "某某街道", next_msg_id()),
            texts.LOCATION_RECEIVED,
            id="location",
        ),
        pytest.param(
            lambda p, o: p.link_xml(o, "标题", "描述", "https://example.org/a", next_msg_id()),
            texts.LINK_RECEIVED,
            id="link",
        ),
        pytest.param(
            lambda p, o: p.event_xml(o, "CLICK", "NO_SUCH_MENU"),
            texts.MENU_UNAVAILABLE,
            id="click",
        ),
    ],
)
async def test_message_kinds_get_their_replies(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str, build: Any, expected: str
) -> None:
    answer = await send(client, peer, build(peer, openid))
    assert answer.status == 200
    assert expected in answer.content


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda p, o: p.event_xml(o, "unsubscribe", ""), id="unsubscribe"),
        pytest.param(lambda p, o: p.event_xml(o, "VIEW", "https://gov.example.cn/zwgk"), id="view"),
        pytest.param(
            lambda p, o: p.event_xml(
                o, "TEMPLATESENDJOBFINISH", extra={"MsgID": 200163836, "Status": "success"}
            ),
            id="template-finished",
        ),
        pytest.param(lambda p, o: p.event_xml(o, "some_future_event", "x"), id="unknown-event"),
    ],
)
async def test_events_without_a_reply_answer_success(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str, build: Any
) -> None:
    answer = await send(client, peer, build(peer, openid))
    assert answer.status == 200
    assert answer.body == b"success"


async def test_reply_content_that_breaks_cdata_stays_well_formed(
    make_client: Any, peer: WeChatPeer, openid: str
) -> None:
    from bot.routing import Router
    from bot.wechat import TextMessage, TextReply

    router = Router(name="echo")

    @router.on(TextMessage)
    async def echo(msg: TextMessage, ctx: Any) -> TextReply:
        return TextReply(msg.content)

    client = await make_client(router=router)
    tricky = "a]]><b>c</b>&amp;<![CDATA[d"
    answer = await send(client, peer, peer.text_xml(openid, tricky, next_msg_id()))
    assert answer.content == tricky


async def test_health_and_metrics(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str
) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["database"] == "ok"
    await send(client, peer, peer.text_xml(openid, "帮助", next_msg_id()))
    xml = peer.text_xml(openid, "帮助", next_msg_id())
    await send(client, peer, xml)
    await send(client, peer, xml)  # a retry
    metrics = await (await client.get("/metrics")).text()
    assert 'gongkai_callbacks_total{kind="text",outcome="replied"} 2.0' in metrics
    assert 'gongkai_callbacks_total{kind="text",outcome="retry_replayed"} 1.0' in metrics
    assert "gongkai_dedupe_hits_total 1.0" in metrics
    assert "gongkai_reply_seconds_bucket" in metrics
