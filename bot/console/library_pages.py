"""The policy-library pages of the staff console: search and filter, one policy with its
interpretations, Q&A pairs, guide and eligibility rules, the edit form, repeal, import with a
preview, export, and the library-wide aliases. (Every Q&A pair, attached to a policy or not,
has its own pages: ``bot.console.qa_pages``.)

Anyone signed in reads the library; changing it needs ``Permission.LIBRARY`` (editor, admin).
Every change goes through ``bot.console.library_desk.LibraryDesk``: validated as an import,
written with its audit row in one transaction, and live in the matcher at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from bot import keys
from bot.console.library_desk import LibraryDesk, Preview, version_of
from bot.console.library_forms import errors_zh, field_zh, form_of, record_of, saved_message
from bot.console.uploads import large_body, largest_file, upload_limit
from bot.console.web import USER, access, flash, paged, render
from policy_index.browse import Filters, issuers, search, topics
from policy_index.dates import chinese
from policy_index.errors import LibraryFormatError
from policy_index.index import local_today
from policy_index.model import (
    AUDIENCES,
    GUIDE_FIELDS,
    GUIDE_LABELS,
    INTERPRETATION_KINDS,
    Level,
    Library,
    Policy,
    Status,
)
from push.staff import Permission, Refused

PER_PAGE = 20
POLICY = "/library/policy/{policy_id}"
UPLOADS = "console-imports"
ACTION_NAMES = {"new": "新增", "changed": "修改", "same": "不变"}
KIND_NAMES = {"policy": "政策", "qa": "问答", "alias": "别名"}


def add_library_pages(app: web.Application) -> None:
    r = app.router
    r.add_get("/library", list_page, name="library")
    r.add_get("/library/new", new_page)
    r.add_post("/library/new", create)
    r.add_get("/library/import", import_page)
    r.add_post("/library/import", import_preview)
    r.add_post("/library/import/confirm", import_confirm)
    r.add_get("/library/export", export)
    r.add_get("/library/aliases", aliases_page)
    r.add_post("/library/aliases", alias_add)
    r.add_post("/library/aliases/remove", alias_remove)
    r.add_get(POLICY, policy_page)
    r.add_get(POLICY + "/edit", edit_page)
    r.add_post(POLICY + "/edit", edit)
    r.add_post(POLICY + "/repeal", repeal)


def desk_of(request: web.Request) -> LibraryDesk:
    engine = request.config_dict[keys.ENGINE]
    uploads = request.config_dict[keys.SETTINGS].state_dir / UPLOADS
    return LibraryDesk(engine, request.config_dict[keys.POLICIES], uploads)


def me(request: web.Request) -> str:
    return request[USER].name


def _policy_url(request: web.Request, policy_id: str, tail: str = "") -> str:
    return f"{request.app.router['library'].url_for()}/policy/{quote(policy_id, safe='')}{tail}"


async def _policy(request: web.Request, desk: LibraryDesk) -> tuple[Library, Policy]:
    library = await desk.library()
    policy = library.policy(request.match_info["policy_id"])
    if policy is None:
        raise Refused("政策库中没有这条政策。", status=404)
    return library, policy


def _shared() -> dict[str, Any]:
    return {
        "statuses": [s.value for s in Status],
        "levels": [lv.value for lv in Level],
        "audiences": AUDIENCES,
        "kinds": INTERPRETATION_KINDS,
        "guide_fields": GUIDE_FIELDS,
        "guide_labels": GUIDE_LABELS,
        "day": lambda d: chinese(d) if d else "",
        "today": local_today(),
    }


# --- search ------------------------------------------------------------------------------------


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def filters_of(query: Any) -> Filters:
    status = query.get("status", "")
    return Filters(
        words=query.get("q", "").strip(),
        topic=query.get("topic", ""),
        status=Status(status) if status in {s.value for s in Status} else None,
        audience=query.get("audience", "") if query.get("audience") in AUDIENCES else "",
        issuer=query.get("issuer", "").strip(),
        since=_day(query.get("since", "")),
        until=_day(query.get("until", "")),
    )


@access("signed_in")
async def list_page(request: web.Request) -> web.Response:
    library = await desk_of(request).library()
    filters = filters_of(request.query)
    found = search(library, filters, local_today())
    pager = paged(request, found, PER_PAGE)
    return await render(
        request,
        "library.html",
        {
            **_shared(),
            **pager,
            "policies": pager["shown"],
            "all": len(library),
            "f": filters,
            "q": request.query,
            "topics": topics(library),
            "issuers": issuers(library),
            "qa_counts": {p.id: len(library.qa_for(p.id)) for p in found},
        },
    )


# --- one policy --------------------------------------------------------------------------------


@access("signed_in")
async def policy_page(request: web.Request) -> web.Response:
    library, policy = await _policy(request, desk_of(request))
    replaced_by = library.policy(policy.replaced_by) if policy.replaced_by else None
    replaces = [p for p in library.policies if p.replaced_by == policy.id]
    conditions = ""
    if policy.conditions is not None:
        conditions = form_of(policy, [])["conditions"]
    others = [p for p in library.policies if p.id != policy.id and p.status is Status.CURRENT]
    return await render(
        request,
        "library_policy.html",
        {
            **_shared(),
            "p": policy,
            "qa": sorted(library.qa_for(policy.id), key=lambda q: q.id),
            "replaced_by": replaced_by,
            "replaces": replaces,
            "conditions": conditions,
            "others": others,
        },
    )


def _edit_context(
    form: dict[str, Any],
    policy: Policy | None,
    errors: list[dict[str, Any]] | None = None,
    *,
    version: str = "",
    stale: str = "",
) -> dict[str, Any]:
    if not version:
        version = str(form.get("version", ""))
    return {
        **_shared(),
        "form": form,
        "p": policy,
        "errors": errors or [],
        "version": version,
        "stale": stale,
    }


@access(Permission.LIBRARY)
async def new_page(request: web.Request) -> web.Response:
    return await render(request, "library_edit.html", _edit_context(form_of(None, []), None))


@access(Permission.LIBRARY)
async def edit_page(request: web.Request) -> web.Response:
    library, policy = await _policy(request, desk_of(request))
    qa = library.qa_for(policy.id)
    ctx = _edit_context(form_of(policy, qa), policy, version=version_of(policy, qa))
    return await render(request, "library_edit.html", ctx)


async def _save(request: web.Request, editing: Policy | None, library: Library) -> web.Response:
    form = await request.post()
    desk = desk_of(request)
    policy_id = editing.id if editing else None
    taken = {q.id for q in library.qa_pairs if editing is None or q.policy_id != editing.id}
    raw, problems, echo = record_of(form, policy_id=policy_id, taken_qa_ids=taken)
    try:
        if problems:
            raise LibraryFormatError(problems)
        version = str(form.get("version", "")) or None
        policy, changed = await desk.save(raw, me(request), editing=editing, version=version)
    except LibraryFormatError as exc:
        ctx = _edit_context(echo, editing, errors_zh(exc.errors))
        return await render(request, "library_edit.html", ctx, status=400)
    except Refused as exc:
        ctx = _edit_context(echo, editing, stale=str(exc))
        return await render(request, "library_edit.html", ctx, status=exc.status)
    created = f"新建政策“{policy.title}”" if editing is None else None
    await flash(request, saved_message(created, changed))
    raise web.HTTPSeeOther(_policy_url(request, policy.id))


@access(Permission.LIBRARY)
async def create(request: web.Request) -> web.Response:
    return await _save(request, None, await desk_of(request).library())


@access(Permission.LIBRARY)
async def edit(request: web.Request) -> web.Response:
    library, policy = await _policy(request, desk_of(request))
    return await _save(request, policy, library)


@access(Permission.LIBRARY)
async def repeal(request: web.Request) -> web.Response:
    form = await request.post()
    desk = desk_of(request)
    policy_id = request.match_info["policy_id"]
    replaced_by = str(form.get("replaced_by", "")).strip().split(" ", 1)[0] or None
    try:
        policy = await desk.repeal(policy_id, replaced_by, me(request))
    except LibraryFormatError as exc:
        problems = "；".join(f"{e['label']}：{e['message']}" for e in errors_zh(exc.errors))
        raise Refused(f"未能废止：{problems}") from None
    tail = f"，由 {policy.replaced_by} 替代" if policy.replaced_by else ""
    await flash(request, f"已将“{policy.title}”标为已废止{tail}。")
    raise web.HTTPSeeOther(_policy_url(request, policy_id))


# --- import and export -------------------------------------------------------------------------


def _import_context(
    request: web.Request,
    preview: Preview | None = None,
    errors: list[dict[str, Any]] | None = None,
    name: str = "",
) -> dict[str, Any]:
    return {
        "max_bytes": largest_file(request),
        "max_mb": upload_limit(request) // 1024**2,
        "preview": preview,
        "errors": errors or [],
        "name": name,
        "actions": ACTION_NAMES,
        "kinds": KIND_NAMES,
        "fields_zh": lambda fields: "、".join(field_zh(f) for f in fields),
    }


@access(Permission.LIBRARY)
async def import_page(request: web.Request) -> web.Response:
    return await render(request, "library_import.html", _import_context(request))


@access(Permission.LIBRARY)
@large_body
async def import_preview(request: web.Request) -> web.Response:
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        raise Refused("请选择要导入的政策库文件。")
    desk = desk_of(request)
    stashed = desk.stash(unquote(upload.filename), upload.file.read())
    try:
        preview = await desk.preview(stashed)
    except LibraryFormatError as exc:
        stashed.path.unlink(missing_ok=True)  # nothing to confirm
        ctx = _import_context(request, errors=errors_zh(exc.errors), name=stashed.name)
        return await render(request, "library_import.html", ctx, status=400)
    return await render(
        request, "library_import.html", _import_context(request, preview, name=stashed.name)
    )


@access(Permission.LIBRARY)
async def import_confirm(request: web.Request) -> web.Response:
    form = await request.post()
    desk = desk_of(request)
    upload = desk.upload(str(form.get("token", "")), str(form.get("name", "")))
    try:
        result = await desk.run_import(upload, me(request))
    except LibraryFormatError as exc:  # the library changed since the preview
        ctx = _import_context(request, errors=errors_zh(exc.errors), name=upload.name)
        return await render(request, "library_import.html", ctx, status=400)
    await flash(
        request,
        f"已导入 {result.policies} 条政策、{result.qa_pairs} 条问答、{result.aliases} 条别名"
        f"（库版本 {result.revision}），机器人已按新内容回答。",
    )
    raise web.HTTPSeeOther(str(request.app.router["library"].url_for()))


@access("signed_in")
async def export(request: web.Request) -> web.Response:
    lines = await desk_of(request).export(me(request))
    name = f"policy-library-{local_today():%Y%m%d}.jsonl"
    return web.Response(
        body="".join(line + "\n" for line in lines).encode(),
        content_type="application/x-ndjson",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- aliases -----------------------------------------------------------------------------------


@access("signed_in")
async def aliases_page(request: web.Request) -> web.Response:
    library = await desk_of(request).library()
    return await render(
        request,
        "library_aliases.html",
        {"aliases": library.aliases, "errors": [], "form": {"alias": "", "canonical": ""}},
    )


@access(Permission.LIBRARY)
async def alias_add(request: web.Request) -> web.Response:
    form = await request.post()
    desk = desk_of(request)
    alias, canonical = str(form.get("alias", "")).strip(), str(form.get("canonical", "")).strip()
    try:
        await desk.add_alias(alias, canonical, me(request))
    except LibraryFormatError as exc:
        library = await desk.library()
        ctx = {
            "aliases": library.aliases,
            "errors": errors_zh(exc.errors),
            "form": {"alias": alias, "canonical": canonical},
        }
        return await render(request, "library_aliases.html", ctx, status=400)
    await flash(request, f"已添加别名：{alias} → {canonical}。")
    raise web.HTTPSeeOther(str(request.app.router["library"].url_for()) + "/aliases")


@access(Permission.LIBRARY)
async def alias_remove(request: web.Request) -> web.Response:
    form = await request.post()
    alias = str(form.get("alias", ""))
    await desk_of(request).remove_alias(alias, me(request))
    await flash(request, f"已删除别名“{alias}”。")
    raise web.HTTPSeeOther(str(request.app.router["library"].url_for()) + "/aliases")
