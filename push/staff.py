"""Staff accounts and what each role may do.

Roles (``push.tables.Role``): an **editor** (撰稿人) writes notices; a **reviewer** (审核人)
approves or rejects them, never one they wrote; an **admin** (管理员) may do both (still never
approving their own) and manages accounts; an **auditor** (审计员) only reads the audit log.
Sending, scheduling, cancelling and test sends are open to editors, reviewers and admins: what
goes out is what a second person approved (``push.notices``).

A password is optional (accounts used only from the command line have none) and stored as an
argon2id hash (argon2-cffi's ``PasswordHasher`` defaults). Five wrong passwords lock an account
for 15 minutes (等保 登录失败处理). Every change to an account is one audit row in the same
transaction; neither the password nor the openid is ever written to the log.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from push import audit
from push.errors import PushError
from push.tables import STAFF, Role

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
NAME = re.compile(r"^[^\s\x00-\x1f/:]{1,64}$")
OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
MIN_PASSWORD = 10


class Refused(PushError):
    """A staff step that may not or cannot be done; nothing was changed.

    The message is for staff (Chinese) and names the reason; ``status`` is the HTTP status the
    staff API answers with (400 bad request, 403 not allowed, 404 not found, 409 wrong state).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Permission(StrEnum):
    WRITE = "write"  # create and edit notices, submit them, write corrections
    REVIEW = "review"  # approve or reject notices
    PUBLISH = "publish"  # send, schedule, cancel, test-send approved or draft notices
    MANAGE = "manage"  # staff accounts
    AUDIT = "audit"  # read the audit log
    LIBRARY = "library"  # edit the policy library: import, edit, repeal, aliases, Q&A pairs
    ANSWER = "answer"  # answer or dismiss the unanswered inbox
    PEOPLE = "people"  # look up subscribers and enterprises
    ERASE = "erase"  # delete a person's data on request
    PROFILES = "profiles"  # edit enterprise profiles; import enterprises and subscribers


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.EDITOR: frozenset(
        {
            Permission.WRITE,
            Permission.PUBLISH,
            Permission.LIBRARY,
            Permission.ANSWER,
            Permission.PEOPLE,
            Permission.PROFILES,
        }
    ),
    Role.REVIEWER: frozenset(
        {Permission.REVIEW, Permission.PUBLISH, Permission.ANSWER, Permission.PEOPLE}
    ),
    Role.ADMIN: frozenset(Permission),
    Role.AUDITOR: frozenset({Permission.AUDIT}),
}
ROLE_NAMES = {
    Role.EDITOR: "撰稿人",
    Role.REVIEWER: "审核人",
    Role.ADMIN: "管理员",
    Role.AUDITOR: "审计员",
}
DOING = {
    Permission.WRITE: "撰写、修改或提交通知",
    Permission.REVIEW: "审核（批准或退回）通知",
    Permission.PUBLISH: "发送、定时、撤销或试发通知",
    Permission.MANAGE: "管理工作人员账号",
    Permission.AUDIT: "查看审计日志",
    Permission.LIBRARY: "修改政策库（导入、编辑、废止、别名、问答）",
    Permission.ANSWER: "答复或忽略待答复问题",
    Permission.PEOPLE: "查看订阅用户和企业",
    Permission.ERASE: "按本人要求删除个人数据",
    Permission.PROFILES: "修改企业档案、导入企业档案或订阅用户",
}


@dataclass(frozen=True, slots=True)
class StaffUser:
    id: int
    name: str
    role: Role
    openid: str | None
    active: bool
    has_password: bool
    created_at: datetime

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.value,
            "role_name": ROLE_NAMES[self.role],
            "active": self.active,
            "password": self.has_password,
            "test_openid": self.openid is not None,  # whether test sends can reach them
        }


def require(user: StaffUser, permission: Permission) -> None:
    """Raise ``Refused`` (403) naming what the user's role may not do."""
    if user.may(permission):
        return
    allowed = "或".join(f"{ROLE_NAMES[r]}（{r.value}）" for r in Role if permission in GRANTS[r])
    raise Refused(
        f"{user.name} 是{ROLE_NAMES[user.role]}（{user.role.value}），不能{DOING[permission]}；"
        f"这需要{allowed}。",
        403,
    )


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = "、".join(f"{r.value}（{ROLE_NAMES[r]}）" for r in Role)
        raise Refused(f"没有“{value}”这个角色；可选：{names}。") from None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD or not (
        re.search(r"[A-Za-z]", password) and re.search(r"\d", password)
    ):
        raise Refused(f"密码至少 {MIN_PASSWORD} 位，且须同时包含字母和数字。")


