"""Notices end to end: ``gongkai user`` / ``gongkai notice`` / ``gongkai audit`` run as an
operator runs them (subprocesses), and the staff JSON API, against a real database and the fake
WeChat API on loopback (where test sends land)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import keys
from bot.config import Settings, StaffSettings
from bot.wechat.fake_api import FakeWeChatServer
from push.notice_rules import LOCAL_TZ
from push.notices import NoticeDesk
from push.tables import NOTICES
from tests.conftest import MakeClient
from tests.integration.notice_helpers import (
    EDITOR,
    REVIEWER,
    TopicCounter,
    add_deliveries,
    add_staff,
    add_subscribers,
)

STAFF_TOKEN = "staff-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}
PASSWORD = "chunfeng2026xingdong"


async def gongkai(
    *args: str, env: dict[str, str], cwd: Path, stdin: str = ""
) -> tuple[int, str, str]:
    """Run the command without blocking the loop the fake WeChat server runs on."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env={**base, **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=50)
    return int(proc.returncode or 0), out.decode(), err.decode()


@pytest.mark.timeout(240)  # each command starts a Python process (~3 s)
async def test_the_command_line_forms(
    engine: AsyncEngine,
    account_env: dict[str, str],
    fake_wechat: FakeWeChatServer,
    tmp_path: Path,
) -> None:
    async def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        return await gongkai(*args, env=account_env, cwd=tmp_path, stdin=stdin)

    code, out, err = await run("user", "add", "王撰稿", "--role", "editor")
    assert code == 0, err
    assert "王撰稿" in out
    code, _, err = await run(
        "user", "add", "李审核", "--role", "reviewer", "--openid", "oReviewer001",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = await run("user", "list", "--json")
    listed = {u["name"]: u for u in json.loads(out)}
    assert listed["李审核"]["password"] is True
    assert listed["王撰稿"]["role"] == "editor"

    code, out, err = await run(
        "notice",
        "create",
        "--by",
        "王撰稿",
        "--title",
        "春风行动招聘会",
        "--body",
        "12月10日上午在县人才市场举办。",
        "--topic",
        "就业创业",
        "--json",
    )
    assert code == 0, err
    notice_id = str(json.loads(out)["id"])

    # The test send before review reaches the reviewer's openid through the fake WeChat API.
    code, out, err = await run("notice", "test", notice_id, "--by", "王撰稿", "--to", "李审核")
    assert code == 0, err
    [message] = fake_wechat.messages_to("oReviewer001")
    assert "春风行动招聘会" in message["text"]["content"]

    assert (await run("notice", "submit", notice_id, "--by", "王撰稿"))[0] == 0
    code, out, err = await run("notice", "approve", notice_id, "--by", "王撰稿")
    assert code == 1
    assert "不能审核" in err
    assert out == ""
    assert (await run("notice", "approve", notice_id, "--by", "李审核"))[0] == 0

    # An edit after approval voids it: sending is refused until it is approved again.
    code, out, err = await run("notice", "edit", notice_id, "--by", "王撰稿", "--title", "改期")
    assert code == 0, err
    assert "原审核批准作废" in out
    code, _, err = await run("notice", "send", notice_id, "--by", "王撰稿")
    assert code == 1
    assert "还没有通过审核" in err
    assert (await run("notice", "submit", notice_id, "--by", "王撰稿"))[0] == 0
    assert (await run("notice", "approve", notice_id, "--by", "李审核"))[0] == 0

    code, out, err = await run("notice", "send", notice_id, "--by", "王撰稿", "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "scheduled"

    code, out, err = await run("notice", "status", notice_id, "--json")
    assert code == 0, err
    status = json.loads(out)
    assert {"state", "audience", "sent", "failed", "pending", "unknown", "maybe"} <= set(status)
    assert status["state"] == "scheduled"

    code, out, err = await run("notice", "cancel", notice_id, "--by", "李审核")
    assert code == 0, err

    listing, shown, verified = await asyncio.gather(  # reading: side by side
        run("notice", "list", "--state", "cancelled", "--json"),
        run("notice", "show", notice_id, "--json"),
        run("audit", "verify"),
    )
    assert [n["id"] for n in json.loads(listing[1])] == [int(notice_id)]
    actions = [e["action"] for e in json.loads(shown[1])["history"]]
    assert actions == [
        "notice.create",
        "notice.test",
        "notice.submit",
        "notice.approve",
        "notice.edit",
        "notice.submit",
        "notice.approve",
        "notice.schedule",
        "notice.cancel",
    ]
    assert verified[0] == 0, verified[2]
    assert "哈希链全部吻合" in verified[1]


@pytest.mark.timeout(240)  # each command starts a Python process (~3 s)
async def test_command_line_schedule_and_correction(
    engine: AsyncEngine, account_env: dict[str, str], tmp_path: Path
) -> None:
    async def run(*args: str) -> tuple[int, str, str]:
        return await gongkai(*args, env=account_env, cwd=tmp_path)

    await add_staff(engine)
    code, out, err = await run(
        "notice", "create", "--by", EDITOR, "--title", "停水通知", "--body", "周三停水。",
        "--town", "城关镇", "--json",
    )  # fmt: skip
    assert code == 0, err
    notice_id = json.loads(out)["id"]
    for step in (["submit", "--by", EDITOR], ["approve", "--by", REVIEWER]):
        code, _, err = await run("notice", step[0], str(notice_id), *step[1:])
        assert code == 0, err
    day = (datetime.now(LOCAL_TZ) + timedelta(days=2)).date()
    at = f"{day} 09:00"  # Beijing time
    code, out, err = await run("notice", "send", str(notice_id), "--by", EDITOR, "--at", at)
    assert code == 0, err
    assert f"{day}T09:00:00+08:00" in out
    shown = await NoticeDesk(engine).get(notice_id)
    assert shown.scheduled_at == datetime.fromisoformat(f"{day}T01:00:00+00:00")  # stored UTC

    code, _, err = await run("notice", "correct", str(notice_id), "--by", EDITOR, "--body", "x")
    assert code == 1
    assert "还没有发给任何人" in err
    async with engine.begin() as conn:  # the delivery engine sent it
        await conn.execute(update(NOTICES).where(NOTICES.c.id == notice_id).values(state="done"))
    await add_deliveries(engine, notice_id, [{"status": "sent"}, {"status": "failed"}])
    code, out, err = await run(
        "notice", "correct", str(notice_id), "--by", EDITOR, "--body", "改为周四停水。", "--json"
    )
    assert code == 0, err
    fix = json.loads(out)
    assert fix["audience"]["corrects"] == notice_id
    assert fix["title"] == "【更正】停水通知"
    code, out, err = await run("notice", "status", str(notice_id), "--json")
    assert json.loads(out)["sent"] == 1
    assert json.loads(out)["failed"] == 1


@pytest.fixture
def staff_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"staff": StaffSettings(token=SecretStr(STAFF_TOKEN))})


