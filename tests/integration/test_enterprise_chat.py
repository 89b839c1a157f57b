"""Binding an enterprise contact in chat, end to end: signed, AES-encrypted callbacks in,
decrypted replies out, against a real database (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from push.enterprises import Enterprises
from push.tables import CONTACTS
from tests.conftest import MakeClient
from tests.integration.callback_helpers import next_msg_id, send
from tests.wechat_peer import WeChatPeer

USCC = "91350100M000100Y43"
NAME = "青禾精工有限公司"


class Contact:
    def __init__(self, client: TestClient[Any, Any], peer: WeChatPeer, openid: str) -> None:
        self.client, self.peer, self.openid = client, peer, openid

    async def say(self, content: str) -> str:
        xml = self.peer.text_xml(self.openid, content, next_msg_id())
        answer = await send(self.client, self.peer, xml)
        assert answer.status == 200
        return answer.content


@pytest.fixture
async def service(engine: AsyncEngine, tmp_path: Path) -> Enterprises:
    service = Enterprises(engine)
    path = tmp_path / "qy.jsonl"
    record = {"uscc": USCC, "name": NAME, "industry": "制造业", "employees": 80}
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    await service.import_file(path)
    return service


@pytest.fixture
async def contact(
    service: Enterprises, make_client: MakeClient, peer: WeChatPeer, openid: str
) -> Contact:
    return Contact(await make_client(), peer, openid)


async def contacts(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(CONTACTS.c.openid))).scalars())


async def test_binding_with_the_staff_code_then_my_enterprise_then_unbind(
    contact: Contact, service: Enterprises, engine: AsyncEngine
) -> None:
    assert "还没有绑定企业" in await contact.say("我的企业")
    code = (await service.issue_code(USCC, by="王")).code
    # As typed on a phone: full-width space and colon, lower-case letters.
    reply = await contact.say(f"绑定企业　{USCC.lower()}：{code}")
    assert "绑定成功" in reply
    assert NAME in reply
    assert code not in reply
    assert await contacts(engine) == [contact.openid]
    assert f"1. {NAME}（{USCC}）" in await contact.say("我的企业")
    assert "无需重复绑定" in await contact.say(f"绑定 {USCC} {code}")
    reply = await contact.say("解绑")
    assert f"已解除与“{NAME}”的绑定" in reply
    assert await contacts(engine) == []
    assert "没有绑定企业" in await contact.say("解绑")


async def test_the_credit_code_alone_or_a_wrong_code_binds_nothing(
    contact: Contact, service: Enterprises, engine: AsyncEngine
) -> None:
    code = (await service.issue_code(USCC, by="王")).code
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    assert "绑定 统一社会信用代码 绑定码" in await contact.say(f"绑定 {USCC}")
    reply = await contact.say(f"绑定 {USCC} {wrong}")
    assert "绑定未成功" in reply
    assert "还可再试 4 次" in reply
    assert "校验位不符" in await contact.say(f"绑定 {USCC[:-1]}X {code}")
    assert await contacts(engine) == []
    assert "绑定成功" in await contact.say(f"绑定：{USCC}，{code}")


async def test_a_question_that_starts_with_bind_is_still_a_question(contact: Contact) -> None:
    reply = await contact.say("绑定银行卡怎么办")
    assert "绑定码" not in reply
