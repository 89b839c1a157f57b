"""How a notice is sent on each channel, and what each WeChat answer means for the delivery.

The errcode table (shared/notes/wechat.md §I.34, push_reliability.md §4.1) is applied here, in
one place, on top of ``bot.wechat.errcodes.classify``:

- ok → ``sent`` with the msgid.
- -1, no connection, a token error left after the client's one refresh → retried with
  backoff, at most ``max_attempts`` times.
- a timeout, HTTP 5xx or garbage (the send may have happened) → template and mass sends are
  resent with the same idempotency key while WeChat's 10-minute window holds; others become
  ``unknown`` (never sent blindly twice).
- 43004 unfollowed → ``failed``, never retried; the subscriber is deactivated and their other
  waiting deliveries fail with it.
- 40003, 43101, 45015, 45047, 47003 and other errors → ``failed``.
- 45009 daily quota → back to pending (the attempt refunded); the channel pauses until
  midnight Beijing time. 45011 minute quota → the channel pauses for a minute.
- 40037, 40164, 48001 (our configuration) → back to pending; the channel pauses 10 minutes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.wechat.errcodes import (
    MASS_DUPLICATE,
    Action,
    WeChatAPIError,
    WeChatOutcomeUnknownError,
    WeChatUnavailableError,
)
from push.config import LOCAL_TZ, PushSettings, next_local_midnight
from push.outbox import IDEMPOTENT, RESEND_WINDOW, Claimed, Effects, Outcome
from push.tables import Channel, DeliveryState

TEMPLATE_VALUE_LIMIT = 20  # characters per keyword since 2023-05 (longer values are cut)
UNFOLLOWED = 43004
QUOTA_DAILY = 45009
QUOTA_MINUTE = 45011
CONFIG_PAUSE = timedelta(minutes=10)


class Sender(Protocol):
    """The part of ``bot.wechat.api.WeChatClient`` push sends with."""

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict[str, str],
        *,
        url: str | None = None,
        client_msg_id: str | None = None,
    ) -> str | None: ...

    async def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, str], *, page: str | None = None
    ) -> None: ...

    async def send_text_once(self, openid: str, content: str) -> None: ...

    async def mass_send_text(self, content: str, *, clientmsgid: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class OutgoingNotice:
    """What a notice says, as every channel needs it."""

    id: int
    title: str
    body: str
    url: str | None
    date: datetime  # approval or scheduling time (shown in Beijing time)
    corrects: int | None = None

    def text(self, reason: str | None = None) -> str:
        """The plain-text form (customer-service message, mass send)."""
        lines = [f"【{'更正' if self.corrects else '通知'}】{self.title}", self.body]
        if reason:
            lines.append(f"推送原因：{reason}")
        if self.url:
            lines.append(f"详情：{self.url}")
        lines.append("回复“退订 全部”可不再接收推送。")
        return "\n".join(lines)


def cut(value: str, limit: int = TEMPLATE_VALUE_LIMIT) -> str:
    """WeChat trims a template value silently; we cut it ourselves and say so with an ellipsis."""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def template_data(
    content: OutgoingNotice, fields: dict[str, str], reason: str | None
) -> dict[str, str]:
    """Fill the configured template keywords (``GONGKAI_PUSH__TEMPLATE_FIELDS``)."""
    values = {
        "title": ("更正：" if content.corrects else "") + content.title,
        "date": content.date.astimezone(LOCAL_TZ).strftime("%Y年%m月%d日"),
        "summary": content.body,
        "reason": reason or content.body,
        "issuer": "",
    }
    return {key: cut(values.get(source, "")) for key, source in fields.items()}


def client_msg_id(row: Claimed) -> str:
    """Stable per delivery: a resend of the same row is the same message to WeChat."""
    return f"gk:n{row.notice_id}:d{row.id}"


def reason_of(row: Claimed) -> str | None:
    detail = row.detail if isinstance(row.detail, dict) else {}
    reasons = detail.get("reasons")
    return "；".join(str(r) for r in reasons) if reasons else None


async def send(
    sender: Sender, row: Claimed, content: OutgoingNotice, settings: PushSettings
) -> str | None:
    """Send one delivery on its channel; returns WeChat's msgid if it gives one."""
    reason = reason_of(row)
    if row.channel == Channel.TEMPLATE:
        data = template_data(content, settings.template_fields, reason)
        return await sender.send_template(
            row.openid,
            settings.template_id,
            data,
            url=content.url,
            client_msg_id=client_msg_id(row),
        )
    if row.channel == Channel.SUBSCRIBE:
        data = template_data(content, settings.template_fields, reason)
        await sender.send_subscribe(
            row.openid, settings.subscribe_template_id, data, page=content.url
        )
        return None
    if row.channel == Channel.CUSTOM:
        await sender.send_text_once(row.openid, content.text(reason))
        return None
    if row.channel == Channel.MASS:
        return await sender.mass_send_text(content.text(), clientmsgid=f"gk-notice-{content.id}")
    raise ValueError(f"unknown channel {row.channel!r}")


