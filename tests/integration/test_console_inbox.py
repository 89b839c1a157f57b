"""The console's unanswered inbox over HTTP: residents' no-match questions (signed, encrypted
callbacks) appear grouped; one answer for a group reaches every asker still reachable on the fake
WeChat API — once — and can be saved as a Q&A pair; a too-long answer comes back with the text
kept; dismissing removes the group without telling anyone; roles; and the audit log."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot import keys
from bot.console.desk import AnswerRequest
from bot.questions import QUESTIONS
from bot.wechat.fake_api import FakeWeChatServer
from policy_index.library import SAMPLE_LIBRARY
from policy_index.repository import LibraryRepository
from push import audit
from tests.conftest import MakeClient
from tests.console_helpers import AUDITOR, EDITOR, REVIEWER, add_accounts, csrf_of
from tests.integration.test_console import sign_in
from tests.integration.test_inbox import ANSWER, DOGS, DRIVING, age_questions, ask_unanswered
from tests.wechat_peer import WeChatPeer

Client = TestClient[Any, Any]
SEND = "/cgi-bin/message/custom/send"
QUESTION_ID = re.compile(r'name="question_id" value="(\d+)"')
GROUP_LINK = re.compile(r'href="/console/inbox/groups/(\d+)">([^<]+)</a></h2>')


@pytest.fixture
async def console(engine: AsyncEngine, make_client: MakeClient) -> Client:
    await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
    await add_accounts(engine)
    client: Client = await make_client()
    return client


async def groups(client: Client) -> dict[str, int]:
    """The inbox page's groups as the staff member sees them: wording -> group number."""
    resp = await client.get("/console/inbox")
    assert resp.status == 200
    return {text: int(number) for number, text in GROUP_LINK.findall(await resp.text())}


async def open_group(client: Client, number: int) -> tuple[str, list[str]]:
    resp = await client.get(f"/console/inbox/groups/{number}")
    assert resp.status == 200
    page = await resp.text()
    return csrf_of(page), sorted(set(QUESTION_ID.findall(page)))


async def answer(client: Client, number: int, text: str, **fields: str) -> Any:
    csrf, ids = await open_group(client, number)
    return await answer_with(client, ids, csrf, text, group=str(number), **fields)


async def answer_with(
    client: Client, ids: list[str], csrf: str, text: str = ANSWER, **fields: str
) -> Any:
    data = [("_csrf", csrf), ("text", text), *(("question_id", i) for i in ids)]
    data += list(fields.items())
    return await client.post("/console/inbox/answer", data=data)


