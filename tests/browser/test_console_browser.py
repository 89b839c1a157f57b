"""The staff console in Chromium: sign-in, wrong passwords and the lockout, a forged POST
refused, and a notice from compose to progress — an editor composes (live preview cut to
WeChat's 20 characters, audience count) and submits, the author's approve is refused, a
reviewer approves and sends it now, and the progress view counts up on its own while the
delivery engine sends to the fake WeChat API."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import keys
from push.config import PushSettings
from push.engine import Dispatcher
from tests.conftest import MakeClient
from tests.console_helpers import EDITOR, PASSWORD, REVIEWER, add_accounts
from tests.integration.notice_helpers import add_subscribers

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

TITLE = "关于2026年度城乡居民医疗保险集中缴费的通知（请于3月31日前缴费）"
BODY = "缴费期为2026年1月1日至3月31日。可通过微信、银行网点或村（社区）代办点缴纳。"


@pytest.fixture
async def site(engine: AsyncEngine, make_client: MakeClient) -> TestClient[Any, Any]:
    await add_accounts(engine)
    await add_subscribers(engine, "社保", ["oSub000001", "oSub000002", "oSub000003"])
    client: TestClient[Any, Any] = await make_client()
    return client


def url(site: TestClient[Any, Any], path: str) -> str:
    return str(site.make_url(path))


async def sign_in(page: Any, site: TestClient[Any, Any], name: str, password: str) -> None:
    await page.goto(url(site, "/console/login"))
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def sign_out(page: Any) -> None:
    await page.click("header button:has-text('退出')")
    await page.wait_for_selector("text=您已安全退出")


async def test_sign_in_wrong_password_and_lockout(site: Any, browser: Any) -> None:
    page = await browser.new_page()
    await page.goto(url(site, "/console/notices"))
    assert "/console/login" in page.url  # signed out: sent to the sign-in page
    await sign_in(page, site, EDITOR, "not-the-password-1")
    assert await page.text_content("#login-error") == "姓名或密码不对。"
    for _ in range(4):
        await sign_in(page, site, EDITOR, "not-the-password-1")
    await sign_in(page, site, EDITOR, PASSWORD)
    assert "已暂时锁定" in (await page.text_content("#login-error") or "")
    await sign_in(page, site, REVIEWER, PASSWORD)
    await page.wait_for_url(re.compile(r"/console/dashboard$"))
    assert "李审核（审核人）" in await page.inner_text("header")


async def test_a_forged_post_is_refused(site: Any, browser: Any, engine: AsyncEngine) -> None:
    page = await browser.new_page()
    await sign_in(page, site, EDITOR, PASSWORD)
    await page.wait_for_url(re.compile(r"/console/dashboard$"))
    # A form another site could make the browser send: everything but the token.
    async with page.expect_navigation():
        await page.evaluate(
            """() => {
                const f = document.createElement('form');
                f.method = 'post'; f.action = '/console/notices/new';
                for (const [k, v] of [['title', '伪造'], ['body', '伪造'], ['topics', '社保']]) {
                    const i = document.createElement('input'); i.name = k; i.value = v; f.append(i);
                }
                document.body.append(f); f.submit();
            }"""
        )
    assert "CSRF" in (await page.text_content("#refused") or "")
    status = await page.evaluate(
        "async () => (await fetch('/console/preview.json', {method: 'POST', body: '{}'})).status"
    )
    assert status == 403
    await page.goto(url(site, "/console/notices"))
    assert "没有通知" in await page.inner_text("main")


async def test_compose_review_send_and_watch_progress(
    site: Any, browser: Any, engine: AsyncEngine, screenshots: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, site, EDITOR, PASSWORD)
    await page.click("nav >> text=撰写通知")
    await page.fill("input[name=title]", TITLE)
    await page.fill("textarea[name=body]", BODY)
    # The audience picker: each topic with its subscribers; a click adds it to the field.
    chip = page.locator(".chips[data-target=topics] .chip[data-value='社保']")
    assert "3 人" in await chip.inner_text()
    await chip.click()
    assert await page.input_value("input[name=topics]") == "社保"
    assert await chip.get_attribute("aria-pressed") == "true"
    # The live preview: the title keyword cut to 20 characters, and the audience counted.
    await page.wait_for_selector("#audience:has-text('预计接收：3 人')")
    first = await page.text_content("#preview .kw-v")
    assert first == TITLE[:19] + "…"
    await page.screenshot(path=str(screenshots / "compose.png"), full_page=True)
    await page.click("button:has-text('保存草稿')")
    await page.wait_for_selector("text=已保存为草稿")
    notice_url = page.url
    await page.click("button:has-text('提交审核')")
    await page.wait_for_selector("text=已提交审核")

    # The author tries to approve (with a valid token, as a real form would): refused, shown.
    async with page.expect_navigation():
        await page.evaluate(
            """(action) => {
                const f = document.createElement('form');
                f.method = 'post'; f.action = action;
                const t = document.createElement('input'); t.name = '_csrf';
                t.value = document.querySelector('meta[name=csrf-token]').content; f.append(t);
                document.body.append(f); f.submit();
            }""",
            notice_url + "/approve",
        )
    assert "不能审核（批准或退回）通知" in (await page.text_content("#refused") or "")
    await page.goto(notice_url)
    assert await page.text_content("#state") == "待审核"
    await sign_out(page)

    # A reviewer sends it back with a comment; the editor changes the body and resubmits.
    await sign_in(page, site, REVIEWER, PASSWORD)
    await page.click("nav >> text=待我审核")
    await page.click(f"text={TITLE}")
    await page.fill("textarea[name=comment]", "请写明截止时间")
    await page.click("button:has-text('退回修改')")
    await page.wait_for_selector("text=已退回撰稿人修改")
    await sign_out(page)
    await sign_in(page, site, EDITOR, PASSWORD)
    await page.goto(notice_url)
    assert "请写明截止时间" in await page.inner_text("main")
    await page.click("a:has-text('修改')")
    await page.fill("textarea[name=body]", BODY.replace("3月31日。", "3月31日24时。"))
    await page.click("button:has-text('保存草稿')")
    await page.click("button:has-text('提交审核')")
    await page.wait_for_selector("text=已提交审核")
    await sign_out(page)

    # The reviewer sees what changed since the version they sent back, approves, sends now.
    await sign_in(page, site, REVIEWER, PASSWORD)
    await page.click("nav >> text=待我审核")
    await page.click(f"text={TITLE}")
    assert await page.text_content("#review ins") == "24时"
    await page.screenshot(path=str(screenshots / "review.png"), full_page=True)
    await page.fill("textarea[name=comment]", "同意发布")
    await page.click("button:has-text('批准')")
    await page.wait_for_selector("text=已批准。")
    assert await page.text_content("#state") == "已批准"
    await page.click("button:has-text('立即发送')")
    await page.wait_for_url(re.compile(r"/progress$"))
    assert await page.text_content("#audience") == "3"

    # The delivery engine (``gongkai push run``) sends; the page updates itself.
    app = site.server.app
    settings = PushSettings(template_id="TEMPLATE_ID_1", quiet_hours="", poll_s=0.02, batch=10)
    dispatcher = Dispatcher(engine, app[keys.WECHAT], settings, worker="browser-test")
    await asyncio.wait_for(dispatcher.run(until_idle=True), 30)
    await page.wait_for_selector("#pct:text-is('100')", timeout=15000)
    assert await page.text_content("#sent") == "3"
    assert await page.text_content("#failed") == "0"
    assert await page.text_content("#state") == "已发送"
    await page.screenshot(path=str(screenshots / "progress.png"), full_page=True)

    await page.goto(notice_url)
    await page.screenshot(path=str(screenshots / "notice.png"), full_page=True)
    narrow = await browser.new_page(viewport={"width": 390, "height": 800})
    await sign_in(narrow, site, REVIEWER, PASSWORD)
    await narrow.goto(notice_url)
    await narrow.screenshot(path=str(screenshots / "notice-narrow.png"), full_page=True)
    width = await narrow.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing overflows sideways on a phone-sized screen
