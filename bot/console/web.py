"""The staff console (工作人员控制台): server-rendered pages under ``/console``.

A sub-application of the service (``bot.app.create_app`` mounts it), over the same service layer
as the JSON staff API and the command line (``push.notices``, ``push.staff``). Three middlewares,
in this order, guard every request:

1. **sessions** (aiohttp-session over ``bot.console.sessions``: server-side, HttpOnly,
   SameSite=Strict, Secure when ``GONGKAI_STAFF__CONSOLE_SECURE_COOKIES``);
2. **the guard** (``_guard``): deny by default — a route without an ``access`` mark is 404; a
   state-changing request needs the session's CSRF token (form field ``_csrf`` or header
   ``X-CSRF-Token``) and, when the browser sends one, a same-host ``Origin`` (403 otherwise);
   every route but the sign-in page needs a signed-in, active account whose role grants the
   route's permission (re-read from the database on each request, so a role change or a
   disabled account takes effect at once); a body over the request limit is refused (413) —
   the limit is aiohttp's 1 MB but for a route marked ``large_body`` (the library import),
   whose body is read only once its sender is known to be allowed to send it;
3. refusals from the service layer (``push.staff.Refused``) become a message on the page the
   staff member came from (or ``{"error": …}`` for the JSON endpoints).

Signing in and out is in ``bot.console.signin``.
The pages are in ``bot.console.dashboard`` (the home page: figures, charts and the report
export), ``notice_pages``, ``library_pages``, ``qa_pages`` and ``simulator``, ``inbox_pages``,
``people_pages`` (subscribers and enterprises), ``account_pages`` and ``audit_pages``.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import Session, get_session, session_middleware
from multidict import MultiDict

from bot import keys
from bot.config import Settings
from bot.console.sessions import EXPIRED, DatabaseStorage
from bot.console.uploads import close_files, is_large, too_large, upload_limit
from push import staff
from push.staff import ROLE_NAMES, Permission, Refused, StaffUser

logger = logging.getLogger(__name__)

PREFIX = "/console"
HOME = f"{PREFIX}/dashboard"  # where signing in lands, unless the sign-in came from a page
HERE = Path(__file__).parent
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
ACCESS = "console_access"
CSRF_REFUSED = "请求缺少有效的安全校验（CSRF）令牌，已拒绝。请刷新页面后重试。"

Rule = Permission | Literal["public", "signed_in"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
T = TypeVar("T")

USER: web.RequestKey[StaffUser] = web.RequestKey("console_user", StaffUser)
CSRF: web.RequestKey[str] = web.RequestKey("console_csrf", str)
IDLE: web.AppKey[timedelta] = web.AppKey("console_idle", timedelta)


def access(rule: Rule) -> Callable[[H], H]:
    """Mark a handler with who may use it: ``"public"``, ``"signed_in"`` or a permission."""

    def mark(handler: H) -> H:
        setattr(handler, ACCESS, rule)
        return handler

    return mark


def console_app(settings: Settings) -> web.Application:
    from bot.console.account_pages import add_account_pages
    from bot.console.audit_pages import add_audit_pages
    from bot.console.dashboard import add_dashboard_pages
    from bot.console.inbox_pages import add_inbox_pages
    from bot.console.library_pages import add_library_pages
    from bot.console.notice_pages import add_notice_pages
    from bot.console.people_pages import add_people_pages
    from bot.console.qa_pages import add_qa_pages
    from bot.console.signin import add_signin_pages
    from bot.console.simulator import add_simulator

    idle = timedelta(minutes=settings.staff.console_idle_minutes)
    storage = DatabaseStorage(idle=idle, secure=settings.staff.console_secure_cookies)
    app = web.Application(middlewares=[session_middleware(storage), _guard])
    app[IDLE] = idle
    app.on_response_prepare.append(_security_headers)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("bot.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["segment"] = segment
    app.router.add_static("/static", HERE / "static", name="static")
    add_signin_pages(app)
    add_dashboard_pages(app)
    add_notice_pages(app)
    add_account_pages(app)
    add_audit_pages(app)
    add_library_pages(app)
    add_qa_pages(app)
    add_simulator(app)
    add_inbox_pages(app)
    add_people_pages(app)
    return app


# --- the guard ----------------------------------------------------------------------------------

# Our own scripts and styles only (no inline script: CSP blocks injected ones), never framed
# (clickjacking), forms only to us; pages not cached (a shared office PC's back button).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    if not isinstance(request.match_info.route.resource, web.StaticResource):
        response.headers["Cache-Control"] = "no-store"


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None  # "null" (sandboxed or privacy-stripped) is refused
    return urlsplit(origin).netloc == request.host


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        value = (await request.post()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def wants_json(request: web.Request) -> bool:
    return request.path.endswith(".json")


def _refuse(request: web.Request, message: str, status: int) -> web.Response:
    if wants_json(request):
        return web.json_response({"error": message}, status=status)
    return aiohttp_jinja2.render_template(
        "refused.html", request, _context(request, {"message": message}), status=status
    )


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None:
        raise match.http_exception
    if isinstance(match.route.resource, web.StaticResource):
        return await handler(request)
    rule: Rule | None = getattr(match.handler, ACCESS, None)
    if rule is None:  # deny by default: a route nobody marked is not served
        raise web.HTTPNotFound()
    session = await get_session(request)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    request[CSRF] = session["csrf"]
    # A large body is read only once its sender is known to be allowed to send it.
    large = is_large(match.handler) and request.method not in SAFE_METHODS
    if not large and (refused := await _csrf_refusal(request, session["csrf"])):
        return refused
    if rule == "public":
        return await handler(request)
    if (refused := await _allowed(request, rule, session)) is not None:
        return refused
    if large:
        large_request = request.clone(client_max_size=upload_limit(request))
        return await _with_large_body(large_request, handler, session["csrf"])
    return await _handled(request, handler)


async def _handled(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refused as exc:
        return await _refused_step(request, exc)


async def _with_large_body(request: web.Request, handler: Handler, csrf: str) -> web.StreamResponse:
    """A ``large_body`` route's request (cloned with the larger limit): checked for the CSRF
    token, handled, and its uploaded files closed."""
    try:
        form = await request.post() if _same_origin(request) else MultiDict[Any]()
    except web.HTTPRequestEntityTooLarge:
        return _too_large(request)
    try:
        if refused := await _csrf_refusal(request, csrf):
            return refused
        return await _handled(request, handler)
    finally:
        close_files(form)


async def _allowed(request: web.Request, rule: Rule, session: Session) -> web.Response | None:
    """None when a signed-in, active account whose role grants ``rule`` sent the request
    (then known as ``request[USER]``); else the way to the sign-in page or the refusal."""
    user = await signed_in(request, session.get("user"))
    if user is None:
        return _to_login(request, session)
    request[USER] = user
    try:
        if isinstance(rule, Permission):
            staff.require(user, rule)
    except Refused as exc:
        return _refuse(request, str(exc), exc.status)
    return None


async def _csrf_refusal(request: web.Request, expected: str) -> web.Response | None:
    """The refusal of a state-changing request without the session's CSRF token (or with a
    body over the limit, which is not read further), or None."""
    if request.method in SAFE_METHODS:
        return None
    try:
        if _same_origin(request) and await _csrf_ok(request, expected):
            return None
    except web.HTTPRequestEntityTooLarge:
        return _too_large(request)
    logger.warning(
        "console: refused a request without a valid CSRF token",
        extra={"action": "console_csrf_refused", "path": request.path},
    )
    return _refuse(request, CSRF_REFUSED, 403)


def _too_large(request: web.Request) -> web.Response:
    """A body over the request's limit: refused unread beyond the limit, nothing saved."""
    logger.warning(
        "console: refused a request body over the limit",
        extra={"action": "console_too_large", "path": request.path},
    )
    return _refuse(request, too_large(request), 413)


