"""Service-level behaviour: failing handlers, an unreachable database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.context import HandlerContext
from bot.db import create_engine
from bot.routing import Router
from bot.wechat import TextMessage, TextReply
from tests.integration.callback_helpers import next_msg_id, send
from tests.wechat_peer import WeChatPeer


async def test_a_failing_handler_gets_an_apology_and_one_log_line(
    make_client: Any, peer: WeChatPeer, openid: str, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router(name="broken")

    @router.on(TextMessage)
    async def broken(msg: TextMessage, ctx: HandlerContext) -> TextReply:
        raise RuntimeError("bug in a handler")

    client = await make_client(router=router)
    xml = peer.text_xml(openid, "问题", next_msg_id())
    answer = await send(client, peer, xml)
    assert answer.status == 200
    assert "抱歉" in answer.content
    assert "bug in a handler" not in answer.content
    failures = [r for r in caplog.records if getattr(r, "action", "") == "handler_failed"]
    assert len(failures) == 1
    assert openid not in caplog.text  # openids are hashed in logs
    retry = await send(client, peer, xml)
    assert retry.content == answer.content
    assert len([r for r in caplog.records if getattr(r, "action", "") == "handler_failed"]) == 1


async def test_unreachable_database_is_503_not_a_traceback(
    make_client: Any, peer: WeChatPeer, openid: str, tmp_path: Path
) -> None:
    broken = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    client = await make_client(engine=broken)
    health = await client.get("/healthz")
    assert health.status == 503
    assert (await health.json())["database"] == "unreachable"
    answer = await send(client, peer, peer.text_xml(openid, "帮助", next_msg_id()))
    assert answer.status == 503
    assert b"Traceback" not in answer.body
    await client.close()
    await broken.dispose()
