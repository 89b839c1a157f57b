"""Pure helpers of the notice pages: how a notice looks in WeChat, and what changed between two
versions of it (for the reviewer).

The preview is built by the delivery engine's own code (``push.channels.template_data`` and
``cut``), so what staff see is exactly what a subscriber's phone shows: each template keyword cut
to WeChat's 20 characters with an ellipsis.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from push.channels import TEMPLATE_VALUE_LIMIT, OutgoingNotice, template_data
from push.notice_rules import CHANNEL_NAMES, NoticeContent
from push.tables import Channel

KEYWORD_NAMES = {
    "title": "通知标题",
    "date": "发布日期",
    "summary": "内容摘要",
    "reason": "推送原因",
    "issuer": "发布单位",
}
ELIGIBLE_REASON = "（按每家企业符合的条件填写）"


@dataclass(frozen=True, slots=True)
class Keyword:
    key: str  # the template's keyword, e.g. thing1
    label: str  # what fills it, in Chinese
    value: str  # as WeChat shows it (cut)
    full: str  # before cutting
    cut: bool


def wechat_preview(
    content: NoticeContent, fields: dict[str, str], when: datetime, notice_id: int = 0
) -> dict[str, Any]:
    """The template message (keywords as cut) and the plain-text form, as JSON for the page."""
    channel_content = OutgoingNotice(
        id=notice_id,
        title=content.title,
        body=content.body,
        url=content.url,
        date=when,
        corrects=content.corrects_id,
    )
    reason = ELIGIBLE_REASON if content.eligible else None
    data = template_data(channel_content, fields, reason)
    full = {
        "title": ("更正：" if content.corrects_id else "") + content.title,
        "summary": content.body,
        "reason": reason or content.body,
    }
    keywords = []
    for key, source in fields.items():
        whole = " ".join(full.get(source, data[key]).split())
        keywords.append(
            Keyword(key, KEYWORD_NAMES.get(source, source), data[key], whole, data[key] != whole)
        )
    return {
        "channel": content.channel.value,
        "channel_name": CHANNEL_NAMES[content.channel],
        "template": content.channel in (Channel.TEMPLATE, Channel.SUBSCRIBE),
        "limit": TEMPLATE_VALUE_LIMIT,
        "keywords": [
            {"key": k.key, "label": k.label, "value": k.value, "cut": k.cut} for k in keywords
        ],
        "text": channel_content.text(reason),
        "url": content.url,
    }


@dataclass(frozen=True, slots=True)
class FieldDiff:
    label: str
    parts: list[tuple[str, str]]  # (op, text): op is "same", "del" or "ins"


def _audience(c: NoticeContent) -> str:
    return c.audience_text()


FIELDS = (
    ("标题", lambda c: c.title),
    ("正文", lambda c: c.body),
    ("链接", lambda c: c.url or ""),
    ("渠道", lambda c: CHANNEL_NAMES[c.channel]),
    ("接收对象", _audience),
)


def content_diff(before: NoticeContent, after: NoticeContent) -> list[FieldDiff]:
    """The fields that differ, each as character-level runs (Chinese has no word spaces)."""
    diffs = []
    for label, get in FIELDS:
        a, b = get(before), get(after)
        if a == b:
            continue
        parts: list[tuple[str, str]] = []
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                parts.append(("same", a[i1:i2]))
                continue
            if i2 > i1:
                parts.append(("del", a[i1:i2]))
            if j2 > j1:
                parts.append(("ins", b[j1:j2]))
        diffs.append(FieldDiff(label, parts))
    return diffs