def _to_login(request: web.Request, session: Session) -> web.Response:
    if session.get("user"):
        session.invalidate()
    if wants_json(request):
        return web.json_response({"error": "登录已失效，请重新登录。"}, status=401)
    expired = "expired=1&" if request.get(EXPIRED) else ""
    target = request.path_qs if request.method == "GET" else f"{PREFIX}/"
    login = request.app.router["login_page"].url_for()
    raise web.HTTPSeeOther(f"{login}?{expired}next={quote(target)}")


async def signed_in(request: web.Request, name: Any) -> StaffUser | None:
    if not isinstance(name, str):
        return None
    user = await staff.get(request.config_dict[keys.ENGINE], name)
    return user if user is not None and user.active else None


async def _refused_step(request: web.Request, exc: Refused) -> web.StreamResponse:
    """A step the service layer refused: shown on the page the staff member came from."""
    if wants_json(request) or request.method in SAFE_METHODS:
        return _refuse(request, str(exc), exc.status)
    await flash(request, str(exc), "error")
    back = request.headers.get("Referer", "")
    parts = urlsplit(back)
    path = parts.path if parts.netloc == request.host and parts.path.startswith(PREFIX) else None
    raise web.HTTPSeeOther(path + (f"?{parts.query}" if parts.query else "") if path else PREFIX)


