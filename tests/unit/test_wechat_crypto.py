"""Message crypto: Tencent's known answer, interoperability and every way decryption can fail."""

from __future__ import annotations

import base64
import hashlib
import struct

import defusedxml.ElementTree as ET
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from bot.wechat import (
    AppIdMismatchError,
    DecryptError,
    MessageCrypto,
    SignatureError,
    TextMessage,
    generate_encoding_aes_key,
    message_signature,
    parse_message,
    parse_xml,
)
from tests.wechat_peer import WeChatPeer

# Tencent's published sample (WXBizMsgCrypt Sample.py, 2014; copy in charlesXu86/Chatbot_CN
# Chatbot_Web/impl/weixin/Sample.py).
TOKEN = "spamtest"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx2c2769f8efd9abc2"
TIMESTAMP = "1409735669"
NONCE = "1320562132"
MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PG"
    "HQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6"
    "tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp"
    "3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhv"
    "Ql+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
PLAINTEXT_XML = (
    b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    b"<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"
    b"<CreateTime>1409735668</CreateTime>\n"
    b"<MsgType><![CDATA[text]]></MsgType>\n"
    b"<Content><![CDATA[abcdteT]]></Content>\n"
    b"<MsgId>6054768590064713728</MsgId>\n"
    b"</xml>"
)
RANDOM_PREFIX = b"89465c840c5f116f"  # the 16 random bytes inside Tencent's ciphertext

XML = "<xml><Content><![CDATA[办事指南：营业执照 😀]]></Content></xml>"


@pytest.fixture
def crypto() -> MessageCrypto:
    return MessageCrypto(TOKEN, KEY, APPID)


def raw_aes(plain: bytes, key: str = KEY) -> str:
    """Encrypt ``plain`` exactly as given (no framing, no padding) with the account key."""
    aes_key = base64.b64decode(key + "=")
    enc = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def frame(xml: bytes, app_id: bytes = APPID.encode(), length: int | None = None) -> bytes:
    declared = len(xml) if length is None else length
    return b"R" * 16 + struct.pack(">I", declared) + xml + app_id


def pkcs7(data: bytes) -> bytes:
    pad = 32 - len(data) % 32
    return data + bytes([pad]) * pad


# ----------------------------------------------------------------------- known answer


def test_tencent_msg_signature_recomputes() -> None:
    assert message_signature(TOKEN, TIMESTAMP, NONCE, ENCRYPT) == MSG_SIGNATURE


def test_tencent_vector_decrypts(crypto: MessageCrypto) -> None:
    xml = crypto.decrypt_callback(
        ENCRYPT, timestamp=TIMESTAMP, nonce=NONCE, msg_signature=MSG_SIGNATURE
    )
    assert xml == PLAINTEXT_XML
    msg = parse_message(parse_xml(xml))
    assert msg == TextMessage(
        to_user="gh_10f6c3c3ac5a",
        from_user="oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        create_time=1409735668,
        msg_id=6054768590064713728,
        content="abcdteT",
    )


def test_tencent_vector_reencrypts_to_the_same_ciphertext(crypto: MessageCrypto) -> None:
    assert crypto.encrypt(PLAINTEXT_XML, random_prefix=RANDOM_PREFIX) == ENCRYPT


@pytest.mark.parametrize(
    ("timestamp", "nonce", "signature"),
    [
        (TIMESTAMP, NONCE, MSG_SIGNATURE[:-1] + "0"),
        (TIMESTAMP, "1320562133", MSG_SIGNATURE),
        ("1409735670", NONCE, MSG_SIGNATURE),
        (TIMESTAMP, NONCE, ""),
    ],
)
def test_tencent_vector_rejects_wrong_signature(
    crypto: MessageCrypto, timestamp: str, nonce: str, signature: str
) -> None:
    with pytest.raises(SignatureError):
        crypto.decrypt_callback(ENCRYPT, timestamp=timestamp, nonce=nonce, msg_signature=signature)


def test_signature_is_checked_before_decryption(crypto: MessageCrypto) -> None:
    with pytest.raises(SignatureError):
        crypto.decrypt_callback("!!not base64!!", timestamp="1", nonce="2", msg_signature="0" * 40)


# ----------------------------------------------------------------------- round trips


def test_round_trip_multibyte(crypto: MessageCrypto) -> None:
    sealed = crypto.encrypt(XML.encode())
    assert crypto.decrypt(sealed) == XML.encode()


def test_random_prefix_makes_each_ciphertext_unique(crypto: MessageCrypto) -> None:
    assert crypto.encrypt(b"<xml/>") != crypto.encrypt(b"<xml/>")


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 43, 44, 45, 1000])
def test_round_trip_across_padding_boundaries(crypto: MessageCrypto, size: int) -> None:
    payload = b"x" * size
    sealed = crypto.encrypt(payload)
    assert len(base64.b64decode(sealed)) % 32 == 0
    assert crypto.decrypt(sealed) == payload


