"""Residents' conversations end to end: signed, AES-encrypted callbacks in, decrypted replies out,
against the bundled sample library in a real database (SQLite, and PostgreSQL in CI).

Questions were chosen by what the matcher decides for them on the sample library: answers are
clear-cut (a 文号, a stored question, a high-confidence colloquial question) and clarifications
genuinely ambiguous ("贷款", "补贴"), so that small shifts in the matcher's scores do not matter.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import ConversationSettings, Settings
from bot.conversations import CONVERSATIONS
from bot.questions import QUESTIONS
from bot.wechat.replies import TEXT_LIMIT_BYTES
from handlers import texts
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.model import Library, Status
from policy_index.repository import LibraryRepository
from tests.conftest import MakeClient, MakeSettings
from tests.integration.callback_helpers import next_msg_id, send
from tests.wechat_peer import WeChatPeer

LIBRARY: Library = read_library([SAMPLE_LIBRARY])
OPTION = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)


@dataclass
class Resident:
    """One WeChat user talking to the bot through the callback endpoint."""

    client: TestClient[Any, Any]
    peer: WeChatPeer
    openid: str

    async def say(self, content: str) -> str:
        answer = await send(
            self.client, self.peer, self.peer.text_xml(self.openid, content, next_msg_id())
        )
        assert answer.status == 200
        assert len(answer.content.encode("utf-8")) <= TEXT_LIMIT_BYTES
        return answer.content

    async def speak(self, recognition: str | None) -> str:
        xml = self.peer.voice_xml(self.openid, "media", next_msg_id(), recognition=recognition)
        return (await send(self.client, self.peer, xml)).content

    async def event(self, event: str, key: str | None = None, **extra: str) -> str:
        xml = self.peer.event_xml(self.openid, event, key, extra=extra or None)
        answer = await send(self.client, self.peer, xml)
        assert answer.status == 200
        return answer.content


@pytest.fixture
async def library_engine(engine: AsyncEngine) -> AsyncEngine:
    await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
    return engine


@pytest.fixture
async def resident(
    library_engine: AsyncEngine, make_client: MakeClient, peer: WeChatPeer, openid: str
) -> Resident:
    return Resident(await make_client(), peer, openid)


async def rows(engine: AsyncEngine, query: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


def options(reply: str) -> dict[int, str]:
    """The numbered options of a reply, without "0. 都不是"."""
    found = {int(n): label for n, label in OPTION.findall(reply)}
    found.pop(texts.NONE_OF_THESE, None)
    return found


def title_of(policy_id: str) -> str:
    policy = LIBRARY.policy(policy_id)
    assert policy is not None
    return policy.title


NOT_IN_FORCE = {p.title for p in LIBRARY.policies if p.status is not Status.CURRENT}


async def test_a_colloquial_question_gets_a_card_with_links(
    resident: Resident, library_engine: AsyncEngine
) -> None:
    reply = await resident.say("灵活就业人员社保补贴怎么申请？")
    assert reply.startswith("《青禾区灵活就业人员社会保险补贴实施细则》")
    assert "文号：青人社规〔2025〕1号" in reply
    assert "发布：" in reply
    assert "效力：现行有效" in reply
    assert '原文：<a href="https://' in reply
    assert "解读：<a href=" in reply
    [logged] = await rows(library_engine, select(QUESTIONS))
    assert (logged.decision, logged.answered_kind, logged.answered_id) == (
        "answer",
        "policy",
        "qh-a-005",
    )
    assert logged.openid is None  # answered questions are not linked to the asker
    assert logged.text == "灵活就业人员社保补贴怎么申请？"
    assert logged.candidates[0]["id"] == "qh-a-005"


async def test_a_stored_question_gets_its_answer_verbatim_with_the_policy_link(
    resident: Resident,
) -> None:
    qa = LIBRARY.qa("qh-b-001-qa1")
    assert qa is not None
    reply = await resident.say(qa.question)
    assert qa.answer in reply
    assert '依据：<a href="https://www.qinghe.gov.cn/zwgk/zcwj/2024/qh-b-001.html">' in reply
    assert "青民发〔2024〕5号" in reply


async def test_an_ambiguous_question_is_clarified_and_2_picks_the_second(
    resident: Resident, library_engine: AsyncEngine
) -> None:
    reply = await resident.say("贷款")
    assert reply.startswith("您是想问：")
    offered = options(reply)
    assert list(offered)[:2] == [1, 2]  # several loan policies, numbered from 1
    assert not NOT_IN_FORCE & {label.strip("《》") for label in offered.values()}
    picked = await resident.say("2")
    assert picked.startswith((offered[2], "问：" + offered[2]))
    [logged] = await rows(library_engine, select(QUESTIONS))
    assert logged.decision == "clarify"
    assert logged.answered_id is not None  # the pick is recorded on the question


async def test_none_of_the_options_sends_the_question_to_the_inbox(
    resident: Resident, library_engine: AsyncEngine
) -> None:
    reply = await resident.say("贷款")
    assert f"\n{texts.NONE_OF_THESE}. 都不是" in reply
    [asked] = await rows(library_engine, select(QUESTIONS))
    assert (asked.decision, asked.status, asked.openid) == ("clarify", None, None)
    handed_over = await resident.say("0")
    assert handed_over.startswith("好的，您的问题已转给工作人员")
    [logged] = await rows(library_engine, select(QUESTIONS))
    assert (logged.status, logged.openid) == ("open", resident.openid)  # reachable for the reply
    assert logged.answered_id is None
    assert await resident.say("1") == texts.choice_expired(10)  # the options are closed


async def test_more_pages_through_the_options(resident: Resident) -> None:
    first = options(await resident.say("补贴"))
    assert list(first) == [1, 2, 3]
    second = options(await resident.say("更多"))
    assert min(second) == 4
    labels = {**first, **second}
    chosen = await resident.say(str(max(second)))
    assert labels[max(second)].strip("《》") in chosen
    assert not NOT_IN_FORCE & {label.strip("《》") for label in labels.values()}


async def test_numbers_without_pending_options_say_they_expired(resident: Resident) -> None:
    assert await resident.say("2") == texts.choice_expired(10)
    assert await resident.say("更多") == texts.NOTHING_TO_PAGE


async def test_follow_ups_answer_from_the_last_policy_until_a_new_topic(
    resident: Resident, library_engine: AsyncEngine
) -> None:
    def guide(policy_id: str, facet: str) -> str:
        policy = LIBRARY.policy(policy_id)
        value = getattr(policy.guide, facet) if policy and policy.guide else None
        assert isinstance(value, str)
        return value

    assert (await resident.say("低保怎么申请")).startswith("《青禾区最低生活保障实施办法》")
    materials = await resident.say("那要什么材料？")
    assert materials.startswith("《青禾区最低生活保障实施办法》· 所需材料")
    assert guide("qh-b-001", "materials") in materials
    assert guide("qh-b-001", "time_limit") in await resident.say("多久到账")
    assert guide("qh-b-001", "phone") in await resident.say("电话多少")

    assert (await resident.say("加装电梯补贴")).startswith(f"《{title_of('qh-a-029')}》")
    assert guide("qh-a-029", "materials") in await resident.say("那要什么材料？")  # new topic

    # After the conversation's memory (10 minutes) a follow-up has no topic any more.
    async with library_engine.begin() as conn:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await conn.execute(update(CONVERSATIONS).values(expires_at=past))
    assert await resident.say("电话多少") == texts.ASK_TOPIC_FIRST
    followups = await rows(
        library_engine, select(QUESTIONS).where(QUESTIONS.c.decision == "followup")
    )
    assert [(r.answered_id, r.facet) for r in followups] == [
        ("qh-b-001", "materials"),
        ("qh-b-001", "time_limit"),
        ("qh-b-001", "phone"),
        ("qh-a-029", "materials"),
    ]


async def test_no_match_is_said_plainly_and_goes_to_the_unanswered_inbox(
    resident: Resident, library_engine: AsyncEngine
) -> None:
    reply = await resident.say("怎么考驾照")
    assert reply.startswith("抱歉，政策库里没有找到")
    assert "12345" in reply
    assert "依申请公开" in reply
    [logged] = await rows(library_engine, select(QUESTIONS))
    assert (logged.decision, logged.status, logged.openid) == ("none", "open", resident.openid)
    assert logged.text == "怎么考驾照"
    assert logged.normalised
    assert logged.answered_id is None


async def test_voice_uses_the_recognition_or_asks_to_type(
    resident: Resident, library_engine: AsyncEngine
) -> None:
    assert (await resident.speak("低保怎么申请。")).startswith("《青禾区最低生活保障实施办法》")
    assert await resident.speak(None) == texts.VOICE_NOT_RECOGNISED
    assert await resident.speak("") == texts.VOICE_NOT_RECOGNISED
    [logged] = await rows(library_engine, select(QUESTIONS))
    assert logged.source == "voice"


async def test_a_repealed_policy_is_never_the_answer_but_is_shown_when_named(
    resident: Resident,
) -> None:
    current = await resident.say("城乡居民最低生活保障")
    assert current.startswith("《青禾区最低生活保障实施办法》")
    assert "效力：现行有效" in current
    named = await resident.say("青民发〔2021〕9号")
    assert named.startswith("《青禾区城乡居民最低生活保障实施办法》")
    assert "效力：已废止" in named
    assert "现行政策：《青禾区最低生活保障实施办法》（青民发〔2024〕5号）" in named
    assert (await resident.say("1")).startswith("《青禾区最低生活保障实施办法》")


async def test_follow_with_and_without_a_qr_scene(
    library_engine: AsyncEngine,
    make_client: MakeClient,
    make_settings: MakeSettings,
    peer: WeChatPeer,
) -> None:
    settings = make_settings().model_copy(update={"qr_scenes": {"town_hall_3": "区政务服务中心"}})
    client = await make_client(settings=settings)
    plain = await Resident(client, peer, "o_plain_follower").event("subscribe")
    assert plain == texts.welcome(settings)
    scanned = Resident(client, peer, "o_scanning_follower")
    by_scene = await scanned.event(
        "subscribe", "qrscene_town_hall_3", Ticket="gQH47joAAAAAAAAAASxodHRw"
    )
    assert by_scene.startswith(texts.welcome_place("区政务服务中心"))
    assert texts.welcome(settings) in by_scene
    unknown = await Resident(client, peer, "o_other_follower").event("subscribe", "qrscene_x9")
    assert unknown == texts.welcome(settings)
    again = await scanned.event("SCAN", "town_hall_3", Ticket="gQH47joAAAAAAAAAASxodHRw")
    assert "区政务服务中心" in again


async def test_unfollow_deletes_personal_data_and_keeps_anonymous_counts(
    resident: Resident, library_engine: AsyncEngine
) -> None:
    await resident.say("怎么考驾照")  # unanswered: linked to the asker
    await resident.say("低保怎么申请")  # leaves a conversation
    openid = resident.openid
    assert await rows(library_engine, select(CONVERSATIONS).where(CONVERSATIONS.c.openid == openid))
    assert await resident.event("unsubscribe") == ""
    for table in (CONVERSATIONS, QUESTIONS):
        assert not await rows(library_engine, select(table).where(table.c.openid == openid))
    [(count,)] = await rows(library_engine, select(func.count()).select_from(QUESTIONS))
    assert count == 2


@pytest.fixture
async def limited(
    library_engine: AsyncEngine, make_client: MakeClient, make_settings: MakeSettings
) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any], Settings]]:
    """Two server processes' worth of apps on one database, 3 messages a minute per user."""
    settings = make_settings().model_copy(
        update={"conversation": ConversationSettings(max_per_minute=3)}
    )
    return await make_client(settings=settings), await make_client(settings=settings), settings


async def test_flood_control_answers_politely_across_processes(
    limited: tuple[TestClient[Any, Any], TestClient[Any, Any], Settings],
    peer: WeChatPeer,
    openid: str,
    library_engine: AsyncEngine,
) -> None:
    first, second, settings = limited
    one, other = Resident(first, peer, openid), Resident(second, peer, openid)
    assert (await one.say("低保怎么申请")).startswith("《")
    assert (await other.say("那要什么材料？")).startswith("《")  # same dialog in another process
    assert (await one.say("电话多少")).startswith("《")
    assert await other.say("多久到账") == texts.slow_down(settings)  # the 4th in a minute
    assert await one.say("帮助") == texts.slow_down(settings)  # never dropped silently
    assert await Resident(second, peer, "o_someone_else").say("帮助") == texts.help_text(settings)
    logged = await rows(library_engine, select(QUESTIONS.c.decision))
    assert len(logged) == 3  # refused messages are not questions
