"""Staff accounts in the console: the administrator adds accounts, changes roles, disables them
and sets passwords; everyone changes their own password; a password change signs that person
out elsewhere; the last active administrator cannot be removed."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from push import staff
from push.tables import AUDIT
from tests.conftest import MakeClient
from tests.console_helpers import ADMIN, AUDITOR, EDITOR, PASSWORD, add_accounts, csrf_of

Client = TestClient[Any, Any]
NEW = "Xinmima2026abc"


async def sign_in(client: Client, name: str, password: str = PASSWORD) -> str:
    page = await (await client.get("/console/login")).text()
    data = {"_csrf": csrf_of(page), "name": name, "password": password}
    resp = await client.post("/console/login", data=data)
    return await resp.text()


async def post(client: Client, path: str, **fields: str) -> str:
    """Submit a form of the page ``/console/accounts`` (or ``/console/me``) as a browser does."""
    page = "/console/me" if path.startswith("/console/me") else "/console/accounts"
    csrf = csrf_of(await (await client.get(page)).text())
    resp = await client.post(
        path, data={"_csrf": csrf, **fields}, headers={"Referer": str(client.make_url(page))}
    )
    return await resp.text()


@pytest.fixture
async def clients(engine: AsyncEngine, make_client: MakeClient) -> tuple[Client, Client]:
    await add_accounts(engine)
    first: Client = await make_client()
    second: Client = await make_client()
    return first, second


async def signed_in(client: Client) -> bool:
    resp = await client.get("/console/me", allow_redirects=False)
    return resp.status == 200


async def test_an_admin_adds_an_account_that_can_sign_in(
    clients: tuple[Client, Client], engine: AsyncEngine
) -> None:
    admin, newcomer = clients
    await sign_in(admin, ADMIN)
    page = await post(admin, "/console/accounts", name="孙编辑", role="editor", password="short1")
    assert "密码至少 10 位" in page  # refused with the rule, nothing created
    assert await staff.get(engine, "孙编辑") is None
    page = await post(admin, "/console/accounts", name="孙编辑", role="editor", password=NEW)
    assert "已添加账号“孙编辑”（撰稿人）" in page
    assert "孙编辑（撰稿人）" in await sign_in(newcomer, "孙编辑", NEW)
    async with engine.connect() as conn:
        actions = (await conn.execute(select(AUDIT.c.action, AUDIT.c.actor))).all()
    assert ("user.add", ADMIN) in [tuple(a) for a in actions]


async def test_a_password_set_by_the_admin_signs_the_person_out(
    clients: tuple[Client, Client],
) -> None:
    admin, editor = clients
    await sign_in(editor, EDITOR)
    assert await signed_in(editor)
    await sign_in(admin, ADMIN)
    page = await post(admin, "/console/accounts/password", name=EDITOR, password=NEW)
    assert f"已为“{EDITOR}”设置新密码，其已登录的 1 个会话已退出" in page
    assert not await signed_in(editor)
    assert "姓名或密码不对" in await sign_in(editor, EDITOR, PASSWORD)
    assert await sign_in(editor, EDITOR, NEW)
    assert await signed_in(editor)


async def test_disabling_and_role_changes(clients: tuple[Client, Client]) -> None:
    admin, auditor = clients
    await sign_in(auditor, AUDITOR)
    await sign_in(admin, ADMIN)
    page = await post(admin, "/console/accounts/role", name=AUDITOR, role="reviewer")
    assert f"“{AUDITOR}”的角色已改为审核人" in page
    assert (await auditor.get("/console/review")).status == 200  # takes effect at once
    await post(admin, "/console/accounts/active", name=AUDITOR, active="0")
    assert not await signed_in(auditor)
    assert "姓名或密码不对" in await sign_in(auditor, AUDITOR)


async def test_the_last_active_admin_stays(clients: tuple[Client, Client]) -> None:
    admin, _ = clients
    await sign_in(admin, ADMIN)
    page = await post(admin, "/console/accounts/role", name=ADMIN, role="editor")
    assert "这是唯一启用的管理员账号" in page
    page = await post(admin, "/console/accounts/active", name=ADMIN, active="0")
    assert "不能停用自己正在使用的账号" in page
    assert "（管理员）" in await (await admin.get("/console/accounts")).text()


async def test_only_admins_manage_accounts(clients: tuple[Client, Client]) -> None:
    editor, _ = clients
    await sign_in(editor, EDITOR)
    assert (await editor.get("/console/accounts")).status == 403
    csrf = csrf_of(await (await editor.get("/console/me")).text())
    resp = await editor.post(
        "/console/accounts", data={"_csrf": csrf, "name": "x", "role": "admin", "password": NEW}
    )
    assert resp.status == 403


async def test_changing_ones_own_password(clients: tuple[Client, Client]) -> None:
    here, elsewhere = clients
    await sign_in(here, EDITOR)
    await sign_in(elsewhere, EDITOR)
    page = await post(here, "/console/me/password", current="not-it-123", password=NEW, again=NEW)
    assert "当前密码不对" in page
    page = await post(here, "/console/me/password", current=PASSWORD, password=NEW, again=NEW)
    assert "密码已修改" in page
    assert await signed_in(here)  # this browser stays signed in …
    assert not await signed_in(elsewhere)  # … the other one is signed out