async def test_the_staff_api_for_notices(
    engine: AsyncEngine,
    make_client: MakeClient,
    staff_settings: Settings,
    fake_wechat: FakeWeChatServer,
) -> None:
    await add_staff(engine, 李审核="oReviewer001")
    await add_subscribers(engine, "就业创业", ["oA0000001", "oB0000001"])
    client: TestClient[Any, Any] = await make_client(settings=staff_settings)
    desk = client.app[keys.NOTICE_DESK]
    desk.counter = TopicCounter(engine)  # push.audience's place, wired with the delivery engine

    async def post(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        resp = await client.post(f"/staff/api/notices{path}", json=body, headers=AUTH)
        return resp.status, await resp.json()

    draft = {
        "by": EDITOR,
        "title": "春风行动招聘会",
        "body": "12月10日举办。",
        "topics": ["就业创业"],
    }
    status, created = await post("", draft)
    assert status == 201, created
    assert created["state"] == "draft"
    assert created["audience"]["text"] == "订阅了就业创业的用户"
    nid = created["id"]

    resp = await client.get(f"/staff/api/notices/{nid}/preview", headers=AUTH)
    assert await resp.json() == {"recipients": 2, "maybe": 0}
    status, body = await post(f"/{nid}/test", {"by": EDITOR, "to": REVIEWER})
    assert (status, body) == (200, {"sent_to": REVIEWER})
    assert len(fake_wechat.messages_to("oReviewer001")) == 1

    assert (await post(f"/{nid}/submit", {"by": EDITOR}))[0] == 200
    status, body = await post(f"/{nid}/approve", {"by": EDITOR})
    assert status == 403
    assert "不能审核" in body["error"]
    status, body = await post(f"/{nid}/approve", {"by": REVIEWER, "comment": "同意"})
    assert (status, body["state"], body["approved_by"]) == (200, "approved", REVIEWER)

    resp = await client.patch(
        f"/staff/api/notices/{nid}",
        json={"by": EDITOR, "body": "12月11日举办。", "topics": None, "url": None},
        headers=AUTH,
    )
    edited = await resp.json()
    assert (resp.status, edited["state"], edited["approved_by"]) == (200, "draft", None)
    status, body = await post(f"/{nid}/schedule", {"by": EDITOR})
    assert status == 409
    assert "还没有通过审核" in body["error"]

    await post(f"/{nid}/submit", {"by": EDITOR})
    await post(f"/{nid}/approve", {"by": REVIEWER})
    status, body = await post(f"/{nid}/schedule", {"by": EDITOR, "at": "2099-01-01 09:00"})
    assert status == 400
    status, body = await post(f"/{nid}/schedule", {"by": EDITOR})
    assert (status, body["state"]) == (200, "scheduled")

    resp = await client.get(f"/staff/api/notices/{nid}/status", headers=AUTH)
    counts = await resp.json()
    assert (counts["state"], counts["audience"], counts["sent"]) == ("scheduled", 2, 0)
    status, body = await post(f"/{nid}/cancel", {"by": REVIEWER, "reason": "活动延期"})
    assert (status, body["state"]) == (200, "cancelled")

    resp = await client.get("/staff/api/notices?state=cancelled", headers=AUTH)
    assert [n["id"] for n in (await resp.json())["notices"]] == [nid]
    resp = await client.get(f"/staff/api/notices/{nid}", headers=AUTH)
    shown = await resp.json()
    assert shown["history"][-1]["detail"]["reason"] == "活动延期"

    # Refusals in Chinese, with the right status; and the token is needed as for all staff calls.
    status, body = await post("", {"by": EDITOR, "title": "无对象", "body": "正文"})
    assert (status, "请指定接收对象" in body["error"]) == (400, True)
    status, body = await post("", {"title": "没有操作人", "body": "正文"})
    assert (status, "by" in body["error"]) == (400, True)
    assert (await client.get("/staff/api/notices/999", headers=AUTH)).status == 404
    assert (await client.get("/staff/api/notices")).status == 401
    status, body = await post(f"/{nid}/reject", {"by": "路人", "comment": "x"})
    assert status == 404
    assert "路人" in body["error"]
