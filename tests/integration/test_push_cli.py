"""The push commands as operators run them (subprocesses): importing subscribers, `gongkai push
run` delivering a notice to the fake WeChat API on loopback, two `push run` processes sharing
one PostgreSQL outbox without a duplicate, and `gongkai fake-wechat`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.wechat.fake_api import FakeWeChatServer
from push.tables import DELIVERIES, NOTICES, SUBSCRIBERS, SUBSCRIPTIONS, NoticeState
from tests.push_factories import make_notice, make_subscribers

TEMPLATE = "/cgi-bin/message/template/send"


async def gongkai(
    *args: str, env: dict[str, str], cwd: Path, wait_s: float = 90
) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env={**base, **env},
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), wait_s)
    return int(proc.returncode or 0), out.decode(), err.decode()


@pytest.fixture
def push_env(account_env: dict[str, str]) -> dict[str, str]:
    return {
        **account_env,
        "GONGKAI_PUSH__TEMPLATE_ID": "TEMPLATE_ID_1",
        "GONGKAI_PUSH__QUIET_HOURS": "",  # whatever the time of day the test runs at
        "GONGKAI_PUSH__BACKOFF_S": "0.05",
        "GONGKAI_PUSH__POLL_S": "0.1",
        "GONGKAI_MATCHER__EMBEDDINGS": "false",
    }


async def test_subscribers_import_is_idempotent_and_names_a_bad_line(
    engine: AsyncEngine, push_env: dict[str, str], tmp_path: Path
) -> None:
    good = tmp_path / "subscribers.jsonl"
    good.write_text(
        '{"openid": "oAbc0001", "topics": ["就业创业", "住房"], "town": "城关镇"}\n'
        '{"openid": "oAbc0002", "topics": ["惠企/免申即享"], "tags": ["企业"]}\n',
        encoding="utf-8",
    )
    for _ in range(2):
        code, out, err = await gongkai(
            "subscribers", "import", str(good), env=push_env, cwd=tmp_path
        )
        assert code == 0, err
        assert "已导入 2 位订阅用户" in out
    async with engine.connect() as conn:
        subscribers = (await conn.execute(select(func.count()).select_from(SUBSCRIBERS))).scalar()
        subscriptions = (
            await conn.execute(select(func.count()).select_from(SUBSCRIPTIONS))
        ).scalar()
    assert (subscribers, subscriptions) == (2, 3)

    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"openid": "oAbc0003", "topics": ["就业创业"]}\n'
        '{"openid": "oAbc0004", "topics": ["炒股"]}\n',
        encoding="utf-8",
    )
    code, _out, err = await gongkai("subscribers", "import", str(bad), env=push_env, cwd=tmp_path)
    assert code == 1
    assert "bad.jsonl:2: topics: 没有这个主题：炒股" in err
    async with engine.connect() as conn:
        after = (await conn.execute(select(func.count()).select_from(SUBSCRIBERS))).scalar()
    assert after == 2  # nothing of the bad file was written


async def test_push_run_until_idle_delivers_a_due_notice(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, push_env: dict[str, str], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    openids = await make_subscribers(engine, 25, "就业创业", now=now)
    nid = await make_notice(engine, now=now, topics=["就业创业"])
    code, out, err = await gongkai("push", "run", "--until-idle", env=push_env, cwd=tmp_path)
    assert code == 0, err
    assert "已发送 25" in out
    assert {c.body["touser"] for c in fake_wechat.calls_to(TEMPLATE)} == set(openids)
    async with engine.connect() as conn:
        state = (await conn.execute(select(NOTICES.c.state).where(NOTICES.c.id == nid))).scalar()
    assert state == NoticeState.DONE
    code, out, _err = await gongkai("push", "status", "--json", env=push_env, cwd=tmp_path)
    assert json.loads(out)["deliveries"] == {"sent": 25}


@pytest.mark.postgres
async def test_two_push_run_processes_deliver_with_no_duplicate(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer, push_env: dict[str, str], tmp_path: Path
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several push workers share an outbox on PostgreSQL only (SKIP LOCKED)")
    now = datetime.now(UTC)
    await make_subscribers(engine, 600, "惠企/免申即享", now=now)
    nid = await make_notice(engine, now=now, topics=["惠企/免申即享"])
    env = {**push_env, "GONGKAI_PUSH__BATCH": "25"}
    (c1, _o1, e1), (c2, _o2, e2) = await asyncio.gather(
        gongkai("push", "run", "--until-idle", "--worker", "one", env=env, cwd=tmp_path),
        gongkai("push", "run", "--until-idle", "--worker", "two", env=env, cwd=tmp_path),
    )
    assert (c1, c2) == (0, 0), e1 + e2
    d = DELIVERIES.c
    async with engine.connect() as conn:
        by_worker = dict(
            (
                await conn.execute(
                    select(d.leased_by, func.count())
                    .where(d.notice_id == nid)
                    .group_by(d.leased_by)
                )
            ).all()
        )
    assert sum(by_worker.values()) == 600
    sends = fake_wechat.calls_to(TEMPLATE)
    assert len(sends) == 600  # each delivery sent once, by one of the two
    assert len({c.body["touser"] for c in sends}) == 600
    assert fake_wechat.stats()["duplicates"] == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_fake_wechat_command_serves_and_reports(tmp_path: Path) -> None:
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "fake-wechat", "--port", str(port),
        "--faults", "busy=1.0",
        env=base, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    first = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert f"http://127.0.0.1:{port}" in first.decode()
    async with aiohttp.ClientSession() as session:
        token = await (
            await session.post(f"http://127.0.0.1:{port}/cgi-bin/stable_token", json={})
        ).json()
        answer = await (
            await session.post(
                f"http://127.0.0.1:{port}{TEMPLATE}",
                params={"access_token": token["access_token"]},
                json={"touser": "o1", "template_id": "T", "data": {}},
            )
        ).json()
    assert answer["errcode"] == -1  # the injected fault
    proc.send_signal(signal.SIGINT)
    out, _err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert '"busy": 1' in out.decode()
