"""The console's dashboard and audit log over HTTP: a seeded quarter's figures on the page, in
the JSON the charts draw and in the CSV and XLSX downloads (read back); bad periods refused in
Chinese; sign-in landing on the dashboard; the audit page's filters, pages and chain check, for
auditors only."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from policy_index.figures import library_figures
from push import audit
from push.subscriptions import ensure_topics, forget, subscribe, unsubscribe
from push.tables import AUDIT, Channel, NoticeState
from push.topics import DEFAULT_TOPICS
from tests.conftest import MakeClient
from tests.console_helpers import ADMIN, AUDITOR, EDITOR, add_accounts
from tests.integration.notice_helpers import add_deliveries
from tests.integration.test_console import Client, sign_in, token
from tests.integration.test_menu import gongkai
from tests.integration.test_stats import LIBRARY, seed_questions
from tests.push_factories import make_notice

QUARTER = "from=2026-01-01&to=2026-03-31"
T1, T2 = DEFAULT_TOPICS[0].name, DEFAULT_TOPICS[1].name


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def _seed_push(engine: AsyncEngine) -> None:
    """Subscriptions taken and given up around the quarter; a notice sent in it, one before."""
    async with engine.begin() as conn:
        await conn.run_sync(ensure_topics)

        def changes(c: Any) -> None:
            subscribe(c, "oResidentB0", [T1], utc(2025, 12, 1))  # before the quarter
            subscribe(c, "oResidentA0", [T1, T2], utc(2026, 1, 10))  # +2
            unsubscribe(c, "oResidentB0", None, utc(2026, 2, 1))  # -1: B is gone
            subscribe(c, "oResidentC0", [T2], utc(2026, 2, 15))  # +1
            forget(c, "oResidentC0", utc(2026, 4, 10))  # after: C unfollowed
            subscribe(c, "oResidentD0", [T1], utc(2026, 4, 5))  # after

        await conn.run_sync(changes)
    sent = await make_notice(
        engine, now=utc(2026, 2, 10), state=NoticeState.DONE, started_at=utc(2026, 2, 10)
    )
    states = ["sent", "sent", "sent", "failed", "pending", "held"]
    await add_deliveries(engine, sent, [{"status": s} for s in states])
    before = await make_notice(
        engine, now=utc(2025, 12, 20), state=NoticeState.DONE, started_at=utc(2025, 12, 20)
    )
    await add_deliveries(engine, before, [{"status": "sent"}, {"status": "sent"}])
    await make_notice(engine, now=utc(2026, 3, 1), state=NoticeState.DRAFT, channel=Channel.CUSTOM)


async def seed_quarter(engine: AsyncEngine) -> None:
    """The sample library, test_stats' questions, the push seeds above, the staff accounts."""
    await seed_questions(engine)
    await _seed_push(engine)
    await add_accounts(engine)


@pytest.fixture
async def site(engine: AsyncEngine, make_client: MakeClient) -> Client:
    await seed_quarter(engine)
    client: Client = await make_client()
    return client


# What the quarter holds: the ten questions of test_stats (2/28 23:59 local is in it), the
# sample library's policies of January to March 2026, the push seeds above.
EXPECTED = {
    "新公开政策文件（件）": 3,  # qh-b-034, qh-b-039, qh-a-034
    "政策解读（篇）": 2,
    "到期失效政策（件）": 0,
    "废止或修改政策（件）": 0,
    "期末已废止、失效政策（件）": 10,
    "政策库政策总数（件）": 78,
    "收到提问（条）": 9,  # ten, less the follow-up
    "机器人直接答复（条）": 4,  # three answers and one option picked
    "工作人员答复（条）": 1,
    "未能答复（条）": 4,
    "追问（条）": 1,
    "发出通知（条）": 1,
    "送达消息（条）": 3,
    "发送失败（条）": 1,
    "待发送（条）": 2,
    "期末订阅用户（人）": 1,  # A (C has unfollowed since, D came later)
    "期末订阅数（个）": 3,  # A's two and C's one
    "新增订阅（个）": 3,
    "取消订阅（个）": 1,
}


