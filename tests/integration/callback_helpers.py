"""Helpers to send callbacks as WeChat does and read the replies as WeChat would."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from tests.wechat_peer import Mode, WeChatPeer

_ids = itertools.count(7_000_000_000_000_000_000)


def next_msg_id() -> int:
    return next(_ids)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    xml: str  # the (decrypted) reply XML, "success" or ""

    @property
    def fields(self) -> dict[str, str]:
        if self.xml in ("", "success"):
            return {}
        return {child.tag: child.text or "" for child in ET.fromstring(self.xml)}

    @property
    def content(self) -> str:
        return self.fields.get("Content", "")


async def send(
    client: TestClient[Any, Any],
    peer: WeChatPeer,
    xml: str,
    *,
    mode: Mode = "safe",
    path: str = "/wechat",
    **build: Any,
) -> Answer:
    query, body = peer.build(xml, mode=mode, **build)
    return await post_raw(client, peer, query, body, path=path, mode=mode)


async def post_raw(
    client: TestClient[Any, Any],
    peer: WeChatPeer,
    query: dict[str, str],
    body: bytes,
    *,
    path: str = "/wechat",
    mode: Mode | None = None,
) -> Answer:
    resp = await client.post(path, params=query, data=body)
    raw = await resp.read()
    xml = peer.open_reply(raw, query, mode=mode) if resp.status == 200 else ""
    return Answer(resp.status, raw, xml)
