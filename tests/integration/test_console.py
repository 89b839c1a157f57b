"""The staff console over HTTP (the aiohttp test client; the browser tests drive the same pages):
sign-in and lockout, session rotation, idle timeout and logout, CSRF, every route guarded, roles,
and the notice pages' steps through to the audit log."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.console.sessions import COOKIE, ConsoleSession
from bot.console.web import ACCESS, PREFIX
from push import audit
from push.tables import AUDIT, NoticeState
from tests.conftest import MakeClient
from tests.console_helpers import (
    ADMIN,
    AUDITOR,
    EDITOR,
    PASSWORD,
    REVIEWER,
    add_accounts,
    csrf_of,
)
from tests.integration.notice_helpers import add_subscribers

Client = TestClient[Any, Any]


async def token(client: Client, path: str = "/console/login") -> str:
    resp = await client.get(path)
    assert resp.status == 200, path
    return csrf_of(await resp.text())


async def sign_in(
    client: Client, name: str, password: str = PASSWORD, next: str = "/console/dashboard"
) -> Any:
    """The sign-in form as the browser posts it (``next``: the login page's hidden field)."""
    csrf = await token(client)
    return await client.post(
        "/console/login",
        data={"_csrf": csrf, "name": name, "password": password, "next": next},
        allow_redirects=False,
    )


def cookie(client: Client) -> str | None:
    for c in client.session.cookie_jar:
        if c.key == COOKIE:
            return c.value
    return None


@pytest.fixture
async def console(engine: AsyncEngine, make_client: MakeClient) -> Client:
    await add_accounts(engine, 王撰稿="oEditor0001")
    client: Client = await make_client()
    return client


async def test_sign_in_rotates_the_session_and_sign_out_ends_it(
    console: Client, engine: AsyncEngine
) -> None:
    resp = await console.get("/console/notices", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/console/login?next=/console/notices")
    await token(console)
    before = cookie(console)
    assert before
    set_cookie = (await console.get("/console/login")).headers.get("Set-Cookie", "")
    resp = await sign_in(console, EDITOR)
    assert resp.status == 303
    assert resp.headers["Location"] == "/console/dashboard"  # the home page
    raw = resp.headers["Set-Cookie"]
    assert "HttpOnly" in raw
    assert "SameSite=Strict" in raw
    assert "Path=/console" in raw
    assert "Secure" not in raw  # a setting: off for local http
    assert set_cookie == ""  # an existing session is not re-sent on every page
    after = cookie(console)
    assert after
    assert after != before
    page = await (await console.get("/console/notices")).text()
    assert "王撰稿（撰稿人）" in page
    # The old id was deleted; the new one is stored only as a hash.
    async with engine.connect() as conn:
        ids = (await conn.execute(select(ConsoleSession.id_hash))).scalars().all()
    assert before not in ids
    assert after not in ids
    assert len(ids) == 1

    resp = await console.post(
        "/console/logout", data={"_csrf": csrf_of(page)}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/console/login?bye=1"
    console.session.cookie_jar.update_cookies({COOKIE: after})  # replaying the old cookie
    assert (await console.get("/console/notices", allow_redirects=False)).status == 303
    actions = [e.action for e in await audit.entries(engine, object_type="user")]
    assert actions[-2:] == ["user.login", "user.logout"]


async def test_wrong_password_then_lockout(console: Client, engine: AsyncEngine) -> None:
    resp = await sign_in(console, EDITOR, "wrong-password-1")
    assert resp.status == 401
    assert "姓名或密码不对" in await resp.text()
    resp = await sign_in(console, "没有这个人", "whatever-123")
    assert resp.status == 401
    assert "姓名或密码不对" in await resp.text()  # the same answer: names are not revealed
    for _ in range(4):
        await sign_in(console, EDITOR, "wrong-password-1")
    resp = await sign_in(console, EDITOR)  # the right password, but locked
    assert resp.status == 403
    assert "已暂时锁定" in await resp.text()
    failed = [e for e in await audit.entries(engine) if e.action == "user.login_failed"]
    assert len(failed) == 5
    assert failed[-1].detail == {"locked": True}


async def test_idle_sessions_end(console: Client, engine: AsyncEngine) -> None:
    await sign_in(console, EDITOR)
    assert (await console.get("/console/notices")).status == 200
    async with engine.begin() as conn:
        await conn.execute(
            update(ConsoleSession).values(last_seen=datetime.now(UTC) - timedelta(minutes=31))
        )
    resp = await console.get("/console/notices", allow_redirects=False)
    assert resp.status == 303
    assert "expired=1" in resp.headers["Location"]
    assert "长时间未操作" in await (await console.get(resp.headers["Location"])).text()


async def test_state_changes_need_the_csrf_token_and_our_origin(
    console: Client, engine: AsyncEngine
) -> None:
    await sign_in(console, EDITOR)
    csrf = await token(console, "/console/notices/new")
    form = {"title": "伪造", "body": "伪造的通知", "topics": "社保", "audience": "topics"}
    for data, headers in (
        (form, {}),
        ({**form, "_csrf": "forged"}, {}),
        ({**form, "_csrf": csrf}, {"Origin": "https://evil.example"}),
    ):
        resp = await console.post(
            "/console/notices/new", data=data, headers=headers, allow_redirects=False
        )
        assert resp.status == 403
        assert "CSRF" in await resp.text()
    resp = await console.post("/console/preview.json", json={"title": "x", "body": "y"})
    assert resp.status == 403
    async with engine.connect() as conn:
        assert (await conn.execute(select(AUDIT.c.action))).scalars().all().count(
            "notice.create"
        ) == 0
    resp = await console.post(
        "/console/notices/new", data={**form, "_csrf": csrf}, allow_redirects=False
    )
    assert resp.status == 303  # the same form with the token goes through


async def test_every_route_needs_a_session(console: Client) -> None:
    """Enumerates the console's routes: none but sign-in (and the static files) is open."""
    app: web.Application = console.server.app  # type: ignore[assignment]
    sub = next(a for a in _subapps(app) if a.router["login_page"])
    csrf = await token(console)  # an anonymous session with a token: CSRF passes, sign-in not
    checked = 0
    for route in sub.router.routes():
        info = route.resource.get_info() if route.resource else {}
        if "directory" in info or route.method == "HEAD":
            continue
        path = info.get("path") or re.sub(r"\{[^}]+\}", "1", info["formatter"])
        assert path.startswith(PREFIX)
        rule = getattr(route.handler, ACCESS)  # every handler carries a mark
        if rule == "public":
            continue
        if route.method == "GET":
            resp = await console.get(path, allow_redirects=False)
        else:
            resp = await console.post(
                path, data={"_csrf": csrf}, headers={"X-CSRF-Token": csrf}, allow_redirects=False
            )
        assert resp.status in (303, 401), (route.method, path, resp.status)
        if resp.status == 303:
            assert resp.headers["Location"].startswith("/console/login"), path
        checked += 1
    assert checked >= 40  # every page of the console


def _subapps(app: web.Application) -> list[web.Application]:
    return [r._app for r in app.router.resources() if hasattr(r, "_app")]


async def test_roles_are_enforced(console: Client) -> None:
    await sign_in(console, AUDITOR)
    resp = await console.get("/console/notices/new")
    assert resp.status == 403
    text = await resp.text()
    assert "赵审计 是审计员（auditor），不能撰写、修改或提交通知" in text
    assert (await console.get("/console/notices")).status == 200  # reading is open to all staff
    await console.post("/console/logout", data={"_csrf": await token(console, "/console/notices")})
    await sign_in(console, EDITOR)
    assert (await console.get("/console/review")).status == 403


async def test_compose_review_and_send_through_the_pages(
    console: Client, engine: AsyncEngine, fake_wechat: Any
) -> None:
    await add_subscribers(engine, "社保", ["oSub000001", "oSub000002", "oSub000003"])
    await sign_in(console, EDITOR)
    csrf = await token(console, "/console/notices/new")
    title = "关于2026年度城乡居民医疗保险集中缴费的通知，请按时缴费"
    resp = await console.post(
        "/console/preview.json",
        json={
            "title": title,
            "body": "缴费期为1月1日至3月31日。",
            "audience": "topics",
            "topics": "社保",
        },
        headers={"X-CSRF-Token": csrf},
    )
    data = await resp.json()
    first = data["preview"]["keywords"][0]
    assert len(first["value"]) == 20
    assert first["value"].endswith("…")
    assert first["cut"]
    assert data["audience"] == {"recipients": 3, "maybe": 0}

    form = {
        "_csrf": csrf,
        "title": title,
        "body": "缴费期为1月1日至3月31日。",
        "channel": "template",
        "audience": "topics",
        "topics": "社保",
    }
    resp = await console.post("/console/notices/new", data=form, allow_redirects=False)
    assert resp.status == 303
    nid = int(resp.headers["Location"].rsplit("/", 1)[1])
    page = await (await console.get(f"/console/notices/{nid}")).text()
    assert "已保存为草稿" in page
    assert "3 人" in page
    await console.post(f"/console/notices/{nid}/submit", data={"_csrf": csrf})
    # The author's approval is refused, with the reason on the page.
    resp = await console.post(
        f"/console/notices/{nid}/approve",
        data={"_csrf": csrf},
        headers={"Referer": f"{console.make_url(f'/console/notices/{nid}')}"},
    )
    assert resp.status == 403
    assert "不能审核（批准或退回）通知" in await resp.text()

    # A reviewer sends it back; the editor changes the body; the reviewer sees the diff.
    await console.post("/console/logout", data={"_csrf": csrf})
    await sign_in(console, REVIEWER)
    csrf = await token(console, "/console/review")
    await console.post(
        f"/console/notices/{nid}/reject", data={"_csrf": csrf, "comment": "写明截止时间"}
    )
    await console.post("/console/logout", data={"_csrf": csrf})
    await sign_in(console, EDITOR)
    csrf = await token(console, f"/console/notices/{nid}/edit")
    await console.post(
        f"/console/notices/{nid}/edit",
        data={**form, "_csrf": csrf, "body": "缴费期为1月1日至3月31日24时。"},
    )
    await console.post(f"/console/notices/{nid}/submit", data={"_csrf": csrf})
    await console.post("/console/logout", data={"_csrf": csrf})
    await sign_in(console, REVIEWER)
    page = await (await console.get(f"/console/notices/{nid}")).text()
    assert "<ins>24时</ins>" in page
    assert "提交的版本相比" in page
    csrf = csrf_of(page)
    resp = await console.post(
        f"/console/notices/{nid}/approve", data={"_csrf": csrf, "comment": "同意"}
    )
    assert "已批准" in await resp.text()
    resp = await console.post(
        f"/console/notices/{nid}/send", data={"_csrf": csrf}, allow_redirects=False
    )
    assert resp.headers["Location"] == f"/console/notices/{nid}/progress"
    status = await (await console.get(f"/console/notices/{nid}/status.json")).json()
    assert status["state"] == NoticeState.SCHEDULED
    assert status["audience"] == 3
    actions = [e.action for e in await audit.entries(engine, object_type="notice")]
    assert actions == [
        "notice.create",
        "notice.submit",
        "notice.reject",
        "notice.edit",
        "notice.submit",
        "notice.approve",
        "notice.schedule",
    ]
    assert [e.actor for e in await audit.entries(engine, object_type="notice")][-2:] == [
        REVIEWER,
        REVIEWER,
    ]
    assert ADMIN  # (the admin account exists; its rights are push.staff's, tested there)


async def test_an_admin_author_is_shown_why_they_cannot_approve(
    console: Client, engine: AsyncEngine
) -> None:
    await add_subscribers(engine, "就业创业", ["oSub000009"])
    await sign_in(console, ADMIN)
    csrf = await token(console, "/console/notices/new")
    form = {
        "_csrf": csrf,
        "title": "招聘会通知",
        "body": "12月10日上午九点，县人才市场。",
        "audience": "topics",
        "topics": "就业创业",
    }
    resp = await console.post("/console/notices/new", data=form, allow_redirects=False)
    notice_path = resp.headers["Location"]
    await console.post(f"{notice_path}/submit", data={"_csrf": csrf})
    page = await (await console.get(notice_path)).text()
    assert "您撰写或修改过这条通知，不能审核它" in page
    assert 'action="/console/notices/1/approve"' not in page  # no button that cannot work
    # Sent anyway (a stale tab, a crafted form): refused by the desk, the reason on the page.
    resp = await console.post(
        f"{notice_path}/approve",
        data={"_csrf": csrf},
        headers={"Referer": str(console.make_url(notice_path))},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"] == notice_path
    page = await (await console.get(notice_path)).text()
    assert "审核人不能是撰稿人本人。" in page
    assert "待审核" in page


async def test_pages_carry_security_headers(console: Client) -> None:
    resp = await console.get("/console/login")
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    css = await console.get("/console/static/console.css")
    assert css.status == 200  # static files need no session
    assert "Cache-Control" not in css.headers or css.headers["Cache-Control"] != "no-store"
    assert (await console.get("/console/static/../web.py")).status in (403, 404)


async def test_the_reviewer_sees_the_diff_of_a_notice_written_from_the_command_line(
    console: Client, engine: AsyncEngine
) -> None:
    # Written, sent back and rewritten through the desk the CLI and the JSON API use: the
    # reviewer's page still shows the words that changed, not only which field.
    from push.notice_rules import NoticeContent
    from push.notices import NoticeDesk

    await add_subscribers(engine, "就业创业", ["oSub000010"])
    desk = NoticeDesk(engine)
    body = "12月10日上午九点，县人才市场。"
    notice = await desk.create(EDITOR, NoticeContent("招聘会通知", body, topics=("就业创业",)))
    await desk.submit(notice.id, EDITOR)
    await desk.reject(notice.id, REVIEWER, "请写明截止时间")
    await desk.edit(notice.id, EDITOR, {"body": body.replace("九点", "九点至十二点")})
    await desk.submit(notice.id, EDITOR)
    await sign_in(console, REVIEWER)
    page = await (await console.get(f"/console/notices/{notice.id}")).text()
    assert "<ins>至十二点</ins>" in page
    assert "早于全文留存" not in page


async def test_passwords_are_never_logged_nor_audited(
    console: Client, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong-Password-7731"
    await sign_in(console, EDITOR, wrong)
    await sign_in(console, EDITOR)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(AUDIT))).all()
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    audited = "\n".join(str(row._mapping) for row in rows)
    assert "user.login_failed" in audited  # both attempts were recorded …
    assert "user.login" in audited
    for secret in (wrong, PASSWORD):  # … without what was typed
        assert secret not in logged
        assert secret not in audited