def backoff(attempt: int, settings: PushSettings) -> timedelta:
    """Full-jitter exponential backoff: up to base · 2^(attempt-1), capped."""
    ceiling = min(settings.backoff_cap_s, settings.backoff_s * 2.0 ** max(0, attempt - 1))
    return timedelta(seconds=ceiling * (0.5 + random.random() / 2))  # noqa: S311 - jitter


def outcome_of(
    exc: Exception | None,
    row: Claimed,
    now: datetime,
    settings: PushSettings,
    effects: Effects,
    msgid: str | None = None,
) -> Outcome:
    """The row's new state after a send that returned (``exc`` None) or raised ``exc``."""
    if exc is None:
        return Outcome(DeliveryState.SENT, msgid=msgid)
    retry = _retry(row, now, settings)
    if isinstance(exc, WeChatAPIError):
        return _api_error(exc, row, now, retry, effects)
    if isinstance(exc, WeChatOutcomeUnknownError):
        if row.channel in IDEMPOTENT and now - row.first_sent_at < RESEND_WINDOW:
            retry.reason = "no_response"
            return retry
        return Outcome(DeliveryState.UNKNOWN, reason="no_response")
    if isinstance(exc, WeChatUnavailableError):
        retry.reason = "unavailable"
        return retry
    return Outcome(DeliveryState.UNKNOWN, reason="error")


def _retry(row: Claimed, now: datetime, settings: PushSettings) -> Outcome:
    if row.attempts >= settings.max_attempts:
        return Outcome(DeliveryState.FAILED, reason="gave_up")
    return Outcome(DeliveryState.PENDING, next_attempt_at=now + backoff(row.attempts, settings))


def _api_error(
    exc: WeChatAPIError, row: Claimed, now: datetime, retry: Outcome, effects: Effects
) -> Outcome:
    code = exc.errcode
    if code == MASS_DUPLICATE:  # this clientmsgid was sent already: it is delivered
        return Outcome(DeliveryState.SENT, reason="duplicate_clientmsgid")
    if exc.action in (Action.RETRY, Action.REFRESH_TOKEN):
        retry.errcode = code
        retry.reason = exc.action.value
        return retry
    if exc.action is Action.QUOTA:
        until = next_local_midnight(now) if code == QUOTA_DAILY else now + timedelta(minutes=1)
        effects.pause[row.channel] = (until, "quota", code)
        return Outcome(
            DeliveryState.PENDING, next_attempt_at=until, errcode=code, reason="quota",
            refund_attempt=True,
        )  # fmt: skip
    if exc.action is Action.CONFIGURATION:
        until = now + CONFIG_PAUSE
        effects.pause[row.channel] = (until, "configuration", code)
        return Outcome(
            DeliveryState.PENDING, next_attempt_at=until, errcode=code, reason="configuration",
            refund_attempt=True,
        )  # fmt: skip
    if code == UNFOLLOWED:
        effects.deactivate.add(row.openid)
        return Outcome(DeliveryState.FAILED, errcode=code, reason="unfollowed")
    return Outcome(DeliveryState.FAILED, errcode=code, reason=exc.action.value)


def content_of(row: Any) -> OutgoingNotice:
    """A notice row (mapping) as the channels need it."""
    when = row["approved_at"] or row["scheduled_at"] or row["created_at"]
    return OutgoingNotice(
        id=row["id"],
        title=row["title"],
        body=row["body"],
        url=row["url"],
        date=when,
        corrects=row["corrects_id"],
    )
