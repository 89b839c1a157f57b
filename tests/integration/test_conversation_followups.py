"""Conversations that stay with the resident (issue 15), end to end through signed, AES-encrypted
callbacks: follow-ups bind to the policy shown, a weak guess is no answer, answers lead with what
was asked, and text that is not a question is neither logged nor promised an answer.

Each table row of the issue is played against the bundled sample library and against
``tests/data/realworld_shape_library.jsonl``: a small library of our own written in the shape of
a county's catalogue export (only id, title, issuer, doc_number, date, topics, audience, summary,
source_url: no guide, no Q&A, no aliases, no 免申即享 flag).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.conversations import CONVERSATIONS
from bot.inbox import Inbox
from bot.questions import QUESTIONS
from bot.stats import report
from handlers import texts
from policy_index.index import LOCAL_TZ
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.model import Library
from policy_index.repository import LibraryRepository
from tests.conftest import MakeClient
from tests.integration.test_conversations import LIBRARY, Resident, options, rows
from tests.wechat_peer import WeChatPeer

REALWORLD_SHAPE = Path(__file__).parents[1] / "data" / "realworld_shape_library.jsonl"
SHAPED: Library = read_library([REALWORLD_SHAPE])
NOT_FOUND = "抱歉，政策库里没有找到"


def guide(policy_id: str, facet: str) -> str:
    policy = LIBRARY.policy(policy_id)
    value = getattr(policy.guide, facet) if policy and policy.guide else None
    assert isinstance(value, str)
    return value


def title(library: Library, policy_id: str) -> str:
    policy = library.policy(policy_id)
    assert policy is not None
    return policy.title


async def expire_conversations(engine: AsyncEngine) -> None:
    """As if the resident came back after the conversation's 10 minutes."""
    async with engine.begin() as conn:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await conn.execute(update(CONVERSATIONS).values(expires_at=past))


async def _resident(
    engine: AsyncEngine, make_client: MakeClient, peer: WeChatPeer, openid: str, path: Path
) -> Resident:
    await LibraryRepository(engine).import_files([path])
    return Resident(await make_client(), peer, openid)


@pytest.fixture
async def resident(
    engine: AsyncEngine, make_client: MakeClient, peer: WeChatPeer, openid: str
) -> Resident:
    """A resident talking to the bot over the bundled sample library."""
    return await _resident(engine, make_client, peer, openid, SAMPLE_LIBRARY)


@pytest.fixture
async def shaped(
    engine: AsyncEngine, make_client: MakeClient, peer: WeChatPeer, openid: str
) -> Resident:
    """A resident talking to the bot over the realworld-shaped library."""
    return await _resident(engine, make_client, peer, openid, REALWORLD_SHAPE)


@pytest.fixture(params=["bundled", "shaped"])
async def either(
    request: pytest.FixtureRequest,
    engine: AsyncEngine,
    make_client: MakeClient,
    peer: WeChatPeer,
    openid: str,
) -> tuple[Library, Resident]:
    """Each library in turn, with its resident."""
    bundled = request.param == "bundled"
    path = SAMPLE_LIBRARY if bundled else REALWORLD_SHAPE
    who = await _resident(engine, make_client, peer, openid, path)
    return (LIBRARY if bundled else SHAPED), who


# --- Row 1–2: follow-ups continue the policy just shown ---------------------------------------


async def test_follow_ups_stay_with_the_policy_just_shown(
    resident: Resident, engine: AsyncEngine
) -> None:
    first = await resident.say("低保怎么申请，要什么材料")
    assert first.startswith("《青禾区最低生活保障实施办法》· 所需材料")
    assert guide("qh-b-001", "materials") in first
    when = await resident.say("那要多久能批下来")  # was a Q&A about 慢病认定
    assert when.startswith("《青禾区最低生活保障实施办法》· 办理时限")
    assert guide("qh-b-001", "time_limit") in when
    phone = await resident.say("电话多少")  # was the 慢病 office's number
    assert phone.startswith("《青禾区最低生活保障实施办法》· 咨询电话")
    assert guide("qh-b-001", "phone") in phone
    followups = await rows(engine, select(QUESTIONS).where(QUESTIONS.c.decision == "followup"))
    assert [(r.answered_id, r.facet) for r in followups] == [
        ("qh-b-001", "time_limit"),
        ("qh-b-001", "phone"),
    ]


async def test_follow_ups_without_a_guide_answer_from_the_summary(shaped: Resident) -> None:
    low_income = title(SHAPED, "rw-01")
    first = await shaped.say("低保怎么申请，要什么材料")
    assert first.startswith(f"《{low_income}》· 所需材料")
    assert "身份证、户口簿" in first
    when = await shaped.say("那要多久能批下来")
    assert when.startswith(f"《{low_income}》· 办理时限")
    assert "30个工作日内" in when
    phone = await shaped.say("电话多少")
    assert phone.startswith(f"《{low_income}》· 咨询电话")
    assert "0571-6321001" in phone  # the 低保 office, not the 慢病 one (0571-6321088)


async def test_a_question_naming_another_subject_starts_over(shaped: Resident) -> None:
    assert (await shaped.say("低保怎么申请")).startswith(f"《{title(SHAPED, 'rw-01')}》")
    housing = await shaped.say("公租房要什么材料")
    assert housing.startswith(f"《{title(SHAPED, 'rw-09')}》")
    assert "收入证明" in housing


async def test_a_follow_up_after_a_numbered_choice(resident: Resident) -> None:
    offered = options(await resident.say("贷款"))
    picked = await resident.say("2")
    assert offered[2].strip("《》") in picked or picked.startswith("问：" + offered[2])
    materials = await resident.say("那要带什么材料")
    chosen = offered[2].strip("《》")
    ids = [p.id for p in LIBRARY.policies if p.title == chosen]
    ids += [q.policy_id for q in LIBRARY.qa_pairs if q.question == offered[2] and q.policy_id]
    [policy_id] = ids
    assert materials.startswith(f"《{title(LIBRARY, policy_id)}》· 所需材料")


