"""The Q&A pages of the policy library: every Q&A pair — attached to a policy, to none, or
written by staff from the unanswered inbox (``staff-…``) — found by words and by what it is
attached to; one pair shown and edited (question, answer, similar phrasings, attached policy);
a new pair; a pair deleted after a confirmation.

A pair is addressed by ``?id=`` (an id of the library format may hold any character but a
space). Anyone signed in reads; changing needs ``Permission.LIBRARY``. Each change goes through
``LibraryDesk.save_qa`` / ``remove_qa``: checked as an imported ``kind: qa`` line, written with
its audit row in one transaction, and live in the matcher (and the chat simulator) at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from multidict import MultiMapping

from bot.console.library_desk import QA_GONE, qa_version
from bot.console.library_forms import errors_zh, saved_message
from bot.console.library_pages import desk_of, me
from bot.console.web import access, flash, paged, render
from policy_index.browse import QA_SHOW, QAFilters, search_qa
from policy_index.errors import LibraryFormatError
from policy_index.model import Library, QAPair
from policy_index.staff import STAFF_QA_PREFIX
from push.staff import Permission, Refused

PER_PAGE = 30
QA = "/library/qa"
SHOW_NAMES = {  # the choices of policy_index.browse.QA_SHOW
    "": "全部问答",
    "attached": "已关联政策的",
    "unattached": "未关联政策的",
    "staff": "工作人员答复的（来自待答复）",
}


def add_qa_pages(app: web.Application) -> None:
    r = app.router
    r.add_get(QA, list_page, name="library_qa")
    r.add_get(QA + "/new", new_page)
    r.add_post(QA + "/new", create)
    r.add_get(QA + "/pair", pair_page)
    r.add_post(QA + "/pair", edit)
    r.add_get(QA + "/delete", delete_page)
    r.add_post(QA + "/delete", delete)


def _list_url(request: web.Request) -> str:
    return str(request.app.router["library_qa"].url_for())


def _pair_url(request: web.Request, qa_id: str, page: str = "pair") -> str:
    return f"{_list_url(request)}/{page}?id={quote(qa_id, safe='')}"


async def _pair(request: web.Request) -> tuple[Library, QAPair]:
    library = await desk_of(request).library()
    qa_id = request.query.get("id", "")
    pair = next((q for q in library.qa_pairs if q.id == qa_id), None)
    if pair is None:
        raise Refused(QA_GONE, status=404)
    return library, pair


def _shared(library: Library) -> dict[str, Any]:
    return {
        "policies": {p.id: p for p in library.policies},
        "staff_prefix": STAFF_QA_PREFIX,
    }


# --- the list ----------------------------------------------------------------------------------


def filters_of(query: MultiMapping[str]) -> QAFilters:
    show = query.get("show", "")
    return QAFilters(
        words=query.get("q", "").strip(),
        show=show if show in QA_SHOW else "",
        policy_id=query.get("policy", "").strip(),
    )


@access("signed_in")
async def list_page(request: web.Request) -> web.Response:
    library = await desk_of(request).library()
    filters = filters_of(request.query)
    found = search_qa(library, filters)
    pager = paged(request, found, PER_PAGE)
    return await render(
        request,
        "library_qa.html",
        {
            **_shared(library),
            **pager,
            "pairs": pager["shown"],
            "all": len(library.qa_pairs),
            "f": filters,
            "shows": SHOW_NAMES,
            "policy": library.policy(filters.policy_id) if filters.policy_id else None,
        },
    )


# --- one pair ----------------------------------------------------------------------------------


def form_of(pair: QAPair | None, policy_id: str = "") -> dict[str, str]:
    if pair is None:
        return {"id": "", "question": "", "answer": "", "similar": "", "policy_id": policy_id}
    return {
        "id": pair.id,
        "question": pair.question,
        "answer": pair.answer,
        "similar": "\n".join(pair.similar),
        "policy_id": pair.policy_id or "",
    }


def record_of(form: MultiMapping[Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted form as a ``kind: qa`` record (one similar phrasing a line), and the
    values to show again if it is refused."""
    echo = {n: str(form.get(n, "")) for n in ("id", "question", "answer", "similar", "policy_id")}
    raw: dict[str, Any] = {n: v for n in ("id", "question", "answer") if (v := echo[n].strip())}
    # The policy is chosen as "<id> <title>" from a list; its id is the first word.
    if policy_id := echo["policy_id"].strip().split(" ", 1)[0]:
        raw["policy_id"] = policy_id
    if similar := [s.strip() for s in echo["similar"].splitlines() if s.strip()]:
        raw["similar"] = similar
    return raw, echo


def _pair_context(
    library: Library,
    pair: QAPair | None,
    form: dict[str, str],
    errors: list[dict[str, Any]] | None = None,
    *,
    version: str = "",
    stale: str = "",
) -> dict[str, Any]:
    return {
        **_shared(library),
        "pair": pair,
        "form": form,
        "errors": errors or [],
        "version": version,
        "stale": stale,
    }


@access("signed_in")
async def pair_page(request: web.Request) -> web.Response:
    library, pair = await _pair(request)
    ctx = _pair_context(library, pair, form_of(pair), version=qa_version(pair))
    return await render(request, "library_qa_pair.html", ctx)


@access(Permission.LIBRARY)
async def new_page(request: web.Request) -> web.Response:
    library = await desk_of(request).library()
    policy_id = request.query.get("policy", "")
    form = form_of(None, policy_id if library.policy(policy_id) else "")
    return await render(request, "library_qa_pair.html", _pair_context(library, None, form))


async def _save(request: web.Request, editing: QAPair | None) -> web.Response:
    form = await request.post()
    desk = desk_of(request)
    raw, echo = record_of(form)
    version = str(form.get("version", "")) or None
    try:
        editing_id = editing.id if editing else None
        pair, changed = await desk.save_qa(raw, me(request), editing=editing_id, version=version)
    except LibraryFormatError as exc:
        ctx = _pair_context(await desk.library(), editing, echo, errors_zh(exc.errors))
        ctx["version"] = version or ""
        return await render(request, "library_qa_pair.html", ctx, status=400)
    except Refused as exc:
        if exc.status != 409:
            raise
        ctx = _pair_context(await desk.library(), editing, echo, stale=str(exc))
        return await render(request, "library_qa_pair.html", ctx, status=exc.status)
    created = f"新增问答“{pair.question}”" if editing is None else None
    await flash(request, saved_message(created, changed))
    raise web.HTTPSeeOther(_pair_url(request, pair.id))


@access(Permission.LIBRARY)
async def create(request: web.Request) -> web.Response:
    return await _save(request, None)


@access(Permission.LIBRARY)
async def edit(request: web.Request) -> web.Response:
    _library, pair = await _pair(request)
    return await _save(request, pair)


# --- deleting ----------------------------------------------------------------------------------


@access(Permission.LIBRARY)
async def delete_page(request: web.Request) -> web.Response:
    library, pair = await _pair(request)
    ctx = {**_shared(library), "pair": pair, "version": qa_version(pair)}
    return await render(request, "library_qa_delete.html", ctx)


@access(Permission.LIBRARY)
async def delete(request: web.Request) -> web.Response:
    form = await request.post()
    qa_id = str(form.get("id", ""))
    version = str(form.get("version", "")) or None
    pair = await desk_of(request).remove_qa(qa_id, me(request), version=version)
    await flash(request, f"已删除问答“{pair.question}”，机器人不再用它回答。")
    back = f"?{urlencode({'policy': pair.policy_id})}" if pair.policy_id else ""
    raise web.HTTPSeeOther(_list_url(request) + back)
