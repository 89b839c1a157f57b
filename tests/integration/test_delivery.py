"""Delivering staff answers at most once: crashes between sending and recording, two processes
answering the same group, WeChat's answer lost, the 48-hour window and the 5-message limit —
against the fake WeChat API on loopback and a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.console.desk import AnswerRequest, StaffDesk
from bot.db import create_engine
from bot.inbox import DELIVERIES, DeliveryStatus
from bot.privacy import PersonalData
from bot.questions import OPEN, QUESTIONS
from bot.token_store import SqlTokenStore
from bot.wechat.api import RetryPolicy, WeChatClient
from bot.wechat.errcodes import WeChatAPIError, WeChatOutcomeUnknownError, WeChatUnavailableError
from bot.wechat.fake_api import FakeWeChatServer
from push.answers import MAX_PER_USER_MESSAGE, STALE_SENDING, classify
from tests.conftest import APP_ID, APP_SECRET

SEND = "/cgi-bin/message/custom/send"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def wechat(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> AsyncIterator[Callable[..., WeChatClient]]:
    async with aiohttp.ClientSession() as session:

        def make(**kwargs: Any) -> WeChatClient:
            kwargs.setdefault("retry", RetryPolicy(attempts=3, base_s=0.01, cap_s=0.02))
            return WeChatClient(
                session,
                token_store=SqlTokenStore(engine),
                app_id=APP_ID,
                app_secret=APP_SECRET,
                base_url=fake_wechat.base_url,
                **kwargs,
            )

        yield make


async def seed(engine: AsyncEngine, openid: str | None, text: str, asked_at: datetime) -> int:
    values = {
        "asked_at": asked_at,
        "openid": openid,
        "source": "text",
        "text": text,
        "normalised": text,
        "decision": "none",
        "candidates": [],
        "status": OPEN,
    }
    async with engine.begin() as conn:
        result = await conn.execute(insert(QUESTIONS).values(**values).returning(QUESTIONS.c.id))
        return int(result.scalar_one())


async def statuses(engine: AsyncEngine) -> dict[int, tuple[str, str | None]]:
    d = DELIVERIES.c
    async with engine.connect() as conn:
        rows = (await conn.execute(select(d.question_id, d.status, d.reason))).all()
    return {qid: (status, reason) for qid, status, reason in rows}


def request(*ids: int) -> AnswerRequest:
    return AnswerRequest(question_ids=ids, text="答复内容：请到政务服务中心三号窗口办理。")


class CrashAfterSending:
    """Sends, then the process "dies" before the outcome is recorded."""

    def __init__(self, client: WeChatClient) -> None:
        self.client = client

    async def send_text_once(self, openid: str, content: str) -> None:
        await self.client.send_text_once(openid, content)
        raise asyncio.CancelledError  # not an Exception: nothing after this runs


async def test_a_crash_between_sending_and_recording_never_sends_twice(
    engine: AsyncEngine,
    settings: Settings,
    wechat: Callable[..., WeChatClient],
    fake_wechat: FakeWeChatServer,
) -> None:
    clock = Clock()
    qid = await seed(engine, "o_crash", "怎么考驾照", NOW - timedelta(hours=1))
    crashing = StaffDesk(engine, settings, CrashAfterSending(wechat()), clock=clock)
    with pytest.raises(asyncio.CancelledError):
        await crashing.answer(request(qid))
    assert len(fake_wechat.messages_to("o_crash")) == 1
    assert (await statuses(engine))[qid] == ("sending", None)

    desk = StaffDesk(engine, settings, wechat(), clock=clock)  # the next process
    [answer_id] = {a for _, a in (await desk.inbox.answer_ids_for([qid])).items()}
    await desk.deliver(answer_id)  # retried at once: still in flight as far as we know
    assert (await statuses(engine))[qid] == ("sending", None)
    clock.now += STALE_SENDING + timedelta(seconds=1)
    answer = await desk.deliver(answer_id)
    assert [(d.status, d.reason) for d in answer.deliveries] == [
        (DeliveryStatus.UNKNOWN, "interrupted")
    ]
    outcome = await desk.answer(request(qid))  # and answering it again
    assert outcome.answer is None
    assert len(fake_wechat.messages_to("o_crash")) == 1  # never a second message


async def test_a_lost_answer_from_wechat_is_not_retried(
    engine: AsyncEngine,
    settings: Settings,
    wechat: Callable[..., WeChatClient],
    fake_wechat: FakeWeChatServer,
) -> None:
    qid = await seed(engine, "o_slow", "怎么考驾照", NOW - timedelta(hours=1))
    client = wechat(timeout_s=0.3)
    await client.tokens.get()  # the token call is not what is being delayed
    fake_wechat.delay_next(SEND, 1.0)
    desk = StaffDesk(engine, settings, client, clock=Clock())
    outcome = await desk.answer(request(qid))
    assert outcome.answer is not None
    [delivery] = outcome.answer.deliveries
    assert (delivery.status, delivery.reason) == (DeliveryStatus.UNKNOWN, "no_response")
    assert len(fake_wechat.calls_to(SEND)) == 1  # the sender's own retries did not repeat it
    await desk.deliver(outcome.answer.id)
    assert len(fake_wechat.calls_to(SEND)) == 1


async def test_two_processes_answering_the_same_group_send_once(
    engine: AsyncEngine,
    database_url: str,
    settings: Settings,
    wechat: Callable[..., WeChatClient],
    fake_wechat: FakeWeChatServer,
) -> None:
    ids = [
        await seed(engine, f"o_pair_{n}", "怎么考驾照", NOW - timedelta(minutes=n))
        for n in range(6)
    ]
    other = create_engine(database_url)  # the second process's own connections
    try:
        async with aiohttp.ClientSession() as session:
            second_client = WeChatClient(
                session,
                token_store=SqlTokenStore(other),
                app_id=APP_ID,
                app_secret=APP_SECRET,
                base_url=fake_wechat.base_url,
            )
            first = StaffDesk(engine, settings, wechat(), clock=Clock())
            second = StaffDesk(other, settings, second_client, clock=Clock())
            outcomes = await asyncio.gather(
                first.answer(request(*ids)),
                second.answer(request(*ids)),
                first.deliver(1),
                second.deliver(1),
                return_exceptions=True,
            )
    finally:
        await other.dispose()
    answered = [o for o in outcomes[:2] if not isinstance(o, BaseException) and o.answer]
    assert len(answered) == 1  # one claim won; the other found the questions answered
    for n in range(6):
        assert len(fake_wechat.messages_to(f"o_pair_{n}")) == 1
    assert {s for s, _ in (await statuses(engine)).values()} == {"sent"}


async def test_the_window_the_limit_and_unfollowing(
    engine: AsyncEngine,
    batches: Any,
    settings: Settings,
    wechat: Callable[..., WeChatClient],
    fake_wechat: FakeWeChatServer,
) -> None:
    clock = Clock()
    desk = StaffDesk(engine, settings, wechat(), clock=clock)
    inside = await seed(engine, "o_inside", "怎么考驾照", NOW - timedelta(hours=47, minutes=59))
    expired = await seed(engine, "o_expired", "怎么考驾照", NOW - timedelta(hours=48))
    gone = await seed(engine, "o_gone", "怎么考驾照", NOW - timedelta(hours=1))
    await PersonalData(batches).forget("o_gone")  # unfollowed before the answer
    await desk.answer(request(inside, expired, gone))
    found = await statuses(engine)
    assert found[inside] == ("sent", None)
    assert found[expired] == ("unreachable", "window_closed")
    assert found[gone] == ("unreachable", "no_openid")
    assert [len(fake_wechat.messages_to(o)) for o in ("o_inside", "o_expired")] == [1, 0]

    # At most 5 customer-service messages after the user's last message.
    ids = [
        await seed(engine, "o_busy", f"问题{n}", NOW - timedelta(minutes=10 - n))
        for n in range(MAX_PER_USER_MESSAGE + 1)
    ]
    for qid in ids:
        await desk.answer(request(qid))
    found = await statuses(engine)
    assert [found[q][0] for q in ids] == ["sent"] * MAX_PER_USER_MESSAGE + ["unreachable"]
    assert found[ids[-1]] == ("unreachable", "over_limit")
    assert len(fake_wechat.messages_to("o_busy")) == MAX_PER_USER_MESSAGE
    # A new message from the user opens a new allowance.
    newer = await seed(engine, "o_busy", "又一个问题", NOW + timedelta(minutes=1))
    clock.now += timedelta(minutes=2)
    await desk.answer(request(newer))
    assert (await statuses(engine))[newer] == ("sent", None)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (WeChatAPIError(45015, "out of time limit"), ("unreachable", "window_closed")),
        (WeChatAPIError(45047, "out of response count limit"), ("unreachable", "over_limit")),
        (WeChatAPIError(43004, "require subscribe"), ("unreachable", "unsubscribed")),
        (WeChatAPIError(40003, "invalid openid"), ("unreachable", "recipient_gone")),
        (WeChatAPIError(45009, "api freq out of limit"), ("failed", "quota")),
        (WeChatAPIError(40164, "invalid ip"), ("failed", "configuration")),
        (WeChatAPIError(40001, "invalid credential"), ("failed", "refresh_token")),
        (WeChatAPIError(99999, "something new"), ("failed", "permanent")),
        (WeChatUnavailableError("no connection"), ("failed", "unavailable")),
        (WeChatOutcomeUnknownError("timeout"), ("unknown", "no_response")),
        (RuntimeError("bug"), ("unknown", "error")),
    ],
)
def test_send_errors_are_classified(error: Exception, expected: tuple[str, str]) -> None:
    outcome = classify(error)
    assert (outcome.status.value, outcome.reason) == expected