async def test_a_follow_up_after_more(resident: Resident) -> None:
    first = options(await resident.say("补贴"))
    second = options(await resident.say("更多"))
    assert min(second) == max(first) + 1
    number = min(second)
    label = second[number].strip("《》")
    picked = await resident.say(str(number))
    assert label in picked
    [policy_id] = [p.id for p in LIBRARY.policies if p.title == label] or [
        q.policy_id for q in LIBRARY.qa_pairs if q.question == second[number]
    ]
    assert policy_id is not None
    phone = await resident.say("电话多少")
    assert phone.startswith(f"《{title(LIBRARY, policy_id)}》· 咨询电话")


async def test_after_ten_minutes_a_follow_up_is_a_new_question(
    resident: Resident, engine: AsyncEngine
) -> None:
    await resident.say("低保怎么申请")
    await expire_conversations(engine)
    assert await resident.say("电话多少") == texts.ASK_TOPIC_FIRST
    again = await resident.say("那要多久能批下来")
    assert not again.startswith("《青禾区最低生活保障实施办法》")  # no memory of 低保 any more
    followups = await rows(engine, select(QUESTIONS).where(QUESTIONS.c.decision == "followup"))
    assert followups == []


# --- Row 3–4: no facet question or option on a weak guess -------------------------------------


async def test_a_subject_not_in_the_library_is_not_found_with_the_nearest_topic(
    either: tuple[Library, Resident],
) -> None:
    lib, who = either
    policy_id = "qh-a-019" if lib is LIBRARY else "rw-03"
    reply = await who.say("孩子上小学怎么报名")
    assert reply.startswith(NOT_FOUND)
    assert "哪方面" not in reply
    assert f"1. 《{title(lib, policy_id)}》" in reply  # the nearest topic, to pick if it helps
    assert "12345" in reply


async def test_a_word_of_many_senses_is_never_enough_alone(
    either: tuple[Library, Resident], engine: AsyncEngine
) -> None:
    _lib, who = either
    reply = await who.say("结婚登记需要带什么")
    assert reply.startswith(NOT_FOUND)
    assert "登记" not in reply.split("\n", 1)[1]  # no 不动产登记 / 市场主体登记 offered
    assert not options(reply)
    [logged] = await rows(engine, select(QUESTIONS))
    assert (logged.decision, logged.status) == ("none", "open")  # staff see it


async def test_a_generic_word_alone_is_still_a_choice(resident: Resident) -> None:
    assert len(options(await resident.say("补贴"))) == 3  # broad, not a guess


# --- Row 5–6: answer the question asked --------------------------------------------------------


async def test_an_exempt_policy_says_nothing_needs_applying_for(resident: Resident) -> None:
    reply = await resident.say("稳岗补贴怎么领")
    assert reply.startswith(f"《{title(LIBRARY, 'qh-a-006')}》· 免申即享")
    said = [q.answer for q in LIBRARY.qa_for("qh-a-006") if "免申即享" in q.answer]
    assert said
    assert said[0] in reply.split("\n")[1]
    assert "文号：江屿人社发〔2025〕11号" in reply  # then the card


async def test_an_exempt_policy_in_a_catalogue_export(shaped: Resident) -> None:
    reply = await shaped.say("稳岗返还怎么申请")
    assert reply.startswith(f"《{title(SHAPED, 'rw-07')}》· 免申即享")
    assert "企业无需申请" in reply.split("\n")[1]


async def test_what_is_granted_not_the_definition(either: tuple[Library, Resident]) -> None:
    _lib, who = either
    reply = await who.say("小微企业有什么税收优惠")
    heading, granted = reply.split("\n")[:2]
    assert heading.endswith("· 可享受的优惠")
    assert "减半" in granted
    assert "是指" not in granted


# --- Row 7: text that is not a question --------------------------------------------------------


async def test_junk_is_not_a_question(
    either: tuple[Library, Resident], engine: AsyncEngine, settings: Settings
) -> None:
    _lib, who = either
    for junk in ("asdfgh 123", "12345678", "😀😀", "qwer"):
        assert await who.say(junk) == texts.not_understood(settings)  # no promise
    assert await rows(engine, select(QUESTIONS)) == []  # not logged, not in the inbox
    assert (await who.say("2")) == texts.choice_expired(10)  # a number with nothing pending


# --- Counts agree -----------------------------------------------------------------------------


async def test_stats_waiting_equals_the_inbox_groups(
    resident: Resident, engine: AsyncEngine
) -> None:
    await resident.say("怎么考驾照")  # nothing found: to the inbox
    await resident.say("贷款")
    await resident.say("0")  # none of the options: to the inbox too
    groups = await Inbox(engine).groups()
    in_groups = sum(len(g.questions) for g in groups)
    today = datetime.now(LOCAL_TZ).date()  # the report's days are the county's
    figures = await report(engine, LIBRARY, today - timedelta(days=1), today)
    assert figures.inbox.get("open") == in_groups == 2
    assert {u.text for u in figures.unanswered} == {"怎么考驾照", "贷款"}


def test_the_menus_exempt_count_is_the_length_of_its_list() -> None:
    from handlers.menu import audience_topics, exempt_policies

    today = date(2026, 6, 1)
    listed = exempt_policies(LIBRARY, today)
    for audience in ("个人", "企业"):
        counted = dict(audience_topics(LIBRARY, today, audience)).get("免申即享", 0)
        assert counted == sum(audience in p.audience for p in listed)