def test_our_ciphertext_equals_the_peers_for_the_same_prefix(crypto: MessageCrypto) -> None:
    peer = WeChatPeer(TOKEN, KEY, APPID)
    prefix = b"0123456789abcdef"
    assert crypto.encrypt(XML.encode(), random_prefix=prefix) == peer.seal(XML, random16=prefix)


def test_peer_to_us_and_back() -> None:
    key = generate_encoding_aes_key()
    peer = WeChatPeer("tok", key, "wx1234567890abcdef")
    ours = MessageCrypto("tok", key, "wx1234567890abcdef")
    assert ours.decrypt(peer.seal(XML)) == XML.encode()
    assert peer.unseal(ours.encrypt(XML.encode())) == XML


def test_random_prefix_must_be_16_bytes(crypto: MessageCrypto) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        crypto.encrypt(b"<xml/>", random_prefix=b"short")


# ----------------------------------------------------------------------- wechatpy 1.8.18


def test_wechatpy_encrypts_we_decrypt(crypto: MessageCrypto) -> None:
    theirs = WeChatCrypto(TOKEN, KEY, APPID)
    envelope = parse_xml(theirs.encrypt_message(XML, "nonce42", "1700000000").encode())
    xml = crypto.decrypt_callback(
        envelope["Encrypt"],
        timestamp=envelope["TimeStamp"],
        nonce=envelope["Nonce"],
        msg_signature=envelope["MsgSignature"],
    )
    assert xml == XML.encode()


def test_we_encrypt_wechatpy_decrypts(crypto: MessageCrypto) -> None:
    envelope = crypto.encrypt_reply(XML, timestamp="1700000000", nonce="nonce42")
    signature = ET.fromstring(envelope).findtext("MsgSignature")
    theirs = WeChatCrypto(TOKEN, KEY, APPID)
    assert theirs.decrypt_message(envelope, signature, "1700000000", "nonce42") == XML
    with pytest.raises(InvalidSignatureException):
        theirs.decrypt_message(envelope, signature, "1700000001", "nonce42")
    with pytest.raises(InvalidAppIdException):
        WeChatCrypto(TOKEN, KEY, "wxother").decrypt_message(
            envelope, signature, "1700000000", "nonce42"
        )


def test_wechatpy_with_another_appid_is_refused(crypto: MessageCrypto) -> None:
    theirs = WeChatCrypto(TOKEN, KEY, "wx0000000000000000")
    envelope = parse_xml(theirs.encrypt_message(XML, "n", "1").encode())
    with pytest.raises(AppIdMismatchError):
        crypto.decrypt_callback(
            envelope["Encrypt"], timestamp="1", nonce="n", msg_signature=envelope["MsgSignature"]
        )


# ----------------------------------------------------------------------- reply envelope


def test_encrypt_reply_envelope(crypto: MessageCrypto) -> None:
    envelope = crypto.encrypt_reply(XML, timestamp="1700000000", nonce="98765")
    root = ET.fromstring(envelope)
    assert root.tag == "xml"
    assert [child.tag for child in root] == ["Encrypt", "MsgSignature", "TimeStamp", "Nonce"]
    encrypted = root.findtext("Encrypt") or ""
    assert root.findtext("TimeStamp") == "1700000000"
    assert root.findtext("Nonce") == "98765"
    independent = hashlib.sha1(
        "".join(sorted([TOKEN, "1700000000", "98765", encrypted])).encode(), usedforsecurity=False
    ).hexdigest()
    assert root.findtext("MsgSignature") == independent
    assert crypto.decrypt(encrypted) == XML.encode()


