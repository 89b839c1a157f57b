"""Notices and their review (先审后发): what staff do to a notice, each step checked and audited.

    draft ─submit→ submitted ─approve→ approved ─send / schedule→ scheduled → sending → done
      ↑               └─reject→ rejected             (the delivery engine: push.outbox)
      └──── edit (from submitted, approved, rejected, scheduled: voids any approval)
    any state but done ─cancel→ cancelled

The rules, enforced here for the command line and the staff API alike:

- only editors and admins write (create, edit, submit, correct); only reviewers and admins
  approve or reject, and **never a notice they wrote or edited** (the author and every editor in
  the audit log are excluded);
- approval pins the exact content: ``approved_hash`` is the content hash
  (``push.notice_rules``); an edit after approval sends the notice back to draft with the
  approval cleared, and a notice whose recomputed hash is not the approved one is never
  scheduled (the delivery engine checks ``Notice.approval_holds`` again when it starts one);
- ``send`` schedules an approved notice for now; ``schedule`` for a later time;
- cancel works until the notice is done; cancelling one that is sending cancels its deliveries
  still pending or held (those already claimed by a worker finish);
- a **correction** (更正) is a new notice with ``corrects_id`` set; it goes to the recipients the
  original was sent to and is reviewed like any other;
- a **test send** of a notice not yet released goes to one staff member's openid through a
  ``Sender``, and the **audience preview** counts recipients through an ``AudienceCounter``:
  both are ports the composition root fills in.

Every step is one audit row in the transaction that makes the change. A step that is refused
raises ``push.staff.Refused`` with the reason in Chinese and changes nothing. Each change is an
``UPDATE … WHERE id = ? AND state = ? AND content_hash = ?`` of what was read, so two staff
acting at once cannot both succeed on a stale view (the second is told to refresh).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from push import audit, notice_versions
from push.notice_rules import (
    MAX_TITLE,
    STATE_NAMES,
    Notice,
    NoticeContent,
    changed_fields,
    checked,
    content_values,
    local,
    notice_from_row,
)
from push.staff import Permission, Refused, StaffUser, acting, require
from push.tables import AUDIT, DELIVERIES, MAYBE, NOTICES, DeliveryState, NoticeState

__all__ = [
    "AudienceCount",
    "AudienceCounter",
    "NoticeContent",
    "NoticeDesk",
    "NoticeStatus",
    "Refused",
    "Sender",
]

WRITABLE = (
    NoticeState.DRAFT,
    NoticeState.SUBMITTED,
    NoticeState.APPROVED,
    NoticeState.REJECTED,
    NoticeState.SCHEDULED,
)
TESTABLE = (NoticeState.DRAFT, NoticeState.SUBMITTED, NoticeState.REJECTED, NoticeState.APPROVED)
SENT_OUT = (NoticeState.SENDING, NoticeState.DONE, NoticeState.CANCELLED)
WRITING_ACTIONS = ("notice.create", "notice.edit", "notice.correct")
EDITABLE = frozenset(
    {"title", "body", "url", "channel", "topics", "towns", "tags", "policy_id", "eligible"}
)
MAX_COMMENT = 500


class Sender(Protocol):
    """Sends a test of a notice to one staff member (the composition root provides it)."""

    async def send_test(self, openid: str, notice: NoticeContent) -> None: ...


@dataclass(frozen=True, slots=True)
class AudienceCount:
    recipients: int  # openids the notice would be delivered to now
    maybe: int = 0  # enterprises that may qualify (eligibility notices): listed, never pushed


class AudienceCounter(Protocol):
    """Counts a notice's audience as it would be materialised now (``push.audience``)."""

    async def count(self, notice: Notice) -> AudienceCount: ...


@dataclass(frozen=True, slots=True)
class NoticeStatus:
    id: int
    state: NoticeState
    audience: int  # delivery rows, or the preview count before they are materialised
    sent: int
    failed: int
    pending: int  # pending, held (quiet hours, daily cap) or being sent
    unknown: int
    cancelled: int
    maybe: int
    errcodes: dict[int, int]  # failures by WeChat errcode

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            "audience": self.audience,
            "sent": self.sent,
            "failed": self.failed,
            "pending": self.pending,
            "unknown": self.unknown,
            "maybe": self.maybe,
            "cancelled": self.cancelled,
            "errcodes": {str(code): n for code, n in sorted(self.errcodes.items())},
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _wrong_state(notice: Notice, doing: str) -> Refused:
    return Refused(f"通知 {notice.id} 现在是“{STATE_NAMES[notice.state]}”状态，不能{doing}。", 409)


