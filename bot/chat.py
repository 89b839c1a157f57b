"""``gongkai chat``: talk to the bot in a terminal, as a WeChat user would.

Each line you type becomes a callback signed and encrypted exactly as WeChat's servers send it,
POSTed to the real endpoint (an in-process server by default, or ``--url``); the passive reply is
decrypted and printed, and so are customer-service messages that reach the built-in fake.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO
from xml.sax.saxutils import escape

import aiohttp

from bot.wechat import MessageCrypto, callback_signature, message_signature, parse_xml

COMMANDS_HELP = (
    "可用命令： /关注  /取消关注  /语音 文字（模拟语音，带识别结果）  /语音（无识别结果）\n"
    "          /图片  /位置  /菜单 KEY（点击菜单）  /退出\n"
    "其他任何输入都作为文字消息发给机器人。"
)


@dataclass
class ChatClient:
    """Plays WeChat's side of the callback protocol against a Gongkai endpoint."""

    url: str  # the full callback URL
    token: str
    app_id: str
    aes_key: str | None
    openid: str = field(default_factory=lambda: "o_local_" + secrets.token_hex(8))
    account: str = "gh_local_account"
    _ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(int(time.time() * 1000))
    )

    def _xml(self, msg_type: str, fields: dict[str, str], *, with_id: bool = True) -> str:
        parts = [
            f"<ToUserName><![CDATA[{self.account}]]></ToUserName>",
            f"<FromUserName><![CDATA[{self.openid}]]></FromUserName>",
            f"<CreateTime>{int(time.time())}</CreateTime>",
            f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
        ]
        parts += [f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()]
        if with_id:
            parts.append(f"<MsgId>{next(self._ids)}</MsgId>")
        return "<xml>" + "".join(parts) + "</xml>"

    def text(self, content: str) -> str:
        return self._xml("text", {"Content": content})

    def voice(self, recognition: str | None) -> str:
        fields = {"MediaId": "local_media", "Format": "amr"}
        if recognition is not None:
            fields["Recognition"] = recognition
        return self._xml("voice", fields)

    def event(self, event: str, key: str | None = None) -> str:
        fields = {"Event": event}
        if key is not None:
            fields["EventKey"] = key
        return self._xml("event", fields, with_id=False)

    def image(self) -> str:
        return self._xml("image", {"PicUrl": "http://127.0.0.1/none.jpg", "MediaId": "local_img"})

    def location(self) -> str:
        return self._xml(
            "location",
            {"Location_X": "30.27", "Location_Y": "120.15", "Scale": "15", "Label": "本地测试位置"},
        )

    async def send(self, session: aiohttp.ClientSession, xml: str) -> str:
        """POST one callback; return the reply as readable text ('' for ``success``)."""
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
        params = {
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": self.openid,
            "signature": callback_signature(self.token, timestamp, nonce),
        }
        body = xml.encode()
        crypto = MessageCrypto(self.token, self.aes_key, self.app_id) if self.aes_key else None
        if crypto is not None:
            encrypted = crypto.encrypt(body)
            params["encrypt_type"] = "aes"
            params["msg_signature"] = message_signature(self.token, timestamp, nonce, encrypted)
            body = (
                f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            ).encode()
        async with session.post(self.url, params=params, data=body) as resp:
            raw = await resp.read()
            if resp.status != 200:
                return f"[HTTP {resp.status}] {raw.decode('utf-8', 'replace')}"
        if raw in (b"", b"success"):
            return ""
        fields = parse_xml(raw)
        if crypto is not None and "Encrypt" in fields:
            fields = parse_xml(crypto.decrypt(str(fields["Encrypt"])))
        return render_for_terminal(fields)


_LINK = re.compile(r"""<a\s+href\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a>""", re.DOTALL)


def links_as_text(text: str) -> str:
    """A link WeChat would show as blue text, as its text with the address after it."""
    return _LINK.sub(r"\2 [\1]", text)


def render_for_terminal(fields: dict[str, Any]) -> str:
    if fields.get("MsgType") == "text":
        return links_as_text(str(fields.get("Content", "")))
    if fields.get("MsgType") == "news":
        items = fields.get("Articles", {}).get("item", [])
        items = items if isinstance(items, list) else [items]
        return "\n".join(
            f"【{a.get('Title', '')}】{a.get('Description', '')}\n{a.get('Url', '')}" for a in items
        )
    return f"[{fields.get('MsgType')}]"


def parse_command(client: ChatClient, line: str) -> str | None:
    """The callback XML for one line typed by the user (None: not a message)."""
    if line in ("/关注", "/follow"):
        return client.event("subscribe")
    if line in ("/取消关注", "/unfollow"):
        return client.event("unsubscribe")
    if line.startswith(("/语音", "/voice")):
        words = line.split(maxsplit=1)
        return client.voice(words[1] if len(words) > 1 else None)
    if line in ("/图片", "/image"):
        return client.image()
    if line in ("/位置", "/location"):
        return client.location()
    if line.startswith(("/菜单", "/click")):
        words = line.split(maxsplit=1)
        return client.event("CLICK", words[1] if len(words) > 1 else "")
    return client.text(line)


async def run_chat(
    client: ChatClient,
    *,
    stdin: TextIO = sys.stdin,
    out: Callable[[str], None],
    follow_first: bool = True,
    late_messages: Callable[[], list[str]] | None = None,
) -> None:
    """Read lines, send them, print the answers, until end of input or /退出."""
    interactive = stdin.isatty()
    out(COMMANDS_HELP)
    async with aiohttp.ClientSession() as session:
        if follow_first:
            out("（已关注公众号）")
            out(
                "机器人：" + (await client.send(session, client.event("subscribe")) or "（无回复）")
            )
        while True:
            if interactive:
                out("您：")
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            line = line.strip()
            if not line:
                continue
            if line in ("/退出", "/quit", "/exit"):
                break
            xml = parse_command(client, line)
            if xml is None:
                continue
            if not interactive:
                out("您：" + line)
            reply = await client.send(session, xml)
            out("机器人：" + (reply or "（无回复）"))
            for late in late_messages() if late_messages else []:
                out("机器人（客服消息）：" + late)
