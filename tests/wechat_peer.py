"""An independent stand-in for the WeChat server's side of the callback protocol.

Why: tests must send exactly what WeChat sends (plain, compatible and safe mode) and check
replies the way WeChat would, without trusting the code under test. This module is written
from the protocol description (docs/notes: sha1 over sorted strings; AES-256-CBC, IV = key[:16],
16 random bytes ‖ big-endian length ‖ XML ‖ AppId, PKCS#7 to 32 bytes) and deliberately
imports neither ``bot.wechat`` nor wechatpy.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import struct
import time
from collections.abc import Mapping
from typing import Any, Literal

import defusedxml.ElementTree as ET
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

Mode = Literal["plain", "compat", "safe"]

__all__ = ["Mode", "PeerError", "WeChatPeer", "cdata_of"]


class PeerError(AssertionError):
    """A reply that WeChat itself would refuse."""


def _sha1_of_sorted(*values: str) -> str:
    return hashlib.sha1("".join(sorted(values)).encode(), usedforsecurity=False).hexdigest()


def cdata_of(text: str) -> str:
    """CDATA section for ``text`` (split on ``]]>`` the standard way)."""
    return "<![CDATA[" + "]]]]><![CDATA[>".join(text.split("]]>")) + "]]>"


def _element(tag: str, value: Any) -> str:
    if isinstance(value, Mapping):
        inner = "".join(_element(k, v) for k, v in value.items())
        return f"<{tag}>{inner}</{tag}>"
    if isinstance(value, list | tuple):
        return "".join(_element(tag, v) for v in value)
    if isinstance(value, int | float):
        return f"<{tag}>{value}</{tag}>"
    return f"<{tag}>{cdata_of(str(value))}</{tag}>"


class WeChatPeer:
    """What the WeChat platform does for one official account in tests."""

    def __init__(
        self,
        token: str,
        encoding_aes_key: str | None = None,
        app_id: str = "wx5823bf96d3bd56c7",
    ) -> None:
        self.token = token
        self.app_id = app_id
        self.encoding_aes_key = encoding_aes_key
        self._aes_key = (
            base64.b64decode(encoding_aes_key + "=") if encoding_aes_key is not None else None
        )
        if self._aes_key is not None and len(self._aes_key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")

    # ------------------------------------------------------------------ signing / AES

    def sign(self, timestamp: str, nonce: str) -> str:
        return _sha1_of_sorted(self.token, timestamp, nonce)

    def sign_encrypted(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return _sha1_of_sorted(self.token, timestamp, nonce, encrypted)

    def _aes(self) -> Cipher[modes.CBC]:
        if self._aes_key is None:
            raise ValueError("this peer has no EncodingAESKey")
        return Cipher(algorithms.AES(self._aes_key), modes.CBC(self._aes_key[:16]))

    def seal(self, xml: str, *, app_id: str | None = None, random16: bytes | None = None) -> str:
        """Encrypt ``xml`` as WeChat does (``app_id`` overrides the trailer, for negative tests)."""
        payload = xml.encode()
        prefix = random16 if random16 is not None else secrets.token_hex(8).encode()
        trailer = (app_id if app_id is not None else self.app_id).encode()
        plain = prefix + struct.pack(">I", len(payload)) + payload + trailer
        pad = 32 - len(plain) % 32
        plain += bytes([pad] * pad)
        enc = self._aes().encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode()

    def unseal(self, encrypted: str) -> str:
        """Decrypt an ``Encrypt`` value, insisting on our AppId; raise ``PeerError`` otherwise."""
        dec = self._aes().decryptor()
        plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
        pad = plain[-1]
        if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad] * pad):
            raise PeerError("bad PKCS#7 padding in reply")
        plain = plain[16:-pad]
        (size,) = struct.unpack(">I", plain[:4])
        xml, app_id = plain[4 : 4 + size], plain[4 + size :]
        if app_id.decode() != self.app_id:
            raise PeerError(f"reply sealed for AppId {app_id!r}")
        return xml.decode()

    # ------------------------------------------------------------------ requests

    @staticmethod
    def _fresh(timestamp: int | None, nonce: str | None) -> tuple[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        return ts, nonce if nonce is not None else str(secrets.randbelow(10**9) + 10**9)

    def verify_query(
        self, echostr: str, *, timestamp: int | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        """GET parameters of the URL check performed when saving the server configuration."""
        ts, nc = self._fresh(timestamp, nonce)
        return {"signature": self.sign(ts, nc), "echostr": echostr, "timestamp": ts, "nonce": nc}

    def build(
        self,
        xml: str,
        *,
        mode: Mode,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Query parameters and body of a callback POST carrying ``xml`` in ``mode``."""
        ts, nc = self._fresh(timestamp, nonce)
        root = ET.fromstring(xml)
        query = {
            "signature": self.sign(ts, nc),
            "timestamp": ts,
            "nonce": nc,
            "openid": root.findtext("FromUserName", ""),
        }
        if mode == "plain":
            return query, xml.encode()
        encrypted = self.seal(xml)
        query["encrypt_type"] = "aes"
        query["msg_signature"] = self.sign_encrypted(ts, nc, encrypted)
        if mode == "safe":
            to = root.findtext("ToUserName", "")
            body = (
                f"<xml><ToUserName>{cdata_of(to)}</ToUserName>"
                f"<Encrypt>{cdata_of(encrypted)}</Encrypt></xml>"
            )
        elif mode == "compat":
            head, _, _ = xml.rstrip().rpartition("</xml>")
            body = f"{head}<Encrypt>{cdata_of(encrypted)}</Encrypt></xml>"
        else:
            raise ValueError(f"unknown mode {mode!r}")
        return query, body.encode()

    # ------------------------------------------------------------------ replies

    def open_reply(self, body: bytes, query: Mapping[str, str], *, mode: Mode | None = None) -> str:
        """Return the reply XML as WeChat would read it.

        Encrypted replies (``<Encrypt>`` root child) must carry a ``MsgSignature`` matching the
        envelope's TimeStamp/Nonce and decrypt to our AppId. With ``mode="safe"`` (or
        ``query["encrypt_type"] == "aes"`` and ``mode`` unset, i.e. safe by default) a clear
        XML reply is refused; ``success`` and the empty body are always accepted.
        """
        text = body.decode()
        if text in ("", "success"):
            return text
        root = ET.fromstring(text)
        encrypted = root.findtext("Encrypt")
        if encrypted is None:
            safe = mode == "safe" or (mode is None and query.get("encrypt_type") == "aes")
            if safe:
                raise PeerError("safe mode requires an encrypted reply")
            return text
        ts, nc = root.findtext("TimeStamp", ""), root.findtext("Nonce", "")
        if root.findtext("MsgSignature") != self.sign_encrypted(ts, nc, encrypted):
            raise PeerError("reply MsgSignature does not verify")
        return self.unseal(encrypted)

    # ------------------------------------------------------------------ message XML

    @staticmethod
    def _message(
        openid: str,
        msg_type: str,
        fields: Mapping[str, Any],
        *,
        create_time: int | None,
        to: str,
    ) -> str:
        head = {
            "ToUserName": to,
            "FromUserName": openid,
            "CreateTime": int(time.time()) if create_time is None else create_time,
            "MsgType": msg_type,
        }
        return "<xml>" + "".join(_element(k, v) for k, v in {**head, **fields}.items()) + "</xml>"

    def text_xml(
        self,
        openid: str,
        content: str,
        msg_id: int,
        create_time: int | None = None,
        to: str = "gh_test",
    ) -> str:
        fields = {"Content": content, "MsgId": msg_id}
        return self._message(openid, "text", fields, create_time=create_time, to=to)

    def voice_xml(
        self,
        openid: str,
        media_id: str,
        msg_id: int,
        *,
        fmt: str = "amr",
        recognition: str | None = None,
        create_time: int | None = None,
        to: str = "gh_test",
    ) -> str:
        fields: dict[str, Any] = {"MediaId": media_id, "Format": fmt}
        if recognition is not None:
            fields["Recognition"] = recognition
        fields["MsgId"] = msg_id
        return self._message(openid, "voice", fields, create_time=create_time, to=to)

    def image_xml(
        self,
        openid: str,
        pic_url: str,
        media_id: str,
        msg_id: int,
        create_time: int | None = None,
        to: str = "gh_test",
    ) -> str:
        fields = {"PicUrl": pic_url, "MediaId": media_id, "MsgId": msg_id}
        return self._message(openid, "image", fields, create_time=create_time, to=to)

    def video_xml(
        self,
        openid: str,
        media_id: str,
        thumb_media_id: str,
        msg_id: int,
        *,
        short: bool = False,
        create_time: int | None = None,
        to: str = "gh_test",
    ) -> str:
        fields = {"MediaId": media_id, "ThumbMediaId": thumb_media_id, "MsgId": msg_id}
        msg_type = "shortvideo" if short else "video"
        return self._message(openid, msg_type, fields, create_time=create_time, to=to)

    def location_xml(
        self,
        openid: str,
        latitude: float,
        longitude: float,
        scale: int,
        label: str,
        msg_id: int,
        create_time: int | None = None,
        to: str = "gh_test",
    ) -> str:
        fields = {
            "Location_X": latitude,
            "Location_Y": longitude,
            "Scale": scale,
            "Label": label,
            "MsgId": msg_id,
        }
        return self._message(openid, "location", fields, create_time=create_time, to=to)

    def link_xml(
        self,
        openid: str,
        title: str,
        description: str,
        url: str,
        msg_id: int,
        create_time: int | None = None,
        to: str = "gh_test",
    ) -> str:
        fields = {"Title": title, "Description": description, "Url": url, "MsgId": msg_id}
        return self._message(openid, "link", fields, create_time=create_time, to=to)

    def event_xml(
        self,
        openid: str,
        event: str,
        event_key: str | None = None,
        extra: Mapping[str, Any] | None = None,
        create_time: int | None = None,
        to: str = "gh_test",
    ) -> str:
        """An event; ``extra`` values may be text, numbers, dicts (nested) or lists (repeated)."""
        fields: dict[str, Any] = {"Event": event}
        if event_key is not None:
            fields["EventKey"] = event_key
        fields.update(extra or {})
        return self._message(openid, "event", fields, create_time=create_time, to=to)
