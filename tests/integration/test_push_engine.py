"""The delivery engine against the fake WeChat API on loopback and a real database: every
subscriber exactly once through injected faults, each errcode's path, quiet hours and the daily
cap, a crashed worker's batch taken over, late unsubscribes, and the token refreshed once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.token_store import SqlTokenStore
from bot.wechat.api import RetryPolicy, WeChatClient
from bot.wechat.fake_api import FakeWeChatServer, Faults
from push import outbox
from push.config import PushSettings
from push.engine import Dispatcher
from push.subscriptions import unsubscribe
from push.tables import (
    CHANNEL_STATE,
    DELIVERIES,
    NOTICES,
    SUBSCRIBERS,
    Channel,
    DeliveryState,
    NoticeState,
)
from tests.conftest import APP_ID, APP_SECRET
from tests.push_factories import make_notice, make_subscribers

TEMPLATE = "/cgi-bin/message/template/send"
DAYTIME = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Monday
NIGHT = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 23:00 in Beijing


class Clock:
    """Starts at ``start`` and runs at real speed; ``jump`` moves it on."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.began = time.monotonic()
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return self.start + self.offset + timedelta(seconds=time.monotonic() - self.began)

    def jump(self, delta: timedelta) -> None:
        self.offset += delta


def settings(**overrides: Any) -> PushSettings:
    values: dict[str, Any] = {
        "template_id": "TEMPLATE_ID_1",
        "backoff_s": 0.01,
        "backoff_cap_s": 0.05,
        "poll_s": 0.02,
        "batch": 20,
        "lease_s": 30,
    }
    values.update(overrides)
    return PushSettings(**values)


@pytest.fixture
async def client(engine: AsyncEngine, fake_wechat: FakeWeChatServer) -> AsyncIterator[WeChatClient]:
    async with aiohttp.ClientSession() as session:
        yield WeChatClient(
            session,
            token_store=SqlTokenStore(engine),
            app_id=APP_ID,
            app_secret=APP_SECRET,
            base_url=fake_wechat.base_url,
            retry=RetryPolicy(attempts=1),
            timeout_s=5,
        )


MakeDispatcher = Callable[..., Dispatcher]


@pytest.fixture
def dispatcher(engine: AsyncEngine, client: WeChatClient) -> MakeDispatcher:
    def make(clock: Clock | None = None, **overrides: Any) -> Dispatcher:
        return Dispatcher(
            engine, client, settings(**overrides), clock=clock or Clock(DAYTIME), worker="w1"
        )

    return make


async def delivery_states(engine: AsyncEngine, notice_id: int) -> dict[str, int]:
    d = DELIVERIES.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(d.status, func.count()).where(d.notice_id == notice_id).group_by(d.status)
        )
        return {status: int(n) for status, n in rows}


async def notice_state(engine: AsyncEngine, notice_id: int) -> str:
    async with engine.connect() as conn:
        return str(
            (
                await conn.execute(select(NOTICES.c.state).where(NOTICES.c.id == notice_id))
            ).scalar_one()
        )


