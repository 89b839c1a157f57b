"""The people pages of the staff console: 订阅用户 (subscribers) and 企业 (enterprises).

Search subscribers by openid, topic, or the name or 统一社会信用代码 of an enterprise they are a
contact of; search enterprises by name or credit code; an enterprise's profile (一企一档), its
contacts, and its eligibility for each policy with conditions (符合 / 不符合 / 待确认, with the
reasons, by ``push.eligibility.evaluate`` — the rule the eligibility notices use); editing the
profile (``Enterprises.edit``, checked as an imported line is); a one-time binding code
(``push.enterprises``), shown once, and the codes not yet used, which can be revoked; and
deleting a person's data on request. Importing files is in ``bot.console.people_imports``.
Every change writes its audit row in the change's own transaction (the services' ``then``).

Openids are shown masked (``push.people.masked``) and never put in a URL: a person is found by
their subscriber number or through a form. Deleting is two POSTs — the first shows what is held,
the second (with the box ticked) runs ``bot.privacy.PersonalData.forget``, the same forgetting
as when someone unfollows — and its audit row names the person only by the salted hash the logs
use (``bot.log_setup.hash_openid``), never the openid.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import keys
from bot.console.people_imports import FIELD_LABELS, add_people_imports
from bot.console.web import PREFIX, USER, access, flash, now, render
from bot.log_setup import hash_openid
from bot.privacy import held
from policy_index.index import LOCAL_TZ
from policy_index.model import Library, Status
from push import audit, people
from push.eligibility import Verdict, evaluate, requirement
from push.profiles import PROFILE_FIELDS, Enterprise, EnterpriseError, check_fields
from push.staff import OPENID, Permission, Refused

SOURCES = {"chat": "对话中订阅", "import": "工作人员导入", "binding": "企业绑定"}
VIA = {"import": "档案导入", "binding": "绑定码绑定"}
VERDICT_CLASS = {Verdict.MEETS: "meets", Verdict.UNKNOWN: "unknown", Verdict.FAILS: "fails"}
HELD_NAMES = {
    "subscriber": "订阅用户记录",
    "subscriptions": "订阅的主题",
    "contacts": "企业联系人身份",
    "waiting": "待发送的通知",
    "consents": "订阅消息授权记录",
    "conversation": "进行中的对话",
    "questions": "提问与本人的关联（问题本身匿名保留用于统计）",
}
USCC = "{uscc:[0-9A-Za-z]{1,18}}"
LIST_FIELDS = ("qualifications", "tags")


def add_people_pages(app: web.Application) -> None:
    r = app.router
    r.add_get("/subscribers", subscribers_page, name="subscribers")
    r.add_get("/subscribers/{subscriber_id:\\d+}", subscriber_page)
    r.add_post("/people/erase", erase_check)
    r.add_post("/people/erase/confirm", erase)
    r.add_get("/enterprises", enterprises_page, name="enterprises")
    add_people_imports(app)  # before /enterprises/{uscc}: "import" is not a credit code
    r.add_get(f"/enterprises/{USCC}", enterprise_page)
    r.add_get(f"/enterprises/{USCC}/edit", edit_page)
    r.add_post(f"/enterprises/{USCC}/edit", edit)
    r.add_post(f"/enterprises/{USCC}/code", issue_code)
    r.add_post(f"/enterprises/{USCC}/codes/{{code_id:\\d+}}/revoke", revoke_code)


def shown(moment: dt.datetime | None) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if moment else ""


def _engine(request: web.Request) -> Any:
    return request.config_dict[keys.ENGINE]


def _common() -> dict[str, Any]:
    return {"masked": people.masked, "local": shown, "sources": SOURCES, "via": VIA}


# --- subscribers --------------------------------------------------------------------------------


@access(Permission.PEOPLE)
async def subscribers_page(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()[:64]
    topic = request.query.get("topic", "").strip() or None
    topics = [t.name for t in await request.config_dict[keys.SUBSCRIPTIONS].catalogue()]
    found = await people.search_subscribers(_engine(request), q, topic)
    context = {"q": q, "topic": topic, "topics": topics, "found": found, **_common()}
    return await render(request, "subscribers.html", context)


@access(Permission.PEOPLE)
async def subscriber_page(request: web.Request) -> web.Response:
    found = await people.subscriber(_engine(request), int(request.match_info["subscriber_id"]))
    if found is None:
        raise Refused("没有这位订阅用户（可能已退订或其数据已删除）。", 404)
    return await render(request, "subscriber.html", {"s": found, **_common()})


# --- deleting a person's data on request -------------------------------------------------------


async def _openid(request: web.Request) -> tuple[str, dict[str, str]]:
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    openid = form.get("openid", "").strip()
    if not OPENID.match(openid):
        raise Refused("请填写完整、正确的 openid（6–64 位字母、数字、下划线或连字符）。")
    return openid, form


@access(Permission.ERASE)
async def erase_check(request: web.Request) -> web.Response:
    """Step one: what is held about the person, and the confirmation form."""
    openid, _ = await _openid(request)
    counts = await held(_engine(request), openid)
    items = [(HELD_NAMES[k], n) for k, n in counts.items() if n and k in HELD_NAMES]
    context = {"openid": openid, "items": items, "delivered": counts["delivered"], **_common()}
    return await render(request, "erase.html", context)


@access(Permission.ERASE)
async def erase(request: web.Request) -> web.Response:
    """Step two: forget the person (as on unfollow) and, in the same transaction, one audit row
    without the openid."""
    openid, form = await _openid(request)
    if form.get("confirm") != "on":
        raise Refused("请先勾选确认：已核实这是本人提出的删除请求。")
    reference = form.get("reference", "").strip()[:64]
    engine = _engine(request)
    counts = await held(engine, openid)
    salt = request.config_dict[keys.SETTINGS].openid_hash_salt.get_secret_value()
    person = hash_openid(openid, salt)
    removed = {k: n for k, n in counts.items() if n and k != "delivered"}
    detail: dict[str, Any] = {"removed": removed}
    if counts["delivered"]:  # kept as counts for the notices' figures, without the person
        detail["anonymised_deliveries"] = counts["delivered"]
    if reference:
        detail["reference"] = reference

    async def audited(conn: AsyncConnection) -> None:
        await audit.record(
            conn,
            actor=request[USER].name,
            action="person.erase",
            object_type="person",
            object_id=person,
            at=now(),
            detail=detail,
        )

    await request.config_dict[keys.PERSONAL_DATA].forget(openid, then=audited)
    await flash(
        request,
        f"已删除用户 {people.masked(openid)} 的个人数据（审计记录编号 {person}，不含 openid）。",
    )
    raise web.HTTPSeeOther(f"{PREFIX}/subscribers")


# --- enterprises --------------------------------------------------------------------------------


@access(Permission.PEOPLE)
async def enterprises_page(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()[:64]
    found = await people.search_enterprises(_engine(request), q)
    return await render(request, "enterprises.html", {"q": q, "found": found, **_common()})


def eligibility(
    library: Library, enterprise: Enterprise, today: dt.date, told: dict[str, dt.datetime]
) -> list[dict[str, Any]]:
    """One row per policy with conditions: the verdict and why; policies in force first."""
    profile = enterprise.profile()
    rows = []
    for policy in library.policies:
        if policy.conditions is None:
            continue
        result = evaluate(policy.conditions, profile)
        status = policy.status_on(today)
        rows.append(
            {
                "id": policy.id,
                "title": policy.title,
                "status": status.value,
                "in_force": status is Status.CURRENT,
                "verdict": result.verdict.value,
                "kind": VERDICT_CLASS[result.verdict],
                "reasons": list(result.reasons),
                "unknown": [requirement(c) for c in result.unknown],
                "told": shown(told.get(policy.id)),
            }
        )
    order = {kind: i for i, kind in enumerate(VERDICT_CLASS.values())}
    rows.sort(key=lambda r: (not r["in_force"], order[str(r["kind"])], str(r["id"])))
    return rows


async def _enterprise(request: web.Request) -> Enterprise:
    found = await request.config_dict[keys.ENTERPRISES].get(request.match_info["uscc"])
    if found is None:
        raise Refused("没有这个统一社会信用代码的企业档案。", 404)
    return found


@access(Permission.PEOPLE)
async def enterprise_page(request: web.Request) -> web.Response:
    enterprise = await _enterprise(request)
    engine = _engine(request)
    library = request.config_dict[keys.POLICIES].index.library
    today = now().astimezone(LOCAL_TZ).date()
    rows = eligibility(library, enterprise, today, await people.notified(engine, enterprise.id))
    counts = {v.value: sum(1 for r in rows if r["verdict"] == v.value) for v in Verdict}
    context = {
        "e": enterprise,
        "contacts": await people.contacts(engine, enterprise.id),
        "codes": await people.open_codes(engine, enterprise.id, now()),
        "rows": rows,
        "counts": counts,
        **_common(),
    }
    return await render(request, "enterprise.html", context)


# --- editing a profile -------------------------------------------------------------------------


def _form_of(enterprise: Enterprise) -> dict[str, str]:
    """The edit form's fields as text: lists joined with 、, a missing value empty."""
    return {
        "name": enterprise.name,
        "industry": enterprise.industry or "",
        "employees": "" if enterprise.employees is None else str(enterprise.employees),
        "town": enterprise.town or "",
        "founded": enterprise.founded.isoformat() if enterprise.founded else "",
        "qualifications": "、".join(enterprise.qualifications),
        "tags": "、".join(enterprise.tags),
    }


