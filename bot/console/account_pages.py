"""Staff accounts in the console: the administrator's page (add an account, change its role,
disable or enable it, set a new password) and everyone's own page (change one's password).

Every step goes through ``push.staff`` — the rules of ``gongkai user`` (password strength,
argon2id, the last active administrator kept) and its audit rows. A password set by an
administrator, or changed by its owner, ends that person's other sessions.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session

from bot import keys
from bot.console.sessions import end_sessions_of
from bot.console.web import PREFIX, USER, access, flash, now, render
from push import staff
from push.staff import ROLE_NAMES, Permission, Refused


def add_account_pages(app: web.Application) -> None:
    r = app.router
    r.add_get("/accounts", accounts_page)
    r.add_post("/accounts", add_account)
    r.add_post("/accounts/role", set_role)
    r.add_post("/accounts/active", set_active)
    r.add_post("/accounts/password", set_password)
    r.add_get("/me", me_page)
    r.add_post("/me/password", change_own_password)


async def _form(request: web.Request) -> dict[str, str]:
    return {k: v.strip() for k, v in (await request.post()).items() if isinstance(v, str)}


def _back() -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PREFIX}/accounts")


@access(Permission.MANAGE)
async def accounts_page(request: web.Request) -> web.Response:
    users = await staff.all_users(request.config_dict[keys.ENGINE])
    context = {"users": users, "roles": ROLE_NAMES, "min_password": staff.MIN_PASSWORD}
    return await render(request, "accounts.html", context)


@access(Permission.MANAGE)
async def add_account(request: web.Request) -> web.Response:
    form = await _form(request)
    user = await staff.add(
        request.config_dict[keys.ENGINE],
        form.get("name", ""),
        form.get("role", ""),
        actor=request[USER].name,
        now=now(),
        password=form.get("password") or None,
    )
    await flash(request, f"已添加账号“{user.name}”（{ROLE_NAMES[user.role]}）。")
    raise _back()


@access(Permission.MANAGE)
async def set_role(request: web.Request) -> web.Response:
    form = await _form(request)
    name = form.get("name", "")
    user = await staff.change(
        request.config_dict[keys.ENGINE],
        name,
        actor=request[USER].name,
        now=now(),
        role=staff.parse_role(form.get("role", "")),
    )
    await flash(request, f"“{user.name}”的角色已改为{ROLE_NAMES[user.role]}。")
    raise _back()


@access(Permission.MANAGE)
async def set_active(request: web.Request) -> web.Response:
    form = await _form(request)
    name, active = form.get("name", ""), form.get("active") == "1"
    if name == request[USER].name and not active:
        raise Refused("不能停用自己正在使用的账号。")
    engine = request.config_dict[keys.ENGINE]
    user = await staff.change(engine, name, actor=request[USER].name, now=now(), active=active)
    if not active:
        await end_sessions_of(engine, user.name)
    await flash(request, f"已{'启用' if active else '停用'}账号“{user.name}”。")
    raise _back()


@access(Permission.MANAGE)
async def set_password(request: web.Request) -> web.Response:
    form = await _form(request)
    name = form.get("name", "")
    if name == request[USER].name:
        raise Refused("修改自己的密码请到“我的账号”，需输入当前密码。")
    engine = request.config_dict[keys.ENGINE]
    user = await staff.change(
        engine, name, actor=request[USER].name, now=now(), password=form.get("password", "")
    )
    ended = await end_sessions_of(engine, user.name)
    tail = f"，其已登录的 {ended} 个会话已退出" if ended else ""
    await flash(request, f"已为“{user.name}”设置新密码{tail}。请当面或电话告知本人。")
    raise _back()


@access("signed_in")
async def me_page(request: web.Request) -> web.Response:
    return await render(request, "me.html", {"min_password": staff.MIN_PASSWORD})


@access("signed_in")
async def change_own_password(request: web.Request) -> web.Response:
    form = await _form(request)
    user = request[USER]
    engine = request.config_dict[keys.ENGINE]
    if not await staff.password_matches(engine, user.name, form.get("current", "")):
        raise Refused("当前密码不对。")
    if form.get("password", "") != form.get("again", ""):
        raise Refused("两次输入的新密码不一致。")
    await staff.change(engine, user.name, actor=user.name, now=now(), password=form["password"])
    session = await get_session(request)
    await end_sessions_of(engine, user.name, keep=session.identity)
    await flash(request, "密码已修改；您在其他浏览器上的登录已退出。")
    raise web.HTTPSeeOther(f"{PREFIX}/me")
