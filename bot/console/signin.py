"""Signing in and out of the console: the sign-in page (the only public one), the home
redirect and sign-out. Sign-in checks the argon2id hash and the lockout in
``push.staff.authenticate`` (which writes the audit rows) and rotates the session id (no session
fixation); sign-out is audited and deletes the session."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web
from aiohttp_session import get_session

from bot import keys
from bot.console.sessions import rotate, sweep
from bot.console.web import HOME, IDLE, PREFIX, USER, access, now, render, signed_in
from push import audit, staff
from push.staff import Refused

logger = logging.getLogger(__name__)


def add_signin_pages(app: web.Application) -> None:
    r = app.router
    r.add_get("", home)
    r.add_get("/", home)
    r.add_get("/login", login_page, name="login_page")
    r.add_post("/login", login)
    r.add_post("/logout", logout)


def _next(value: str | None) -> str:
    """Only our own pages are followed after sign-in (no open redirect)."""
    if value and value.startswith(PREFIX + "/") and "\\" not in value:
        return value
    return HOME


@access("signed_in")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(HOME)


@access("public")
async def login_page(request: web.Request) -> web.Response:
    session = await get_session(request)
    if await signed_in(request, session.get("user")) is not None:
        raise web.HTTPSeeOther(_next(request.query.get("next")))
    notice = None
    if request.query.get("expired"):
        notice = "长时间未操作，已自动退出，请重新登录。"
    elif request.query.get("bye"):
        notice = "您已安全退出。"
    context = {"next": _next(request.query.get("next")), "error": None, "notice": notice}
    return await render(request, "login.html", context)


@access("public")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    target = _next(str(form.get("next", "")))
    engine = request.config_dict[keys.ENGINE]
    try:
        if not name or not password:
            raise Refused("请输入姓名和密码。")
        user = await staff.authenticate(engine, name, password, now())
    except Refused as exc:
        logger.info("console: sign-in refused", extra={"action": "console_login_refused"})
        context = {"next": target, "error": str(exc), "notice": None, "name": name}
        return await render(request, "login.html", context, status=exc.status)
    session = await rotate(request)  # a new id: no session fixation
    session["user"] = user.name
    session["csrf"] = secrets.token_urlsafe(32)
    await sweep(engine, request.app[IDLE])
    logger.info("console: signed in", extra={"action": "console_login"})
    raise web.HTTPSeeOther(target)


@access("signed_in")
async def logout(request: web.Request) -> web.Response:
    user = request[USER]
    async with request.config_dict[keys.ENGINE].begin() as conn:
        await audit.record(
            conn,
            actor=user.name,
            action="user.logout",
            object_type="user",
            object_id=user.name,
            at=now(),
        )
    session = await get_session(request)
    session.invalidate()
    raise web.HTTPSeeOther(f"{PREFIX}/login?bye=1")
