"""Request signatures of the WeChat callback protocol.

Why this exists: every callback (the GET URL check and every POST) carries ``signature`` =
sha1 over the sorted (token, timestamp, nonce); encrypted callbacks additionally carry
``msg_signature`` = sha1 over the sorted (token, timestamp, nonce, Encrypt). Mixing the two up
is a classic bug, so each has its own function. Comparisons are constant-time and any odd input
(None, empty, non-ASCII, wrong type) is reported as ``SignatureError`` instead of leaking a
``TypeError`` to the HTTP layer.

SHA-1 is mandated by the protocol; we cannot choose a stronger hash.
"""

from __future__ import annotations

import hashlib
import hmac

from bot.wechat.errors import ReplayError, SignatureError

__all__ = [
    "callback_signature",
    "message_signature",
    "verify_callback_signature",
    "verify_message_signature",
    "verify_timestamp",
]

# Unix seconds have 10 digits until the year 2286; the cap also keeps int() cheap.
_MAX_TIMESTAMP_DIGITS = 12


def _sha1_sorted(*parts: str) -> str:
    # surrogatepass: a lone surrogate from a hostile query string must not raise here.
    joined = "".join(sorted(parts)).encode("utf-8", "surrogatepass")
    return hashlib.sha1(joined).hexdigest()  # noqa: S324 -- SHA-1 is fixed by the WeChat protocol


def callback_signature(token: str, timestamp: str, nonce: str) -> str:
    """Return the ``signature`` WeChat sends with every callback request."""
    return _sha1_sorted(token, timestamp, nonce)


def message_signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """Return the ``msg_signature`` over an ``Encrypt`` payload (inbound and reply)."""
    return _sha1_sorted(token, timestamp, nonce, encrypted)


def _all_text(*values: object) -> bool:
    return all(isinstance(value, str) and value for value in values)


def _matches(expected: str, received: object) -> bool:
    if not isinstance(received, str) or not received or not received.isascii():
        return False
    return hmac.compare_digest(expected, received.lower())


def verify_callback_signature(token: str, timestamp: str, nonce: str, signature: str) -> None:
    """Raise ``SignatureError`` unless ``signature`` matches the callback parameters."""
    if not _all_text(token, timestamp, nonce):
        raise SignatureError("missing token, timestamp or nonce")
    if not _matches(callback_signature(token, timestamp, nonce), signature):
        raise SignatureError("signature mismatch")


def verify_message_signature(
    token: str, timestamp: str, nonce: str, encrypted: str, msg_signature: str
) -> None:
    """Raise ``SignatureError`` unless ``msg_signature`` matches the encrypted payload."""
    if not _all_text(token, timestamp, nonce, encrypted):
        raise SignatureError("missing token, timestamp, nonce or Encrypt")
    expected = message_signature(token, timestamp, nonce, encrypted)
    if not _matches(expected, msg_signature):
        raise SignatureError("msg_signature mismatch")


def verify_timestamp(timestamp: str, *, now: float, max_skew_seconds: int = 300) -> int:
    """Return ``timestamp`` as an int, or raise ``ReplayError`` if it is unusable or stale.

    A captured request stays validly signed forever; refusing timestamps further than
    ``max_skew_seconds`` from ``now`` (either direction) bounds how long it can be replayed.
    The caller passes ``now`` so this stays pure and testable.
    """
    if (
        not isinstance(timestamp, str)
        or not 0 < len(timestamp) <= _MAX_TIMESTAMP_DIGITS
        or not timestamp.isascii()
        or not timestamp.isdigit()
    ):
        raise ReplayError("timestamp missing or not a number")
    value = int(timestamp)
    if abs(now - value) > max_skew_seconds:
        raise ReplayError(f"timestamp outside the {max_skew_seconds} s window")
    return value