async def test_one_answer_reaches_every_asker_once_and_is_saved_as_a_qa_pair(
    console: Client, peer: WeChatPeer, fake_wechat: FakeWeChatServer, engine: AsyncEngine
) -> None:
    askers = {"o_driver_a": DRIVING[0], "o_driver_b": DRIVING[1], "o_driver_c": DRIVING[2]}
    await ask_unanswered(console, peer, {**askers, "o_driver_late": DRIVING[0]})
    await ask_unanswered(console, peer, {"o_dog_owner": DOGS})
    await age_questions(engine, "o_driver_late", hours=49)  # outside WeChat's 48-hour window

    await sign_in(console, EDITOR)
    listed = await groups(console)
    assert set(listed) == {DRIVING[0], DOGS}  # the three wordings of one question are one group
    page = await (await console.get("/console/inbox")).text()
    assert "4 个提问" in page
    assert "可送达 3 人" in page
    assert "o_driver" not in page  # askers are never shown

    _, ids = await open_group(console, listed[DRIVING[0]])
    resp = await answer(console, listed[DRIVING[0]], ANSWER, save_qa="on", question="怎么考驾照")
    assert resp.status == 200
    assert re.search(r"/console/inbox/answers/\d+$", str(resp.url))
    shown = await resp.text()
    assert "已答复 4 个问题，送达 3 人，1 人无法送达" in shown
    assert "已超过微信 48 小时客服消息时限" in shown
    assert "已保存为问答" in shown

    for openid, text in askers.items():
        [message] = fake_wechat.messages_to(openid)
        assert ANSWER in message["text"]["content"]
        assert f"“{text}”" in message["text"]["content"]
    assert fake_wechat.messages_to("o_driver_late") == []
    assert fake_wechat.messages_to("o_dog_owner") == []

    library = await LibraryRepository(engine).load()
    [qa] = [q for q in library.qa_pairs if q.question == "怎么考驾照"]
    assert ANSWER in qa.answer
    assert await groups(console) == {DOGS: listed[DOGS]}  # the answered group has left
    recent = await (await console.get("/console/inbox")).text()
    assert f'href="{resp.url.path}">怎么考驾照</a>' in recent  # listed under 最近的答复
    assert "已送达 3" in recent
    assert "无法送达 1" in recent

    # The answer is audited with the claim (same transaction), then what the deliveries did.
    [entry] = [e for e in await audit.entries(engine) if e.action == "inbox.answer"]
    assert entry.actor == EDITOR
    assert entry.detail == {"questions": 4, "already_answered": 0, "save_qa": True}
    [delivered] = [e for e in await audit.entries(engine) if e.action == "inbox.deliver"]
    assert (delivered.object_id, delivered.actor) == (entry.object_id, EDITOR)
    assert delivered.id > entry.id
    assert delivered.detail["deliveries"] == {"sent": 3, "unreachable": 1}
    assert delivered.detail["qa_id"] == qa.id

    # The same form sent again (a second click, a reloaded page): nothing is sent twice.
    again = await answer_with(console, ids, csrf_of(shown))
    assert "这些问题已经答复过" in await again.text()
    assert len(fake_wechat.calls_to(SEND)) == 3

    # Delivering again sends nothing twice.
    csrf = csrf_of(shown)
    await console.post(f"{resp.url.path}/deliver", data={"_csrf": csrf})
    assert len(fake_wechat.calls_to(SEND)) == 3


async def test_a_too_long_answer_comes_back_with_the_text_kept(
    console: Client, peer: WeChatPeer, fake_wechat: FakeWeChatServer
) -> None:
    await ask_unanswered(console, peer, {"o_dog_owner": DOGS})
    await sign_in(console, REVIEWER)
    number = (await groups(console))[DOGS]
    long_answer = "养犬登记" * 300
    resp = await answer(console, number, long_answer)
    assert resp.status == 400
    page = await resp.text()
    assert "答复太长" in page
    assert long_answer in page  # nothing typed is lost
    assert fake_wechat.calls_to(SEND) == []
    assert DOGS in await groups(console)


async def test_dismissing_removes_the_group_and_tells_nobody(
    console: Client, peer: WeChatPeer, fake_wechat: FakeWeChatServer, engine: AsyncEngine
) -> None:
    await ask_unanswered(console, peer, {"o_dog_owner": DOGS, "o_driver": DRIVING[0]})
    await sign_in(console, EDITOR)
    number = (await groups(console))[DOGS]
    csrf, ids = await open_group(console, number)
    resp = await console.post(
        "/console/inbox/dismiss", data=[("_csrf", csrf), *(("question_id", i) for i in ids)]
    )
    assert "已搁置 1 个问题" in await resp.text()
    assert DOGS not in await groups(console)
    assert DRIVING[0] in await groups(console)
    assert fake_wechat.calls_to(SEND) == []
    async with engine.connect() as conn:
        status = (
            await conn.execute(select(QUESTIONS.c.status).where(QUESTIONS.c.id == number))
        ).scalar_one()
    assert status == "dismissed"
    [entry] = [e for e in await audit.entries(engine) if e.action == "inbox.dismiss"]
    assert (entry.actor, entry.detail) == (EDITOR, {"question_ids": [number]})

    # The group's page, opened again (a stale tab), says it is gone.
    resp = await console.get(f"/console/inbox/groups/{number}")
    assert "已不在待答复列表中" in await resp.text()


