"""The unanswered inbox end to end: residents' no-match questions through signed, encrypted
callbacks land in the inbox; staff list them in groups (JSON API and `gongkai inbox`) and answer
a group; the fake WeChat API on loopback receives exactly one customer-service message per
reachable asker, never a second; askers outside the 48-hour window are recorded as not
reachable; and the answer saved as a Q&A pair then answers the same question through the bot.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings, StaffSettings
from bot.inbox import DELIVERIES, STAFF_ANSWERS
from bot.questions import QUESTIONS
from bot.wechat.fake_api import FakeWeChatServer
from policy_index.library import SAMPLE_LIBRARY
from policy_index.repository import LibraryRepository
from tests.conftest import MakeClient
from tests.integration.callback_helpers import next_msg_id, send
from tests.integration.test_menu import gongkai
from tests.wechat_peer import WeChatPeer

STAFF_TOKEN = "staff-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}
SEND = "/cgi-bin/message/custom/send"
DRIVING = ("怎么考驾照", "驾照怎么考？", "考驾照需要什么条件")  # one question, three wordings
DOGS = "养狗要办证吗"  # another question nobody answers
ANSWER = "考驾照请到县公安局交警大队车管所报名：先体检，再依次参加科目一至科目四考试。"


@pytest.fixture
def staff_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"staff": StaffSettings(token=SecretStr(STAFF_TOKEN))})


@pytest.fixture
async def library_engine(engine: AsyncEngine) -> AsyncEngine:
    await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
    return engine


@pytest.fixture
async def staff_client(
    library_engine: AsyncEngine, make_client: MakeClient, staff_settings: Settings
) -> TestClient[Any, Any]:
    return await make_client(settings=staff_settings)


async def ask(client: TestClient[Any, Any], peer: WeChatPeer, openid: str, text: str) -> str:
    answer = await send(client, peer, peer.text_xml(openid, text, next_msg_id()))
    assert answer.status == 200
    return answer.content


async def ask_unanswered(
    client: TestClient[Any, Any], peer: WeChatPeer, askers: dict[str, str]
) -> None:
    for openid, text in askers.items():
        reply = await ask(client, peer, openid, text)
        assert reply.startswith("抱歉，政策库里没有找到"), (text, reply)


async def age_questions(engine: AsyncEngine, openid: str, hours: float) -> None:
    """Pretend the asker's questions were asked ``hours`` ago."""
    when = datetime.now(UTC) - timedelta(hours=hours)
    async with engine.begin() as conn:
        await conn.execute(
            update(QUESTIONS).where(QUESTIONS.c.openid == openid).values(asked_at=when)
        )


async def inbox(client: TestClient[Any, Any]) -> dict[str, Any]:
    resp = await client.get("/staff/api/inbox", headers=AUTH)
    assert resp.status == 200
    return dict(await resp.json())


def group_with(listing: dict[str, Any], text: str) -> dict[str, Any]:
    return next(g for g in listing["groups"] if text in {m["text"] for m in g["members"]})


