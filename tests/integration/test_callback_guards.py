"""Bad input: every malformed, forged, replayed or oversized callback is refused with a 4xx,
logged, and leaves nothing in the database."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import CallbackNonce, CallbackReceipt
from tests.integration.callback_helpers import next_msg_id, post_raw, send
from tests.wechat_peer import WeChatPeer, cdata_of

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""


async def count_rows(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        receipts = (await conn.execute(select(func.count()).select_from(CallbackReceipt))).scalar()
        nonces = (await conn.execute(select(func.count()).select_from(CallbackNonce))).scalar()
    return int(receipts or 0), int(nonces or 0)


def assert_clean_refusal(status: int, body: bytes, expected: int) -> None:
    assert status == expected
    assert b"Traceback" not in body
    assert b"Error" not in body
    assert len(body) < 100


def signed_plain(peer: WeChatPeer, body: bytes) -> tuple[dict[str, str], bytes]:
    ts, nonce = str(int(time.time())), str(next_msg_id())
    return {"signature": peer.sign(ts, nonce), "timestamp": ts, "nonce": nonce}, body


@pytest.mark.parametrize(
    ("body", "label"),
    [
        (b"<xml><ToUserName>gh</ToUserName><FromUser", "truncated"),
        (b"not xml at all", "garbage"),
        (b'{"MsgType": "text"}', "json"),
        (b"", "empty"),
        (XXE, "xxe"),
        (BILLION_LAUGHS, "billion-laughs"),
        (b"<root><MsgType>text</MsgType></root>", "wrong-root"),
        (b"<xml><MsgType>text</MsgType><Content>hi</Content></xml>", "missing-fields"),
    ],
)
async def test_malformed_xml_is_400(
    client: TestClient[Any, Any],
    peer: WeChatPeer,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    label: str,
) -> None:
    caplog.set_level(logging.WARNING)
    query, body = signed_plain(peer, body)
    resp = await client.post("/wechat", params=query, data=body)
    assert_clean_refusal(resp.status, await resp.read(), 400)
    assert any(getattr(r, "action", "") == "callback_rejected" for r in caplog.records), label
    assert await count_rows(engine) == (0, 0)


async def test_xxe_inside_the_encrypted_payload_is_400(
    client: TestClient[Any, Any], peer: WeChatPeer, engine: AsyncEngine
) -> None:
    ts, nonce = str(int(time.time())), "98765"
    encrypted = peer.seal(XXE.decode())
    query = {
        "signature": peer.sign(ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": peer.sign_encrypted(ts, nonce, encrypted),
    }
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt>{cdata_of(encrypted)}</Encrypt></xml>"
    resp = await client.post("/wechat", params=query, data=body.encode())
    assert_clean_refusal(resp.status, await resp.read(), 400)
    assert await count_rows(engine) == (0, 0)


async def test_oversized_body_is_413(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str
) -> None:
    xml = peer.text_xml(openid, "长" * 30_000, next_msg_id())  # ~90 KB of UTF-8
    query, body = peer.build(xml, mode="plain")
    resp = await client.post("/wechat", params=query, data=body)
    assert_clean_refusal(resp.status, await resp.read(), 413)


async def test_oversized_chunked_body_is_413(
    client: TestClient[Any, Any], peer: WeChatPeer
) -> None:
    query, _ = signed_plain(peer, b"")

    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 8192

    resp = await client.post("/wechat", params=query, data=chunks())
    assert resp.status == 413


async def test_forged_signature_is_403(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str, engine: AsyncEngine
) -> None:
    query, body = peer.build(peer.text_xml(openid, "帮助", next_msg_id()), mode="plain")
    query["signature"] = "f" * 40
    answer = await post_raw(client, peer, query, body)
    assert_clean_refusal(answer.status, answer.body, 403)
    del query["signature"]
    assert (await post_raw(client, peer, query, body)).status == 403
    assert await count_rows(engine) == (0, 0)


async def test_message_signed_with_another_token_is_403(
    client: TestClient[Any, Any], openid: str
) -> None:
    stranger = WeChatPeer("someone-elses-token", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ")
    xml = stranger.text_xml(openid, "帮助", next_msg_id())
    for mode in ("plain", "safe"):
        answer = await send(client, stranger, xml, mode=mode)
        assert answer.status == 403


async def test_forged_msg_signature_is_403(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str
) -> None:
    query, body = peer.build(peer.text_xml(openid, "帮助", next_msg_id()), mode="safe")
    query["msg_signature"] = "0" * 40
    resp = await client.post("/wechat", params=query, data=body)
    assert resp.status == 403


async def test_undecryptable_payload_is_400(
    client: TestClient[Any, Any], peer: WeChatPeer, engine: AsyncEngine
) -> None:
    ts, nonce = str(int(time.time())), "1234567"
    for encrypted in ("bm90IGEgY2lwaGVydGV4dA==", "!!!not-base64!!!", "A" * 44):
        body = f"<xml><ToUserName>gh</ToUserName><Encrypt>{cdata_of(encrypted)}</Encrypt></xml>"
        query = {
            "signature": peer.sign(ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": peer.sign_encrypted(ts, nonce, encrypted),
        }
        resp = await client.post("/wechat", params=query, data=body.encode())
        assert_clean_refusal(resp.status, await resp.read(), 400)
    assert await count_rows(engine) == (0, 0)


async def test_payload_for_another_appid_is_400(client: TestClient[Any, Any], openid: str) -> None:
    other = WeChatPeer(
        "gongkaiTestToken2026", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ", "wxffffffffffffffff"
    )
    answer = await send(client, other, other.text_xml(openid, "帮助", next_msg_id()))
    assert answer.status == 400


async def test_encrypted_callback_without_encrypt_element_is_400(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str
) -> None:
    query, body = peer.build(peer.text_xml(openid, "帮助", next_msg_id()), mode="plain")
    query["encrypt_type"] = "aes"
    query["msg_signature"] = "0" * 40
    resp = await client.post("/wechat", params=query, data=body)
    assert resp.status == 400


# A future timestamp needs headroom: the server reads the clock after the test does, and a
# second boundary crossed in between takes one second off the skew it sees.
@pytest.mark.parametrize("skew", [-301, 330, 86_400])
async def test_stale_or_future_timestamp_is_403(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str, engine: AsyncEngine, skew: int
) -> None:
    xml = peer.text_xml(openid, "帮助", next_msg_id())
    answer = await send(client, peer, xml, timestamp=int(time.time()) + skew)
    assert answer.status == 403
    assert await count_rows(engine) == (0, 0)


async def test_timestamp_within_window_is_accepted(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str
) -> None:
    xml = peer.text_xml(openid, "帮助", next_msg_id())
    answer = await send(client, peer, xml, timestamp=int(time.time()) - 250)
    assert answer.status == 200


async def test_nonce_reused_for_another_message_is_403(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str
) -> None:
    first = await send(client, peer, peer.text_xml(openid, "帮助", next_msg_id()), nonce="424242")
    assert first.status == 200
    replay = await send(client, peer, peer.text_xml(openid, "你好", next_msg_id()), nonce="424242")
    assert replay.status == 403


async def test_identical_replay_is_answered_from_the_receipt(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str
) -> None:
    """A byte-identical repeat (as a WeChat retry can be) gets the stored reply, not an error."""
    query, body = peer.build(peer.text_xml(openid, "帮助", next_msg_id()), mode="safe")
    first = await post_raw(client, peer, query, body)
    again = await post_raw(client, peer, query, body)
    assert first.status == again.status == 200
    assert first.xml == again.xml