async def test_an_auditor_may_not_answer(
    console: Client, peer: WeChatPeer, fake_wechat: FakeWeChatServer
) -> None:
    await ask_unanswered(console, peer, {"o_dog_owner": DOGS})
    await sign_in(console, AUDITOR)
    resp = await console.get("/console/inbox")
    assert resp.status == 403
    page = await (await console.get("/console/notices")).text()
    assert "/console/inbox" not in page  # not offered in the navigation either
    csrf = csrf_of(page)
    resp = await console.post(
        "/console/inbox/answer", data={"_csrf": csrf, "question_id": "1", "text": ANSWER}
    )
    assert resp.status == 403
    assert fake_wechat.calls_to(SEND) == []


async def test_a_refused_delivery_is_shown_and_sent_again_from_the_page(
    console: Client, peer: WeChatPeer, fake_wechat: FakeWeChatServer
) -> None:
    await ask_unanswered(console, peer, {"o_driver_a": DRIVING[0], "o_driver_b": DRIVING[1]})
    fake_wechat.fail_next(SEND, 40164)  # our IP is not on the whitelist: certainly not sent
    await sign_in(console, REVIEWER)
    resp = await answer(console, (await groups(console))[DRIVING[0]], ANSWER)
    page = await resp.text()
    assert "送达 1 人，1 人发送失败，可重发" in page
    assert "公众号接口配置有误" in page
    assert '/deliver"' in page  # the button to send again

    resp = await console.post(f"{resp.url.path}/deliver", data={"_csrf": csrf_of(page)})
    page = await resp.text()
    assert "已重新发送未送达的答复" in page
    assert '/deliver"' not in page  # nothing left to send: no button
    assert "已送达 2" in page
    # Three requests: the refused one, the one accepted at once, the refused one sent again.
    sent = Counter(c.body["touser"] for c in fake_wechat.calls_to(SEND))
    assert sorted(sent.values()) == [1, 2]
    assert set(sent) == {"o_driver_a", "o_driver_b"}


async def test_a_question_unticked_from_the_group_stays_in_the_inbox(
    console: Client, peer: WeChatPeer, fake_wechat: FakeWeChatServer
) -> None:
    await ask_unanswered(console, peer, {"o_driver_a": DRIVING[0], "o_driver_b": DRIVING[2]})
    await sign_in(console, EDITOR)
    number = (await groups(console))[DRIVING[0]]
    csrf, ids = await open_group(console, number)
    assert len(ids) == 2
    resp = await answer_with(console, [str(number)], csrf)  # the other one unticked
    assert "已答复 1 个问题，送达 1 人" in await resp.text()
    assert len(fake_wechat.messages_to("o_driver_a")) == 1
    assert fake_wechat.messages_to("o_driver_b") == []
    assert DRIVING[2] in await groups(console)  # still waiting for its own answer

    # Nothing ticked: the form comes back with the answer kept.
    csrf, _ = await open_group(console, number := (await groups(console))[DRIVING[2]])
    resp = await console.post(
        "/console/inbox/answer", data={"_csrf": csrf, "group": str(number), "text": "草稿答复"}
    )
    assert resp.status == 400
    page = await resp.text()
    assert "请至少勾选一个问题" in page
    assert "草稿答复" in page


async def test_an_answer_or_a_dismissal_and_its_audit_row_are_one_transaction(
    console: Client, peer: WeChatPeer, fake_wechat: FakeWeChatServer, engine: AsyncEngine
) -> None:
    """If the audit row cannot be written, the questions stay in the inbox and nobody is told."""
    await ask_unanswered(console, peer, {"o_dog_owner": DOGS})
    desk = console.server.app[keys.STAFF_DESK]
    [group] = await desk.groups()
    ids = tuple(q.id for q in group.questions)

    async def broken(conn: AsyncConnection, _: Any) -> None:
        raise RuntimeError("audit row failed")

    with pytest.raises(RuntimeError):
        await desk.answer(AnswerRequest(question_ids=ids, text=ANSWER), then=broken)
    with pytest.raises(RuntimeError):
        await desk.dismiss(ids, then=broken)
    assert [q.id for g in await desk.groups() for q in g.questions] == list(ids)
    assert await desk.inbox.answer_ids_for(ids) == {}
    assert fake_wechat.calls_to(SEND) == []
