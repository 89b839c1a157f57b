"""The policy-library pages and the chat simulator over HTTP: search and filters, import with a
preview (and a bad file refused by line and field, writing nothing), edit with the import's
validation, repeal, aliases, export, roles, the audit log, and the simulator answering from the
library as soon as it changes — without the simulated person reaching the inbox or statistics."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.console.simulator import sim_openid
from bot.questions import QUESTIONS
from policy_index.model import Status
from policy_index.repository import LibraryRepository
from push.tables import AUDIT, SUBSCRIBERS
from tests.conftest import MakeClient
from tests.console_helpers import ADMIN, AUDITOR, EDITOR, add_accounts, csrf_of
from tests.integration.test_console import sign_in, token
from tests.library_helpers import BAD_LIBRARY, LIBRARY

Client = TestClient[Any, Any]


@pytest.fixture
async def console(engine: AsyncEngine, make_client: MakeClient) -> Client:
    await add_accounts(engine)
    client: Client = await make_client()
    return client


async def signed_in(client: Client, name: str = EDITOR) -> str:
    resp = await sign_in(client, name)
    assert resp.status == 303
    return await token(client, "/console/library")


async def upload(client: Client, csrf: str, text: str, name: str = "library.jsonl") -> Any:
    form = FormData()
    form.add_field("_csrf", csrf)
    form.add_field("file", text.encode(), filename=name, content_type="application/octet-stream")
    return await client.post("/console/library/import", data=form)


async def imported(client: Client, csrf: str, text: str = LIBRARY) -> None:
    resp = await upload(client, csrf, text)
    page = await resp.text()
    assert resp.status == 200, page
    tok = page.split('name="token" value="')[1].split('"')[0]
    resp = await client.post(
        "/console/library/import/confirm",
        data={"_csrf": csrf, "token": tok, "name": "library.jsonl"},
    )
    assert resp.status == 200
    assert "已导入 3 条政策" in await resp.text()


async def audit_actions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(AUDIT.c.action).order_by(AUDIT.c.id))
        return [r for (r,) in rows if r.startswith("library.")]


async def ask(client: Client, csrf: str, text: str) -> str:
    resp = await client.post("/console/simulator", data={"_csrf": csrf, "text": text})
    assert resp.status == 200
    page = await resp.text()
    return page.rsplit('id="last"', 1)[1].split("</div>\n", 1)[0]


async def test_import_previews_then_writes_and_audits(console: Client, engine: AsyncEngine) -> None:
    csrf = await signed_in(console)
    resp = await upload(console, csrf, LIBRARY)
    page = await resp.text()
    assert 'id="import-preview"' in page
    assert '<b id="count-new">5</b>' in page  # three policies, their Q&A pair, an alias
    assert "青禾区高校毕业生就业见习补贴办法" in page
    assert await LibraryRepository(engine).policy_ids() == set()  # nothing yet: only a preview
    await imported(console, csrf)
    assert await LibraryRepository(engine).policy_ids() == {"t-000", "t-001", "t-002"}
    assert await audit_actions(engine) == ["library.import"]
    # The same file again: nothing would change.
    page = await (await upload(console, csrf, LIBRARY)).text()
    assert '<b id="count-new">0</b>' in page
    assert "无需导入" in page


async def test_a_bad_file_names_line_and_field_and_writes_nothing(
    console: Client, engine: AsyncEngine
) -> None:
    csrf = await signed_in(console)
    resp = await upload(console, csrf, BAD_LIBRARY, name="坏文件.jsonl")
    page = await resp.text()
    assert resp.status == 400
    assert "没有导入任何内容" in page
    rows = page.split('id="import-errors"')[1]
    assert "<td>2</td><td>发文日期 <code>date</code></td>" in rows
    assert "<td>2</td><td>适用对象 <code>audience</code></td>" in rows
    assert "<td>3</td><td>替代政策 <code>replaced_by</code></td>" in rows
    assert "t-999&#39; 不在政策库中" in rows
    assert await LibraryRepository(engine).policy_ids() == set()
    assert await audit_actions(engine) == []
    resp = await upload(console, csrf, "whatever", name="library.xlsx")
    assert "只能导入 .jsonl 或 .csv 文件" in await resp.text()


async def test_search_filters_and_pages(console: Client, engine: AsyncEngine) -> None:
    csrf = await signed_in(console)
    await imported(console, csrf)
    page = await (await console.get("/console/library")).text()
    assert "共 3 条政策" in page
    page = await (await console.get("/console/library?q=养老&issuer=财政")).text()
    assert "找到 2 条" in page
    assert "高校毕业生" not in page.split('id="policies"')[1]
    page = await (await console.get("/console/library?audience=企业")).text()
    assert "找到 1 条" in page
    page = await (await console.get("/console/library?since=2023-01-01&until=2023-12-31")).text()
    assert "找到 1 条" in page
    assert "城乡居民基本养老保险缴费补贴实施细则" in page
    page = await (await console.get("/console/library?topic=社会保障&page=9")).text()
    assert "找到 2 条" in page


async def test_the_policy_page_shows_guide_and_qa(console: Client) -> None:
    csrf = await signed_in(console)
    await imported(console, csrf)
    page = await (await console.get("/console/library/policy/t-001")).text()
    assert "见习协议、身份证复印件" in page  # the guide
    assert "见习补贴多久发一次" in page  # a Q&A pair
    assert "现行有效" in page
    assert (await console.get("/console/library/policy/nope")).status == 404


async def test_edit_validates_like_import_and_reaches_the_simulator(
    console: Client, engine: AsyncEngine
) -> None:
    csrf = await signed_in(console)
    await imported(console, csrf)
    before = await ask(console, csrf, "见习补贴每月多少钱")
    assert "1500元" in before
    edit = await (await console.get("/console/library/policy/t-001/edit")).text()
    assert 'name="qa_question_0" value="见习补贴多久发一次"' in edit
    form = {
        "_csrf": csrf,
        "id": "t-001",
        "title": "青禾区高校毕业生就业见习补贴办法",
        "status": "现行有效",
        "date": "2024-04-10",
        "audience": "个人",
        "topics": "就业创业、高校毕业生",
        "aliases": "见习补贴",
        "summary": "见习基地按每人每月2000元领取见习补贴，每月10日前到区政务服务中心申报。",
        "qa_id_0": "t-001-qa1",
        "qa_question_0": "见习补贴多久发一次",
        "qa_answer_0": "按月发放。",
        "qa_id_1": "",
        "qa_question_1": "",
        "qa_answer_1": "",
    }
    bad = {**form, "date": "2024-02-30", "expiry_date": "明年", "conditions": "{oops"}
    resp = await console.post("/console/library/policy/t-001/edit", data=bad)
    page = await resp.text()
    assert resp.status == 400
    assert "<b>政策解读" not in page
    assert "<b>发文日期</b> <code>date</code>" not in page  # conditions are checked first
    assert "<b>适用条件（机器可判断）</b> <code>conditions</code>：不是有效的 JSON" in page
    resp = await console.post("/console/library/policy/t-001/edit", data={**bad, "conditions": ""})
    page = await resp.text()
    assert "<b>发文日期</b> <code>date</code>" in page
    assert "<b>失效日期</b> <code>expiry_date</code>" in page
    assert "每月2000元" in page  # what was typed is kept
    library = await LibraryRepository(engine).load()
    assert "1500元" in (library.policy("t-001").summary or "")  # type: ignore[union-attr]

    resp = await console.post("/console/library/policy/t-001/edit", data=form)
    page = await resp.text()
    assert "已保存（改动：文号、发文机关、层级、适用对象、摘要、办事指南、问答）" in page
    assert "每月2000元" in page
    after = await ask(console, csrf, "见习补贴每月多少钱")
    assert "2000元" in after
    assert "1500元" not in after
    library = await LibraryRepository(engine).load()
    assert [q.answer for q in library.qa_for("t-001")] == ["按月发放。"]
    assert await audit_actions(engine) == ["library.import", "library.edit"]
    # the simulated resident left no trace in the question log (inbox, statistics)
    async with engine.connect() as conn:
        logged = await conn.scalar(select(func.count()).select_from(QUESTIONS))
        assert logged == 0


async def test_new_policy_and_duplicate_id(console: Client, engine: AsyncEngine) -> None:
    csrf = await signed_in(console)
    await imported(console, csrf)
    form = {"_csrf": csrf, "id": "t-003", "title": "青禾区耕地地力保护补贴", "status": "现行有效"}
    resp = await console.post("/console/library/new", data=form)
    assert "已新建政策" in await resp.text()
    resp = await console.post("/console/library/new", data={**form, "id": "t-001"})
    assert resp.status == 400
    assert "编号 &#39;t-001&#39; 已被其他政策使用" in await resp.text()
    assert await audit_actions(engine) == ["library.import", "library.create"]


async def test_repeal_with_a_replacement(console: Client, engine: AsyncEngine) -> None:
    csrf = await signed_in(console)
    await imported(console, csrf)
    resp = await console.post(
        "/console/library/policy/t-000/repeal", data={"_csrf": csrf, "replaced_by": "t-999"}
    )
    assert "未能废止" in await resp.text()
    resp = await console.post(
        "/console/library/policy/t-000/repeal", data={"_csrf": csrf, "replaced_by": "t-002"}
    )
    page = await resp.text()
    assert "已废止，由 t-002 替代" in page
    assert "城乡居民基本养老保险缴费补贴实施细则</a> 替代" in page
    old = (await LibraryRepository(engine).load()).policy("t-000")
    assert old is not None
    assert (old.status, old.replaced_by) == (Status.REPEALED, "t-002")
    assert await audit_actions(engine) == ["library.import", "library.repeal"]
    page = await (await console.get("/console/library?status=已废止")).text()
    assert "找到 1 条" in page


async def test_aliases_add_and_remove(console: Client, engine: AsyncEngine) -> None:
    csrf = await signed_in(console)
    await imported(console, csrf)
    resp = await console.post(
        "/console/library/aliases", data={"_csrf": csrf, "alias": "低保", "canonical": "低保"}
    )
    assert resp.status == 400
    assert "不能与别名相同" in await resp.text()
    resp = await console.post(
        "/console/library/aliases",
        data={"_csrf": csrf, "alias": "低保", "canonical": "最低生活保障"},
    )
    assert "已添加别名：低保 → 最低生活保障" in await resp.text()
    resp = await console.post(
        "/console/library/aliases/remove", data={"_csrf": csrf, "alias": "养老钱"}
    )
    page = await resp.text()
    assert "已删除别名“养老钱”" in page
    aliases = {a.alias for a in (await LibraryRepository(engine).load()).aliases}
    assert aliases == {"低保"}
    assert await audit_actions(engine) == [
        "library.import",
        "library.alias_add",
        "library.alias_remove",
    ]


async def test_export_round_trips(console: Client, engine: AsyncEngine) -> None:
    csrf = await signed_in(console)
    await imported(console, csrf)
    resp = await console.get("/console/library/export")
    assert resp.status == 200
    assert "attachment" in resp.headers["Content-Disposition"]
    lines = [json.loads(line) for line in (await resp.text()).splitlines()]
    assert {r["id"] for r in lines if "title" in r} == {"t-000", "t-001", "t-002"}
    page = await (await upload(console, csrf, await resp.text())).text()
    assert '<b id="count-new">0</b>' in page
    assert '<b id="count-changed">0</b>' in page


async def test_an_auditor_reads_but_cannot_change(console: Client, engine: AsyncEngine) -> None:
    csrf = await signed_in(console, ADMIN)
    await imported(console, csrf)  # an admin may change the library
    await console.post("/console/logout", data={"_csrf": csrf})
    csrf = await signed_in(console, AUDITOR)
    page = await (await console.get("/console/library/policy/t-001")).text()
    assert "见习补贴多久发一次" in page
    assert "/edit" not in page  # no edit button
    for path in (
        "/console/library/new",
        "/console/library/import",
        "/console/library/policy/t-001/edit",
    ):
        assert (await console.get(path)).status == 403, path
    resp = await console.post(
        "/console/library/policy/t-001/edit", data={"_csrf": csrf, "title": "改"}
    )
    assert resp.status == 403
    resp = await console.post("/console/library/policy/t-001/repeal", data={"_csrf": csrf})
    assert resp.status == 403
    assert (await LibraryRepository(engine).load()).policy("t-001").status is Status.CURRENT  # type: ignore[union-attr]
    assert "青禾区" in await ask(console, csrf, "见习补贴")  # anyone may use the simulator


async def test_simulator_follow_ups_subscriptions_and_reset(
    console: Client, engine: AsyncEngine
) -> None:
    csrf = await signed_in(console)
    await imported(console, csrf)
    first = await ask(console, csrf, "养老保险缴费补贴")
    assert "1. 《青禾区城乡居民养老保险缴费补贴暂行办法》" in first
    assert "（回复数字）" in first
    follow = await ask(console, csrf, "2")  # the numbered choice, as a resident replies
    assert "每年30元至150元" in follow
    facet = await ask(console, csrf, "见习补贴要什么材料")
    assert "见习协议、身份证复印件" in facet
    assert "还可以接着问：咨询电话" in facet
    assert "0571-12345678" in await ask(console, csrf, "电话")  # a follow-up on the policy
    assert "已为您订阅" in await ask(console, csrf, "订阅 社保")
    assert "您订阅的主题：社保医保" in await ask(console, csrf, "我的订阅")
    page = await (await console.get("/console/simulator")).text()
    assert sim_openid(EDITOR) in page
    assert "养老保险缴费补贴" in page  # the conversation stays on the page
    async with engine.connect() as conn:  # nobody to push notices to, nothing in the inbox
        assert await conn.scalar(select(func.count()).select_from(SUBSCRIBERS)) == 0
        assert await conn.scalar(select(func.count()).select_from(QUESTIONS)) == 0
    resp = await console.post("/console/simulator/reset", data={"_csrf": csrf})
    page = await resp.text()
    assert "养老保险缴费补贴" not in page.split('id="chat"')[1].split("</section>")[0]
    assert "（回复数字）" not in await ask(console, csrf, "2")  # the pending choice is gone
    assert csrf_of(page)


async def test_an_edit_over_someone_elses_save_is_refused(
    console: Client, engine: AsyncEngine
) -> None:
    csrf = await signed_in(console)
    await imported(console, csrf)
    page = await (await console.get("/console/library/policy/t-002/edit")).text()
    version = page.split('name="version" value="')[1].split('"')[0]
    form = {
        "_csrf": csrf,
        "title": "青禾区城乡居民基本养老保险缴费补贴实施细则",
        "version": version,
    }
    first = await console.post(
        "/console/library/policy/t-002/edit", data={**form, "summary": "第一位同事的修改。"}
    )
    assert "已保存" in await first.text()
    second = await console.post(
        "/console/library/policy/t-002/edit", data={**form, "summary": "第二位同事的修改。"}
    )
    assert second.status == 409
    page = await second.text()
    assert "已被其他人保存，您的修改没有保存" in page
    assert "第二位同事的修改。" in page  # kept in the form, to copy from
    library = await LibraryRepository(engine).load()
    assert library.policy("t-002").summary == "第一位同事的修改。"  # type: ignore[union-attr]


async def test_a_csv_file_is_previewed_and_its_errors_name_the_line(
    console: Client, engine: AsyncEngine
) -> None:
    csrf = await signed_in(console)
    good = (
        "id,title,issuer,date,topics\n"
        "c-1,青禾区农机购置补贴实施方案,青禾区农业农村局,2025-02-01,农业\n"
    )
    page = await (await upload(console, csrf, good, name="农业.csv")).text()
    assert '<b id="count-new">1</b>' in page
    bad = good + "c-2,,青禾区农业农村局,2025-02-30,农业\n"
    resp = await upload(console, csrf, bad, name="农业.csv")
    rows = (await resp.text()).split('id="import-errors"')[1]
    assert "<td>3</td><td>标题 <code>title</code></td><td>必须填写</td>" in rows
    assert "<td>3</td><td>发文日期 <code>date</code></td>" in rows
    assert await LibraryRepository(engine).policy_ids() == set()
