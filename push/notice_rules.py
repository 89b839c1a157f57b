"""What a notice is and the rules about its content, without I/O: the fields, the audience
(exactly one kind), the content hash an approval pins, and times staff type.

The **content hash** is SHA-256 over the canonical JSON of everything a recipient sees or that
decides who receives it: title, body, url, channel and the audience fields (topics, towns, tags,
policy and ``eligible``, ``to_all``, and the notice corrected). Approval stores it as
``approved_hash``; any edit changes ``content_hash`` and voids the approval, and a notice whose
recomputed hash differs from the approved one is never scheduled or started.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from push.audit import canonical_json
from push.staff import Refused
from push.tables import Channel, NoticeState

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # times are shown and typed in Beijing time
MAX_TITLE = 64
MAX_BODY = 4000
MAX_URL = 1024
MAX_AUDIENCE_VALUES = 50
LATEST_SCHEDULE = timedelta(days=366)

STATE_NAMES = {
    NoticeState.DRAFT: "草稿",
    NoticeState.SUBMITTED: "待审核",
    NoticeState.APPROVED: "已批准",
    NoticeState.REJECTED: "已退回",
    NoticeState.SCHEDULED: "已定时",
    NoticeState.SENDING: "发送中",
    NoticeState.DONE: "已发送",
    NoticeState.CANCELLED: "已撤销",
}
CHANNEL_NAMES = {
    Channel.TEMPLATE: "模板消息",
    Channel.SUBSCRIBE: "订阅通知",
    Channel.CUSTOM: "客服消息",
    Channel.MASS: "群发",
}
HASHED = (
    "title",
    "body",
    "url",
    "channel",
    "topics",
    "towns",
    "tags",
    "policy_id",
    "eligible",
    "to_all",
    "corrects_id",
)


@dataclass(frozen=True, slots=True)
class NoticeContent:
    """What recipients get and who they are: the part of a notice an approval covers."""

    title: str
    body: str
    url: str | None = None
    channel: Channel = Channel.TEMPLATE
    topics: tuple[str, ...] = ()
    towns: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    policy_id: str | None = None
    eligible: bool = False
    to_all: bool = False
    corrects_id: int | None = None

    def content_hash(self) -> str:
        return hashlib.sha256(canonical_json(content_json(self)).encode()).hexdigest()

    def audience_text(self) -> str:
        """The audience in words, for staff (and the approval screen)."""
        if self.to_all:
            return "全体关注用户（群发）"
        if self.corrects_id is not None:
            return f"通知 {self.corrects_id} 已送达的用户（更正）"
        if self.policy_id is not None:
            return f"符合政策 {self.policy_id} 条件的企业联系人"
        parts = []
        if self.topics:
            parts.append("订阅了" + "、".join(self.topics))
        if self.towns:
            parts.append("位于" + "、".join(self.towns))
        if self.tags:
            parts.append("带标签" + "、".join(self.tags))
        return "，且".join(parts) + "的用户"


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice as stored (``push.tables.NOTICES``)."""

    id: int
    content: NoticeContent
    state: NoticeState
    author: str
    content_hash: str
    approved_hash: str | None
    approved_by: str | None
    approved_at: datetime | None
    review_comment: str | None
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    materialised: bool
    created_at: datetime
    updated_at: datetime

    @property
    def approval_holds(self) -> bool:
        """Approved, and the content is exactly what was approved (recomputed, not trusted)."""
        return (
            self.approved_hash is not None
            and self.approved_hash == self.content_hash
            and self.approved_hash == self.content.content_hash()
        )

    def to_json(self) -> dict[str, Any]:
        c = self.content
        return {
            "id": self.id,
            "state": self.state.value,
            "state_name": STATE_NAMES[self.state],
            "title": c.title,
            "body": c.body,
            "url": c.url,
            "channel": c.channel.value,
            "audience": {
                "topics": list(c.topics),
                "towns": list(c.towns),
                "tags": list(c.tags),
                "policy_id": c.policy_id,
                "eligible": c.eligible,
                "all": c.to_all,
                "corrects": c.corrects_id,
                "text": c.audience_text(),
            },
            "author": self.author,
            "content_hash": self.content_hash,
            "approved_by": self.approved_by,
            "approved_at": local(self.approved_at),
            "approval_holds": self.approval_holds,
            "review_comment": self.review_comment,
            "scheduled_at": local(self.scheduled_at),
            "started_at": local(self.started_at),
            "finished_at": local(self.finished_at),
            "created_at": local(self.created_at),
            "updated_at": local(self.updated_at),
        }


