"""The library's Q&A pages over HTTP — every pair listed and found (attached to a policy, to
none, written from the inbox), edited with the import's checks, added, deleted after a
confirmation, each change audited and answered from at once in the chat simulator; an auditor
reads but cannot change. Also: a large library file imports through the page while the rest of
the service keeps its 1 MB limit, policy ids with ``/`` and Chinese work in every policy route,
and the navigation marks the current page."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import FormData
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from policy_index.model import Status
from policy_index.repository import LibraryRepository
from policy_index.staff import save_staff_qa
from push.tables import AUDIT
from tests.conftest import MakeClient
from tests.console_helpers import ADMIN, AUDITOR, EDITOR, add_accounts
from tests.integration.test_console_library import (
    Client,
    ask,
    audit_actions,
    imported,
    signed_in,
    upload,
)
from tests.library_helpers import LIBRARY, PENSION, SUBSIDY, jsonl


async def upload_big(client: Client, csrf: str, text: str, name: str) -> Any:
    form = FormData()
    form.add_field("_csrf", csrf)
    form.add_field("file", io.BytesIO(text.encode()), filename=name)
    return await client.post("/console/library/import", data=form)


@pytest.fixture
async def console(engine: AsyncEngine, make_client: MakeClient) -> Client:
    await add_accounts(engine)
    client: Client = await make_client()
    return client


CARD = {
    "kind": "qa",
    "id": "card-1",
    "question": "社保卡丢了怎么补办",
    "similar": ["社保卡遗失补办", "补办社保卡"],
    "answer": "带身份证到区政务服务中心社保窗口挂失补办，当场可取新卡。",
}


async def with_pairs(client: Client, engine: AsyncEngine, csrf: str) -> None:
    """The test library, a pair of no policy, and one written by staff from the inbox."""
    await imported(client, csrf)
    page = await (await upload(client, csrf, jsonl(CARD))).text()
    token = page.split('name="token" value="')[1].split('"')[0]
    await client.post(
        "/console/library/import/confirm", data={"_csrf": csrf, "token": token, "name": "qa"}
    )
    await save_staff_qa(engine, "见习补贴找谁申请", "向区人社局就业科申请。", policy_id="t-001")


def listed(page: str) -> list[str]:
    """The questions in the list, in order."""
    table = page.split('id="pairs"')[1].split("</table>")[0]
    return re.findall(r'pair\?id=[^"]+">([^<]+)</a>', table)


def version_in(page: str) -> str:
    return page.split('name="version" value="')[1].split('"')[0]


async def audit_detail(engine: AsyncEngine, action: str) -> tuple[str, str, dict[str, Any]]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(AUDIT.c.actor, AUDIT.c.object_id, AUDIT.c.detail)
                .where(AUDIT.c.action == action)
                .order_by(AUDIT.c.id.desc())
            )
        ).first()
    assert row is not None, action
    return row[0], row[1], row[2]


async def test_every_pair_is_listed_and_found(console: Client, engine: AsyncEngine) -> None:
    csrf = await signed_in(console)
    await with_pairs(console, engine, csrf)
    library_page = await (await console.get("/console/library")).text()
    assert 'href="/console/library/qa"' in library_page  # reached from the library page
    page = await (await console.get("/console/library/qa")).text()
    assert "共 3 条问答" in page
    assert sorted(listed(page)) == sorted(
        ["见习补贴多久发一次", "社保卡丢了怎么补办", "见习补贴找谁申请"]
    )
    assert "工作人员答复</span>" in page  # the inbox's pair is marked
    assert "未关联" in page
    page = await (await console.get("/console/library/qa?show=unattached")).text()
    assert listed(page) == ["社保卡丢了怎么补办"]
    page = await (await console.get("/console/library/qa?show=staff")).text()
    assert listed(page) == ["见习补贴找谁申请"]
    page = await (await console.get("/console/library/qa?policy=t-001")).text()
    assert sorted(listed(page)) == ["见习补贴多久发一次", "见习补贴找谁申请"]
    assert "问答：青禾区高校毕业生就业见习补贴办法" in page
    page = await (await console.get("/console/library/qa?q=遗失")).text()  # a similar phrasing
    assert listed(page) == ["社保卡丢了怎么补办"]
    assert "找到 1 条（共 3 条）" in page
    page = await (await console.get("/console/library/qa?q=没有这种问题")).text()
    assert "没有符合条件的问答" in page
    policy_page = await (await console.get("/console/library/policy/t-001")).text()
    assert "/console/library/qa/pair?id=staff-" in policy_page  # each pair opens its page


async def test_edit_checks_like_import_audits_and_reaches_the_simulator(
    console: Client, engine: AsyncEngine
) -> None:
    csrf = await signed_in(console)
    await with_pairs(console, engine, csrf)
    assert "当场可取新卡" in await ask(console, csrf, "社保卡丢了怎么补办")
    page = await (await console.get("/console/library/qa/pair?id=card-1")).text()
    assert 'id="qa-form"' in page
    assert "社保卡遗失补办\n补办社保卡</textarea>" in page  # one phrasing a line
    form = {
        "_csrf": csrf,
        "version": version_in(page),
        "question": "社保卡丢了怎么补办",
        "similar": "社保卡遗失补办\n补办社保卡\n社保卡掉了",
        "answer": "先拨打12333挂失，再带身份证到区政务服务中心补办，7个工作日取卡。",
        "policy_id": "t-999",
    }
    resp = await console.post("/console/library/qa/pair?id=card-1", data=form)
    page = await resp.text()
    assert resp.status == 400
    assert "没有保存" in page
    assert "<b>所属政策</b>：指向的政策 &#39;t-999&#39; 不在政策库中" in page
    assert "7个工作日取卡" in page  # what was typed is kept
    resp = await console.post(
        "/console/library/qa/pair?id=card-1", data={**form, "question": " ", "policy_id": ""}
    )
    assert "<b>问题</b>：必须填写" in await resp.text()
    assert await audit_actions(engine) == ["library.import", "library.import"]  # nothing written

    resp = await console.post(
        "/console/library/qa/pair?id=card-1", data={**form, "policy_id": "t-002"}
    )
    page = await resp.text()
    assert "已保存（改动：答案、相似问法、所属政策）" in page
    assert "城乡居民基本养老保险缴费补贴实施细则</a>" in page.split('id="qa-policy"')[1]
    pair = next(q for q in (await LibraryRepository(engine).load()).qa_pairs if q.id == "card-1")
    assert (pair.policy_id, pair.similar[-1]) == ("t-002", "社保卡掉了")
    answer = await ask(console, csrf, "社保卡掉了")  # the new phrasing, answered at once
    assert "7个工作日取卡" in answer
    assert "当场可取新卡" not in answer
    actor, object_id, detail = await audit_detail(engine, "library.qa_edit")
    assert (actor, object_id) == (EDITOR, "card-1")
    assert detail["changed"] == ["answer", "similar", "policy_id"]
    assert detail["policy_id"] == "t-002"
    # The pair now shows on its policy's page.
    assert "社保卡丢了怎么补办" in await (await console.get("/console/library/policy/t-002")).text()


async def test_an_edit_over_someone_elses_save_is_refused(
    console: Client, engine: AsyncEngine
) -> None:
    csrf = await signed_in(console)
    await with_pairs(console, engine, csrf)
    version = version_in(await (await console.get("/console/library/qa/pair?id=card-1")).text())
    form = {"_csrf": csrf, "version": version, "question": CARD["question"]}
    first = await console.post(
        "/console/library/qa/pair?id=card-1", data={**form, "answer": "第一位同事的答案。"}
    )
    assert "已保存" in await first.text()
    second = await console.post(
        "/console/library/qa/pair?id=card-1", data={**form, "answer": "第二位同事的答案。"}
    )
    assert second.status == 409
    page = await second.text()
    assert "已被其他人修改，您的修改没有保存" in page
    assert "第二位同事的答案。" in page
    pair = next(q for q in (await LibraryRepository(engine).load()).qa_pairs if q.id == "card-1")
    assert pair.answer == "第一位同事的答案。"


async def test_add_and_delete_after_confirmation(console: Client, engine: AsyncEngine) -> None:
    csrf = await signed_in(console)
    await with_pairs(console, engine, csrf)
    page = await (await console.get("/console/library/qa/new?policy=t-002")).text()
    assert 'name="policy_id" value="t-002"' in page  # coming from a policy's page
    form = {
        "_csrf": csrf,
        "question": "养老保险缴费补贴怎么领",
        "similar": "养老补贴怎么领",
        "answer": "缴费后由区财政自动划入个人账户，无需申请。",
        "policy_id": "t-002",
    }
    resp = await console.post("/console/library/qa/new", data=form)
    page = await resp.text()
    assert "已新增问答“养老保险缴费补贴怎么领”" in page
    assert "<dd>t-002-qa1" in page  # numbered after its policy
    assert "自动划入个人账户" in await ask(console, csrf, "养老补贴怎么领")
    resp = await console.post("/console/library/qa/new", data={**form, "id": "card-1"})
    assert resp.status == 400
    assert "编号 &#39;card-1&#39; 已被其他问答使用" in await resp.text()
    resp = await console.post("/console/library/qa/new", data={**form, "id": "有 空格"})
    assert "<b>编号</b>：须为 1–64 个字符，不含空格" in await resp.text()
    assert (await audit_detail(engine, "library.qa_create"))[1] == "t-002-qa1"

    page = await (await console.get("/console/library/qa/delete?id=card-1")).text()
    assert "删除这条问答？" in page
    assert "社保卡丢了怎么补办" in page
    assert "card-1" in {q.id for q in (await LibraryRepository(engine).load()).qa_pairs}
    version = version_in(page)
    revision = await LibraryRepository(engine).revision()
    stale = await console.post(
        "/console/library/qa/delete", data={"_csrf": csrf, "id": "card-1", "version": "0" * 16}
    )
    assert "没有删除" in await stale.text()
    resp = await console.post(
        "/console/library/qa/delete", data={"_csrf": csrf, "id": "card-1", "version": version}
    )
    page = await resp.text()
    assert "已删除问答“社保卡丢了怎么补办”" in page
    assert "社保卡丢了怎么补办" not in listed(page)
    assert "card-1" not in {q.id for q in (await LibraryRepository(engine).load()).qa_pairs}
    assert await LibraryRepository(engine).revision() == revision + 1  # other processes rebuild
    assert "当场可取新卡" not in await ask(console, csrf, "社保卡丢了怎么补办")
    assert (await audit_detail(engine, "library.qa_delete"))[1:] == (
        "card-1",
        {"question": "社保卡丢了怎么补办", "policy_id": None},
    )
    assert (await console.get("/console/library/qa/pair?id=card-1")).status == 404
    gone = await console.post(
        "/console/library/qa/delete", data={"_csrf": csrf, "id": "card-1", "version": version}
    )
    assert "政策库中没有这条问答" in await gone.text()


async def test_an_auditor_reads_pairs_but_cannot_change_them(
    console: Client, engine: AsyncEngine
) -> None:
    csrf = await signed_in(console, ADMIN)
    await with_pairs(console, engine, csrf)
    await console.post("/console/logout", data={"_csrf": csrf})
    csrf = await signed_in(console, AUDITOR)
    page = await (await console.get("/console/library/qa")).text()
    assert "新增问答" not in page
    page = await (await console.get("/console/library/qa/pair?id=card-1")).text()
    assert "当场可取新卡" in page
    assert 'id="qa-form"' not in page
    assert "/delete" not in page
    for path in ("/console/library/qa/new", "/console/library/qa/delete?id=card-1"):
        assert (await console.get(path)).status == 403, path
    for path, data in (
        ("/console/library/qa/new", {"question": "问", "answer": "答"}),
        ("/console/library/qa/pair?id=card-1", {"question": "问", "answer": "改"}),
        ("/console/library/qa/delete", {"id": "card-1"}),
    ):
        resp = await console.post(path, data={"_csrf": csrf, **data})
        assert resp.status == 403, path
    library = await LibraryRepository(engine).load()
    assert len(library.qa_pairs) == 3
    assert "当场可取新卡" in next(q.answer for q in library.qa_pairs if q.id == "card-1")
    assert not [a for a in await audit_actions(engine) if a.startswith("library.qa_")]


# --- ids with "/" and Chinese ------------------------------------------------------------------

ODD = "青禾/人社/2024-就业#1"


async def test_policy_and_pair_ids_with_slashes_and_chinese(
    console: Client, engine: AsyncEngine
) -> None:
    csrf = await signed_in(console)
    odd_policy = {**SUBSIDY, "id": ODD, "qa": [], "aliases": ["奇怪编号补贴"]}
    odd_pair = {
        "kind": "qa",
        "id": "问答/1?a=b&c",
        "question": "编号奇怪的问答",
        "answer": "可以打开。",
    }
    odd = jsonl(odd_policy, odd_pair | {"policy_id": ODD}, {**PENSION, "replaced_by": None})
    await imported_text(console, csrf, odd)
    page = await (await console.get("/console/library")).text()
    href = (
        "/console/library/policy/"
        "%E9%9D%92%E7%A6%BE%2F%E4%BA%BA%E7%A4%BE%2F2024-%E5%B0%B1%E4%B8%9A%231"
    )
    assert f'href="{href}"' in page
    page = await (await console.get(href, allow_redirects=False)).text()
    assert "青禾区高校毕业生就业见习补贴办法" in page
    assert "编号奇怪的问答" in page
    assert f'href="{href}/edit"' in page
    qa_page = await (await console.get("/console/library/qa")).text()
    pair_href = "/console/library/qa/pair?id=%E9%97%AE%E7%AD%94%2F1%3Fa%3Db%26c"
    assert f'href="{pair_href}"' in qa_page
    page = await (await console.get(pair_href)).text()
    assert "可以打开。" in page
    resp = await console.post(
        pair_href,
        data={
            "_csrf": csrf,
            "version": version_in(page),
            "question": "编号奇怪的问答",
            "answer": "改好了。",
            "policy_id": ODD,
        },
    )
    assert "已保存（改动：答案）" in await resp.text()
    assert [q.answer for q in (await LibraryRepository(engine).load()).qa_for(ODD)] == ["改好了。"]
    edit = await (await console.get(href + "/edit")).text()
    assert f'action="{href}/edit"' in edit
    resp = await console.post(
        href + "/edit",
        data={
            "_csrf": csrf,
            "title": "青禾区高校毕业生就业见习补贴办法（修订）",
            "status": "现行有效",
            "version": version_in(edit),
        },
    )
    assert str(resp.url).endswith(href)
    assert "（修订）" in await resp.text()
    resp = await console.post(href + "/repeal", data={"_csrf": csrf, "replaced_by": "t-002"})
    assert "已废止，由 t-002 替代" in await resp.text()
    library = await LibraryRepository(engine).load()
    repealed = library.policy(ODD)
    assert repealed is not None
    assert (repealed.title, repealed.status) == (
        "青禾区高校毕业生就业见习补贴办法（修订）",
        Status.REPEALED,
    )


async def imported_text(client: Client, csrf: str, text: str) -> None:
    page = await (await upload(client, csrf, text)).text()
    token = page.split('name="token" value="')[1].split('"')[0]
    resp = await client.post(
        "/console/library/import/confirm", data={"_csrf": csrf, "token": token, "name": "x"}
    )
    assert "已导入" in await resp.text()


# --- upload size -------------------------------------------------------------------------------


def big_library(megabytes: float) -> str:
    """Policies with long bodies, ``megabytes`` of UTF-8 in all."""
    body = "本办法所称高校毕业生，是指毕业学年和离校两年内未就业的普通高校毕业生。" * 100
    records = []
    while sum(len(r.encode()) for r in records) < megabytes * 1024**2:
        n = len(records)
        records.append(jsonl({"id": f"big-{n}", "title": f"第{n}号大文件政策", "body": body}))
    return "".join(records)


async def test_a_large_file_imports_through_the_page(console: Client, engine: AsyncEngine) -> None:
    csrf = await signed_in(console)
    page = await (await console.get("/console/library/import")).text()
    assert "不超过 20 MB" in page
    assert f'data-max-bytes="{20 * 1024**2 - 16 * 1024}"' in page
    text = big_library(3)
    assert len(text.encode()) > 3 * 1024**2
    resp = await upload_big(console, csrf, text, "全县政策目录.jsonl")
    page = await resp.text()
    assert resp.status == 200, page[:2000]
    count = text.count("\n")
    assert f'<b id="count-new">{count}</b>' in page
    token = page.split('name="token" value="')[1].split('"')[0]
    resp = await console.post(
        "/console/library/import/confirm",
        data={"_csrf": csrf, "token": token, "name": "全县政策目录.jsonl"},
    )
    assert f"已导入 {count} 条政策" in await resp.text()
    assert len(await LibraryRepository(engine).policy_ids()) == count
    assert (await audit_detail(engine, "library.import"))[1] == "全县政策目录.jsonl"


async def test_a_file_over_the_limit_is_refused_and_nothing_is_written(
    engine: AsyncEngine, make_client: MakeClient, settings: Settings
) -> None:
    await add_accounts(engine)
    staff = settings.staff.model_copy(update={"console_upload_mb": 2})
    client: Client = await make_client(settings=settings.model_copy(update={"staff": staff}))
    csrf = await signed_in(client)
    assert "不超过 2 MB" in await (await client.get("/console/library/import")).text()
    resp = await upload_big(client, csrf, big_library(2.5), "全县政策目录.jsonl")
    assert resp.status == 413
    page = await resp.text()
    assert "提交的内容超过 2 MB 的上限，已拒绝，没有保存任何内容" in page
    assert "gongkai import" in page
    assert await LibraryRepository(engine).policy_ids() == set()
    assert await audit_actions(engine) == []
    uploads = settings.state_dir / "console-imports"
    assert not uploads.exists() or not list(uploads.iterdir())
    # Still signed in: a smaller file goes through.
    resp = await upload(client, csrf, LIBRARY)
    assert 'id="import-preview"' in await resp.text()


async def test_only_the_import_accepts_more_than_a_megabyte(console: Client) -> None:
    csrf = await signed_in(console)
    big = "很长的摘要" * 80_000  # 1.2 MB
    body = urlencode({"_csrf": csrf, "id": "x-1", "title": "太大", "summary": big}).encode()
    resp = await console.post(
        "/console/library/new",
        data=io.BytesIO(body),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 413
    assert "超过 1 MB 的上限" in await resp.text()
    data = FormData()
    data.add_field("_csrf", csrf)
    data.add_field("file", io.BytesIO(big.encode()), filename="x.jsonl")
    await console.post("/console/logout", data={"_csrf": csrf})
    # Signed out: sent to sign in before the large body is read.
    resp = await console.post("/console/library/import", data=data, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/console/login")


# --- navigation --------------------------------------------------------------------------------


async def test_the_navigation_marks_the_current_page(console: Client) -> None:
    await signed_in(console, ADMIN)

    def current(page: str) -> list[str]:
        nav = page.split('class="main-nav"')[1].split("</nav>")[0]
        return re.findall(r'<a href="([^"]+)" aria-current="page">', nav)

    assert current(await (await console.get("/console/library/qa?show=staff")).text()) == [
        "/console/library"
    ]
    assert current(await (await console.get("/console/notices")).text()) == ["/console/notices"]
    assert current(await (await console.get("/console/notices/new")).text()) == [
        "/console/notices/new"
    ]
    assert current(await (await console.get("/console/me")).text()) == []
