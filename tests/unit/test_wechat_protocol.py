"""End to end against the independent WeChat peer: URL check, and a callback in every mode
through verification, decryption, parsing, reply rendering and reply encryption."""

from __future__ import annotations

from collections.abc import Mapping

import defusedxml.ElementTree as ET
import pytest

from bot.wechat import (
    DecryptError,
    InboundMessage,
    MessageCrypto,
    SignatureError,
    TextMessage,
    TextReply,
    VoiceMessage,
    generate_encoding_aes_key,
    parse_message,
    parse_xml,
    render_reply,
    verify_callback_signature,
)
from tests.wechat_peer import Mode, PeerError, WeChatPeer

TOKEN = "gongkaiToken2024"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx5823bf96d3bd56c7"
OPENID = "oUser_0123456789abcdefghijk"


@pytest.fixture
def peer() -> WeChatPeer:
    return WeChatPeer(TOKEN, KEY, APPID)


@pytest.fixture
def crypto() -> MessageCrypto:
    return MessageCrypto(TOKEN, KEY, APPID)


def receive(
    crypto: MessageCrypto, query: Mapping[str, str], body: bytes
) -> tuple[InboundMessage, bool]:
    """What the endpoint does with a POST, minus HTTP: returns (message, reply encrypted?)."""
    verify_callback_signature(TOKEN, query["timestamp"], query["nonce"], query["signature"])
    fields = parse_xml(body)
    encrypted = query.get("encrypt_type") == "aes"
    if encrypted:
        inner = crypto.decrypt_callback(
            fields["Encrypt"],
            timestamp=query["timestamp"],
            nonce=query["nonce"],
            msg_signature=query["msg_signature"],
        )
        fields = parse_xml(inner)
    return parse_message(fields), encrypted


def answer(crypto: MessageCrypto, msg: InboundMessage, encrypted: bool, text: str) -> bytes:
    xml = render_reply(
        TextReply(text), to_user=msg.from_user, from_user=msg.to_user, create_time=1700000001
    )
    if encrypted:
        xml = crypto.encrypt_reply(xml, timestamp="1700000002", nonce="424242")
    return xml.encode()


def test_url_verification(peer: WeChatPeer) -> None:
    query = peer.verify_query("5837397520665436492")
    verify_callback_signature(TOKEN, query["timestamp"], query["nonce"], query["signature"])
    with pytest.raises(SignatureError):
        verify_callback_signature("wrong", query["timestamp"], query["nonce"], query["signature"])


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_text_round_trip_in_every_mode(peer: WeChatPeer, crypto: MessageCrypto, mode: Mode) -> None:
    xml = peer.text_xml(OPENID, "社保]]>查询", 6054768590064713728, create_time=1700000000)
    query, body = peer.build(xml, mode=mode)
    assert query["openid"] == OPENID
    assert ("msg_signature" in query) == (mode != "plain")

    msg, encrypted = receive(crypto, query, body)
    assert msg == TextMessage(
        to_user="gh_test",
        from_user=OPENID,
        create_time=1700000000,
        msg_id=6054768590064713728,
        content="社保]]>查询",
    )
    assert encrypted == (mode != "plain")

    reply = peer.open_reply(answer(crypto, msg, encrypted, "答复 ]]> 完毕"), query, mode=mode)
    root = ET.fromstring(reply)
    assert root.findtext("Content") == "答复 ]]> 完毕"
    assert root.findtext("ToUserName") == OPENID
    assert root.findtext("FromUserName") == "gh_test"


def test_safe_mode_body_holds_only_the_envelope(peer: WeChatPeer) -> None:
    _, body = peer.build(peer.text_xml(OPENID, "秘密内容", 1), mode="safe")
    assert set(parse_xml(body)) == {"ToUserName", "Encrypt"}
    assert "秘密内容".encode() not in body


def test_compat_mode_clear_fields_match_the_encrypted_ones(
    peer: WeChatPeer, crypto: MessageCrypto
) -> None:
    query, body = peer.build(peer.voice_xml(OPENID, "m1", 9, recognition="你好"), mode="compat")
    outer = parse_xml(body)
    assert outer["MsgType"] == "voice"
    assert "Encrypt" in outer
    msg, _ = receive(crypto, query, body)
    assert isinstance(msg, VoiceMessage)
    assert msg.recognition == outer["Recognition"] == "你好"


def test_body_swapped_under_a_valid_query_is_refused(
    peer: WeChatPeer, crypto: MessageCrypto
) -> None:
    query, _ = peer.build(peer.text_xml(OPENID, "a", 1), mode="safe")
    _, other_body = peer.build(peer.text_xml(OPENID, "b", 2), mode="safe")
    with pytest.raises(SignatureError):
        receive(crypto, query, other_body)


def test_signature_param_and_msg_signature_are_not_interchangeable(
    peer: WeChatPeer, crypto: MessageCrypto
) -> None:
    query, body = peer.build(peer.text_xml(OPENID, "a", 1), mode="safe")
    swapped = {**query, "msg_signature": query["signature"]}
    with pytest.raises(SignatureError):
        receive(crypto, swapped, body)


def test_peer_with_another_key_cannot_talk_to_us(crypto: MessageCrypto) -> None:
    stranger = WeChatPeer(TOKEN, generate_encoding_aes_key(), APPID)
    query, body = stranger.build(stranger.text_xml(OPENID, "a", 1), mode="safe")
    with pytest.raises(DecryptError):
        receive(crypto, query, body)


def test_reply_for_another_appid_is_refused_by_the_peer(peer: WeChatPeer) -> None:
    other = MessageCrypto(TOKEN, KEY, "wx0000000000000000")
    envelope = other.encrypt_reply("<xml/>", timestamp="1", nonce="2")
    with pytest.raises(PeerError, match="AppId"):
        peer.open_reply(envelope.encode(), {"encrypt_type": "aes"})


def test_peer_refuses_forged_or_clear_replies_in_safe_mode(
    peer: WeChatPeer, crypto: MessageCrypto
) -> None:
    envelope = crypto.encrypt_reply("<xml/>", timestamp="1", nonce="2")
    forged = envelope.replace("<TimeStamp>1<", "<TimeStamp>3<")
    with pytest.raises(PeerError, match="MsgSignature"):
        peer.open_reply(forged.encode(), {"encrypt_type": "aes"})
    with pytest.raises(PeerError, match="encrypted"):
        peer.open_reply(b"<xml><Content>x</Content></xml>", {"encrypt_type": "aes"})
    assert peer.open_reply(b"success", {"encrypt_type": "aes"}) == "success"
    assert peer.open_reply(envelope.encode(), {"encrypt_type": "aes"}) == "<xml/>"


def test_event_through_safe_mode(peer: WeChatPeer, crypto: MessageCrypto) -> None:
    xml = peer.event_xml(OPENID, "subscribe", "qrscene_42", {"Ticket": "T"}, create_time=5)
    msg, _ = receive(crypto, *peer.build(xml, mode="safe"))
    assert msg.kind == "event:subscribe"
    assert msg.dedupe_key == f"e:{OPENID}:5:subscribe:qrscene_42"
