"""The dashboard in Chromium: ECharts draws every chart (canvas elements, the figures in them)
with no console error and no CSP violation, the charts follow the window down to a phone's
width, and the CSV download is the file staff open in Excel."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.browser.test_console_browser import sign_in, url
from tests.conftest import MakeClient
from tests.console_helpers import AUDITOR, EDITOR, PASSWORD
from tests.integration.test_console_dashboard import QUARTER, seed_quarter

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHARTS = ("per-day", "mix", "deliveries", "topics", "subscribers", "unanswered")
# Registered before any page script runs (DevTools injects it, so the CSP does not apply).
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
async def site(engine: AsyncEngine, make_client: MakeClient) -> TestClient[Any, Any]:
    await seed_quarter(engine)
    client: TestClient[Any, Any] = await make_client()
    return client


async def _watched_page(browser: Any, width: int, errors: list[str]) -> Any:
    page = await browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    await page.add_init_script(WATCH_CSP)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return page


async def _chart_widths(page: Any) -> dict[str, int]:
    return dict(
        await page.evaluate(
            """(ids) => ids.map((id) => {
                const c = document.querySelector('#chart-' + id + ' canvas');
                return [id, c ? c.getBoundingClientRect().width : 0];
            })""",
            list(CHARTS),
        )
    )


async def test_the_charts_draw_resize_and_the_csv_downloads(
    site: Any, browser: Any, screenshots: Path
) -> None:
    errors: list[str] = []
    page = await _watched_page(browser, 1280, errors)
    await sign_in(page, site, EDITOR, PASSWORD)
    await page.wait_for_url(re.compile(r"/console/dashboard$"))  # signing in lands here
    await page.goto(url(site, f"/console/dashboard?{QUARTER}"))
    for chart in CHARTS:
        await page.wait_for_selector(f"#chart-{chart} canvas")
    wide = await _chart_widths(page)
    assert all(w > 400 for w in wide.values()), wide
    # What ECharts was given is what the page's tables say.
    drawn = await page.evaluate(
        """() => {
            const o = echarts.getInstanceByDom(document.getElementById('chart-subscribers'))
                .getOption();
            const d = echarts.getInstanceByDom(document.getElementById('chart-per-day'))
                .getOption();
            return {topics: o.yAxis[0].data.length, days: d.xAxis[0].data.length,
                    series: d.series.map((s) => s.name)};
        }"""
    )
    assert drawn["days"] == 90
    assert drawn["series"] == ["直接答复", "请用户选择", "未找到", "追问"]
    assert drawn["topics"] >= 2
    assert await page.text_content("#kpi-received") == "9"
    await page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

    async with page.expect_download() as info:
        await page.click("text=下载 CSV")
    download = await info.value
    assert download.suggested_filename == "政务公开统计_2026-01-01_2026-03-31.csv"
    raw = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "主动公开政府信息,新公开政策文件（件）,3," in raw.decode("utf-8-sig")

    # Narrowed to a phone's width, the charts follow (one column) and nothing overflows.
    await page.set_viewport_size({"width": 390, "height": 800})
    await page.wait_for_function(
        "() => document.querySelector('#chart-per-day canvas').getBoundingClientRect().width < 390"
    )
    narrow = await _chart_widths(page)
    assert all(0 < w < 390 for w in narrow.values()), narrow
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=str(screenshots / "dashboard-narrow.png"), full_page=True)

    assert await page.evaluate("() => window.__csp") == []
    assert errors == []


async def test_the_auditor_filters_the_log(site: Any, browser: Any, screenshots: Path) -> None:
    errors: list[str] = []
    page = await _watched_page(browser, 390, errors)  # a phone: the filters wrap, nothing overflows
    await sign_in(page, site, AUDITOR, PASSWORD)
    await page.wait_for_url(re.compile(r"/console/dashboard$"))
    await page.click("nav >> text=审计日志")
    assert "哈希链校验通过" in (await page.text_content("#chain") or "")
    await page.select_option("select[name=action]", "user.login")
    await page.click("button:has-text('筛选')")
    await page.wait_for_url(re.compile(r"action=user.login"))
    assert "符合条件的 1 条记录" in (await page.text_content("#audit-count") or "")
    assert AUDITOR in (await page.inner_text("#audit-rows tbody"))
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=str(screenshots / "audit-narrow.png"), full_page=True)
    assert errors == []