def local(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds") if moment else None


def notice_from_row(row: Any) -> Notice:
    content = content_from_json(row._mapping)
    return Notice(
        id=row.id,
        content=content,
        state=NoticeState(row.state),
        author=row.author,
        content_hash=row.content_hash,
        approved_hash=row.approved_hash,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        review_comment=row.review_comment,
        scheduled_at=row.scheduled_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        materialised=bool(row.materialised),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def content_values(content: NoticeContent) -> dict[str, Any]:
    """The NOTICES columns for ``content`` (and its hash)."""
    return {**content_json(content), "content_hash": content.content_hash()}


def _clean_list(name: str, values: Iterable[str]) -> tuple[str, ...]:
    cleaned = sorted({v.strip() for v in values if v and v.strip()})
    if len(cleaned) > MAX_AUDIENCE_VALUES:
        raise Refused(f"{name}最多 {MAX_AUDIENCE_VALUES} 个。")
    return tuple(cleaned)


def parse_channel(value: Channel | str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        names = "、".join(f"{c.value}（{CHANNEL_NAMES[c]}）" for c in Channel)
        raise Refused(f"没有“{value}”这种发送渠道；可选：{names}。") from None


def checked(content: NoticeContent) -> NoticeContent:
    """``content`` tidied (stripped, lists sorted and deduplicated), or ``Refused`` why not."""
    title, body = content.title.strip(), content.body.strip()
    url = (content.url or "").strip() or None
    if not title:
        raise Refused("通知标题不能为空。")
    if len(title) > MAX_TITLE:
        raise Refused(f"通知标题最多 {MAX_TITLE} 个字（现在 {len(title)} 个）。")
    if not body:
        raise Refused("通知正文不能为空。")
    if len(body) > MAX_BODY:
        raise Refused(f"通知正文最多 {MAX_BODY} 个字（现在 {len(body)} 个）；较长的内容请附链接。")
    if url is not None and (len(url) > MAX_URL or not url.startswith(("https://", "http://"))):
        raise Refused("链接须以 https:// 或 http:// 开头，且不超过 1024 个字符。")
    tidy = replace(
        content,
        title=title,
        body=body,
        url=url,
        channel=parse_channel(content.channel),
        topics=_clean_list("主题", content.topics),
        towns=_clean_list("乡镇（街道）", content.towns),
        tags=_clean_list("标签", content.tags),
        policy_id=(content.policy_id or "").strip() or None,
    )
    _check_audience(tidy)
    return tidy


def _check_audience(c: NoticeContent) -> None:
    kinds = [
        bool(c.topics or c.towns or c.tags),
        c.policy_id is not None or c.eligible,
        c.to_all,
        c.corrects_id is not None,
    ]
    if sum(kinds) == 0:
        raise Refused(
            "请指定接收对象：订阅主题（--topic，可再加 --town / --tag），"
            "或符合某项政策的企业（--policy 编号 --eligible），或全体关注用户（--all）。"
        )
    if c.corrects_id is not None and not c.to_all and sum(kinds) > 1:
        raise Refused("更正通知发给原通知已送达的用户，不能另选接收对象。")
    if c.corrects_id is None and sum(kinds) > 1:
        raise Refused("接收对象只能选一种：订阅主题 / 乡镇 / 标签，或政策符合企业，或全体用户。")
    if (c.policy_id is None) != (not c.eligible):
        raise Refused("按政策推送须同时给出政策编号和 --eligible（发给符合条件的企业）。")
    if c.to_all != (c.channel is Channel.MASS):
        raise Refused("全体关注用户只能用群发（--channel mass），群发也只能发给全体用户（--all）。")


def parse_when(text: str, now: datetime) -> datetime:
    """A time staff typed: ISO 8601, Beijing time unless it carries an offset; stored as UTC."""
    value = text.strip().replace("：", ":")  # typed on a Chinese keyboard
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Refused(
            f"时间格式不对：{text!r}；请写成 2026-12-08 09:00（北京时间）或带时区的 ISO 8601。"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    moment = moment.astimezone(UTC)
    if moment <= now:
        raise Refused(f"定时发送的时间 {local(moment)} 已经过去；立即发送请用 send（不带 --at）。")
    if moment > now + LATEST_SCHEDULE:
        raise Refused("定时发送最多安排在一年以内。")
    return moment


def changed_fields(before: NoticeContent, after: NoticeContent) -> list[str]:
    names = [f.name for f in fields(NoticeContent)]
    return [n for n in names if getattr(before, n) != getattr(after, n)]


def content_json(content: NoticeContent) -> dict[str, Any]:
    """The content as plain JSON values: what its hash covers, the NOTICES columns hold and
    a kept version (``push.notice_versions``) stores."""
    data: dict[str, Any] = {name: getattr(content, name) for name in HASHED}
    data["channel"] = content.channel.value
    for name in ("topics", "towns", "tags"):
        data[name] = list(data[name])
    return data


def content_from_json(data: Mapping[str, Any]) -> NoticeContent:
    """The content from ``content_json``'s values (a kept version, or a NOTICES row)."""
    return NoticeContent(
        title=data["title"],
        body=data["body"],
        url=data.get("url"),
        channel=Channel(data["channel"]),
        topics=tuple(data.get("topics") or ()),
        towns=tuple(data.get("towns") or ()),
        tags=tuple(data.get("tags") or ()),
        policy_id=data.get("policy_id"),
        eligible=bool(data.get("eligible")),
        to_all=bool(data.get("to_all")),
        corrects_id=data.get("corrects_id"),
    )