# --- shared by the pages ------------------------------------------------------------------------


async def flash(request: web.Request, text: str, kind: Literal["ok", "error"] = "ok") -> None:
    session = await get_session(request)
    session["flash"] = [*session.get("flash", []), {"kind": kind, "text": text}]


def _context(request: web.Request, extra: dict[str, Any]) -> dict[str, Any]:
    user = request.get(USER)
    return {
        "prefix": PREFIX,
        "user": user,
        "role_name": ROLE_NAMES[user.role] if user else "",
        "may": (lambda p: user.may(Permission(p))) if user else (lambda p: False),
        "csrf": request.get(CSRF, ""),
        "csrf_field": CSRF_FIELD,
        "flashes": [],
        "path": request.path,
        "here": here,
        "account_name": request.config_dict[keys.SETTINGS].account_name,
        **extra,
    }


async def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    session = await get_session(request)
    flashes = session.pop("flash", [])
    ctx = _context(request, context)
    ctx["flashes"] = flashes
    return aiohttp_jinja2.render_template(template, request, ctx, status=status)


def segment(value: str) -> str:
    """One path segment percent-encoded, ``/`` included (a policy id may contain one)."""
    return quote(value, safe="")


def here(path: str, links: list[str]) -> str:
    """Of the navigation's links, the one the page at ``path`` belongs to (the longest
    matching prefix), or ""."""
    found = [a for a in links if path == a or path.startswith(a.rstrip("/") + "/")]
    return max(found, key=len, default="")


def paged(request: web.Request, items: Sequence[T], per_page: int) -> dict[str, Any]:
    """One page of ``items`` for a list page (``?page=N``, kept within range), with what its
    template's pager needs: ``shown``, ``total``, ``page``, ``pages`` and ``page_url(n)`` (the
    same filters, another page)."""
    pages = max(1, math.ceil(len(items) / per_page))
    asked = request.query.get("page", "1")
    page = min(max(1, int(asked) if asked.isdigit() else 1), pages)
    kept = {k: v for k, v in request.query.items() if k != "page" and v}
    return {
        "shown": items[(page - 1) * per_page : page * per_page],
        "total": len(items),
        "page": page,
        "pages": pages,
        "page_url": lambda n: "?" + urlencode({**kept, "page": n}),
    }


def now() -> datetime:
    return datetime.now(UTC)