async def test_every_subscriber_of_the_topic_gets_the_notice_once(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    readers = await make_subscribers(engine, 45, "就业创业", now=DAYTIME)
    await make_subscribers(engine, 7, "住房", prefix="o_other_", now=DAYTIME)
    nid = await make_notice(engine, now=DAYTIME, topics=["就业创业"])
    stats = await dispatcher().run(until_idle=True)
    assert stats.sent == 45
    assert await delivery_states(engine, nid) == {"sent": 45}
    assert await notice_state(engine, nid) == NoticeState.DONE
    got = fake_wechat.stats()
    assert got["recipients"] == 45
    assert got["duplicates"] == 0
    sent_to = {c.body["touser"] for c in fake_wechat.calls_to(TEMPLATE)}
    assert sent_to == set(readers)
    body = fake_wechat.calls_to(TEMPLATE)[0].body
    assert body["template_id"] == "TEMPLATE_ID_1"
    assert body["url"] == "https://example.gov.cn/notice/1"
    assert all(len(v["value"]) <= 20 for v in body["data"].values())  # WeChat's field limit
    assert body["data"]["thing1"]["value"].startswith("关于发放2026年度稳岗返还")


async def test_faults_lose_no_one_and_send_no_one_twice(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    await make_subscribers(engine, 120, "惠企/免申即享", now=DAYTIME)
    nid = await make_notice(engine, now=DAYTIME, topics=["惠企/免申即享"])
    fake_wechat.faults = Faults(busy=0.1, http_500=0.1, lost_answer=0.1, token_expiry=0.02)
    await dispatcher().run(until_idle=True)
    got = fake_wechat.stats()
    assert got["faults"]["busy"] > 0
    assert got["faults"]["lost_answer"] > 0
    assert got["recipients"] == 120  # everyone
    assert got["duplicates"] == 0  # lost answers were resent with the same client_msg_id
    assert got["deduplicated"] >= got["faults"]["lost_answer"]
    assert await delivery_states(engine, nid) == {"sent": 120}


async def test_unfollowed_recipient_is_deactivated_and_never_retried(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    openids = await make_subscribers(engine, 5, "教育", now=DAYTIME)
    fake_wechat.unfollowed.add(openids[2])
    nid = await make_notice(engine, now=DAYTIME, topics=["教育"])
    stats = await dispatcher().run(until_idle=True)
    assert (stats.sent, stats.failed) == (4, 1)
    assert await delivery_states(engine, nid) == {"sent": 4, "failed": 1}
    tries = [c for c in fake_wechat.calls_to(TEMPLATE) if c.body["touser"] == openids[2]]
    assert len(tries) == 1
    async with engine.connect() as conn:
        active = (
            await conn.execute(
                select(SUBSCRIBERS.c.active).where(SUBSCRIBERS.c.openid == openids[2])
            )
        ).scalar_one()
        row = (
            await conn.execute(
                select(DELIVERIES.c.errcode, DELIVERIES.c.reason).where(
                    DELIVERIES.c.openid == openids[2]
                )
            )
        ).one()
    assert active is False
    assert tuple(row) == (43004, "unfollowed")
    # The next notice to the topic skips the deactivated subscriber.
    second = await make_notice(engine, now=DAYTIME, topics=["教育"])
    await dispatcher().run(until_idle=True)
    assert await delivery_states(engine, second) == {"sent": 4}


async def test_daily_quota_pauses_the_channel_until_midnight_beijing(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    await make_subscribers(engine, 30, "住房", now=DAYTIME)
    nid = await make_notice(engine, now=DAYTIME, topics=["住房"])
    fake_wechat.daily_quota = 12
    clock = Clock(DAYTIME)
    stats = await dispatcher(clock).run(until_idle=True)  # returns: the rest is tomorrow's
    assert stats.sent == 12
    states = await delivery_states(engine, nid)
    assert states == {"sent": 12, "pending": 18}
    async with engine.connect() as conn:
        paused = (await conn.execute(select(CHANNEL_STATE))).mappings().one()
    assert paused["channel"] == Channel.TEMPLATE
    assert paused["errcode"] == 45009
    assert paused["paused_until"] == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # 00:00 Beijing
    sends_before = fake_wechat.sends
    await dispatcher(clock).run(until_idle=True)  # still paused: nothing is tried
    assert fake_wechat.sends == sends_before
    fake_wechat.daily_quota = None
    clock.jump(timedelta(hours=22, minutes=1))  # 08:01 the next day: quota renewed, quiet over
    await dispatcher(clock).run(until_idle=True)
    assert await delivery_states(engine, nid) == {"sent": 30}
    assert await notice_state(engine, nid) == NoticeState.DONE


async def test_quiet_hours_hold_deliveries_until_morning(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    await make_subscribers(engine, 6, "救助", now=NIGHT)
    nid = await make_notice(engine, now=NIGHT, topics=["救助"])
    clock = Clock(NIGHT)
    await dispatcher(clock).run(until_idle=True)
    assert fake_wechat.calls_to(TEMPLATE) == []
    assert await delivery_states(engine, nid) == {"held": 6}
    async with engine.connect() as conn:
        due = (await conn.execute(select(func.min(DELIVERIES.c.next_attempt_at)))).scalar_one()
    assert due == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # 08:00 Beijing
    clock.jump(timedelta(hours=9, minutes=1))
    await dispatcher(clock).run(until_idle=True)
    assert await delivery_states(engine, nid) == {"sent": 6}


async def test_own_quiet_hours_and_empty_default(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    # The account has no quiet hours; one subscriber asked for 09:00-11:00.
    await make_subscribers(engine, 3, "人才", now=DAYTIME)
    await make_subscribers(
        engine, 1, "人才", prefix="o_quiet_", now=DAYTIME, quiet_hours="09:00-11:00"
    )
    nid = await make_notice(engine, now=DAYTIME, topics=["人才"])
    await dispatcher(quiet_hours="").run(until_idle=True)
    assert await delivery_states(engine, nid) == {"sent": 3, "held": 1}


async def test_daily_cap_holds_the_surplus_until_the_next_day(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    await make_subscribers(engine, 4, "科技创新", now=DAYTIME)
    first = await make_notice(engine, now=DAYTIME, topics=["科技创新"])
    second = await make_notice(engine, now=DAYTIME, topics=["科技创新"], title="第二条通知")
    clock = Clock(DAYTIME)
    await dispatcher(clock, daily_cap=1).run(until_idle=True)
    counts = {
        "first": await delivery_states(engine, first),
        "second": await delivery_states(engine, second),
    }
    assert sum(c.get("sent", 0) for c in counts.values()) == 4  # one notice each today
    assert sum(c.get("held", 0) for c in counts.values()) == 4
    clock.jump(timedelta(days=1))
    await dispatcher(clock, daily_cap=1).run(until_idle=True)
    assert await delivery_states(engine, first) == {"sent": 4}
    assert await delivery_states(engine, second) == {"sent": 4}
    assert fake_wechat.stats()["duplicates"] == 0


async def test_a_crashed_workers_batch_is_taken_over_without_duplicates(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    await make_subscribers(engine, 10, "养老服务", now=DAYTIME)
    nid = await make_notice(engine, now=DAYTIME, topics=["养老服务"])
    clock = Clock(DAYTIME)
    crashed = dispatcher(clock)
    await crashed.advance()  # materialised
    async with engine.begin() as conn:  # the dead worker claimed 4 and sent 2 before dying
        taken = await conn.run_sync(
            lambda c: outbox.claim(
                c, worker="dead", now=clock(), lease=timedelta(seconds=30), limit=4
            )
        )
    for row in taken[:2]:
        await crashed._send_one(row, outbox.Effects())
    clock.jump(timedelta(seconds=31))  # the lease runs out
    stats = await dispatcher(clock).run(until_idle=True)
    assert stats.recovered == 4
    assert await delivery_states(engine, nid) == {"sent": 10}
    got = fake_wechat.stats()
    assert got["recipients"] == 10
    assert got["duplicates"] == 0
    assert got["deduplicated"] == 2  # the two sent before the crash, recognised by WeChat


async def test_a_crash_mid_send_on_a_channel_without_idempotency_is_unknown(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    await make_subscribers(engine, 3, "残疾人", now=DAYTIME)
    nid = await make_notice(engine, now=DAYTIME, topics=["残疾人"], channel=Channel.CUSTOM)
    clock = Clock(DAYTIME)
    await dispatcher(clock).advance()
    async with engine.begin() as conn:
        await conn.run_sync(
            lambda c: outbox.claim(
                c, worker="dead", now=clock(), lease=timedelta(seconds=30), limit=1
            )
        )
    clock.jump(timedelta(seconds=31))
    await dispatcher(clock).run(until_idle=True)
    states = await delivery_states(engine, nid)
    assert states == {"sent": 2, "unknown": 1}  # never sent blindly a second time


async def test_a_late_unsubscribe_is_honoured(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    openids = await make_subscribers(engine, 3, "退役军人", now=NIGHT)
    nid = await make_notice(engine, now=NIGHT, topics=["退役军人"])
    clock = Clock(NIGHT)
    await dispatcher(clock).run(until_idle=True)  # materialised, held for the night
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: unsubscribe(c, openids[0], None, clock()))
    clock.jump(timedelta(hours=10))
    await dispatcher(clock).run(until_idle=True)
    assert await delivery_states(engine, nid) == {"sent": 2, "cancelled": 1}
    assert openids[0] not in {c.body["touser"] for c in fake_wechat.calls_to(TEMPLATE)}


async def test_fifty_concurrent_token_errors_refresh_the_token_once(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, client: WeChatClient
) -> None:
    await client.send_template("o_warm", "T", {"thing1": "预热"})
    issued = fake_wechat.tokens_issued
    fake_wechat.expire_tokens()  # every send now meets 40001
    await asyncio.gather(
        *(client.send_template(f"o_{i}", "T", {"thing1": "通知"}) for i in range(50))
    )
    assert fake_wechat.tokens_issued == issued + 1
    assert client.tokens.refreshes == 2  # the first fetch and the one refresh
    assert fake_wechat.stats()["recipients"] == 51


async def test_a_mass_broadcast_is_one_call_and_never_repeated(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    nid = await make_notice(engine, now=DAYTIME, channel=Channel.MASS, to_all=True)
    fake_wechat.faults = Faults(lost_answer=1.0)  # delivered, but the answer is lost
    clock = Clock(DAYTIME)
    await dispatcher(clock).run(until_idle=True)
    assert await delivery_states(engine, nid) == {"sent": 1}
    mass = fake_wechat.calls_to("/cgi-bin/message/mass/sendall")
    assert len(mass) == 2  # the resend was answered 45065: already sent
    assert fake_wechat.stats()["recipients"] == 1
    assert mass[0].body["clientmsgid"] == mass[1].body["clientmsgid"]


async def test_retries_give_up_after_max_attempts(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    await make_subscribers(engine, 1, "惠农", now=DAYTIME)
    nid = await make_notice(engine, now=DAYTIME, topics=["惠农"])
    fake_wechat.faults = Faults(busy=1.0)
    await dispatcher(max_attempts=3).run(until_idle=True)
    assert await delivery_states(engine, nid) == {"failed": 1}
    assert len(fake_wechat.calls_to(TEMPLATE)) == 3
    assert await notice_state(engine, nid) == NoticeState.DONE


async def test_two_dispatchers_share_the_outbox_without_duplicates(
    engine: AsyncEngine, database_url: str, fake_wechat: FakeWeChatServer, client: WeChatClient
) -> None:
    from bot.db import create_engine

    await make_subscribers(engine, 200, "减税降费", now=DAYTIME)
    nid = await make_notice(engine, now=DAYTIME, topics=["减税降费"])
    other = create_engine(database_url)
    try:
        first = Dispatcher(engine, client, settings(), clock=Clock(DAYTIME), worker="a")
        second = Dispatcher(other, client, settings(), clock=Clock(DAYTIME), worker="b")
        a, b = await asyncio.gather(first.run(until_idle=True), second.run(until_idle=True))
    finally:
        await other.dispose()
    assert a.sent + b.sent == 200
    assert await delivery_states(engine, nid) == {"sent": 200}
    assert fake_wechat.stats()["duplicates"] == 0
    assert len(fake_wechat.calls_to(TEMPLATE)) == 200
    assert DeliveryState.SENT == "sent"


async def test_template_result_and_consent_events_are_recorded(
    engine: AsyncEngine,
    fake_wechat: FakeWeChatServer,
    dispatcher: MakeDispatcher,
    make_client: Any,
    peer: Any,
) -> None:
    from push.tables import CONSENTS
    from tests.integration.callback_helpers import send

    openids = await make_subscribers(engine, 2, "就业创业", now=DAYTIME)
    nid = await make_notice(engine, now=DAYTIME, topics=["就业创业"])
    await dispatcher().run(until_idle=True)
    async with engine.connect() as conn:
        msgid = (
            await conn.execute(select(DELIVERIES.c.msgid).where(DELIVERIES.c.openid == openids[0]))
        ).scalar_one()
    app = await make_client()
    blocked = peer.event_xml(
        openids[0], "TEMPLATESENDJOBFINISH", extra={"MsgID": msgid, "Status": "failed:user block"}
    )
    assert (await send(app, peer, blocked)).status == 200
    assert await delivery_states(engine, nid) == {"sent": 1, "failed": 1}
    popup = {
        "List": [{"TemplateId": "tpl-A", "SubscribeStatusString": "accept", "PopupScene": "2"}]
    }
    consent = peer.event_xml(
        openids[1], "subscribe_msg_popup_event", extra={"SubscribeMsgPopupEvent": popup}
    )
    assert (await send(app, peer, consent)).status == 200
    async with engine.connect() as conn:
        row = (await conn.execute(select(CONSENTS))).mappings().one()
    assert (row["openid"], row["template_id"], row["status"]) == (openids[1], "tpl-A", "accept")


async def test_a_subscription_message_goes_only_to_those_who_said_yes(
    engine: AsyncEngine,
    fake_wechat: FakeWeChatServer,
    dispatcher: MakeDispatcher,
    make_client: Any,
    peer: Any,
) -> None:
    from push.audience import SqlAudienceCounter
    from push.notices import NoticeDesk
    from tests.integration.callback_helpers import send

    yes, no, silent = await make_subscribers(engine, 3, "就业创业", now=DAYTIME)
    app = await make_client()
    for openid, status in ((yes, "accept"), (no, "reject")):
        popup = {"List": [{"TemplateId": "tpl-B", "SubscribeStatusString": status}]}
        event = peer.event_xml(
            openid, "subscribe_msg_popup_event", extra={"SubscribeMsgPopupEvent": popup}
        )
        assert (await send(app, peer, event)).status == 200
    nid = await make_notice(engine, now=DAYTIME, topics=["就业创业"], channel=Channel.SUBSCRIBE)
    desk = NoticeDesk(engine, counter=SqlAudienceCounter(engine, consent_template="tpl-B"))
    assert (await desk.preview(nid)).recipients == 1  # the count staff see says so before sending
    stats = await dispatcher(subscribe_template_id="tpl-B").run(until_idle=True)
    assert stats.sent == 1
    sent_to = [c.body["touser"] for c in fake_wechat.calls_to("/cgi-bin/message/subscribe/bizsend")]
    assert sent_to == [yes]  # not the one who refused, nor the one never asked
    assert silent not in sent_to


async def test_an_eligibility_notice_reaches_qualifying_enterprises_once(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    from datetime import date

    from policy_index.conditions import parse_conditions
    from policy_index.model import Library, Policy
    from policy_index.repository import LibraryRepository
    from push.tables import CONTACTS, ENTERPRISES, MAYBE

    rule = parse_conditions(
        {
            "all": [
                {"field": "industry", "op": "in", "value": ["制造业"]},
                {"field": "employees", "op": "<=", "value": 100},
            ]
        }
    )
    policy = Policy(
        id="wj-001",
        title="关于小微制造企业稳岗返还免申即享的通知",
        exempt_application=True,
        conditions=rule,
        date=date(2026, 11, 1),
    )
    await LibraryRepository(engine).upsert(Library.of([policy]))
    firms = [  # (uscc, industry, employees, contacts)
        ("91350100MA0000001A", "制造业", 80, ["o_firm_a1", "o_firm_a2"]),  # meets
        ("91350100MA0000002A", "制造业", 300, ["o_firm_b"]),  # too many employees
        ("91350100MA0000003A", "制造业", None, ["o_firm_c"]),  # may qualify: headcount unknown
        ("91350100MA0000004A", "批发零售", 10, ["o_firm_d"]),  # other industry
    ]
    async with engine.begin() as conn:
        for uscc, industry, employees, contacts in firms:
            eid = (
                await conn.execute(
                    ENTERPRISES.insert()
                    .values(
                        uscc=uscc, name=f"企业{uscc[-4:]}", industry=industry,
                        employees=employees, qualifications=[], tags=[], updated_at=DAYTIME,
                    )
                    .returning(ENTERPRISES.c.id)
                )
            ).scalar_one()  # fmt: skip
            for openid in contacts:
                await conn.execute(
                    CONTACTS.insert().values(
                        enterprise_id=eid, openid=openid, via="import", bound_at=DAYTIME
                    )
                )
    template = {"thing1": "title", "thing2": "reason"}
    nid = await make_notice(engine, now=DAYTIME, policy_id="wj-001", eligible=True)
    await dispatcher(template_fields=template).run(until_idle=True)
    sent = {c.body["touser"]: c.body for c in fake_wechat.calls_to(TEMPLATE)}
    assert set(sent) == {"o_firm_a1", "o_firm_a2"}
    reason = sent["o_firm_a1"]["data"]["thing2"]["value"]
    assert "制造业" in reason  # why this enterprise qualifies
    assert await delivery_states(engine, nid) == {"sent": 2}
    async with engine.connect() as conn:
        maybe = (await conn.execute(select(MAYBE))).mappings().all()
    assert len(maybe) == 1  # listed for staff with the unknown condition, never pushed
    assert "employees" in str(maybe[0]["unknown"])
    # Never the same policy twice to one enterprise: a second notice reaches no one.
    again = await make_notice(engine, now=DAYTIME, policy_id="wj-001", eligible=True)
    await dispatcher(template_fields=template).run(until_idle=True)
    assert await delivery_states(engine, again) == {}
    assert await notice_state(engine, again) == NoticeState.DONE
    assert len(fake_wechat.calls_to(TEMPLATE)) == 2


@pytest.mark.parametrize(
    ("errcode", "pause", "reason"),
    [(45011, timedelta(minutes=1), "quota"), (40037, timedelta(minutes=10), "configuration")],
)
async def test_minute_quota_and_configuration_errors_pause_the_channel(
    engine: AsyncEngine,
    fake_wechat: FakeWeChatServer,
    dispatcher: MakeDispatcher,
    errcode: int,
    pause: timedelta,
    reason: str,
) -> None:
    await make_subscribers(engine, 3, "住房", now=DAYTIME)
    nid = await make_notice(engine, now=DAYTIME, topics=["住房"])
    fake_wechat.fail_next(TEMPLATE, errcode)
    clock = Clock(DAYTIME)
    await dispatcher(clock, concurrency=1, batch=1).run(until_idle=True)
    async with engine.connect() as conn:
        paused = (await conn.execute(select(CHANNEL_STATE))).mappings().one()
    assert (paused["errcode"], paused["reason"]) == (errcode, reason)
    assert paused["paused_until"] - DAYTIME >= pause - timedelta(seconds=1)
    assert await delivery_states(engine, nid) == {"pending": 3}  # nothing lost, nothing failed
    clock.jump(pause + timedelta(seconds=1))
    await dispatcher(clock).run(until_idle=True)
    assert await delivery_states(engine, nid) == {"sent": 3}


async def test_a_notice_whose_content_changed_after_approval_never_starts(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    await make_subscribers(engine, 2, "教育", now=DAYTIME)
    nid = await make_notice(engine, now=DAYTIME, topics=["教育"], content_hash="y" * 64)
    await dispatcher().run(until_idle=True)
    assert await notice_state(engine, nid) == NoticeState.SCHEDULED
    assert await delivery_states(engine, nid) == {}
    assert fake_wechat.calls_to(TEMPLATE) == []


async def test_deliveries_left_waiting_by_a_cancel_race_are_cancelled(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, dispatcher: MakeDispatcher
) -> None:
    from sqlalchemy import update

    await make_subscribers(engine, 4, "养老服务", now=NIGHT)
    nid = await make_notice(engine, now=NIGHT, topics=["养老服务"])
    clock = Clock(NIGHT)
    await dispatcher(clock).run(until_idle=True)  # materialised, held for the night
    async with engine.begin() as conn:  # cancelled while its audience was being written
        await conn.execute(
            update(NOTICES).where(NOTICES.c.id == nid).values(state=NoticeState.CANCELLED)
        )
    clock.jump(timedelta(hours=10))
    await dispatcher(clock).run(until_idle=True)
    assert await delivery_states(engine, nid) == {"cancelled": 4}
    assert fake_wechat.calls_to(TEMPLATE) == []
