"""The unanswered inbox in Chromium: residents' questions the bot could not answer arrive through
real callbacks; an editor signs in, opens the group of three wordings of one question, writes
one answer (the room left in the WeChat message counted as they type), saves it as a Q&A pair,
sends it, and sees it delivered — and the fake WeChat API has one message for each asker. The
inbox, an answer and an enterprise page are also checked on a phone-sized screen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.wechat.fake_api import FakeWeChatServer
from policy_index.library import SAMPLE_LIBRARY
from policy_index.repository import LibraryRepository
from push.enterprises import Enterprises
from tests.browser.test_console_browser import sign_in, url
from tests.conftest import MakeClient
from tests.console_helpers import EDITOR, PASSWORD, add_accounts
from tests.integration.test_enterprises import MAKER, RECORDS, write
from tests.integration.test_inbox import ANSWER, DOGS, DRIVING, ask_unanswered
from tests.wechat_peer import WeChatPeer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

ASKERS = {"o_driver_a": DRIVING[0], "o_driver_b": DRIVING[1], "o_driver_c": DRIVING[2]}


@pytest.fixture
async def site(
    engine: AsyncEngine, make_client: MakeClient, peer: WeChatPeer, tmp_path: Path
) -> TestClient[Any, Any]:
    await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
    await Enterprises(engine).import_file(write(tmp_path / "qy.jsonl", RECORDS))
    await add_accounts(engine)
    client: TestClient[Any, Any] = await make_client()
    await ask_unanswered(client, peer, {**ASKERS, "o_dog_owner": DOGS})
    return client


async def test_answer_an_inbox_group_and_see_it_delivered(
    site: Any, browser: Any, fake_wechat: FakeWeChatServer, screenshots: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, site, EDITOR, PASSWORD)
    await page.wait_for_url(re.compile(r"/console/dashboard$"))
    await page.click("nav >> text=待答复")
    await page.wait_for_selector("h1:text-is('待答复')")
    group = page.locator("li.group", has_text=DRIVING[0])
    assert "3 个提问" in await group.inner_text()
    assert "可送达 3 人" in await group.inner_text()
    await page.screenshot(path=str(screenshots / "inbox.png"), full_page=True)
    await group.locator("text=答复这组").click()

    await page.wait_for_selector("#answer-form")
    assert await page.is_hidden("#qa-fields")  # the Q&A fields only when wanted
    await page.fill("textarea[name=text]", ANSWER)
    assert "还可写约" in (await page.text_content("#answer-room") or "")
    await page.check("#save-qa")
    assert await page.is_visible("#qa-fields")
    await page.fill("input[name=question]", "怎么考驾照")
    await page.screenshot(path=str(screenshots / "inbox-group.png"), full_page=True)
    await page.click("button:has-text('发送答复')")

    await page.wait_for_url(re.compile(r"/console/inbox/answers/\d+$"))
    flash = await page.text_content(".flash.ok") or ""
    assert "已答复 3 个问题，送达 3 人" in flash
    assert "已保存为问答" in flash
    assert (await page.inner_text("#tally")).strip() == "已送达 3"
    assert await page.text_content("#answer-text") == ANSWER
    await page.screenshot(path=str(screenshots / "inbox-answer.png"), full_page=True)
    for openid, text in ASKERS.items():
        [message] = fake_wechat.messages_to(openid)
        assert ANSWER in message["text"]["content"]
        assert f"“{text}”" in message["text"]["content"]

    await page.click("text=← 待答复")
    await page.wait_for_selector("h1:text-is('待答复')")
    assert await page.locator("li.group", has_text=DRIVING[0]).count() == 0  # answered: gone
    assert await page.locator("li.group", has_text=DOGS).count() == 1
    assert "已送达 3" in await page.locator("#recent li", has_text=DRIVING[0]).inner_text()

    # Dismissing asks first; once confirmed, the group leaves and nobody is told.
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator("li.group", has_text=DOGS).locator("button:has-text('搁置')").click()
    await page.wait_for_selector("text=已搁置 1 个问题")
    assert "没有待答复的问题" in await page.inner_text("main")
    assert fake_wechat.messages_to("o_dog_owner") == []


async def test_the_pages_fit_a_phone(site: Any, browser: Any, screenshots: Path) -> None:
    narrow = await browser.new_page(viewport={"width": 390, "height": 800})
    await sign_in(narrow, site, EDITOR, PASSWORD)
    await narrow.wait_for_url(re.compile(r"/console/dashboard$"))
    for name, path in (
        ("inbox", "/console/inbox"),
        ("subscribers", "/console/subscribers"),
        ("enterprises", "/console/enterprises"),
        ("enterprise", f"/console/enterprises/{MAKER}"),
    ):
        await narrow.goto(url(site, path))
        await narrow.screenshot(path=str(screenshots / f"{name}-narrow.png"), full_page=True)
        width = await narrow.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)  # nothing overflows sideways
    assert "具有高新技术企业资质" in await narrow.inner_text("#eligibility")
