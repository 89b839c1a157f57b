"""Message encryption of WeChat's "compatible" and "safe" callback modes (消息加解密).

Why our own ~150 lines instead of wechatpy: we want typed errors that map onto HTTP statuses,
strict checks of padding, length and AppId (wechatpy's decrypt accepts broken padding and
raises bare ``struct`` errors on short input), and no dependency on a sync SDK at runtime.

The scheme, fixed by Tencent: key = base64decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC
with IV = key[:16]; plaintext = 16 random bytes ‖ 4-byte big-endian XML length ‖ XML ‖ AppId,
PKCS#7-padded to a 32-byte block; the ciphertext travels base64-encoded. ``decrypt_callback``
checks ``msg_signature`` before touching the ciphertext, so padding errors are never observable
to a sender who cannot sign (no padding oracle).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.wechat.errors import AppIdMismatchError, DecryptError
from bot.wechat.replies import cdata, strip_illegal_xml_chars
from bot.wechat.signature import message_signature, verify_message_signature

__all__ = ["ENCODING_AES_KEY_LENGTH", "MessageCrypto", "generate_encoding_aes_key"]

ENCODING_AES_KEY_LENGTH = 43
_KEY_PATTERN = re.compile(r"[A-Za-z0-9+/]{43}")
_BLOCK_SIZE = 32  # PKCS#7 block size chosen by the protocol (AES itself uses 16)
_AES_BLOCK = 16
_RANDOM_PREFIX_LENGTH = 16
_LENGTH_FIELD = 4
# Tencent's samples fill the random prefix with letters and digits; we do the same so that no
# peer that decodes the whole plaintext as text can trip over it.
_KEY_ALPHABET = string.ascii_letters + string.digits


def generate_encoding_aes_key() -> str:
    """Return a fresh random EncodingAESKey: 43 characters from a-z, A-Z, 0-9, as WeChat's
    admin console generates them (the last character carries 4 bits, so ~256 bits in all)."""
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(43))


def _decode_key(encoding_aes_key: str) -> bytes:
    if not isinstance(encoding_aes_key, str) or not _KEY_PATTERN.fullmatch(encoding_aes_key):
        raise ValueError(
            "EncodingAESKey must be exactly 43 characters from A-Z, a-z, 0-9, '+' and '/' "
            "(copy it from 公众平台 → 设置与开发 → 基本配置)"
        )
    return base64.b64decode(encoding_aes_key + "=")


def _random_prefix() -> bytes:
    # Letters and digits, as in Tencent's samples; hex is a subset and far cheaper to draw.
    return secrets.token_hex(_RANDOM_PREFIX_LENGTH // 2).encode("ascii")


def _pad(data: bytes) -> bytes:
    count = _BLOCK_SIZE - len(data) % _BLOCK_SIZE
    return data + bytes([count]) * count


def _unpad(data: bytes) -> bytes:
    count = data[-1]
    if not 1 <= count <= _BLOCK_SIZE or count > len(data):
        raise DecryptError(f"invalid padding byte {count}")
    if data[-count:] != bytes([count]) * count:
        raise DecryptError("inconsistent padding")
    return data[:-count]


class MessageCrypto:
    """Encrypts replies and decrypts callbacks for one official account.

    Holds the account's token, AES key and AppId; it has no other state and is safe to share
    between concurrent requests.
    """

    __slots__ = ("_app_id", "_app_id_bytes", "_cipher", "_token")

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty string")
        if not isinstance(app_id, str) or not app_id:
            raise ValueError("app_id must be a non-empty string")
        self._token = token
        key = _decode_key(encoding_aes_key)
        self._app_id = app_id
        self._app_id_bytes = app_id.encode()
        # A Cipher is an immutable description (algorithm, key, IV): built once, it hands out a
        # fresh encryptor or decryptor context per message.
        self._cipher = Cipher(algorithms.AES(key), modes.CBC(key[:_AES_BLOCK]))

    def __repr__(self) -> str:  # never show the token or key
        return f"MessageCrypto(app_id={self._app_id!r})"

    @property
    def app_id(self) -> str:
        return self._app_id

    def encrypt(self, xml: bytes, *, random_prefix: bytes | None = None) -> str:
        """Encrypt ``xml`` and return the base64 text for an ``<Encrypt>`` element.

        ``random_prefix`` (16 bytes) exists for known-answer tests; leave it ``None``.
        """
        prefix = _random_prefix() if random_prefix is None else random_prefix
        if len(prefix) != _RANDOM_PREFIX_LENGTH:
            raise ValueError("random_prefix must be exactly 16 bytes")
        plain = _pad(prefix + len(xml).to_bytes(_LENGTH_FIELD, "big") + xml + self._app_id_bytes)
        encryptor = self._cipher.encryptor()
        sealed = encryptor.update(plain) + encryptor.finalize()
        return base64.b64encode(sealed).decode("ascii")

    def decrypt(self, encrypted: str) -> bytes:
        """Decrypt an ``<Encrypt>`` value and return the inner XML bytes.

        Raises ``DecryptError`` for bad base64, a bad ciphertext length, bad padding or an
        impossible XML length, and ``AppIdMismatchError`` when the payload names another AppId.
        Call ``decrypt_callback`` for requests: it checks ``msg_signature`` first.
        """
        if not isinstance(encrypted, str) or not encrypted.strip():
            raise DecryptError("empty Encrypt value")
        try:
            sealed = base64.b64decode(encrypted.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecryptError("Encrypt is not valid base64") from exc
        minimum = _RANDOM_PREFIX_LENGTH + _LENGTH_FIELD + 1
        if len(sealed) < minimum or len(sealed) % _AES_BLOCK:
            raise DecryptError(f"ciphertext length {len(sealed)} is not a usable AES length")
        decryptor = self._cipher.decryptor()
        content = _unpad(decryptor.update(sealed) + decryptor.finalize())
        body = content[_RANDOM_PREFIX_LENGTH:]
        if len(body) < _LENGTH_FIELD:
            raise DecryptError("plaintext too short for the length field")
        xml_length = int.from_bytes(body[:_LENGTH_FIELD], "big")
        if xml_length > len(body) - _LENGTH_FIELD:
            raise DecryptError(f"declared XML length {xml_length} exceeds the payload")
        end = _LENGTH_FIELD + xml_length
        if body[end:] != self._app_id_bytes:
            raise AppIdMismatchError()
        return body[_LENGTH_FIELD:end]

    def decrypt_callback(
        self, encrypted: str, /, *, timestamp: str, nonce: str, msg_signature: str
    ) -> bytes:
        """Verify ``msg_signature`` over the body's ``Encrypt`` value, then decrypt it.

        ``timestamp``, ``nonce`` and ``msg_signature`` come from the query string.
        Raises ``SignatureError`` before any decryption is attempted.
        """
        verify_message_signature(self._token, timestamp, nonce, encrypted, msg_signature)
        return self.decrypt(encrypted)

    def encrypt_reply(self, xml: str, *, timestamp: str, nonce: str) -> str:
        """Encrypt a rendered passive reply into the envelope safe mode requires.

        Pass the request's ``timestamp`` and ``nonce`` (or fresh ones); WeChat checks
        ``MsgSignature`` against the values inside the envelope.
        """
        if not isinstance(timestamp, str) or not timestamp.isascii() or not timestamp.isdigit():
            raise ValueError("timestamp must be a string of digits")
        if not isinstance(nonce, str) or strip_illegal_xml_chars(nonce) != nonce:
            raise ValueError("nonce must be a string of XML-safe characters")
        encrypted = self.encrypt(xml.encode("utf-8"))
        signature = message_signature(self._token, timestamp, nonce, encrypted)
        # Base64 and hex digits need no escaping: no cdata() scan over the ~1 KB ciphertext.
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce>{cdata(nonce)}</Nonce></xml>"
        )