class NoticeDesk:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        sender: Sender | None = None,
        counter: AudienceCounter | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.counter = counter
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    # --- reading ----------------------------------------------------------------------------

    async def get(self, notice_id: int) -> Notice:
        async with self.engine.connect() as conn:
            return await _load(conn, notice_id)

    async def listing(
        self, state: NoticeState | str | None = None, limit: int = 100
    ) -> list[Notice]:
        query = select(NOTICES).order_by(NOTICES.c.id.desc()).limit(limit)
        if state is not None:
            try:
                query = query.where(NOTICES.c.state == NoticeState(state).value)
            except ValueError:
                names = "、".join(f"{s.value}（{n}）" for s, n in STATE_NAMES.items())
                raise Refused(f"没有“{state}”这种状态；可选：{names}。") from None
        async with self.engine.connect() as conn:
            return [notice_from_row(r) for r in (await conn.execute(query)).all()]

    async def history(self, notice_id: int) -> list[audit.AuditEntry]:
        return await audit.entries(self.engine, object_type="notice", object_id=notice_id)

    async def preview(self, notice_id: int) -> AudienceCount:
        notice = await self.get(notice_id)
        if self.counter is None:
            raise Refused("受众统计尚未配置，暂时无法预览接收人数。", 503)
        return await self.counter.count(notice)

    async def status(self, notice_id: int) -> NoticeStatus:
        d = DELIVERIES.c
        async with self.engine.connect() as conn:
            notice = await _load(conn, notice_id)
            by_status = {
                row.status: row.n
                for row in await conn.execute(
                    select(d.status, func.count().label("n"))
                    .where(d.notice_id == notice_id)
                    .group_by(d.status)
                )
            }
            errcodes = {
                row.errcode: row.n
                for row in await conn.execute(
                    select(d.errcode, func.count().label("n"))
                    .where(d.notice_id == notice_id, d.status == DeliveryState.FAILED)
                    .group_by(d.errcode)
                )
                if row.errcode is not None
            }
            maybe = (
                await conn.execute(
                    select(func.count()).select_from(MAYBE).where(MAYBE.c.notice_id == notice_id)
                )
            ).scalar_one()
        rows = sum(by_status.values())
        audience = rows
        if (
            not notice.materialised
            and rows == 0
            and self.counter is not None
            and notice.state not in (NoticeState.CANCELLED, NoticeState.DONE)
        ):
            audience = (await self.counter.count(notice)).recipients
        return NoticeStatus(
            id=notice.id,
            state=notice.state,
            audience=audience,
            sent=by_status.get(DeliveryState.SENT, 0),
            failed=by_status.get(DeliveryState.FAILED, 0),
            pending=sum(
                by_status.get(s, 0)
                for s in (DeliveryState.PENDING, DeliveryState.HELD, DeliveryState.SENDING)
            ),
            unknown=by_status.get(DeliveryState.UNKNOWN, 0),
            cancelled=by_status.get(DeliveryState.CANCELLED, 0),
            maybe=maybe,
            errcodes=errcodes,
        )

    # --- writing ----------------------------------------------------------------------------

    async def create(self, by: str, content: NoticeContent) -> Notice:
        content = checked(content)
        await self._check_policy(content)
        now = self.now()
        async with self.engine.begin() as conn:
            user = await acting(conn, by)
            require(user, Permission.WRITE)
            if content.corrects_id is not None:
                raise Refused("更正通知请用 notice correct 创建。")
            notice_id = await _insert(conn, content, user, now)
            await notice_versions.keep(conn, notice_id, content, now)
            await _record(conn, user, "notice.create", notice_id, now, _summary(content))
        return await self.get(notice_id)

    async def correct(
        self,
        notice_id: int,
        by: str,
        body: str,
        *,
        title: str | None = None,
        url: str | None = None,
    ) -> Notice:
        """A 更正 draft for a notice already sent, to the recipients it was sent to."""
        now = self.now()
        async with self.engine.begin() as conn:
            user = await acting(conn, by)
            require(user, Permission.WRITE)
            original = await _load(conn, notice_id)
            sent = (
                await conn.execute(
                    select(func.count())
                    .select_from(DELIVERIES)
                    .where(
                        DELIVERIES.c.notice_id == notice_id,
                        DELIVERIES.c.status == DeliveryState.SENT,
                    )
                )
            ).scalar_one()
            mass_sent = original.content.to_all and original.state in (
                NoticeState.SENDING,
                NoticeState.DONE,
            )
            if original.state not in SENT_OUT or not (sent or mass_sent):
                raise Refused(
                    f"通知 {notice_id} 还没有发给任何人，不需要更正：直接修改或撤销它。", 409
                )
            content = checked(
                NoticeContent(
                    title=title or f"【更正】{original.content.title}"[:MAX_TITLE],
                    body=body,
                    url=url if url is not None else original.content.url,
                    channel=original.content.channel,
                    to_all=original.content.to_all,
                    corrects_id=original.id,
                )
            )
            new_id = await _insert(conn, content, user, now)
            await notice_versions.keep(conn, new_id, content, now)
            detail = {**_summary(content), "corrects": original.id, "original_sent": sent}
            await _record(conn, user, "notice.correct", new_id, now, detail)
        return await self.get(new_id)

    async def edit(self, notice_id: int, by: str, changes: Mapping[str, Any]) -> Notice:
        """Change content or audience; voids any approval (back to draft)."""
        unknown = set(changes) - EDITABLE
        if unknown:
            raise Refused(f"这些字段不能修改：{'、'.join(sorted(unknown))}。")
        if not changes:
            raise Refused("没有要修改的内容。")
        now = self.now()
        async with self.engine.begin() as conn:
            user = await acting(conn, by)
            require(user, Permission.WRITE)
            notice = await _load(conn, notice_id, lock=True)
            if notice.state not in WRITABLE:
                raise Refused(
                    f"通知 {notice.id} 已经“{STATE_NAMES[notice.state]}”，不能再修改；"
                    "发现错误请发更正通知（notice correct）。",
                    409,
                )
            content = checked(replace(notice.content, **changes))
            changed = changed_fields(notice.content, content)
            if not changed:
                return notice
            await self._check_policy(content)
            values = {
                **content_values(content),
                "state": NoticeState.DRAFT.value,
                "approved_hash": None,
                "approved_by": None,
                "approved_at": None,
                "scheduled_at": None,
            }
            detail: dict[str, Any] = {
                "changed": changed,
                "from": notice.state.value,
                "content_hash": values["content_hash"],
            }
            if notice.approved_hash is not None:
                detail["voided_approval_by"] = notice.approved_by
            await _change(conn, notice, values, now)
            await notice_versions.keep(conn, notice.id, content, now)
            await _record(conn, user, "notice.edit", notice.id, now, detail)
        return await self.get(notice_id)

    async def submit(self, notice_id: int, by: str) -> Notice:
        now = self.now()
        async with self.engine.begin() as conn:
            user = await acting(conn, by)
            require(user, Permission.WRITE)
            notice = await _load(conn, notice_id, lock=True)
            if notice.state not in (NoticeState.DRAFT, NoticeState.REJECTED):
                raise _wrong_state(notice, "提交审核")
            detail = {"content_hash": notice.content_hash, **await self._estimate(notice)}
            await _change(conn, notice, {"state": NoticeState.SUBMITTED.value}, now)
            await notice_versions.keep(conn, notice.id, notice.content, now)
            await _record(conn, user, "notice.submit", notice.id, now, detail)
        return await self.get(notice_id)

    async def approve(self, notice_id: int, by: str, comment: str | None = None) -> Notice:
        now = self.now()
        comment = _comment(comment)
        async with self.engine.begin() as conn:
            user = await acting(conn, by)
            notice = await self._reviewable(conn, notice_id, user, "批准")
            if notice.content.content_hash() != notice.content_hash:
                raise Refused(
                    "通知内容与保存时的哈希不符（数据被改动过）；请撰稿人重新保存并提交。", 409
                )
            values = {
                "state": NoticeState.APPROVED.value,
                "approved_hash": notice.content_hash,
                "approved_by": user.name,
                "approved_at": now,
                "review_comment": comment,
            }
            detail = {
                "content_hash": notice.content_hash,
                "audience": notice.content.audience_text(),
                **await self._estimate(notice),
            }
            await _change(conn, notice, values, now)
            await _record(conn, user, "notice.approve", notice.id, now, detail)
        return await self.get(notice_id)

    async def reject(self, notice_id: int, by: str, comment: str) -> Notice:
        now = self.now()
        reason = _comment(comment)
        if reason is None:
            raise Refused("退回时请写明理由（--comment）。")
        async with self.engine.begin() as conn:
            user = await acting(conn, by)
            notice = await self._reviewable(conn, notice_id, user, "退回")
            values = {"state": NoticeState.REJECTED.value, "review_comment": reason}
            await _change(conn, notice, values, now)
            await _record(conn, user, "notice.reject", notice.id, now, {"comment": reason})
        return await self.get(notice_id)

    async def schedule(self, notice_id: int, by: str, at: datetime | None = None) -> Notice:
        """Release an approved notice: due now (``send``), or at ``at`` (UTC, in the future)."""
        now = self.now()
        due = now if at is None else at
        if due < now:
            raise Refused(f"定时发送的时间 {local(due)} 已经过去。")
        async with self.engine.begin() as conn:
            user = await acting(conn, by)
            require(user, Permission.PUBLISH)
            notice = await _load(conn, notice_id, lock=True)
            if notice.state in (NoticeState.DRAFT, NoticeState.SUBMITTED, NoticeState.REJECTED):
                raise Refused(
                    f"通知 {notice.id} 还没有通过审核（现在是“{STATE_NAMES[notice.state]}”），"
                    "不能发送。",
                    409,
                )
            if notice.state not in (NoticeState.APPROVED, NoticeState.SCHEDULED):
                raise _wrong_state(notice, "再安排发送")
            if not notice.approval_holds:
                raise Refused("通知在批准后被修改，需要重新审核。", 409)
            values = {"state": NoticeState.SCHEDULED.value, "scheduled_at": due}
            detail = {"at": local(due), "now": at is None, "content_hash": notice.content_hash}
            await _change(conn, notice, values, now)
            await _record(conn, user, "notice.schedule", notice.id, now, detail)
        return await self.get(notice_id)

    async def cancel(self, notice_id: int, by: str, reason: str | None = None) -> Notice:
        now = self.now()
        reason = _comment(reason)
        async with self.engine.begin() as conn:
            user = await acting(conn, by)
            require(user, Permission.PUBLISH)
            # No row lock first: the delivery engine locks deliveries, then the notice, and so does
            # this (the guarded UPDATE below still refuses a notice changed since it was read).
            notice = await _load(conn, notice_id)
            if notice.state is NoticeState.DONE:
                raise Refused(
                    f"通知 {notice.id} 已经发送完毕，无法撤销；内容有误请发更正通知"
                    "（notice correct）。",
                    409,
                )
            if notice.state is NoticeState.CANCELLED:
                raise Refused(f"通知 {notice.id} 已经撤销了。", 409)
            stopped = 0
            if notice.state is NoticeState.SENDING:
                d = DELIVERIES.c
                result = await conn.execute(
                    update(DELIVERIES)
                    .where(
                        d.notice_id == notice.id,
                        d.status.in_((DeliveryState.PENDING, DeliveryState.HELD)),
                    )
                    .values(status=DeliveryState.CANCELLED, finished_at=now)
                )
                stopped = result.rowcount
            values = {"state": NoticeState.CANCELLED.value, "finished_at": now}
            await _change(conn, notice, values, now)
            detail = {"from": notice.state.value, "cancelled_deliveries": stopped}
            if reason:
                detail["reason"] = reason
            await _record(conn, user, "notice.cancel", notice.id, now, detail)
        return await self.get(notice_id)

    async def test_send(self, notice_id: int, by: str, to: str | None = None) -> StaffUser:
        """Send the notice to one staff member (``to``, or the sender) before it is released."""
        async with self.engine.connect() as conn:
            user = await acting(conn, by)
            require(user, Permission.PUBLISH)
            target = await acting(conn, to) if to else user
            notice = await _load(conn, notice_id)
        if notice.state not in TESTABLE:
            raise _wrong_state(notice, "试发（试发只在正式发送前）")
        if target.openid is None:
            raise Refused(
                f"工作人员“{target.name}”没有登记接收试发的微信 openid"
                f"（gongkai user set {target.name} --openid …）。"
            )
        if self.sender is None:
            raise Refused("试发通道尚未配置。", 503)
        failure: Exception | None = None
        try:
            await self.sender.send_test(target.openid, notice.content)
        except Exception as exc:  # reported to staff and recorded
            failure = exc
        now = self.now()
        detail = {"to": target.name, "content_hash": notice.content_hash, "ok": failure is None}
        if failure is not None:
            detail["error"] = str(failure)[:200]
        async with self.engine.begin() as conn:
            await _record(conn, user, "notice.test", notice.id, now, detail)
        if failure is not None:
            raise Refused(f"试发没有成功：{failure}", 502) from failure
        return target

    # --- helpers ----------------------------------------------------------------------------

    async def _reviewable(
        self, conn: AsyncConnection, notice_id: int, user: StaffUser, doing: str
    ) -> Notice:
        require(user, Permission.REVIEW)
        notice = await _load(conn, notice_id, lock=True)
        if notice.state is not NoticeState.SUBMITTED:
            raise _wrong_state(notice, doing + "（只有待审核的通知可以审核）")
        if user.name == notice.author:
            raise Refused("审核人不能是撰稿人本人。", 403)
        if user.name in await _writers(conn, notice.id):
            raise Refused("审核人不能审核自己修改过的通知。", 403)
        return notice

    async def _estimate(self, notice: Notice) -> dict[str, Any]:
        """The audience count to store with a submission or approval (if it can be counted)."""
        if self.counter is None:
            return {}
        count = await self.counter.count(notice)
        return {"recipients": count.recipients, "maybe": count.maybe}

    async def _check_policy(self, content: NoticeContent) -> None:
        if content.policy_id is None:
            return
        from policy_index.staff import policy_exists

        if not await policy_exists(self.engine, content.policy_id):
            raise Refused(f"政策库里没有编号为 {content.policy_id} 的政策。", 404)