def changes_of(form: dict[str, str]) -> dict[str, Any]:
    """The form as a record in the import format (``push.profiles.check_fields`` judges it, as
    it judges an imported line): an empty field clears it, lists split on 、 , ， ; or lines."""
    raw: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        value = form.get(name, "").strip()
        if name in LIST_FIELDS:
            raw[name] = [v.strip() for v in re.split(r"[、,，;；\n]+", value) if v.strip()]
        elif not value:
            raw[name] = None
        elif name == "employees":
            raw[name] = int(value) if value.isdigit() else value
        else:
            raw[name] = value
    return raw


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


async def _edit_view(
    request: web.Request,
    enterprise: Enterprise,
    form: dict[str, str],
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> web.Response:
    context = {"e": enterprise, "form": form, "errors": errors or [], "labels": FIELD_LABELS}
    return await render(request, "enterprise_edit.html", context, status=status)


@access(Permission.PROFILES)
async def edit_page(request: web.Request) -> web.Response:
    enterprise = await _enterprise(request)
    return await _edit_view(request, enterprise, _form_of(enterprise))


@access(Permission.PROFILES)
async def edit(request: web.Request) -> web.Response:
    """Save the form through ``Enterprises.edit`` (the CLI's ``enterprises edit``), with the
    audit row ``enterprise.edit`` (each changed field, before and after) in its transaction."""
    enterprise = await _enterprise(request)
    posted = await request.post()
    form = {name: str(posted.get(name, "")) for name in PROFILE_FIELDS}
    changes = changes_of(form)
    _, problems = check_fields(changes)
    if problems:
        return await _edit_view(request, enterprise, form, problems, 400)
    actor = request[USER].name
    written: dict[str, Any] = {}

    async def audited(conn: AsyncConnection, changed: Mapping[str, tuple[Any, Any]]) -> None:
        written.update(changed)
        await audit.record(
            conn,
            actor=actor,
            action="enterprise.edit",
            object_type="enterprise",
            object_id=enterprise.uscc,
            at=now(),
            detail={"changed": {k: [_jsonable(a), _jsonable(b)] for k, (a, b) in changed.items()}},
        )

    service = request.config_dict[keys.ENTERPRISES]
    try:
        await service.edit(enterprise.uscc, changes, by=actor, then=audited)
    except EnterpriseError as exc:
        return await _edit_view(request, enterprise, form, [("-", str(exc))], 400)
    if written:
        names = "、".join(FIELD_LABELS[k] for k in PROFILE_FIELDS if k in written)
        await flash(request, f"已保存企业档案（改动：{names}），政策条件核对已按新档案更新。")
    else:
        await flash(request, "档案没有变化。")
    raise web.HTTPSeeOther(f"{PREFIX}/enterprises/{enterprise.uscc}")


@access(Permission.PEOPLE)
async def issue_code(request: web.Request) -> web.Response:
    """A one-time binding code, shown on this response only (only its hash is stored)."""
    enterprise = await _enterprise(request)
    user = request[USER]
    try:
        issued = await request.config_dict[keys.ENTERPRISES].issue_code(
            enterprise.uscc, by=user.name
        )
    except EnterpriseError as exc:
        raise Refused(str(exc)) from exc
    async with _engine(request).begin() as conn:
        await audit.record(
            conn,
            actor=user.name,
            action="enterprise.code",
            object_type="enterprise",
            object_id=issued.uscc,
            at=now(),
            detail={"expires_at": issued.expires_at.isoformat(timespec="seconds")},
        )
    context = {"e": enterprise, "issued": issued, "until": shown(issued.expires_at)}
    return await render(request, "binding_code.html", context)


@access(Permission.PEOPLE)
async def revoke_code(request: web.Request) -> web.Response:
    """Revoke a binding code not yet used (it expires now; audit row ``enterprise.code_revoke``)."""
    enterprise = await _enterprise(request)
    code_id = int(request.match_info["code_id"])
    actor = request[USER].name

    async def audited(conn: AsyncConnection, revoked: int) -> None:
        await audit.record(
            conn,
            actor=actor,
            action="enterprise.code_revoke",
            object_type="enterprise",
            object_id=enterprise.uscc,
            at=now(),
            detail={"code_id": revoked},
        )

    service = request.config_dict[keys.ENTERPRISES]
    if not await service.revoke_code(enterprise.uscc, code_id, then=audited):
        raise Refused("这个绑定码已被使用、已过期或已作废，无需作废。", 409)
    await flash(request, "已作废这个绑定码：持有它的人无法再用它绑定。")
    raise web.HTTPSeeOther(f"{PREFIX}/enterprises/{enterprise.uscc}")