@pytest.mark.parametrize("timestamp", ["", "12a", "1<2", "١"])
def test_encrypt_reply_rejects_odd_timestamps(crypto: MessageCrypto, timestamp: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        crypto.encrypt_reply(XML, timestamp=timestamp, nonce="1")


def test_encrypt_reply_rejects_nonce_that_xml_cannot_carry(crypto: MessageCrypto) -> None:
    with pytest.raises(ValueError, match="nonce"):
        crypto.encrypt_reply(XML, timestamp="1", nonce="a\x00b")


# ----------------------------------------------------------------------- failures


def test_wrong_appid_from_peer(crypto: MessageCrypto) -> None:
    peer = WeChatPeer(TOKEN, KEY, APPID)
    with pytest.raises(AppIdMismatchError) as info:
        crypto.decrypt(peer.seal(XML, app_id="wx2c2769f8efd9abc3"))
    assert info.value.reason == "wrong_appid"
    assert info.value.http_status == 400


def test_appid_prefix_is_not_enough(crypto: MessageCrypto) -> None:
    with pytest.raises(AppIdMismatchError):
        crypto.decrypt(raw_aes(pkcs7(frame(b"<xml/>", app_id=APPID.encode() + b"x"))))
    with pytest.raises(AppIdMismatchError):
        crypto.decrypt(raw_aes(pkcs7(frame(b"<xml/>", app_id=APPID.encode()[:-1]))))


def test_tampered_ciphertext_with_valid_signature_is_refused(crypto: MessageCrypto) -> None:
    sealed = bytearray(base64.b64decode(ENCRYPT))
    sealed[-17] ^= 0xFF  # CBC: flips the padding byte of the last plaintext block
    tampered = base64.b64encode(bytes(sealed)).decode()
    peer = WeChatPeer(TOKEN, KEY, APPID)
    signature = peer.sign_encrypted(TIMESTAMP, NONCE, tampered)
    with pytest.raises(DecryptError, match="padding"):
        crypto.decrypt_callback(tampered, timestamp=TIMESTAMP, nonce=NONCE, msg_signature=signature)


def test_tampered_length_field_is_refused(crypto: MessageCrypto) -> None:
    sealed = bytearray(base64.b64decode(ENCRYPT))
    sealed[0] ^= 0x01  # CBC: flips the top byte of the length field in block 2
    with pytest.raises(DecryptError, match="length"):
        crypto.decrypt(base64.b64encode(bytes(sealed)).decode())


def test_tampered_ciphertext_without_resigning_fails_the_signature(
    crypto: MessageCrypto,
) -> None:
    tampered = ENCRYPT.replace("hyzA", "hyzB", 1)
    with pytest.raises(SignatureError):
        crypto.decrypt_callback(
            tampered, timestamp=TIMESTAMP, nonce=NONCE, msg_signature=MSG_SIGNATURE
        )


@pytest.mark.parametrize(
    "encrypted",
    ["", "   ", "!!!!", "abc", "密文密文", "aGVsbG8=\x00", base64.b64encode(b"x" * 31).decode()],
)
def test_bad_base64_or_length(crypto: MessageCrypto, encrypted: str) -> None:
    with pytest.raises(DecryptError):
        crypto.decrypt(encrypted)


@pytest.mark.parametrize("size", [16, 17, 48 - 1])
def test_ciphertext_lengths_aes_cannot_have(crypto: MessageCrypto, size: int) -> None:
    with pytest.raises(DecryptError, match="length"):
        crypto.decrypt(base64.b64encode(b"\x00" * size).decode())


def test_well_formed_handmade_frame_decrypts(crypto: MessageCrypto) -> None:
    # Control for the padding tests below: the same helper with correct padding works.
    assert crypto.decrypt(raw_aes(pkcs7(frame(b"<xml>ok</xml>")))) == b"<xml>ok</xml>"


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (bytes([0]), "padding byte 0"),
        (bytes([33]) * 33, "padding byte 33"),
        (bytes([255]), "padding byte 255"),
        (bytes([7, 7, 7, 3, 7, 7, 7]), "inconsistent"),
    ],
)
def test_bad_padding(crypto: MessageCrypto, tail: bytes, message: str) -> None:
    body = frame(b"<xml/>")
    filler = (-(len(body) + len(tail))) % 32
    plain = body + b"z" * filler + tail
    assert len(plain) % 32 == 0
    with pytest.raises(DecryptError, match=message):
        crypto.decrypt(raw_aes(plain))


def test_declared_length_beyond_buffer(crypto: MessageCrypto) -> None:
    with pytest.raises(DecryptError, match="exceeds"):
        crypto.decrypt(raw_aes(pkcs7(frame(b"<xml/>", length=10_000))))


def test_plaintext_too_short_for_length_field(crypto: MessageCrypto) -> None:
    plain = b"R" * 16 + b"\x00\x00" + bytes([14]) * 14  # 2 bytes where 4 are needed
    with pytest.raises(DecryptError, match="too short"):
        crypto.decrypt(raw_aes(plain))


def test_wrong_key_is_refused() -> None:
    peer = WeChatPeer(TOKEN, generate_encoding_aes_key(), APPID)
    ours = MessageCrypto(TOKEN, KEY, APPID)
    with pytest.raises(DecryptError):
        ours.decrypt(peer.seal(XML))


# ----------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    "key",
    [KEY[:-1], KEY + "H", KEY[:-1] + "!", KEY[:-1] + "=", KEY[:-1] + "é", "", None, b"x" * 43],
)
def test_invalid_encoding_aes_key(key: object) -> None:
    with pytest.raises(ValueError, match="43 characters"):
        MessageCrypto(TOKEN, key, APPID)  # type: ignore[arg-type]


@pytest.mark.parametrize(("token", "app_id"), [("", APPID), (TOKEN, "")])
def test_token_and_appid_are_required(token: str, app_id: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        MessageCrypto(token, KEY, app_id)


def test_generated_keys_are_valid_and_distinct() -> None:
    keys = {generate_encoding_aes_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(key) == 43
        assert len(base64.b64decode(key + "=")) == 32
        MessageCrypto(TOKEN, key, APPID)


def test_repr_hides_secrets(crypto: MessageCrypto) -> None:
    text = repr(crypto)
    assert APPID in text
    assert TOKEN not in text
    assert KEY not in text
    assert crypto.app_id == APPID
