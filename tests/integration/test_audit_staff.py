"""Staff accounts (push.staff) and the hash-chained audit log (push.audit), on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from push import audit, staff
from push.staff import Refused
from push.tables import AUDIT, STAFF, Role
from tests.integration.notice_helpers import T0

PASSWORD = "chunfeng2026xingdong"


async def test_the_chain_verifies_and_shows_where_it_was_tampered_with(
    engine: AsyncEngine,
) -> None:
    assert (await audit.verify(engine)).ok  # an empty log holds
    for n in range(5):
        async with engine.begin() as conn:
            await audit.record(
                conn,
                actor="王撰稿",
                action="notice.edit",
                object_type="notice",
                object_id=n,
                at=T0 + timedelta(seconds=n),
                detail={"changed": ["body"], "n": n, "标题": "春风行动"},
            )
    check = await audit.verify(engine)
    assert (check.ok, check.rows) == (True, 5)
    async with engine.connect() as conn:
        ids = (await conn.execute(select(AUDIT.c.id).order_by(AUDIT.c.id))).scalars().all()
        first = (await conn.execute(select(AUDIT).where(AUDIT.c.id == ids[0]))).one()
    assert first.prev_hash == audit.GENESIS

    async with engine.begin() as conn:  # someone rewrites what a row says
        await conn.execute(update(AUDIT).where(AUDIT.c.id == ids[2]).values(actor="李审核"))
    check = await audit.verify(engine)
    assert (check.ok, check.broken_id, check.rows) == (False, ids[2], 2)
    assert check.problem is not None
    assert "被改动过" in check.problem

    async with engine.begin() as conn:  # put it back; then delete a row instead
        await conn.execute(update(AUDIT).where(AUDIT.c.id == ids[2]).values(actor="王撰稿"))
    assert (await audit.verify(engine)).ok
    async with engine.begin() as conn:
        await conn.execute(delete(AUDIT).where(AUDIT.c.id == ids[1]))
    check = await audit.verify(engine)
    assert (check.ok, check.broken_id) == (False, ids[2])
    assert check.problem is not None
    assert "删除" in check.problem


async def test_a_changed_detail_breaks_the_chain(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await audit.record(
            conn,
            actor="李审核",
            action="notice.approve",
            object_type="notice",
            object_id=1,
            at=T0,
            detail={"content_hash": "a" * 64},
        )
    async with engine.begin() as conn:
        await conn.execute(update(AUDIT).values(detail={"content_hash": "b" * 64}))
    assert not (await audit.verify(engine)).ok


async def test_concurrent_appends_keep_one_chain(engine: AsyncEngine) -> None:
    async def append(n: int) -> None:
        async with engine.begin() as conn:
            await audit.record(
                conn,
                actor=f"员工{n}",
                action="user.login",
                object_type="user",
                object_id=n,
                at=T0,
            )

    await asyncio.gather(*(append(n) for n in range(20)))
    check = await audit.verify(engine)
    assert (check.ok, check.rows) == (True, 20)


async def test_staff_accounts_roles_and_passwords(engine: AsyncEngine) -> None:
    user = await staff.add(engine, "王撰稿", "editor", actor="管理员", now=T0, password=PASSWORD)
    assert (user.role, user.has_password, user.openid) == (Role.EDITOR, True, None)
    async with engine.connect() as conn:
        stored = (await conn.execute(select(STAFF.c.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored

    with pytest.raises(Refused, match="已有名为“王撰稿”的工作人员账号") as taken:
        await staff.add(engine, "王撰稿", "reviewer", actor="管理员", now=T0)
    assert taken.value.status == 409
    with pytest.raises(Refused, match="没有“boss”这个角色；可选：editor（撰稿人）"):
        await staff.add(engine, "老板", "boss", actor="管理员", now=T0)
    with pytest.raises(Refused, match="密码至少 10 位"):
        await staff.add(engine, "李审核", "reviewer", actor="管理员", now=T0, password="short1")
    with pytest.raises(Refused, match="姓名"):
        await staff.add(engine, "李 审核", "reviewer", actor="管理员", now=T0)

    changed = await staff.change(
        engine, "王撰稿", actor="管理员", now=T0, role="admin", openid="oWang000001"
    )
    assert (changed.role, changed.openid) == (Role.ADMIN, "oWang000001")
    assert [u.name for u in await staff.all_users(engine)] == ["王撰稿"]

    # Nothing secret reaches the log, and every change is in it.
    log = await audit.entries(engine)
    assert [(e.action, e.object_id) for e in log] == [
        ("user.add", "王撰稿"),
        ("user.change", "王撰稿"),
    ]
    text = json.dumps([e.to_json() for e in log], ensure_ascii=False)
    assert PASSWORD not in text
    assert "oWang000001" not in text
    assert (await audit.verify(engine)).ok


async def test_five_wrong_passwords_lock_the_account(engine: AsyncEngine) -> None:
    await staff.add(engine, "李审核", Role.REVIEWER, actor="管理员", now=T0, password=PASSWORD)
    assert (await staff.authenticate(engine, "李审核", PASSWORD, T0)).name == "李审核"
    for _ in range(staff.MAX_FAILED_LOGINS):
        with pytest.raises(Refused, match="姓名或密码不对"):
            await staff.authenticate(engine, "李审核", "wrong-password-1", T0)
    with pytest.raises(Refused, match="已暂时锁定"):
        await staff.authenticate(engine, "李审核", PASSWORD, T0 + timedelta(minutes=1))
    later = T0 + staff.LOCKOUT + timedelta(seconds=1)
    assert (await staff.authenticate(engine, "李审核", PASSWORD, later)).name == "李审核"
    with pytest.raises(Refused, match="姓名或密码不对"):
        await staff.authenticate(engine, "无此人", PASSWORD, later)
    actions = [e.action for e in await audit.entries(engine, object_type="user")]
    assert actions.count("user.login_failed") == 5
    assert actions.count("user.login") == 2