def test_library_figures_known_answers() -> None:
    year = library_figures(LIBRARY, date(2024, 1, 1), date(2024, 12, 31))
    assert (year.published, year.interpretations, year.expired, year.replaced) == (27, 35, 2, 3)
    # Lapsed or replaced by 2024-12-31: qh-a-002/-007/-024/-030, qh-b-002/-013/-016 (qh-a-026,
    # qh-b-007 and qh-b-024 were replaced in 2025).
    assert (year.not_in_force, year.total) == (7, 78)
    quarter = library_figures(LIBRARY, date(2026, 1, 1), date(2026, 3, 31))
    assert (quarter.published, quarter.interpretations, quarter.not_in_force) == (3, 2, 10)


async def test_the_page_the_json_and_both_downloads_agree(site: Client) -> None:
    assert (await sign_in(site, EDITOR)).status == 303  # any signed-in member of staff
    resp = await site.get(f"/console/dashboard?{QUARTER}")
    assert resp.status == 200
    page = await resp.text()
    assert re.search(r'id="kpi-received">9<', page)
    assert re.search(r'id="kpi-rate">44.4%<', page)  # 4 of 9
    assert re.search(r'id="delivery-failed">1<', page)
    assert "怎么考驾照" in page  # the top unanswered group
    assert '<script type="application/json" id="dashboard-data">' in page
    assert "/static/vendor/echarts-6.1.0.min.js" in page
    for label, value in EXPECTED.items():
        assert re.search(f'<td>{re.escape(label)}</td><td class="num">{value}</td>', page), label

    data = await (await site.get(f"/console/dashboard.json?{QUARTER}")).json()
    assert {f["label"]: f["value"] for f in data["figures"]} == EXPECTED
    assert len(data["charts"]["days"]) == 90
    assert data["charts"]["days"][0] == "2026-01-01"
    per_day = {s["name"]: s["values"] for s in data["charts"]["per_day"]}
    assert per_day["未找到"][data["charts"]["days"].index("2026-03-02")] == 4
    assert data["subscribers_per_topic"][:2] == [
        {"topic": T1, "subscribers": 2},  # A and D, now
        {"topic": T2, "subscribers": 1},
    ]
    assert {d["key"]: d["value"] for d in data["charts"]["deliveries"]}["held"] == 1

    resp = await site.get(f"/console/dashboard/export.csv?{QUARTER}")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese as UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0].startswith("统计期间 2026-01-01 至 2026-03-31")
    assert rows[1] == ["部分", "项目", "数值", "说明"]
    assert {r[1]: int(r[2]) for r in rows[2 : 2 + len(EXPECTED)]} == EXPECTED
    assert next(r for r in rows if r[1] == "2026-03-02")[:3] == ["每日提问", "2026-03-02", "5"]
    assert any(r[0] == "未能答复的问题" and r[1] == "怎么考驾照" and r[2] == "3" for r in rows)

    resp = await site.get(f"/console/dashboard/export.xlsx?{QUARTER}")
    assert resp.status == 200
    book = load_workbook(io.BytesIO(await resp.read()), read_only=True)
    assert book.sheetnames == ["年度报告数据", "每日提问", "热门主题", "未能答复的问题", "订阅"]
    sheet = list(book["年度报告数据"].iter_rows(values_only=True))
    assert {r[1]: r[2] for r in sheet[2:]} == EXPECTED
    days = list(book["每日提问"].iter_rows(values_only=True))
    assert days[0][:3] == ("日期", "提问", "给出答复")
    assert len(days) == 91
    subscribers = list(book["订阅"].iter_rows(values_only=True))
    assert subscribers[1] == (T1, 2)


async def test_a_bad_period_is_refused_in_chinese(site: Client) -> None:
    await sign_in(site, ADMIN)
    reversed_ = "from=2026-03-31&to=2026-01-01"
    resp = await site.get(f"/console/dashboard?{reversed_}")
    assert resp.status == 400
    page = await resp.text()
    assert "结束日期 2026-01-01 早于开始日期 2026-03-31" in page
    assert 'value="2026-03-31"' in page  # the form keeps what was typed
    assert "echarts" not in page
    resp = await site.get(f"/console/dashboard/export.csv?{reversed_}")
    assert resp.status == 400
    assert "早于开始日期" in await resp.text()
    resp = await site.get("/console/dashboard/export.xlsx?from=2026-02-30&to=2026-03-01")
    assert resp.status == 400
    assert "不是有效的日期" in await resp.text()
    resp = await site.get("/console/dashboard.json?from=2000-01-01&to=2026-03-01")
    assert resp.status == 400
    assert "最多统计" in (await resp.json())["error"]


