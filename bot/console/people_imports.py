"""Importing enterprise profiles (一企一档) and subscribers from the console: upload, preview,
confirm — the files of ``gongkai enterprises import`` and ``gongkai subscribers import``.

The first POST checks every line with the command line's own readers
(``push.profiles.read_profiles``; ``push.subscriptions.check_subscriber_lines``) and, if any
line is bad, lists each problem with its line and field and writes nothing. Otherwise it shows
what the import would do — new / changed / unchanged, counted, and the first rows — computed
from the tables without writing (``Enterprises.preview``, ``plan_subscribers``). The file waits
for the confirmation under the state dir (``bot.console.uploads``); confirming checks it again
(the tables may have changed since) and imports it with the same service code as the command
line, the audit row (``enterprise.import`` / ``subscriber.import``) in the same transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import keys
from bot.console.uploads import Upload, Uploads, large_body, largest_file, upload_limit
from bot.console.web import PREFIX, USER, access, flash, now, render
from push import audit, people
from push.enterprises import ImportSummary, Planned
from push.profiles import EnterpriseFormatError, ProfileRecord, read_profiles
from push.staff import Permission, Refused
from push.subscriptions import check_subscriber_lines, import_subscribers, plan_subscribers

UPLOADS = "console-imports-{kind}"  # one folder per kind: a token confirms only its own kind
SUFFIXES = (".jsonl",)
WRONG_KIND = (
    "只能导入 .jsonl 文件（每行一个 JSON 对象，格式见 docs/enterprises.md、docs/push.md）。"
)
SHOWN_ROWS = 20
ACTIONS = {"new": "新增", "changed": "修改", "same": "不变"}
FIELD_LABELS = {
    "uscc": "统一社会信用代码",
    "name": "企业名称",
    "industry": "行业",
    "employees": "职工人数",
    "town": "所在镇街",
    "founded": "成立日期",
    "qualifications": "资质",
    "tags": "标签",
    "openids": "联系人 openid",
    "openid": "openid",
    "topics": "订阅主题",
    "-": "整行",
}
KINDS = {
    "enterprises": {
        "title": "导入企业档案",
        "back": "企业",
        "command": "gongkai enterprises import",
    },
    "subscribers": {
        "title": "导入订阅用户",
        "back": "订阅用户",
        "command": "gongkai subscribers import",
    },
}


class BadFile(Exception):
    """The upload has bad lines: ``errors`` as the page lists them; nothing was written."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} bad line(s)")
        self.errors = errors


def add_people_imports(app: web.Application) -> None:
    r = app.router
    for kind in KINDS:
        r.add_get(f"/{kind}/import", import_page)
        r.add_post(f"/{kind}/import", import_preview)
        r.add_post(f"/{kind}/import/confirm", import_confirm)


def _uploads(request: web.Request) -> Uploads:
    folder = request.config_dict[keys.SETTINGS].state_dir / UPLOADS.format(kind=_kind(request))
    return Uploads(folder, SUFFIXES, WRONG_KIND)


def _kind(request: web.Request) -> str:
    return request.path.removeprefix(PREFIX).split("/")[1]


def _error(line: int, field: str, message: str) -> dict[str, Any]:
    return {"line": line, "field": field, "label": FIELD_LABELS.get(field, field), "msg": message}


