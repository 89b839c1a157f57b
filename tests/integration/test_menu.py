"""The custom menu end to end: publishing to a fake WeChat API on loopback (through our sender and
through the `gongkai menu` command as a user runs it), and every CLICK key answered through real
signed and encrypted callbacks, against the bundled sample library."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import build_parser, main
from bot.cli.menu import publish
from bot.config import Settings
from bot.questions import QUESTIONS
from bot.token_store import SqlTokenStore
from bot.wechat.api import WeChatClient
from bot.wechat.errcodes import Action, WeChatAPIError
from bot.wechat.fake_api import FakeWeChatServer
from bot.wechat.menu import load_menu
from handlers import menu, texts
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.model import Status
from policy_index.repository import LibraryRepository
from tests.conftest import APP_ID, APP_SECRET, MakeClient
from tests.integration.callback_helpers import send
from tests.wechat_peer import Mode, WeChatPeer

CREATE = "/cgi-bin/menu/create"
BUNDLED = tomllib.loads(menu.MENU_FILE.read_text(encoding="utf-8"))


async def gongkai(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the command in a subprocess without blocking the loop the fake server runs on."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env={**base, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=50)
    return int(proc.returncode or 0), out.decode(), err.decode()


# --- the sender -------------------------------------------------------------------------------


async def test_sender_creates_reads_back_and_deletes_the_menu(
    engine: AsyncEngine, fake_wechat: FakeWeChatServer
) -> None:
    async with aiohttp.ClientSession() as session:
        client = WeChatClient(
            session,
            token_store=SqlTokenStore(engine),
            app_id=APP_ID,
            app_secret=APP_SECRET,
            base_url=fake_wechat.base_url,
        )
        assert await client.get_menu() is None  # 46003 menu no exist
        await client.create_menu(load_menu(menu.MENU_FILE).to_wechat())
        (call,) = fake_wechat.calls_to(CREATE)
        assert call.body == BUNDLED
        assert "个人办事".encode() in call.raw  # not \u-escaped
        held = await client.get_menu()
        assert held is not None
        assert held["menu"]["button"][0]["name"] == "办事指南"
        assert held["menu"]["button"][1]["sub_button"] == []  # as WeChat answers
        await client.delete_menu()
        assert await client.get_menu() is None
        with pytest.raises(WeChatAPIError) as info:
            await client.create_menu({"button": []})
        assert info.value.errcode == 40016
        assert info.value.action is Action.PERMANENT
        assert len(fake_wechat.calls_to(CREATE)) == 2  # not retried


async def test_publish_sends_exactly_the_file(
    engine: AsyncEngine, settings: Settings, fake_wechat: FakeWeChatServer
) -> None:
    local = await publish(settings, load_menu(menu.MENU_FILE))
    assert local is False
    (call,) = fake_wechat.calls_to(CREATE)
    assert call.body == BUNDLED
    assert call.params["access_token"].startswith("FAKE_")


# --- the command, as staff run it ---------------------------------------------------------------


async def test_menu_publish_command_sends_the_bundled_file(
    engine: AsyncEngine, tmp_path: Path, fake_wechat: FakeWeChatServer, account_env: dict[str, str]
) -> None:
    code, out, err = await gongkai("menu", "publish", cwd=tmp_path, env=account_env)
    assert code == 0, err
    assert f"菜单已发布到公众号 {APP_ID}" in out
    (call,) = fake_wechat.calls_to(CREATE)
    assert call.body == BUNDLED


async def test_menu_publish_command_sends_a_staff_file(
    engine: AsyncEngine, tmp_path: Path, fake_wechat: FakeWeChatServer, account_env: dict[str, str]
) -> None:
    path = tmp_path / "春节菜单.toml"
    path.write_text(
        '[[button]]\nname = "联系我们"\ntype = "click"\nkey = "CONTACT_US"\n\n'
        '[[button]]\nname = "公开"\n  [[button.sub_button]]\n  name = "政府信息公开"\n'
        '  type = "view"\n  url = "https://www.example.gov.cn/zwgk/"\n',
        encoding="utf-8",
    )
    code, _out, err = await gongkai("menu", "publish", str(path), cwd=tmp_path, env=account_env)
    assert code == 0, err
    (call,) = fake_wechat.calls_to(CREATE)
    assert call.body == tomllib.loads(path.read_text(encoding="utf-8"))
    assert fake_wechat.menu is not None


async def test_wechat_refusing_the_menu_is_reported_with_a_non_zero_exit(
    engine: AsyncEngine, tmp_path: Path, fake_wechat: FakeWeChatServer, account_env: dict[str, str]
) -> None:
    fake_wechat.fail_next(CREATE, 40018, "invalid button name size hint: [xyz]")
    code, out, err = await gongkai("menu", "publish", cwd=tmp_path, env=account_env)
    assert code == 1
    assert "errcode 40018 (invalid button name size hint: [xyz])" in err
    assert "一级菜单名称长度不合要求" in err
    assert "the menu was not published" in err
    assert "菜单已发布" not in out
    assert "Traceback" not in err
    assert len(fake_wechat.calls_to(CREATE)) == 1  # a data error is not retried


async def test_wrong_credentials_are_named(
    engine: AsyncEngine, tmp_path: Path, fake_wechat: FakeWeChatServer, account_env: dict[str, str]
) -> None:
    env = {**account_env, "GONGKAI_WECHAT__APP_SECRET": "not-the-secret"}
    code, _out, err = await gongkai("menu", "publish", cwd=tmp_path, env=env)
    assert code == 1
    assert "WeChat refused /cgi-bin/stable_token: errcode 40125" in err
    assert "AppSecret 不正确（GONGKAI_WECHAT__APP_SECRET）" in err
    assert "not-the-secret" not in err
    assert fake_wechat.calls_to(CREATE) == []


async def test_a_bad_file_is_never_sent(
    engine: AsyncEngine, tmp_path: Path, fake_wechat: FakeWeChatServer, account_env: dict[str, str]
) -> None:
    path = tmp_path / "menu.toml"
    path.write_text('[[button]]\nname = "政务公开服务"\ntype = "click"\n', encoding="utf-8")
    code, _out, err = await gongkai("menu", "publish", str(path), cwd=tmp_path, env=account_env)
    assert code == 1
    assert 'menu.toml: button 1 "政务公开服务": name: 18 bytes; WeChat allows at most 16' in err
    assert "menu.toml: button 1 \"政务公开服务\": key: missing: type 'click' needs a key" in err
    assert "nothing was sent" in err
    assert fake_wechat.calls == []  # not even a token


async def test_unreachable_wechat_is_reported(
    engine: AsyncEngine, tmp_path: Path, account_env: dict[str, str], unused_tcp_port: int
) -> None:
    env = {**account_env, "GONGKAI_WECHAT__API_BASE_URL": f"http://127.0.0.1:{unused_tcp_port}"}
    code, _out, err = await gongkai("menu", "publish", cwd=tmp_path, env=env)
    assert code == 1
    assert "could not be reached; the menu was not published" in err
    assert "Traceback" not in err


async def test_local_mode_publishes_to_the_built_in_fake(tmp_path: Path) -> None:
    code, out, err = await gongkai("menu", "publish", cwd=tmp_path)
    assert code == 0, err
    assert "LOCAL MODE" in out
    assert "内置模拟微信接口" in out


def test_check_and_show_validate_without_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["menu", "check"]) == 0
    out = capsys.readouterr().out
    assert "菜单符合微信的要求" in out
    assert "个人办事 · click PERSONAL_AFFAIRS" in out
    assert "warning" not in out
    assert main(["menu", "show"]) == 0
    assert json.loads(capsys.readouterr().out) == BUNDLED
    assert list(tmp_path.iterdir()) == []  # no settings, database or network needed


def test_check_names_the_bad_button_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "menu.toml"
    path.write_text(
        '[[button]]\nname = "办事"\n  [[button.sub_button]]\n  name = "个人办事"\n'
        '  type = "view"\n  url = "www.example.gov.cn"\n',
        encoding="utf-8",
    )
    assert main(["menu", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert (
        'menu.toml: button 1 "办事" > sub_button 1 "个人办事": url: must start with https://' in err
    )


def test_check_warns_about_a_key_no_handler_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "menu.toml"
    path.write_text('[[button]]\nname = "活动"\ntype = "click"\nkey = "EVENTS"\n', encoding="utf-8")
    assert main(["menu", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning: 活动: key: 'EVENTS' is not answered by this bot" in out


@pytest.mark.parametrize(
    "command",
    [["menu"], ["menu", "check"], ["menu", "show"], ["menu", "publish"], ["menu", "current"]],
)
def test_menu_commands_have_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: gongkai menu" in out
    assert len(out.splitlines()) >= 3


# --- the CLICK handlers, through signed and encrypted callbacks -----------------------------------

WITHDRAWN = [  # 免申即享 policies that must never be listed
    {
        "id": "t-repealed",
        "title": "青禾区旧版企业奖励免申即享办法",
        "status": "已废止",
        "replaced_by": "qh-b-025",
        "audience": "企业",
        "topics": ["企业扶持", "免申即享"],
        "exempt_application": True,
    },
    {
        "id": "t-lapsed",
        "title": "青禾区2020年纾困补贴免申即享方案",
        "expiry_date": "2021-12-31",
        "audience": "企业",
        "topics": ["企业扶持", "免申即享"],
        "exempt_application": True,
    },
]


@pytest.fixture
def library_files(tmp_path: Path) -> list[Path]:
    extra = tmp_path / "withdrawn.jsonl"
    extra.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in WITHDRAWN), encoding="utf-8"
    )
    return [SAMPLE_LIBRARY, extra]


@pytest.fixture
async def menu_client(
    engine: AsyncEngine, make_client: MakeClient, library_files: list[Path]
) -> TestClient[Any, Any]:
    """The service, its policy library imported from the sample (and the withdrawn extras)."""
    await LibraryRepository(engine).import_files(library_files)
    return await make_client()


MODES: tuple[Mode, ...] = ("plain", "safe")  # signed; signed and encrypted


async def click(
    client: TestClient[Any, Any], peer: WeChatPeer, openid: str, key: str, mode: Mode
) -> str:
    answer = await send(client, peer, peer.event_xml(openid, "CLICK", key), mode=mode)
    assert answer.status == 200
    if mode == "safe":
        assert b"<Encrypt>" in answer.body
    fields = answer.fields
    assert fields["MsgType"] == "text"
    assert fields["ToUserName"] == openid
    assert len(answer.content.encode()) <= 2048
    return answer.content


@pytest.mark.parametrize("mode", MODES)
async def test_exempt_lists_the_policies_in_force_and_no_withdrawn_ones(
    menu_client: TestClient[Any, Any],
    library_files: list[Path],
    peer: WeChatPeer,
    openid: str,
    mode: Mode,
) -> None:
    text = await click(menu_client, peer, openid, menu.MenuKey.EXEMPT, mode)
    library = read_library(library_files)
    today = datetime.now(menu.LOCAL_TZ).date()
    assert text.startswith("【免申即享】")
    for policy in library.policies:
        if policy.exempt_application and policy.in_force(today):
            assert policy.title in text
        elif policy.exempt_application:
            assert policy.title not in text
    assert "青禾区新认定高新技术企业奖励免申即享实施细则" in text  # in force, no expiry date
    assert "旧版企业奖励" not in text
    assert "2020年纾困补贴" not in text
    repealed = [p for p in library.policies if p.status is not Status.CURRENT]
    assert repealed
    assert not any(p.title in text for p in repealed)


@pytest.mark.parametrize("mode", MODES)
async def test_personal_and_enterprise_topics(
    menu_client: TestClient[Any, Any], peer: WeChatPeer, openid: str, mode: Mode
) -> None:
    personal = await click(menu_client, peer, openid, menu.MenuKey.PERSONAL, mode)
    assert personal.startswith("【个人办事】")
    assert "困难群众" in personal
    assert "社会救助" in personal
    enterprise = await click(menu_client, peer, openid, menu.MenuKey.ENTERPRISE, mode)
    assert enterprise.startswith("【企业办事】")
    assert "企业扶持" in enterprise
    assert "税费优惠" in enterprise
    assert "社会救助" not in enterprise  # no enterprise policy on social assistance


@pytest.mark.parametrize("mode", MODES)
async def test_hot_questions(
    menu_client: TestClient[Any, Any], peer: WeChatPeer, openid: str, mode: Mode
) -> None:
    text = await click(menu_client, peer, openid, menu.MenuKey.HOT_QUESTIONS, mode)
    assert text.startswith("【热门问题】")
    assert "1. " in text
    assert "怎么向区政府申请公开政府信息？" in text  # a library Q&A question, verbatim


async def test_hot_questions_are_the_most_asked_answered_ones_of_the_last_30_days(
    menu_client: TestClient[Any, Any], engine: AsyncEngine, peer: WeChatPeer, openid: str
) -> None:
    now = datetime.now(UTC)
    library = read_library([SAMPLE_LIBRARY])
    counts = [  # (answered kind, id, times, days ago)
        ("qa", "qh-a-039-qa1", 9, 31),  # asked most, but before the last 30 days
        ("qa", "qh-b-001-qa1", 3, 2),
        ("policy", "qh-a-005", 5, 1),
        ("policy", "qh-a-012", 1, 1),  # asked once: not hot yet
    ]
    rows = [
        {
            "asked_at": now - timedelta(days=days, minutes=n),
            "openid": None,
            "source": "text",
            "text": "（略）",
            "normalised": "略",
            "decision": "answer",
            "candidates": [],
            "answered_kind": kind,
            "answered_id": target,
        }
        for kind, target, times, days in counts
        for n in range(times)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(QUESTIONS), rows)
    text = await click(menu_client, peer, openid, menu.MenuKey.HOT_QUESTIONS, "safe")
    lines = text.splitlines()
    by_policy = menu.hot_questions_from_library(library, now.astimezone(menu.LOCAL_TZ).date())
    [social_insurance] = [q.question for q in by_policy if q.policy_id == "qh-a-005"]
    assert lines[1] == f"1. {social_insurance}"  # asked 5 times
    assert lines[2] == f"2. {library.qa('qh-b-001-qa1').question}"  # type: ignore[union-attr]
    assert library.qa("qh-a-039-qa1").question not in lines[3]  # type: ignore[union-attr]
    assert len([line for line in lines if line[:1].isdigit()]) == menu.HOT_SHOWN


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (menu.MenuKey.SUBSCRIPTIONS, "还没有订阅任何主题"),
        (menu.MenuKey.CONTACT, "依申请公开"),
        (menu.MenuKey.HELP, "使用说明"),
        ("NO_SUCH_KEY", texts.MENU_UNAVAILABLE),
    ],
)
@pytest.mark.parametrize("mode", MODES)
async def test_fixed_answers_and_unknown_keys(
    menu_client: TestClient[Any, Any],
    peer: WeChatPeer,
    openid: str,
    mode: Mode,
    key: str,
    expected: str,
) -> None:
    assert expected in await click(menu_client, peer, openid, key, mode)