async def test_sign_in_lands_on_the_dashboard_of_the_last_30_days(site: Client) -> None:
    csrf = await token(site)
    resp = await site.post(
        "/console/login",
        data={"_csrf": csrf, "name": AUDITOR, "password": "Gongkai2026pass"},
        allow_redirects=False,
    )
    assert resp.headers["Location"] == "/console/dashboard"
    resp = await site.get("/console/", allow_redirects=False)
    assert resp.headers["Location"] == "/console/dashboard"
    page = await (await site.get("/console/dashboard")).text()
    today = datetime.now(UTC).astimezone(audit.LOCAL_TZ).date()
    assert f'name="to" value="{today}"' in page
    assert f'name="from" value="{today - timedelta(days=29)}"' in page


async def _seed_audit(engine: AsyncEngine) -> None:
    start = utc(2026, 3, 1, 2)
    async with engine.begin() as conn:
        for n in range(60):
            await audit.record(
                conn,
                actor=EDITOR if n % 3 else "李审核",
                action="notice.edit" if n % 3 else "notice.approve",
                object_type="notice",
                object_id=n % 4 + 1,
                at=start + timedelta(hours=n),
                detail={"changed": ["title"]} if n % 3 else {},
            )


async def test_the_auditor_reads_filters_and_pages_the_log(
    site: Client, engine: AsyncEngine
) -> None:
    await _seed_audit(engine)
    await sign_in(site, EDITOR)
    assert (await site.get("/console/audit")).status == 403
    await site.post("/console/logout", data={"_csrf": await token(site, "/console/dashboard")})
    await sign_in(site, AUDITOR)
    page = await (await site.get("/console/audit")).text()
    assert "哈希链校验通过" in page
    total = int(re.search(r"共 (\d+) 条记录", page).group(1))  # type: ignore[union-attr]
    assert total >= 60 + 4 + 2  # ours, the accounts added, two sign-ins, a sign-out
    assert page.count("<tr>") == 1 + 50  # the header and one page
    assert 'rel="next"' in page

    page = await (await site.get("/console/audit?actor=李审核&action=notice.approve")).text()
    assert "符合条件的 20 条记录" in page
    assert "王撰稿" not in page.split('id="audit-rows"')[1]
    page = await (await site.get("/console/audit?action=notice.&type=notice&object=2")).text()
    assert "符合条件的 15 条记录" in page
    # 2026-03-01 02:00 UTC is 10:00 in Beijing: 14 hours of rows fall on 3/1, local time.
    page = await (await site.get("/console/audit?from=2026-03-01&to=2026-03-01")).text()
    assert "符合条件的 14 条记录" in page
    page = await (await site.get("/console/audit?action=notice.&page=2")).text()
    assert "第 2/2 页" in page
    assert page.count("<tr>") == 1 + 10
    page = await (await site.get("/console/audit?from=2026-03-09&to=2026-03-01")).text()
    assert "结束日期 2026-03-01 早于开始日期 2026-03-09，这一条件未使用" in page

    async with engine.begin() as conn:  # someone edits a row behind the log's back
        await conn.execute(update(AUDIT).where(AUDIT.c.id == 20).values(actor="无名氏"))
    page = await (await site.get("/console/audit")).text()
    assert "哈希链校验未通过：第 20 号记录" in page


async def test_the_command_writes_the_same_files(
    site: Client, account_env: dict[str, str], tmp_path: Path
) -> None:
    await sign_in(site, EDITOR)
    downloaded = await (await site.get(f"/console/dashboard/export.csv?{QUARTER}")).read()
    args = ("stats", "--from", "2026-01-01", "--to", "2026-03-31")
    out = tmp_path / "q1.csv"
    code, said, err = await gongkai(
        *args, "--format", "csv", "--out", str(out), cwd=tmp_path, env=account_env
    )
    assert code == 0, err
    assert "已写入" in said
    assert out.read_bytes() == downloaded
    code, _said, err = await gongkai(*args, "--format", "xlsx", cwd=tmp_path, env=account_env)
    assert code == 0, err
    book = load_workbook(tmp_path / "政务公开统计_2026-01-01_2026-03-31.xlsx", read_only=True)
    assert {r[1]: r[2] for r in list(book["年度报告数据"].iter_rows(values_only=True))[2:]} == (
        EXPECTED
    )
