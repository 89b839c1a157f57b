"""The notice compose form: reading it into a ``NoticeContent`` and filling it from one (pure)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from push.notice_rules import Notice, NoticeContent, checked
from push.staff import Refused
from push.tables import Channel, NoticeState

SPLIT = re.compile(r"[\s,，、;；]+")
FIELD_NAMES = {
    "title": "标题",
    "body": "正文",
    "url": "链接",
    "channel": "渠道",
    "topics": "主题",
    "towns": "乡镇",
    "tags": "标签",
    "policy_id": "政策",
    "eligible": "按条件推送",
}


def _names(value: Any) -> tuple[str, ...]:
    return tuple(v for v in SPLIT.split(str(value or "")) if v)


def content_from_form(form: Any, editing: NoticeContent | None = None) -> NoticeContent:
    """The notice the compose form describes (checked by ``push.notice_rules.checked``).

    A correction (更正) keeps its audience — the recipients of the notice it corrects — so its
    form has no audience fields.
    """
    try:
        channel = Channel(str(form.get("channel") or Channel.TEMPLATE.value))
    except ValueError:
        raise Refused("请选择发送渠道。") from None
    audience = str(form.get("audience") or "topics")
    url = str(form.get("url") or "").strip() or None
    base = NoticeContent(
        title=str(form.get("title") or "").strip(),
        body=str(form.get("body") or "").strip(),
        url=url,
        channel=channel,
    )
    if editing is not None and editing.corrects_id is not None:
        content = NoticeContent(
            **{**_plain(base), "channel": editing.channel},
            to_all=editing.to_all,
            corrects_id=editing.corrects_id,
        )
    elif audience == "all":
        content = NoticeContent(**{**_plain(base), "channel": Channel.MASS, "to_all": True})
    elif audience == "policy":
        content = NoticeContent(
            **_plain(base),
            policy_id=str(form.get("policy_id") or "").strip() or None,
            eligible=form.get("eligible") == "on",
        )
    else:
        content = NoticeContent(
            **_plain(base),
            topics=_names(form.get("topics")),
            towns=_names(form.get("towns")),
            tags=_names(form.get("tags")),
        )
    return checked(content)


def _plain(c: NoticeContent) -> dict[str, Any]:
    return {"title": c.title, "body": c.body, "url": c.url, "channel": c.channel}


def form_of(content: NoticeContent | None) -> dict[str, Any]:
    c = content or NoticeContent(title="", body="")
    audience = "all" if c.to_all else ("policy" if c.policy_id or c.eligible else "topics")
    return {
        "title": c.title,
        "body": c.body,
        "url": c.url or "",
        "channel": c.channel.value,
        "audience": audience,
        "topics": "、".join(c.topics),
        "towns": "、".join(c.towns),
        "tags": "、".join(c.tags),
        "policy_id": c.policy_id or "",
        "eligible": c.eligible,
    }


def transient(content: NoticeContent, author: str, at: datetime) -> Notice:
    """An unsaved notice, for counting the audience of what is being composed."""
    return Notice(
        id=0,
        content=content,
        state=NoticeState.DRAFT,
        author=author,
        content_hash=content.content_hash(),
        approved_hash=None,
        approved_by=None,
        approved_at=None,
        review_comment=None,
        scheduled_at=None,
        started_at=None,
        finished_at=None,
        materialised=False,
        created_at=at,
        updated_at=at,
    )


def echo(form: Any) -> dict[str, Any]:
    keys_ = ("title", "body", "url", "channel", "audience", "topics", "towns", "tags", "policy_id")
    echoed: dict[str, Any] = {k: str(form.get(k) or "") for k in keys_}
    echoed["eligible"] = form.get("eligible") == "on"
    return echoed
