"""Shared by the console tests: staff accounts with passwords, and reading the CSRF token."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from push import staff

PASSWORD = "Gongkai2026pass"
ACCOUNTS = {"王撰稿": "editor", "李审核": "reviewer", "张管理": "admin", "赵审计": "auditor"}
EDITOR, REVIEWER, ADMIN, AUDITOR = ACCOUNTS
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def add_accounts(engine: AsyncEngine, **openids: str) -> None:
    now = datetime.now(UTC)
    for name, role in ACCOUNTS.items():
        await staff.add(
            engine, name, role, actor="测试", now=now, password=PASSWORD, openid=openids.get(name)
        )


def csrf_of(page: str) -> str:
    found = CSRF_META.search(page)
    assert found, "the page carries no CSRF token"
    return found.group(1)
