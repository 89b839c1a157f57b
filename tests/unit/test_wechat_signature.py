"""Callback signatures, timestamp window and the error hierarchy of bot.wechat."""

from __future__ import annotations

import hashlib

import pytest

from bot.wechat import (
    AppIdMismatchError,
    CallbackError,
    DecryptError,
    MalformedMessageError,
    ReplayError,
    SignatureError,
    WeChatError,
    callback_signature,
    message_signature,
    verify_callback_signature,
    verify_message_signature,
    verify_timestamp,
)
from tests.wechat_peer import WeChatPeer

TOKEN = "spamtest"
TS = "1409735669"
NONCE = "1320562132"


def test_callback_signature_known_answer() -> None:
    # sorted("spamtest", "1409735669", "1320562132") joined, then SHA-1.
    assert hashlib.sha1(b"13205621321409735669spamtest", usedforsecurity=False).hexdigest() == (
        "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"
    )
    assert callback_signature(TOKEN, TS, NONCE) == "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"


def test_signature_sorts_instead_of_concatenating_in_order() -> None:
    in_order = hashlib.sha1(f"{TOKEN}{TS}{NONCE}".encode(), usedforsecurity=False).hexdigest()
    assert callback_signature(TOKEN, TS, NONCE) != in_order
    # Sorting makes the argument roles irrelevant.
    assert callback_signature(TOKEN, NONCE, TS) == callback_signature(TOKEN, TS, NONCE)


def test_message_signature_includes_the_payload() -> None:
    assert message_signature(TOKEN, TS, NONCE, "abc") != message_signature(TOKEN, TS, NONCE, "abd")
    expected = hashlib.sha1(
        "".join(sorted([TOKEN, TS, NONCE, "abc"])).encode(), usedforsecurity=False
    ).hexdigest()
    assert message_signature(TOKEN, TS, NONCE, "abc") == expected


def test_verify_accepts_what_the_peer_sends() -> None:
    query = WeChatPeer("tok3n").verify_query("echo-123")
    verify_callback_signature("tok3n", query["timestamp"], query["nonce"], query["signature"])


def test_verify_accepts_uppercase_hex() -> None:
    signature = callback_signature(TOKEN, TS, NONCE).upper()
    verify_callback_signature(TOKEN, TS, NONCE, signature)


def test_verify_rejects_another_token() -> None:
    query = WeChatPeer("tok3n").verify_query("echo")
    with pytest.raises(SignatureError):
        verify_callback_signature("other", query["timestamp"], query["nonce"], query["signature"])


@pytest.mark.parametrize(
    "signature",
    [
        "",
        None,
        "16120ec1b8dbb870f510d87ce6bc2463eae6ca1b",  # last digit changed
        "16120ec1b8dbb870f510d87ce6bc2463eae6ca1",  # truncated
        "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a ",  # trailing space
        "签名16120ec1b8dbb870f510d87ce6bc2463eae6ca",  # non-ASCII
        b"16120ec1b8dbb870f510d87ce6bc2463eae6ca1a",  # bytes, not text
    ],
)
def test_verify_rejects_bad_signatures(signature: object) -> None:
    with pytest.raises(SignatureError) as info:
        verify_callback_signature(TOKEN, TS, NONCE, signature)  # type: ignore[arg-type]
    assert info.value.http_status == 403


@pytest.mark.parametrize(("timestamp", "nonce"), [("", NONCE), (TS, ""), (None, NONCE)])
def test_verify_rejects_missing_parameters(timestamp: object, nonce: object) -> None:
    signature = callback_signature(TOKEN, TS, NONCE)
    with pytest.raises(SignatureError):
        verify_callback_signature(TOKEN, timestamp, nonce, signature)  # type: ignore[arg-type]


def test_non_ascii_and_surrogate_inputs_do_not_crash() -> None:
    signature = callback_signature("令牌", "1", "随机")
    verify_callback_signature("令牌", "1", "随机", signature)
    with pytest.raises(SignatureError):
        verify_callback_signature(TOKEN, TS, "\ud800", callback_signature(TOKEN, TS, NONCE))


def test_callback_signature_is_not_a_msg_signature() -> None:
    encrypted = "c2VjcmV0"
    plain_signature = callback_signature(TOKEN, TS, NONCE)
    with pytest.raises(SignatureError):
        verify_message_signature(TOKEN, TS, NONCE, encrypted, plain_signature)
    verify_message_signature(
        TOKEN, TS, NONCE, encrypted, message_signature(TOKEN, TS, NONCE, encrypted)
    )


def test_msg_signature_requires_the_payload() -> None:
    with pytest.raises(SignatureError):
        verify_message_signature(TOKEN, TS, NONCE, "", message_signature(TOKEN, TS, NONCE, ""))


def test_timestamp_within_window() -> None:
    assert verify_timestamp("1000", now=1000.0) == 1000
    assert verify_timestamp("1000", now=1299.9, max_skew_seconds=300) == 1000
    assert verify_timestamp("1300", now=1000.0, max_skew_seconds=300) == 1300


@pytest.mark.parametrize(
    "timestamp", ["699", "1301", "", "12a", "-5", "1e3", " 1000", "9" * 5000, "١٠٠٠"]
)
def test_timestamp_outside_window_or_malformed(timestamp: str) -> None:
    with pytest.raises(ReplayError) as info:
        verify_timestamp(timestamp, now=1000.0, max_skew_seconds=300)
    assert info.value.http_status == 403
    assert info.value.reason == "replay"


@pytest.mark.parametrize(
    ("cls", "status", "reason"),
    [
        (SignatureError, 403, "bad_signature"),
        (ReplayError, 403, "replay"),
        (MalformedMessageError, 400, "malformed"),
        (DecryptError, 400, "undecryptable"),
        (AppIdMismatchError, 400, "wrong_appid"),
    ],
)
def test_error_statuses_and_reasons(cls: type[CallbackError], status: int, reason: str) -> None:
    error = cls()
    assert isinstance(error, CallbackError)
    assert isinstance(error, WeChatError)
    assert error.http_status == status
    assert error.reason == reason
    assert str(error) == (cls.__doc__ or "").strip().splitlines()[0]
    assert str(cls("custom detail")) == "custom detail"


def test_appid_mismatch_is_a_decrypt_error() -> None:
    assert issubclass(AppIdMismatchError, DecryptError)
    assert not issubclass(DecryptError, AppIdMismatchError)
    assert not issubclass(SignatureError, DecryptError)