async def test_staff_answer_reaches_each_reachable_asker_once_and_teaches_the_bot(
    staff_client: TestClient[Any, Any],
    peer: WeChatPeer,
    fake_wechat: FakeWeChatServer,
    library_engine: AsyncEngine,
) -> None:
    askers = {"o_driver_a": DRIVING[0], "o_driver_b": DRIVING[1], "o_driver_c": DRIVING[2]}
    await ask_unanswered(staff_client, peer, {**askers, "o_driver_late": DRIVING[0]})
    await ask_unanswered(staff_client, peer, {"o_dog_owner": DOGS})
    await age_questions(library_engine, "o_driver_late", hours=49)  # outside the window

    listing = await inbox(staff_client)
    assert listing["open_questions"] == 5
    driving = group_with(listing, DRIVING[0])
    assert sorted(m["text"] for m in driving["members"]) == sorted([*DRIVING, DRIVING[0]])
    assert driving["text"] == DRIVING[0]  # the most common wording
    assert driving["reachable_askers"] == 3
    assert driving["id"] == min(m["id"] for m in driving["members"])
    assert group_with(listing, DOGS)["questions"] == 1
    assert "openid" not in json.dumps(listing)  # never shown to staff
    assert "o_driver" not in json.dumps(listing)

    body = {
        "question_ids": [m["id"] for m in driving["members"]],
        "text": ANSWER,
        "save_qa": True,
        "by": "交通股 王",
    }
    resp = await staff_client.post("/staff/api/inbox/answers", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    result = await resp.json()
    answer = result["answer"]
    assert answer["summary"]["sent"] == 3
    assert answer["summary"]["unreachable"] == 1
    late = next(d for d in answer["deliveries"] if d["status"] == "unreachable")
    assert late["reason"] == "window_closed"
    assert result["qa"]["question"] == DRIVING[0]

    for openid, text in askers.items():
        [message] = fake_wechat.messages_to(openid)
        assert message["msgtype"] == "text"
        assert ANSWER in message["text"]["content"]
        assert f"“{text.strip()}”" in message["text"]["content"]
    assert fake_wechat.messages_to("o_driver_late") == []
    assert fake_wechat.messages_to("o_dog_owner") == []

    # The same answer again (a retried request): nothing is sent a second time.
    again = await staff_client.post("/staff/api/inbox/answers", json=body, headers=AUTH)
    assert again.status == 200
    repeated = await again.json()
    assert repeated["answer"] is None
    assert repeated["already_answered"] == sorted(body["question_ids"])
    assert repeated["earlier_answers"][0]["id"] == answer["id"]
    assert len(fake_wechat.calls_to(SEND)) == 3
    # …nor by asking to deliver what is left.
    resp = await staff_client.post(f"/staff/api/inbox/answers/{answer['id']}/deliver", headers=AUTH)
    assert (await resp.json())["summary"] == answer["summary"]
    assert len(fake_wechat.calls_to(SEND)) == 3

    remaining = await inbox(staff_client)
    assert [g["text"] for g in remaining["groups"]] == [DOGS]

    # The saved Q&A pair reaches every process's index through the library revision.
    reply = ""
    for _ in range(50):
        reply = await ask(staff_client, peer, "o_new_driver", DRIVING[1])
        if ANSWER in reply:
            break
        await asyncio.sleep(0.2)
    assert ANSWER in reply
    async with library_engine.connect() as conn:
        [saved] = (await conn.execute(select(STAFF_ANSWERS))).all()
    assert (saved.qa_id, saved.author) == (result["qa"]["id"], "交通股 王")


async def test_the_staff_api_needs_the_token(
    staff_client: TestClient[Any, Any], make_client: MakeClient, settings: Settings
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": STAFF_TOKEN},
    ):
        resp = await staff_client.get("/staff/api/inbox", headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "令牌" in (await resp.json())["error"]
    no_token = await make_client(settings=settings)  # no staff token configured: no staff API
    assert (await no_token.get("/staff/api/inbox", headers=AUTH)).status == 404


async def test_bad_requests_are_refused_in_chinese(staff_client: TestClient[Any, Any]) -> None:
    cases = [
        ({"question_ids": [], "text": "x"}, 400),
        ({"question_ids": [1], "text": "   "}, 400),
        ({"question_ids": [1], "text": "好" * 1000}, 400),  # over WeChat's 2048 bytes
        ({"question_ids": [1], "text": "x", "policy_id": "qh-a-005"}, 400),  # without save_qa
        ({"question_ids": [1], "text": "x", "save_qa": True, "policy_id": "no-such"}, 400),
        ({"question_ids": [999], "text": "x"}, 409),  # not in the inbox
    ]
    for body, status in cases:
        resp = await staff_client.post("/staff/api/inbox/answers", json=body, headers=AUTH)
        assert resp.status == status, body
        assert any("\u4e00" <= ch <= "\u9fff" for ch in (await resp.json())["error"])
    resp = await staff_client.post("/staff/api/inbox/answers", data=b"{", headers=AUTH)
    assert resp.status == 400
    assert (await staff_client.get("/staff/api/inbox/answers/77", headers=AUTH)).status == 404


async def test_wechat_refusals_are_classified_and_recorded(
    staff_client: TestClient[Any, Any],
    peer: WeChatPeer,
    fake_wechat: FakeWeChatServer,
    library_engine: AsyncEngine,
) -> None:
    askers = {f"o_refused_{n}": DRIVING[n % 3] for n in range(4)}
    await ask_unanswered(staff_client, peer, askers)
    for errcode in (45015, 45047, 43004, 40164):  # window, limit, unfollowed, IP whitelist
        fake_wechat.fail_next(SEND, errcode)
    ids = [m["id"] for m in group_with(await inbox(staff_client), DRIVING[0])["members"]]
    resp = await staff_client.post(
        "/staff/api/inbox/answers", json={"question_ids": ids, "text": ANSWER}, headers=AUTH
    )
    answer = (await resp.json())["answer"]
    outcomes = Counter((d["status"], d["reason"], d["errcode"]) for d in answer["deliveries"])
    assert outcomes == Counter(
        {
            ("unreachable", "window_closed", 45015): 1,
            ("unreachable", "over_limit", 45047): 1,
            ("unreachable", "unsubscribed", 43004): 1,
            ("failed", "configuration", 40164): 1,
        }
    )
    # Refused for a reason of ours (here the IP whitelist): certainly not delivered, so
    # delivering again sends it; the others are final.
    resp = await staff_client.post(f"/staff/api/inbox/answers/{answer['id']}/deliver", headers=AUTH)
    summary = (await resp.json())["summary"]
    assert (summary["sent"], summary["unreachable"], summary["failed"]) == (1, 3, 0)
    assert len(fake_wechat.calls_to(SEND)) == 5


async def test_one_message_per_asker_even_with_several_questions_in_the_group(
    staff_client: TestClient[Any, Any], peer: WeChatPeer, fake_wechat: FakeWeChatServer
) -> None:
    await ask_unanswered(staff_client, peer, {"o_asks_twice": DRIVING[0]})
    await ask_unanswered(staff_client, peer, {"o_asks_twice": DRIVING[1]})
    group = group_with(await inbox(staff_client), DRIVING[0])
    assert group["reachable_askers"] == 1
    ids = [m["id"] for m in group["members"]]
    resp = await staff_client.post(
        "/staff/api/inbox/answers", json={"question_ids": ids, "text": ANSWER}, headers=AUTH
    )
    summary = (await resp.json())["answer"]["summary"]
    assert (summary["sent"], summary["same_asker"]) == (1, 1)
    [message] = fake_wechat.messages_to("o_asks_twice")
    assert f"“{DRIVING[1]}”" in message["text"]["content"]  # the latest question is quoted


async def test_dismissed_questions_leave_the_inbox(
    staff_client: TestClient[Any, Any], peer: WeChatPeer, fake_wechat: FakeWeChatServer
) -> None:
    await ask_unanswered(staff_client, peer, {"o_dog": DOGS})
    [group] = (await inbox(staff_client))["groups"]
    resp = await staff_client.post(
        "/staff/api/inbox/dismiss", json={"question_ids": [group["id"], 12345]}, headers=AUTH
    )
    assert (await resp.json()) == {"dismissed": [group["id"]]}
    assert (await inbox(staff_client))["groups"] == []
    resp = await staff_client.post(
        "/staff/api/inbox/answers",
        json={"question_ids": [group["id"]], "text": ANSWER},
        headers=AUTH,
    )
    assert resp.status == 409
    assert fake_wechat.calls_to(SEND) == []


async def test_the_inbox_command_lists_and_answers_a_group(
    staff_client: TestClient[Any, Any],
    peer: WeChatPeer,
    fake_wechat: FakeWeChatServer,
    account_env: dict[str, str],
    library_engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    askers = {"o_cli_a": DRIVING[0], "o_cli_b": DRIVING[1], "o_cli_old": DRIVING[2]}
    await ask_unanswered(staff_client, peer, {**askers, "o_cli_dog": DOGS})
    await age_questions(library_engine, "o_cli_old", hours=50)

    code, out, err = await gongkai("inbox", "list", cwd=tmp_path, env=account_env)
    assert code == 0, err
    assert "共 4 条" in out
    assert "组" in out
    for text in (*DRIVING, DOGS):
        assert text in out
    code, out, err = await gongkai("inbox", "list", "--json", cwd=tmp_path, env=account_env)
    listing = json.loads(out)
    driving = group_with(listing, DRIVING[0])
    assert driving["reachable_askers"] == 2, listing

    member = max(m["id"] for m in driving["members"])  # any member names its group
    code, out, err = await gongkai(
        "inbox",
        "answer",
        str(member),
        "--text",
        ANSWER,
        "--by",
        "王",
        cwd=tmp_path,
        env=account_env,
    )
    assert code == 0, err
    assert "已发送 2" in out
    assert "超过微信客服消息 48 小时时限" in out
    assert [len(fake_wechat.messages_to(o)) for o in askers] == [1, 1, 0]

    code, out, err = await gongkai(
        "inbox", "answer", str(member), "--text", ANSWER, cwd=tmp_path, env=account_env
    )
    assert code == 0, err
    assert "不会重复发送" in out
    assert len(fake_wechat.calls_to(SEND)) == 2
    async with library_engine.connect() as conn:
        statuses = (await conn.execute(select(DELIVERIES.c.status))).scalars().all()
    assert sorted(statuses) == ["sent", "sent", "unreachable"]

    code, out, err = await gongkai("inbox", "list", cwd=tmp_path, env=account_env)
    assert DRIVING[0] not in out
    assert DOGS in out


async def test_every_inbox_command_has_help(tmp_path: Path) -> None:
    for command in (["inbox"], ["inbox", "list"], ["inbox", "answer"], ["stats"]):
        code, out, _err = await gongkai(*command, "--help", cwd=tmp_path)
        assert code == 0
        assert out.startswith("usage: gongkai")