async def hash_password(password: str) -> str:
    check_password(password)
    # argon2 takes ~50 ms of CPU and 64 MiB on purpose: off the event loop.
    return await asyncio.to_thread(PasswordHasher().hash, password)


def _user(row: Any) -> StaffUser:
    return StaffUser(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        openid=row.openid,
        active=row.active,
        has_password=row.password_hash is not None,
        created_at=row.created_at,
    )


async def find(conn: AsyncConnection, name: str) -> StaffUser | None:
    row = (await conn.execute(select(STAFF).where(STAFF.c.name == name.strip()))).first()
    return _user(row) if row else None


async def acting(conn: AsyncConnection, name: str | None) -> StaffUser:
    """The active staff member ``name`` (who is doing a step), or ``Refused``."""
    if not name or not name.strip():
        raise Refused("请注明操作人（--by 姓名，或请求中的 by 字段）。")
    user = await find(conn, name)
    if user is None:
        raise Refused(f"没有名为“{name.strip()}”的工作人员账号（gongkai user add 添加）。", 404)
    if not user.active:
        raise Refused(f"工作人员账号“{user.name}”已停用。", 403)
    return user


async def get(engine: AsyncEngine, name: str) -> StaffUser | None:
    async with engine.connect() as conn:
        return await find(conn, name)


async def all_users(engine: AsyncEngine) -> list[StaffUser]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(STAFF).order_by(STAFF.c.name))).all()
    return [_user(r) for r in rows]


def _check_name(name: str) -> str:
    name = name.strip()
    if not NAME.match(name):
        raise Refused("姓名须为 1–64 个字符，不能含空格、斜杠或冒号。")
    return name


def _check_openid(openid: str) -> str:
    openid = openid.strip()
    if not OPENID.match(openid):
        raise Refused("openid 格式不对（应为公众号下的用户 openid，字母、数字、- 和 _）。")
    return openid


async def add(
    engine: AsyncEngine,
    name: str,
    role: Role | str,
    *,
    actor: str,
    now: datetime,
    password: str | None = None,
    openid: str | None = None,
) -> StaffUser:
    """Create an account (refused if the name is taken)."""
    name = _check_name(name)
    role = parse_role(role) if isinstance(role, str) else role
    hashed = await hash_password(password) if password is not None else None
    openid = _check_openid(openid) if openid else None
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(STAFF).values(
                    name=name,
                    role=role.value,
                    password_hash=hashed,
                    openid=openid,
                    active=True,
                    failed_logins=0,
                    created_at=now,
                )
            )
            await audit.record(
                conn,
                actor=actor,
                action="user.add",
                object_type="user",
                object_id=name,
                at=now,
                detail={"role": role.value, "password": hashed is not None},
            )
    except IntegrityError:
        raise Refused(f"已有名为“{name}”的工作人员账号。", 409) from None
    user = await get(engine, name)
    assert user is not None  # noqa: S101 - just written
    return user


FIRST_ADMIN = "管理员"


