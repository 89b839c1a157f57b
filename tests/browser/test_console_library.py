"""The policy library and the chat simulator in Chromium: an editor signs in, asks the simulator
a resident's question, uploads a bad library file (errors by line and field, nothing imported),
imports a good one through the preview, sees the simulator answer from it, edits the policy in
the form, and watches the simulator's answer change at once — then follows up by number, and
edits a Q&A pair on its own page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.browser.test_console_browser import sign_in, url
from tests.conftest import MakeClient
from tests.console_helpers import AUDITOR, EDITOR, PASSWORD, add_accounts
from tests.library_helpers import BAD_LIBRARY, LIBRARY

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]


@pytest.fixture
async def site(engine: AsyncEngine, make_client: MakeClient) -> TestClient[Any, Any]:
    await add_accounts(engine)
    client: TestClient[Any, Any] = await make_client()
    return client


async def ask(page: Any, text: str) -> str:
    await page.fill("#say input[name=text]", text)
    async with page.expect_navigation():
        await page.click("#say button[type=submit]")
    return str(await page.inner_text("#last"))


async def upload(page: Any, path: Path) -> None:
    await page.set_input_files("#upload input[type=file]", str(path))
    async with page.expect_navigation():
        await page.click("#upload button[type=submit]")


async def test_import_edit_and_the_simulator_answer_changes(
    site: Any, browser: Any, tmp_path: Path, screenshots: Path
) -> None:
    page = await browser.new_page()
    await sign_in(page, site, EDITOR, PASSWORD)
    await page.wait_for_url(re.compile(r"/console/dashboard$"))

    await page.click("nav >> text=对话模拟")
    assert "见习补贴" not in await ask(page, "见习补贴每月多少钱")  # an empty library

    await page.goto(url(site, "/console/library"))
    await page.click("text=导入文件")
    huge = tmp_path / "太大的文件.jsonl"
    huge.write_text(LIBRARY * 20000, encoding="utf-8")  # over the import's 20 MB limit
    await page.set_input_files("#upload input[type=file]", str(huge))
    assert await page.is_visible("#upload-too-big")  # said before sending, not a bare 413
    bad = tmp_path / "有错的政策库.jsonl"
    bad.write_text(BAD_LIBRARY, encoding="utf-8")
    await upload(page, bad)
    errors = await page.inner_text("#import-errors")
    assert "没有导入任何内容" in errors
    assert re.search(r"2\s+发文日期 date\s+须为日期", errors), errors
    assert re.search(r"3\s+替代政策 replaced_by\s+指向的政策 't-999' 不在政策库中", errors), errors
    await page.screenshot(path=str(screenshots / "library-import-errors.png"), full_page=True)

    good = tmp_path / "政策库.jsonl"
    good.write_text(LIBRARY, encoding="utf-8")
    await upload(page, good)
    assert await page.inner_text("#count-new") == "5"
    assert "青禾区高校毕业生就业见习补贴办法" in await page.inner_text("#import-preview")
    await page.screenshot(path=str(screenshots / "library-import-preview.png"), full_page=True)
    async with page.expect_navigation():
        await page.click("text=确认导入")
    await page.wait_for_selector("text=已导入 3 条政策、1 条问答、1 条别名")
    assert "共 3 条政策" in await page.inner_text("#found")

    await page.click("nav >> text=对话模拟")
    before = await ask(page, "见习补贴每月多少钱")
    assert "每人每月1500元" in before

    await page.goto(url(site, "/console/library?q=见习"))
    await page.click("#policies >> text=青禾区高校毕业生就业见习补贴办法")
    await page.click("text=编辑")
    summary = "见习基地按每人每月2000元领取见习补贴，每季度首月10日前到区政务服务中心申报。"
    await page.fill("textarea[name=summary]", summary)
    await page.fill("textarea[name=guide_standard]", "每人每月2000元。")
    async with page.expect_navigation():
        await page.click("#policy-form button[type=submit]")
    await page.wait_for_selector("text=已保存（改动：摘要、办事指南）")
    assert await page.inner_text("#policy-summary") == summary
    await page.screenshot(path=str(screenshots / "library-policy.png"), full_page=True)

    await page.click("text=在对话模拟中试问")
    assert await page.input_value("#say input[name=text]") == "见习补贴"  # the policy's 别称
    after = await ask(page, "见习补贴每月多少钱")
    assert "每人每月2000元" in after
    assert "1500元" not in after
    choices = await ask(page, "养老保险缴费补贴")
    assert "（回复数字）" in choices
    assert "每年30元至150元" in await ask(page, "2")  # the numbered follow-up
    await page.screenshot(path=str(screenshots / "simulator.png"), full_page=True)

    # A Q&A pair, edited on its own page, answers at once.
    await page.goto(url(site, "/console/library"))
    await page.click("a[href='/console/library/qa']")
    assert await page.get_attribute("nav a[aria-current=page]", "href") == "/console/library"
    await page.click("#pairs >> text=见习补贴多久发一次")
    await page.fill("#qa-form textarea[name=answer]", "按季度发放，每季度首月10日前申报。")
    async with page.expect_navigation():
        await page.click("#qa-form button[type=submit]")
    await page.wait_for_selector("text=已保存（改动：答案）")
    await page.screenshot(path=str(screenshots / "library-qa.png"), full_page=True)
    await page.click("text=在对话模拟中试问")
    assert "按季度发放" in await ask(page, "见习补贴多久发一次")


async def test_an_auditor_reads_the_library_but_cannot_edit(site: Any, browser: Any) -> None:
    page = await browser.new_page()
    await sign_in(page, site, AUDITOR, PASSWORD)
    await page.wait_for_url(re.compile(r"/console/dashboard$"))
    await page.click("nav >> text=政策库")
    assert await page.locator("text=导入文件").count() == 0
    response = await page.goto(url(site, "/console/library/import"))
    assert response.status == 403