async def _view(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    kind = _kind(request)
    context = {
        "kind": kind,
        "k": KINDS[kind],
        "max_bytes": largest_file(request),
        "max_mb": upload_limit(request) // 1024**2,
        "actions": ACTIONS,
        "labels": FIELD_LABELS,
        "masked": people.masked,
        "errors": [],
        "preview": None,
        "name": "",
        **extra,
    }
    return await render(request, "people_import.html", context, status=status)


@access(Permission.PROFILES)
async def import_page(request: web.Request) -> web.Response:
    return await _view(request)


# --- reading and checking a file ---------------------------------------------------------------


def _profiles(upload: Upload) -> list[ProfileRecord]:
    try:
        return read_profiles(upload.path)
    except EnterpriseFormatError as exc:
        raise BadFile([_error(p.line, p.field, p.message) for p in exc.problems]) from None


async def _subscribers(request: web.Request, upload: Upload) -> list[dict[str, Any]]:
    try:
        lines = upload.path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise BadFile([_error(0, "-", "文件不是 UTF-8 编码的文本")]) from None
    known = {t.name for t in await request.config_dict[keys.SUBSCRIPTIONS].catalogue()}
    records, problems = check_subscriber_lines(Path(upload.name), lines, known)
    if problems:
        raise BadFile([_error(p.line, p.field, p.reason) for p in problems])
    return records


def _enterprise_row(plan: Planned) -> dict[str, Any]:
    r = plan.record
    name = r.fields.get("name") or ""
    fields = "、".join(FIELD_LABELS.get(f, f) for f in plan.fields)
    if r.openids is not None:
        fields = "、".join(x for x in (fields, f"联系人名单（{len(r.openids)} 个）") if x)
    return {"line": r.line, "key": r.uscc, "name": name, "action": plan.action, "what": fields}


async def _preview(request: web.Request, upload: Upload) -> dict[str, Any]:
    """The counts and the first rows of what importing ``upload`` would do."""
    rows: list[dict[str, Any]] = []
    if _kind(request) == "enterprises":
        plans = await request.config_dict[keys.ENTERPRISES].preview(_profiles(upload))
        actions = [p.action for p in plans]
        rows = [_enterprise_row(p) for p in plans[:SHOWN_ROWS]]
    else:
        records = await _subscribers(request, upload)
        async with request.config_dict[keys.ENGINE].connect() as conn:
            actions = await conn.run_sync(lambda c: plan_subscribers(c, records))
        for record, action in list(zip(records, actions, strict=True))[:SHOWN_ROWS]:
            what = "、".join(record["topics"]) or "（无主题）"
            if record["town"]:
                what += f"；{record['town']}"
            rows.append(
                {"key": people.masked(record["openid"]), "name": "", "action": action, "what": what}
            )
    counts = {a: actions.count(a) for a in ACTIONS}
    return {"counts": counts, "rows": rows, "total": len(actions), "token": upload.token}


@access(Permission.PROFILES)
@large_body
async def import_preview(request: web.Request) -> web.Response:
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        raise Refused("请选择要导入的文件。")
    stashed = _uploads(request).stash(unquote(upload.filename), upload.file.read())
    try:
        preview = await _preview(request, stashed)
    except BadFile as exc:
        stashed.path.unlink(missing_ok=True)  # nothing to confirm
        return await _view(request, 400, errors=exc.errors, name=stashed.name)
    return await _view(request, preview=preview, name=stashed.name)


# --- importing ---------------------------------------------------------------------------------


@access(Permission.PROFILES)
async def import_confirm(request: web.Request) -> web.Response:
    form = await request.post()
    upload = _uploads(request).upload(str(form.get("token", "")), str(form.get("name", "")))
    actor = request[USER].name
    kind = _kind(request)
    try:
        if kind == "enterprises":
            text = await _import_enterprises(request, upload, actor)
        else:
            text = await _import_subscribers(request, upload, actor)
    except BadFile as exc:  # checked again: still refused as a whole
        return await _view(request, 400, errors=exc.errors, name=upload.name)
    upload.path.unlink(missing_ok=True)
    await flash(request, text)
    raise web.HTTPSeeOther(f"{PREFIX}/{kind}")


async def _audit(conn: AsyncConnection, actor: str, action: str, name: str, **detail: Any) -> None:
    await audit.record(
        conn,
        actor=actor,
        action=action,
        object_type="file",
        object_id=name,
        at=now(),
        detail=detail,
    )


async def _import_enterprises(request: web.Request, upload: Upload, actor: str) -> str:
    records = _profiles(upload)

    async def audited(conn: AsyncConnection, s: ImportSummary) -> None:
        await _audit(
            conn,
            actor,
            "enterprise.import",
            upload.name,
            created=s.created,
            updated=s.updated,
            unchanged=s.unchanged,
            contacts_added=s.contacts_added,
            contacts_removed=s.contacts_removed,
        )

    s = await request.config_dict[keys.ENTERPRISES].import_records(records, then=audited)
    return (
        f"已导入企业档案：新增 {s.created} 家，更新 {s.updated} 家，未变 {s.unchanged} 家；"
        f"联系人新增 {s.contacts_added} 个，移除 {s.contacts_removed} 个。"
    )


async def _import_subscribers(request: web.Request, upload: Upload, actor: str) -> str:
    records = await _subscribers(request, upload)
    moment = now()

    def run(conn: Connection) -> dict[str, int]:
        actions = plan_subscribers(conn, records)
        import_subscribers(conn, records, moment)
        return {a: actions.count(a) for a in ACTIONS}

    async with request.config_dict[keys.ENGINE].begin() as conn:
        counts = await conn.run_sync(run)
        await _audit(conn, actor, "subscriber.import", upload.name, **counts)
    return (
        f"已导入 {len(records)} 位订阅用户：新增 {counts['new']} 位，更新 {counts['changed']} 位，"
        f"未变 {counts['same']} 位（重复导入不会重复订阅）。"
    )