def generated_password() -> str:
    """A password our own rules accept: 16 characters with letters and digits."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(16))
        if any(c.isdigit() for c in password) and any(c.isalpha() for c in password):
            return password


async def add_first_admin(engine: AsyncEngine, *, actor: str, now: datetime) -> str | None:
    """Create the administrator ``管理员`` with a generated password when there is no account
    at all (local mode's first start); the password, or None if accounts already exist."""
    async with engine.connect() as conn:
        if (await conn.execute(select(STAFF.c.id).limit(1))).first() is not None:
            return None
    password = generated_password()
    try:
        await add(engine, FIRST_ADMIN, Role.ADMIN, actor=actor, now=now, password=password)
    except Refused:  # another process created it at the same moment
        return None
    return password


async def password_matches(engine: AsyncEngine, name: str, password: str) -> bool:
    """Whether ``password`` is still the account's password (no lockout counting, no audit)."""
    async with engine.connect() as conn:
        found = select(STAFF.c.password_hash).where(STAFF.c.name == name)
        row = (await conn.execute(found)).first()
    if row is None or row.password_hash is None:
        return False
    try:
        return await asyncio.to_thread(PasswordHasher().verify, row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def change(
    engine: AsyncEngine,
    name: str,
    *,
    actor: str,
    now: datetime,
    role: Role | str | None = None,
    active: bool | None = None,
    password: str | None = None,
    openid: str | None = None,
    clear_openid: bool = False,
) -> StaffUser:
    """Change an account's role, status, password or test-send openid."""
    values: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    if role is not None:
        chosen = parse_role(role) if isinstance(role, str) else role
        values["role"] = detail["role"] = chosen.value
    if active is not None:
        values["active"] = detail["active"] = active
    if password is not None:
        values["password_hash"] = await hash_password(password)
        values["failed_logins"] = 0
        values["locked_until"] = None
        detail["password"] = "changed"  # noqa: S105 - what happened, not a secret
    if openid is not None or clear_openid:
        values["openid"] = _check_openid(openid) if openid else None
        detail["openid"] = "set" if openid else "cleared"
    if not values:
        raise Refused("没有要修改的内容。")
    async with engine.begin() as conn:
        if values.get("role", Role.ADMIN.value) != Role.ADMIN.value or active is False:
            await _keep_an_admin(conn, name.strip())
        done = await conn.execute(update(STAFF).where(STAFF.c.name == name.strip()).values(values))
        if done.rowcount == 0:
            raise Refused(f"没有名为“{name.strip()}”的工作人员账号。", 404)
        await audit.record(
            conn,
            actor=actor,
            action="user.change",
            object_type="user",
            object_id=name.strip(),
            at=now,
            detail=detail,
        )
    user = await get(engine, name)
    assert user is not None  # noqa: S101 - just written
    return user


async def _keep_an_admin(conn: AsyncConnection, name: str) -> None:
    """Refuse a change that would leave no active administrator (nobody could manage accounts)."""
    others = select(STAFF.c.id).where(
        STAFF.c.role == Role.ADMIN.value, STAFF.c.active.is_(True), STAFF.c.name != name
    )
    target = select(STAFF.c.role, STAFF.c.active).where(STAFF.c.name == name)
    row = (await conn.execute(target)).first()
    if row is None or row.role != Role.ADMIN.value or not row.active:
        return
    if (await conn.execute(others.limit(1).with_for_update())).first() is None:
        raise Refused(
            "这是唯一启用的管理员账号，不能停用或改为其他角色；请先设置另一名管理员。", 409
        )


async def authenticate(engine: AsyncEngine, name: str, password: str, now: datetime) -> StaffUser:
    """Check a password (for the console's login); five failures lock the account."""
    refused = Refused("姓名或密码不对。", 401)
    async with engine.connect() as conn:
        row = (await conn.execute(select(STAFF).where(STAFF.c.name == name.strip()))).first()
    if row is None or not row.active or row.password_hash is None:
        raise refused
    if row.locked_until is not None and row.locked_until > now:
        raise Refused("连续输错密码次数过多，账号已暂时锁定，请稍后再试。", 403)
    hasher = PasswordHasher()
    try:
        await asyncio.to_thread(hasher.verify, row.password_hash, password)
    except (VerificationError, InvalidHashError):
        failed = row.failed_logins + 1
        locked = now + LOCKOUT if failed >= MAX_FAILED_LOGINS else None
        async with engine.begin() as conn:
            await conn.execute(
                update(STAFF)
                .where(STAFF.c.id == row.id)
                .values(failed_logins=0 if locked else failed, locked_until=locked)
            )
            await audit.record(
                conn,
                actor=row.name,
                action="user.login_failed",
                object_type="user",
                object_id=row.name,
                at=now,
                detail={"locked": locked is not None},
            )
        raise refused from None
    values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
    if hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = await asyncio.to_thread(hasher.hash, password)
    async with engine.begin() as conn:
        await conn.execute(update(STAFF).where(STAFF.c.id == row.id).values(values))
        await audit.record(
            conn,
            actor=row.name,
            action="user.login",
            object_type="user",
            object_id=row.name,
            at=now,
        )
    return _user(row)
