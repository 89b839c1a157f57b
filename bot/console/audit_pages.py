"""The audit log page (审计日志): the rows of ``push.audit``, filtered and paginated, with the
hash chain checked on every visit (the check ``gongkai audit verify`` runs).

For auditors and admins (``Permission.AUDIT``). Filters: who (actor), what (an action, or every
action on one kind of object), which object (type and number or name), and a period of local
dates (Asia/Shanghai, both included). Newest first, ``PER_PAGE`` rows a page. Reading the log is
not itself logged (it changes nothing); it needs a signed-in session like every console page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot import keys
from bot.console.web import access, render
from push import audit
from push.audit import AuditEntry, AuditFilter, canonical_json
from push.notice_rules import LOCAL_TZ
from push.staff import Permission

PER_PAGE = 50
FIELDS = ("actor", "action", "type", "object", "from", "to")
OBJECT_NAMES = {"notice": "通知", "user": "工作人员账号"}
ACTION_NAMES = {
    "notice.create": "创建通知",
    "notice.edit": "修改通知",
    "notice.submit": "提交审核",
    "notice.approve": "批准通知",
    "notice.reject": "退回通知",
    "notice.schedule": "安排发送",
    "notice.cancel": "撤销通知",
    "notice.test": "试发通知",
    "notice.correct": "创建更正",
    "user.add": "新增账号",
    "user.change": "修改账号",
    "user.login": "登录",
    "user.login_failed": "登录失败",
    "user.logout": "退出",
}


def add_audit_pages(app: web.Application) -> None:
    app.router.add_get("/audit", audit_page, name="audit")


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _filter(query: dict[str, str]) -> tuple[AuditFilter, list[str]]:
    """The filter the query asks for, and what in it could not be read (ignored, and said)."""
    problems = []
    since = until = None
    start, end = _day(query["from"]), _day(query["to"])
    if query["from"] and start is None:
        problems.append(f"开始日期“{query['from']}”不是有效的日期（应为 2026-03-01 这样的格式）")
    if query["to"] and end is None:
        problems.append(f"结束日期“{query['to']}”不是有效的日期（应为 2026-03-01 这样的格式）")
    if start and end and end < start:
        problems.append(f"结束日期 {end} 早于开始日期 {start}")
        start = end = None
    if start:
        since = datetime.combine(start, time.min, LOCAL_TZ).astimezone(UTC)
    if end:
        until = datetime.combine(end + timedelta(days=1), time.min, LOCAL_TZ).astimezone(UTC)
    where = AuditFilter(
        actor=query["actor"] or None,
        action=query["action"] or None,
        object_type=query["type"] or None,
        object_id=query["object"] or None,
        since=since,
        until=until,
    )
    return where, problems


def _row(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
        "actor": e.actor,
        "action": ACTION_NAMES.get(e.action, e.action),
        "code": e.action,
        "object": f"{OBJECT_NAMES.get(e.object_type, e.object_type)} {e.object_id}",
        "detail": canonical_json(e.detail) if e.detail else "",
    }


@access(Permission.AUDIT)
async def audit_page(request: web.Request) -> web.Response:
    engine = request.config_dict[keys.ENGINE]
    query = {name: request.query.get(name, "").strip() for name in FIELDS}
    where, problems = _filter(query)
    page_no = request.query.get("page", "1")
    page = int(page_no) if page_no.isdigit() and int(page_no) > 0 else 1
    found = await audit.search(engine, where, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    pages = max((found.total + PER_PAGE - 1) // PER_PAGE, 1)
    kept = {k: v for k, v in query.items() if v}
    choices = await audit.choices(engine)
    groups = sorted({a.split(".", 1)[0] + "." for a in choices["action"] if "." in a})
    ctx = {
        "q": query,
        "rows": [_row(e) for e in found.entries],
        "total": found.total,
        "page": page,
        "pages": pages,
        "prev": urlencode({**kept, "page": page - 1}) if page > 1 else None,
        "next": urlencode({**kept, "page": page + 1}) if page < pages else None,
        "problems": problems,
        "actors": choices["actor"],
        "actions": [(a, ACTION_NAMES.get(a, a)) for a in choices["action"]],
        "groups": [(g, f"全部{OBJECT_NAMES.get(g[:-1], g[:-1])}操作") for g in groups],
        "types": [(t, OBJECT_NAMES.get(t, t)) for t in choices["type"]],
        "check": await audit.verify(engine),
        "filtered": bool(kept),
    }
    return await render(request, "audit.html", ctx)
