"""Notices and their review (push.notices), on SQLite and PostgreSQL: who may do what, approval
pinned to the content, scheduling, cancelling, corrections, test sends, status counts, and the
audit row each step leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.token_store import SqlTokenStore
from bot.wechat.api import RetryPolicy, WeChatClient
from bot.wechat.fake_api import FakeWeChatServer
from push import audit
from push.notice_rules import HASHED, NoticeContent, parse_when
from push.notices import NoticeDesk, Refused, TextTestSender
from push.tables import DELIVERIES, NOTICES, Channel, NoticeState
from tests.conftest import APP_ID, APP_SECRET
from tests.integration.notice_helpers import (
    ADMIN,
    AUDITOR,
    EDITOR,
    REVIEWER,
    T0,
    Clock,
    FakeSender,
    TopicCounter,
    add_deliveries,
    add_maybe,
    add_staff,
    add_subscribers,
)

JOBS = NoticeContent(
    title="春风行动招聘会", body="12月10日上午在县人才市场举办。", topics=("就业创业",)
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def desk(engine: AsyncEngine, clock: Clock) -> NoticeDesk:
    await add_staff(engine, 王撰稿="oEditor0001", 李审核="oReviewer001")
    return NoticeDesk(engine, sender=FakeSender(), counter=TopicCounter(engine), clock=clock)


async def approved(desk: NoticeDesk, content: NoticeContent = JOBS) -> int:
    notice = await desk.create(EDITOR, content)
    await desk.submit(notice.id, EDITOR)
    await desk.approve(notice.id, REVIEWER)
    return notice.id


async def actions(desk: NoticeDesk, notice_id: int) -> list[tuple[str, str]]:
    return [(e.actor, e.action) for e in await desk.history(notice_id)]


async def test_the_review_flow_and_its_audit_trail(desk: NoticeDesk, clock: Clock) -> None:
    notice = await desk.create(EDITOR, JOBS)
    assert notice.state is NoticeState.DRAFT
    assert notice.author == EDITOR
    assert notice.content_hash == JOBS.content_hash()
    await desk.submit(notice.id, EDITOR)
    clock.advance(minutes=5)
    done = await desk.approve(notice.id, REVIEWER, "同意")
    assert done.state is NoticeState.APPROVED
    assert done.approved_by == REVIEWER
    assert done.approved_at == clock.now
    assert done.approved_hash == done.content_hash
    assert done.approval_holds
    assert await actions(desk, notice.id) == [
        (EDITOR, "notice.create"),
        (EDITOR, "notice.submit"),
        (REVIEWER, "notice.approve"),
    ]
    assert (await audit.verify(desk.engine)).ok


async def test_the_author_cannot_approve_even_as_admin(desk: NoticeDesk) -> None:
    notice = await desk.create(ADMIN, JOBS)
    await desk.submit(notice.id, ADMIN)
    with pytest.raises(Refused, match="审核人不能是撰稿人本人") as info:
        await desk.approve(notice.id, ADMIN)
    assert info.value.status == 403
    with pytest.raises(Refused, match="审核人不能是撰稿人本人"):
        await desk.reject(notice.id, ADMIN, "自己退回")
    assert (await desk.get(notice.id)).state is NoticeState.SUBMITTED
    assert (await desk.approve(notice.id, REVIEWER)).state is NoticeState.APPROVED


async def test_whoever_edited_a_notice_cannot_approve_it(desk: NoticeDesk) -> None:
    notice = await desk.create(EDITOR, JOBS)
    await desk.edit(notice.id, ADMIN, {"body": "12月10日上午9点在县人才市场举办。"})
    await desk.submit(notice.id, EDITOR)
    with pytest.raises(Refused, match="审核人不能审核自己修改过的通知"):
        await desk.approve(notice.id, ADMIN)
    await desk.approve(notice.id, REVIEWER)


async def test_roles_decide_who_writes_and_who_reviews(desk: NoticeDesk) -> None:
    with pytest.raises(Refused, match=r"李审核 是审核人（reviewer），不能撰写、修改或提交通知"):
        await desk.create(REVIEWER, JOBS)
    with pytest.raises(Refused, match="不能撰写") as info:
        await desk.create(AUDITOR, JOBS)
    assert info.value.status == 403
    notice = await desk.create(EDITOR, JOBS)
    await desk.submit(notice.id, EDITOR)
    with pytest.raises(Refused, match=r"王撰稿 是撰稿人（editor），不能审核（批准或退回）通知"):
        await desk.approve(notice.id, EDITOR)
    with pytest.raises(Refused, match="审计员"):
        await desk.cancel(notice.id, AUDITOR)
    with pytest.raises(Refused, match="没有名为“路人”的工作人员账号") as missing:
        await desk.submit(notice.id, "路人")
    assert missing.value.status == 404
    assert (await desk.get(notice.id)).state is NoticeState.SUBMITTED


async def test_an_inactive_account_can_do_nothing(desk: NoticeDesk) -> None:
    from push import staff

    await staff.change(desk.engine, REVIEWER, actor="测试", now=T0, active=False)
    notice = await desk.create(EDITOR, JOBS)
    await desk.submit(notice.id, EDITOR)
    with pytest.raises(Refused, match="已停用"):
        await desk.approve(notice.id, REVIEWER)


async def test_an_edit_after_approval_voids_it(desk: NoticeDesk) -> None:
    notice_id = await approved(desk)
    edited = await desk.edit(notice_id, EDITOR, {"title": "春风行动招聘会（改期）"})
    assert edited.state is NoticeState.DRAFT
    assert edited.approved_hash is None
    assert edited.approved_by is None
    assert not edited.approval_holds
    with pytest.raises(Refused, match="还没有通过审核"):
        await desk.schedule(notice_id, EDITOR)
    history = await desk.history(notice_id)
    assert history[-1].action == "notice.edit"
    assert history[-1].detail["voided_approval_by"] == REVIEWER
    assert history[-1].detail["changed"] == ["title"]
    # Reviewed again, it can go.
    await desk.submit(notice_id, EDITOR)
    await desk.approve(notice_id, REVIEWER)
    assert (await desk.schedule(notice_id, EDITOR)).state is NoticeState.SCHEDULED


async def test_an_audience_change_after_approval_voids_it_too(desk: NoticeDesk) -> None:
    notice_id = await approved(desk)
    edited = await desk.edit(notice_id, EDITOR, {"topics": ["就业创业", "社保医保"]})
    assert edited.state is NoticeState.DRAFT
    assert edited.content.topics == ("就业创业", "社保医保")
    assert edited.approved_hash is None


async def test_an_edit_that_changes_nothing_keeps_the_approval(desk: NoticeDesk) -> None:
    notice_id = await approved(desk)
    same = await desk.edit(notice_id, EDITOR, {"title": JOBS.title})
    assert same.state is NoticeState.APPROVED
    assert same.approval_holds


async def test_content_changed_behind_the_desk_is_never_scheduled(
    desk: NoticeDesk, engine: AsyncEngine
) -> None:
    notice_id = await approved(desk)
    async with engine.begin() as conn:  # someone edits the row in the database directly
        await conn.execute(update(NOTICES).where(NOTICES.c.id == notice_id).values(body="改过了"))
    assert not (await desk.get(notice_id)).approval_holds
    with pytest.raises(Refused, match="通知在批准后被修改，需要重新审核"):
        await desk.schedule(notice_id, EDITOR)
    assert (await desk.get(notice_id)).state is NoticeState.APPROVED


async def test_send_is_due_now_and_schedule_later(desk: NoticeDesk, clock: Clock) -> None:
    now_id = await approved(desk)
    sent = await desk.schedule(now_id, EDITOR)
    assert sent.state is NoticeState.SCHEDULED
    assert sent.scheduled_at == clock.now
    later_id = await approved(desk)
    at = parse_when("2026-12-08 09:00", clock.now)
    assert at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # Beijing time, stored as UTC
    later = await desk.schedule(later_id, REVIEWER, at)
    assert later.scheduled_at == at
    # Rescheduling a notice that has not started is allowed; a time in the past is not.
    moved = await desk.schedule(later_id, EDITOR, at + timedelta(hours=1))
    assert moved.scheduled_at == at + timedelta(hours=1)
    with pytest.raises(Refused, match="已经过去"):
        await desk.schedule(later_id, EDITOR, clock.now - timedelta(minutes=1))
    history = await desk.history(later_id)
    assert history[-1].detail["at"] == "2026-12-08T10:00:00+08:00"


def test_the_content_hash_covers_what_recipients_get_and_who_they_are() -> None:
    base = JOBS.content_hash()
    assert base == NoticeContent(**{f: getattr(JOBS, f) for f in HASHED}).content_hash()
    changes: dict[str, object] = {
        "title": "另一个标题",
        "body": "另一段正文",
        "url": "https://example.gov.cn/x",
        "channel": Channel.SUBSCRIBE,
        "topics": ("社保医保",),
        "towns": ("城关镇",),
        "tags": ("高校毕业生",),
        "policy_id": "qh-a-005",
        "eligible": True,
        "to_all": True,
        "corrects_id": 7,
    }
    assert set(changes) == set(HASHED)
    hashes = {replace(JOBS, **{name: value}).content_hash() for name, value in changes.items()}
    assert base not in hashes
    assert len(hashes) == len(HASHED)


def test_times_staff_type() -> None:
    now = T0
    assert parse_when("2026-12-08T09:00+08:00", now) == datetime(2026, 12, 8, 1, tzinfo=UTC)
    assert parse_when("2026-12-08T01:00Z", now) == datetime(2026, 12, 8, 1, tzinfo=UTC)
    assert parse_when("2026-12-08 09:30", now) == datetime(2026, 12, 8, 1, 30, tzinfo=UTC)
    assert parse_when("2026-12-08 09：30", now) == datetime(2026, 12, 8, 1, 30, tzinfo=UTC)
    for bad, reason in [
        ("明天上午", "时间格式不对"),
        ("2026-12-07 09:00", "已经过去"),  # 01:00 UTC, before T0
        ("2028-01-01 09:00", "一年以内"),
    ]:
        with pytest.raises(Refused, match=reason):
            parse_when(bad, now)


async def test_only_an_approved_notice_is_sent(desk: NoticeDesk) -> None:
    notice = await desk.create(EDITOR, JOBS)
    with pytest.raises(Refused, match="还没有通过审核（现在是“草稿”）"):
        await desk.schedule(notice.id, EDITOR)
    await desk.submit(notice.id, EDITOR)
    await desk.reject(notice.id, REVIEWER, "时间写错了")
    rejected = await desk.get(notice.id)
    assert rejected.state is NoticeState.REJECTED
    assert rejected.review_comment == "时间写错了"
    with pytest.raises(Refused, match="还没有通过审核（现在是“已退回”）"):
        await desk.schedule(notice.id, EDITOR)
    with pytest.raises(Refused, match="请写明理由"):
        await desk.reject(notice.id, REVIEWER, " ")
    with pytest.raises(Refused, match="只有待审核的通知可以审核"):
        await desk.approve(notice.id, REVIEWER)
    await desk.submit(notice.id, EDITOR)  # resubmitted as it is
    assert (await desk.approve(notice.id, REVIEWER)).state is NoticeState.APPROVED


async def test_cancel_until_done(desk: NoticeDesk, engine: AsyncEngine) -> None:
    draft = await desk.create(EDITOR, JOBS)
    assert (await desk.cancel(draft.id, EDITOR)).state is NoticeState.CANCELLED
    with pytest.raises(Refused, match="已经撤销了"):
        await desk.cancel(draft.id, EDITOR)
    with pytest.raises(Refused, match="不能再修改"):
        await desk.edit(draft.id, EDITOR, {"body": "新的"})

    scheduled = await approved(desk)
    await desk.schedule(scheduled, EDITOR, T0 + timedelta(days=1))
    assert (await desk.cancel(scheduled, REVIEWER, "活动取消")).state is NoticeState.CANCELLED

    # Sending: the deliveries not yet claimed are cancelled; sent and claimed ones stay.
    sending = await approved(desk)
    await desk.schedule(sending, EDITOR)
    async with engine.begin() as conn:
        await conn.execute(
            update(NOTICES).where(NOTICES.c.id == sending).values(state=NoticeState.SENDING)
        )
    states = ["sent", "sent", "pending", "pending", "held", "sending", "failed"]
    await add_deliveries(engine, sending, [{"status": s} for s in states])
    cancelled = await desk.cancel(sending, EDITOR)
    assert cancelled.state is NoticeState.CANCELLED
    async with engine.connect() as conn:
        left = sorted(
            row.status
            for row in await conn.execute(
                select(DELIVERIES.c.status).where(DELIVERIES.c.notice_id == sending)
            )
        )
    assert left == ["cancelled", "cancelled", "cancelled", "failed", "sending", "sent", "sent"]
    assert (await desk.history(sending))[-1].detail["cancelled_deliveries"] == 3

    async with engine.begin() as conn:
        await conn.execute(update(NOTICES).where(NOTICES.c.id == draft.id).values(state="done"))
    with pytest.raises(Refused, match="已经发送完毕，无法撤销"):
        await desk.cancel(draft.id, EDITOR)


async def test_status_counts_deliveries_and_maybe(desk: NoticeDesk, engine: AsyncEngine) -> None:
    await add_subscribers(engine, "就业创业", ["oA0000001", "oB0000001", "oC0000001"])
    notice_id = await approved(desk)
    before = await desk.status(notice_id)
    assert before.to_json() == {
        "id": notice_id,
        "state": "approved",
        "audience": 3,  # the preview, before materialisation
        "sent": 0,
        "failed": 0,
        "pending": 0,
        "unknown": 0,
        "maybe": 0,
        "cancelled": 0,
        "errcodes": {},
    }
    statuses = [
        {"status": "sent"},
        {"status": "sent"},
        {"status": "sent"},
        {"status": "pending"},
        {"status": "held"},
        {"status": "sending"},
        {"status": "failed", "errcode": 43004},
        {"status": "failed", "errcode": 43004},
        {"status": "failed", "errcode": 40003},
        {"status": "unknown"},
        {"status": "cancelled"},
    ]
    await add_deliveries(engine, notice_id, statuses)
    await add_maybe(engine, notice_id, 2)
    after = (await desk.status(notice_id)).to_json()
    assert after == {
        "id": notice_id,
        "state": "approved",
        "audience": 11,
        "sent": 3,
        "failed": 3,
        "pending": 3,
        "unknown": 1,
        "maybe": 2,
        "cancelled": 1,
        "errcodes": {"40003": 1, "43004": 2},
    }


async def test_preview_and_the_estimate_stored_with_the_approval(
    desk: NoticeDesk, engine: AsyncEngine
) -> None:
    await add_subscribers(engine, "就业创业", ["oA0000001", "oB0000001"])
    await add_subscribers(engine, "社保医保", ["oC0000001"])
    notice = await desk.create(EDITOR, JOBS)
    assert (await desk.preview(notice.id)).recipients == 2
    await desk.submit(notice.id, EDITOR)
    await desk.approve(notice.id, REVIEWER)
    approval = (await desk.history(notice.id))[-1]
    assert approval.detail["recipients"] == 2
    assert approval.detail["audience"] == "订阅了就业创业的用户"
    assert approval.detail["content_hash"] == notice.content_hash
    without = NoticeDesk(engine)
    with pytest.raises(Refused, match="受众统计尚未配置"):
        await without.preview(notice.id)


async def test_a_correction_goes_to_those_who_got_the_original(
    desk: NoticeDesk, engine: AsyncEngine
) -> None:
    original = await approved(desk)
    with pytest.raises(Refused, match="还没有发给任何人，不需要更正"):
        await desk.correct(original, EDITOR, "时间更正为12月11日。")
    await desk.schedule(original, EDITOR)
    async with engine.begin() as conn:
        await conn.execute(
            update(NOTICES).where(NOTICES.c.id == original).values(state=NoticeState.DONE)
        )
    await add_deliveries(engine, original, [{"status": "sent"}, {"status": "failed"}])
    fix = await desk.correct(original, ADMIN, "时间更正为12月11日。")
    assert fix.state is NoticeState.DRAFT
    assert fix.content.corrects_id == original
    assert fix.content.title == "【更正】春风行动招聘会"
    assert fix.content.topics == ()
    assert fix.content.channel is Channel.TEMPLATE
    assert fix.content.audience_text() == f"通知 {original} 已送达的用户（更正）"
    with pytest.raises(Refused, match="更正通知发给原通知已送达的用户"):
        await desk.edit(fix.id, EDITOR, {"topics": ["社保医保"]})
    await desk.submit(fix.id, EDITOR)
    assert fix.author == ADMIN
    with pytest.raises(Refused, match="审核人不能是撰稿人本人"):
        await desk.approve(fix.id, ADMIN)
    assert (await desk.approve(fix.id, REVIEWER)).state is NoticeState.APPROVED
    assert (await desk.history(fix.id))[0].detail["corrects"] == original


async def test_bad_content_is_refused_with_its_reason(desk: NoticeDesk) -> None:
    cases = [
        (NoticeContent(title=" ", body="正文", topics=("就业创业",)), "标题不能为空"),
        (NoticeContent(title="标题", body="正文"), "请指定接收对象"),
        (
            NoticeContent(title="标题", body="正文", topics=("教育",), to_all=True),
            "接收对象只能选一种",
        ),
        (NoticeContent(title="标题", body="正文", to_all=True), "只能用群发"),
        (NoticeContent(title="标题", body="正文", policy_id="qh-a-001"), "--eligible"),
        (NoticeContent(title="标题", body="正文", topics=("教育",), url="ftp://x"), "链接"),
        (
            NoticeContent(title="标题", body="正文", policy_id="没有这项", eligible=True),
            "政策库里没有编号为 没有这项 的政策",
        ),
    ]
    for content, reason in cases:
        with pytest.raises(Refused, match=reason):
            await desk.create(EDITOR, content)
    mass = NoticeContent(title="标题", body="正文", to_all=True, channel=Channel.MASS)
    assert (await desk.create(EDITOR, mass)).content.to_all


async def test_two_reviewers_at_once_cannot_both_decide(desk: NoticeDesk) -> None:
    from push import staff

    await staff.add(desk.engine, "刘审核", "reviewer", actor="测试", now=T0)
    notice = await desk.create(EDITOR, JOBS)
    await desk.submit(notice.id, EDITOR)
    stale = await desk.get(notice.id)
    await desk.approve(notice.id, REVIEWER)
    from push.notices import _change

    async with desk.engine.begin() as conn:  # a decision made on the stale view
        with pytest.raises(Refused, match="刚被其他人改动过"):
            await _change(conn, stale, {"state": "rejected"}, T0)
    assert (await desk.get(notice.id)).state is NoticeState.APPROVED


async def test_a_test_send_reaches_one_staff_member(desk: NoticeDesk) -> None:
    notice = await desk.create(EDITOR, JOBS)
    assert desk.sender is not None
    sender = desk.sender
    assert isinstance(sender, FakeSender)
    to = await desk.test_send(notice.id, EDITOR)
    assert to.name == EDITOR
    await desk.test_send(notice.id, EDITOR, to=REVIEWER)
    assert [(openid, c.title) for openid, c in sender.sent] == [
        ("oEditor0001", JOBS.title),
        ("oReviewer001", JOBS.title),
    ]
    with pytest.raises(Refused, match="没有登记接收试发的微信 openid"):
        await desk.test_send(notice.id, EDITOR, to=ADMIN)
    sender.fail_with = RuntimeError("45015 超过 48 小时")
    with pytest.raises(Refused, match="试发没有成功"):
        await desk.test_send(notice.id, EDITOR)
    tests = [e for e in await desk.history(notice.id) if e.action == "notice.test"]
    assert [(e.detail["to"], e.detail["ok"]) for e in tests] == [
        (EDITOR, True),
        (REVIEWER, True),
        (EDITOR, False),
    ]
    notice_id = await approved(desk)
    await desk.schedule(notice_id, EDITOR)
    with pytest.raises(Refused, match="不能试发"):
        await desk.test_send(notice_id, EDITOR)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_a_test_send_reaches_the_fake_wechat_server(
    desk: NoticeDesk,
    engine: AsyncEngine,
    fake_wechat: FakeWeChatServer,
    session: aiohttp.ClientSession,
) -> None:
    client = WeChatClient(
        session,
        token_store=SqlTokenStore(engine),
        app_id=APP_ID,
        app_secret=APP_SECRET,
        base_url=fake_wechat.base_url,
        retry=RetryPolicy(attempts=2, base_s=0.01, cap_s=0.02),
    )
    desk.sender = TextTestSender(client)
    content = NoticeContent(
        title="春风行动招聘会",
        body="12月10日上午在县人才市场举办。" * 200,  # longer than a text message may be
        url="https://example.gov.cn/notice/1",
        topics=("就业创业",),
    )
    notice = await desk.create(EDITOR, content)
    await desk.test_send(notice.id, EDITOR, to=REVIEWER)
    [message] = fake_wechat.messages_to("oReviewer001")
    text = message["text"]["content"]
    assert text.startswith("【试发·仅工作人员可见】\n春风行动招聘会\n\n12月10日")
    assert text.endswith("…\nhttps://example.gov.cn/notice/1")
    assert len(text.encode()) <= 2048
    fake_wechat.fail_next("/cgi-bin/message/custom/send", 45015, "response out of time limit")
    with pytest.raises(Refused, match="试发没有成功"):
        await desk.test_send(notice.id, EDITOR, to=REVIEWER)


async def test_listing_by_state(desk: NoticeDesk) -> None:
    first = await desk.create(EDITOR, JOBS)
    second = await approved(desk)
    assert [n.id for n in await desk.listing()] == [second, first.id]
    assert [n.id for n in await desk.listing("approved")] == [second]
    with pytest.raises(Refused, match="没有“sent”这种状态"):
        await desk.listing("sent")
