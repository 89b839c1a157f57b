"""Regenerate the staff console's screenshots in docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts the real service in local mode in a temporary folder (SQLite, the bundled sample
library, the built-in fake WeChat API), fills it the way a county account fills up — residents
follow, subscribe and ask questions through signed, encrypted callbacks, spread over the last
two weeks; staff write, review and send notices, which the delivery engine sends — then drives
Debian's Chromium (``/usr/bin/chromium``, Playwright) through the main pages and saves one PNG
per page. Needs ``apt-get install chromium fonts-wqy-microhei`` (else Chinese shows as boxes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select, update
from stdnum.cn import uscc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import keys  # noqa: E402
from bot.chat import ChatClient  # noqa: E402
from bot.cli.common import command_settings, prepare_local_database, say  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.questions import QUESTIONS  # noqa: E402
from push import staff  # noqa: E402
from push.config import PushSettings  # noqa: E402
from push.engine import Dispatcher  # noqa: E402
from push.enterprises import Enterprises  # noqa: E402
from push.notice_rules import NoticeContent  # noqa: E402
from push.notices import NoticeDesk  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "Shili2026demo"  # noqa: S105 - the demo accounts of a throwaway database
EDITOR, REVIEWER, AUDITOR = "王撰稿", "李审核", "赵审计"

# What residents of a county typically ask (answered, unclear and out-of-scope alike).
QUESTIONS_ASKED = [
    "低保怎么申请",
    "低保需要什么材料",
    "高龄津贴每月多少钱",
    "80岁老人有补贴吗",
    "医保怎么交",
    "城乡居民医保缴费标准",
    "养老保险补缴",
    "残疾人两项补贴",
    "稳岗补贴怎么领",
    "小微企业有什么税收优惠",
    "创业担保贷款",
    "大学生就业补贴",
    "公租房申请条件",
    "临时救助",
    "耕地地力保护补贴",
    "孩子上小学怎么报名",
    "结婚登记需要带什么",
    "护照在哪里办",
    "路灯坏了找谁",
    "公积金提取",
    "特困人员供养标准",
    "农村危房改造",
    "退役军人优待",
    "医疗救助怎么报销",
]


def credit_code(n: int) -> str:
    """A valid 统一社会信用代码 (check digit by python-stdnum) for demo enterprise ``n``."""
    base = f"91350100MA{n:07d}"
    return base + uscc.calc_check_digit(base)


ENTERPRISES: list[dict[str, Any]] = [
    {
        "uscc": credit_code(n),
        "name": name,
        "industry": industry,
        "employees": staff_count,
        "town": town,
        "founded": founded,
        "qualifications": quals,
        "tags": [],
        "openids": [],
    }
    for n, (name, industry, staff_count, town, founded, quals) in enumerate(
        [
            ("青禾精工有限公司", "制造业", 80, "禾丰镇", "2019-05-08", ["高新技术企业"]),
            ("云州禾美食品有限公司", "制造业", 46, "青溪镇", "2016-03-21", []),
            (
                "青禾区晨光软件有限公司",
                "信息传输、软件和信息技术服务业",
                23,
                "禾丰镇",
                "2021-09-01",
                ["科技型中小企业"],
            ),
            ("云州市顺达物流有限公司", "交通运输、仓储和邮政业", 130, "城关街道", "2012-11-15", []),
            ("青禾区百味餐饮店", "住宿和餐饮业", 9, "城关街道", "2022-06-30", []),
        ],
        start=1,
    )
]
TOPICS = ["社保", "就业", "低保", "企业补贴", "高龄"]  # as residents type them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def fill(app: web.Application, base: str, admin: str) -> dict[str, str]:
    """Residents and staff use the service; the pages worth showing, by name."""
    settings = app[keys.SETTINGS]
    engine = app[keys.ENGINE]
    now = datetime.now(UTC)
    for name, role in ((EDITOR, "editor"), (REVIEWER, "reviewer"), (AUDITOR, "auditor")):
        await staff.add(engine, name, role, actor=admin, now=now, password=PASSWORD)

    w = settings.wechat
    aes = w.aes_key.get_secret_value() if w.aes_key else None
    token = w.token.get_secret_value() if w.token else ""
    rng = random.Random(20261206)  # noqa: S311 - repeatable demo data, not a secret
    async with aiohttp.ClientSession() as http:
        for n in range(36):
            chat = ChatClient(
                url=base + w.callback_path, token=token, app_id=w.app_id or "", aes_key=aes
            )
            chat.openid = f"oDemo{n:05d}resident"
            await chat.send(http, chat.event("subscribe"))
            for topic in rng.sample(TOPICS, k=rng.randint(1, 3)):
                await chat.send(http, chat.text(f"订阅 {topic}"))
            for question in rng.sample(QUESTIONS_ASKED, k=rng.randint(1, 4)):
                await chat.send(http, chat.text(question))
    # Spread the questions over the last two weeks, as a real account's are.
    async with engine.begin() as conn:
        rows = (await conn.execute(select(QUESTIONS.c.id, QUESTIONS.c.asked_at))).all()
        for row in rows:
            back = timedelta(days=rng.randint(0, 13), minutes=rng.randint(0, 600))
            await conn.execute(
                update(QUESTIONS)
                .where(QUESTIONS.c.id == row.id)
                .values(asked_at=row.asked_at - back)
            )

    profiles = Path("enterprises.jsonl")  # the working folder is a temporary one
    lines = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in ENTERPRISES)
    await asyncio.to_thread(profiles.write_text, lines, encoding="utf-8")
    await Enterprises(engine).import_file(profiles)

    desk = NoticeDesk(engine)
    sent = await desk.create(
        EDITOR,
        NoticeContent(
            title="关于2027年度城乡居民医疗保险集中缴费的通知",
            body="缴费期为2026年10月1日至12月31日。可通过微信、银行网点或村（社区）代办点缴纳。",
            topics=("社保医保",),
        ),
    )
    await desk.submit(sent.id, EDITOR)
    await desk.approve(sent.id, REVIEWER, "同意发布")
    await desk.schedule(sent.id, REVIEWER)
    push = PushSettings(template_id="TEMPLATE_DEMO", quiet_hours="", poll_s=0.02, batch=20)
    await Dispatcher(engine, app[keys.WECHAT], push, worker="screenshots").run(until_idle=True)

    waiting = await desk.create(
        EDITOR,
        NoticeContent(
            title="2026年稳岗返还免申即享资金发放公告",
            body="符合条件的参保企业无需申请，资金将于12月20日前直接拨付至企业对公账户。",
            topics=("惠企/免申即享",),
        ),
    )
    await desk.submit(waiting.id, EDITOR)
    await desk.reject(waiting.id, REVIEWER, "请写明发放截止日期")
    await desk.edit(
        waiting.id,
        EDITOR,
        {
            "body": "符合条件的参保企业无需申请，资金将于12月20日前直接拨付至企业对公账户，"
            "如有疑问请致电0596-6213301。"
        },
    )
    await desk.submit(waiting.id, EDITOR)
    return {
        "sent": str(sent.id),
        "waiting": str(waiting.id),
        "policy": "qh-b-025",
    }  # one with eligibility rules


Step = Callable[[Any], Awaitable[None]]


async def shoot(base: str, out: Path, admin: tuple[str, str], ids: dict[str, str]) -> list[Path]:
    from playwright.async_api import async_playwright

    async def sign_in(page: Any, name: str, password: str) -> None:
        await page.goto(f"{base}/console/login")
        await page.fill("input[name=name]", name)
        await page.fill("input[name=password]", password)
        await page.click("button[type=submit]")
        await page.wait_for_load_state("networkidle")

    async def nothing(page: Any) -> None:
        return None

    async def compose(page: Any) -> None:
        await page.fill("input[name=title]", "关于开展2027年度高龄津贴资格认证的通知")
        await page.fill(
            "textarea[name=body]", "请80周岁以上老人于1月31日前通过微信或村（社区）完成认证。"
        )
        await page.fill("input[name=topics]", "养老服务")
        await page.wait_for_selector("#audience:has-text('预计接收')")

    async def simulate(page: Any) -> None:
        for line in ("低保怎么申请", "要什么材料"):
            await page.fill("#say input[name=text]", line)
            async with page.expect_navigation():
                await page.click("#say button[type=submit]")

    async def first_group(page: Any) -> None:
        await page.click("main a[href*='/console/inbox/groups/']")
        await page.wait_for_load_state("networkidle")

    async def first_enterprise(page: Any) -> None:
        await page.click("main a[href*='/console/enterprises/']")
        await page.wait_for_load_state("networkidle")

    shots: list[tuple[str, str, str, Step]] = [
        ("dashboard", admin[0], "/console/dashboard", nothing),
        ("library", EDITOR, "/console/library", nothing),
        ("inbox", EDITOR, "/console/inbox", nothing),
        ("inbox-group", EDITOR, "/console/inbox", first_group),
        ("compose", EDITOR, "/console/notices/new", compose),
        ("review", REVIEWER, f"/console/notices/{ids['waiting']}", nothing),
        ("progress", REVIEWER, f"/console/notices/{ids['sent']}/progress", nothing),
        ("simulator", EDITOR, "/console/simulator", simulate),
        ("policy", EDITOR, "/console/library/policy/" + ids["policy"], nothing),
        ("enterprise", EDITOR, "/console/enterprises", first_enterprise),
        ("audit", AUDITOR, "/console/audit", nothing),
    ]
    saved = []
    args = ["--lang=zh-CN"]  # date fields as a Chinese office PC shows them
    args += ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=args)
        for name, who, path, step in shots:
            page = await browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
            await sign_in(page, who, admin[1] if who == admin[0] else PASSWORD)
            await page.goto(base + path)
            await page.wait_for_load_state("networkidle")
            await step(page)
            await page.wait_for_timeout(600)  # charts finish their entry animation
            target = out / f"{name}.png"
            await page.screenshot(path=str(target), full_page=True)
            saved.append(target)
            await page.close()
        await browser.close()
    return saved


async def main(settings: Settings, admin: tuple[str, str], out: Path) -> None:
    from bot.app import create_app

    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        ids = await fill(app, base, admin[0])
        saved = await shoot(base, out, admin, ids)
    finally:
        await runner.cleanup()
    for path in saved:
        say(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gongkai-shots-") as folder:
        os.chdir(folder)
        for name in list(os.environ):
            if name.startswith("GONGKAI_"):
                del os.environ[name]
        os.environ["GONGKAI_MATCHER__EMBEDDINGS"] = "false"  # lexical: no model start-up wait
        settings = command_settings()
        account = prepare_local_database(settings)  # migrates: outside the event loop
        if account is None or account.password is None:
            raise SystemExit("a fresh folder should have made the first administrator")
        asyncio.run(main(settings, (account.name, account.password), out))


if __name__ == "__main__":
    run()