async def _load(conn: AsyncConnection, notice_id: int, *, lock: bool = False) -> Notice:
    query = select(NOTICES).where(NOTICES.c.id == notice_id)
    if lock:
        query = query.with_for_update()  # PostgreSQL; SQLite relies on the guarded UPDATE
    row = (await conn.execute(query)).first()
    if row is None:
        raise Refused(f"没有编号为 {notice_id} 的通知。", 404)
    return notice_from_row(row)


async def _insert(
    conn: AsyncConnection, content: NoticeContent, user: StaffUser, now: datetime
) -> int:
    result = await conn.execute(
        insert(NOTICES).values(
            **content_values(content),
            state=NoticeState.DRAFT.value,
            author=user.name,
            materialised_upto=0,
            materialised=False,
            created_at=now,
            updated_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None  # noqa: S101 - an INSERT has one
    return int(key[0])


async def _change(
    conn: AsyncConnection, notice: Notice, values: Mapping[str, Any], now: datetime
) -> None:
    """Write ``values`` if the notice is still as read; else nothing changes (``Refused``)."""
    n = NOTICES.c
    result = await conn.execute(
        update(NOTICES)
        .where(
            n.id == notice.id,
            n.state == notice.state.value,
            n.content_hash == notice.content_hash,
        )
        .values({**values, "updated_at": now})
    )
    if result.rowcount != 1:
        raise Refused(f"通知 {notice.id} 刚被其他人改动过，请刷新后重试。", 409)


async def _record(
    conn: AsyncConnection,
    user: StaffUser,
    action: str,
    notice_id: int,
    now: datetime,
    detail: Mapping[str, Any],
) -> None:
    await audit.record(
        conn,
        actor=user.name,
        action=action,
        object_type="notice",
        object_id=notice_id,
        at=now,
        detail=detail,
    )


async def _writers(conn: AsyncConnection, notice_id: int) -> set[str]:
    a = AUDIT.c
    rows = await conn.execute(
        select(a.actor).where(
            a.object_type == "notice",
            a.object_id == str(notice_id),
            a.action.in_(WRITING_ACTIONS),
        )
    )
    return {row.actor for row in rows}


def _summary(content: NoticeContent) -> dict[str, Any]:
    return {
        "title": content.title,
        "channel": content.channel.value,
        "audience": content.audience_text(),
        "content_hash": content.content_hash(),
    }


def _comment(text: str | None) -> str | None:
    text = (text or "").strip()
    if len(text) > MAX_COMMENT:
        raise Refused(f"审核意见最多 {MAX_COMMENT} 个字。")
    return text or None


class _SendsText(Protocol):
    async def send_text_once(self, openid: str, content: str) -> None: ...


class TextTestSender:
    """Test sends as a customer-service text message (``WeChatClient.send_text_once``).

    WeChat delivers these only to someone who wrote to the account in the last 48 hours, so a
    staff member sends the account any message before testing. The delivery engine's own
    channel (template message …) can replace this so that a test looks exactly like the notice.
    """

    def __init__(self, client: _SendsText) -> None:
        self._client = client

    async def send_test(self, openid: str, notice: NoticeContent) -> None:
        await self._client.send_text_once(openid, trial_text(notice))


def trial_text(notice: NoticeContent) -> str:
    """The text of a test send: marked as a test, cut to WeChat's text limit."""
    from bot.wechat.replies import TEXT_LIMIT_BYTES

    head = "【试发·仅工作人员可见】\n"
    tail = f"\n{notice.url}" if notice.url else ""
    text = f"{head}{notice.title}\n\n{notice.body}{tail}"
    if len(text.encode()) <= TEXT_LIMIT_BYTES:
        return text
    room = TEXT_LIMIT_BYTES - len((head + tail + "…").encode())
    cut = f"{notice.title}\n\n{notice.body}".encode()[:room].decode(errors="ignore")
    return f"{head}{cut}…{tail}"
