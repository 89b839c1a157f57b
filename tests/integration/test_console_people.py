"""The console's subscribers and enterprises pages over HTTP: search (openid, topic, enterprise
name, credit code) with openids masked; an enterprise's profile, contacts and its verdict on each
policy of the sample library with the reasons (符合 / 不符合 / 待确认); a binding code shown once
that then binds; deleting a person's data on request — what is held shown first, then gone from
the tables, audited without the openid — and refused to an editor."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot import keys
from policy_index.library import SAMPLE_LIBRARY
from policy_index.repository import LibraryRepository
from push import audit
from push.enterprises import BindResult, Enterprises
from push.subscriptions import SubscriptionDesk
from push.tables import CONTACTS, ENTERPRISES, SUBSCRIBERS, SUBSCRIPTIONS
from tests.conftest import MakeClient
from tests.console_helpers import ADMIN, AUDITOR, EDITOR, REVIEWER, add_accounts, csrf_of
from tests.integration.test_console import sign_in
from tests.integration.test_enterprises import FARM, MAKER, RECORDS, SHOP, valid, write

Client = TestClient[Any, Any]
MAKER_CONTACT = "oMaker000000000000000000001"
SHOP_CONTACT = "oShop0000000000000000000001"
RESIDENT = "oResident0000000000000000x9"
NO_INDUSTRY = valid("91330106MA2B3C4D6")  # a trader whose industry is not on record


@pytest.fixture
async def console(engine: AsyncEngine, make_client: MakeClient, tmp_path: Path) -> Client:
    await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
    unknown = {"uscc": NO_INDUSTRY, "name": "云州某商行", "tags": ["限额以上"], "openids": []}
    await Enterprises(engine).import_file(write(tmp_path / "qy.jsonl", [*RECORDS, unknown]))
    now = datetime.now(UTC)
    desk = SubscriptionDesk(engine)
    await desk.catalogue()  # the default topics
    await desk.subscribe(MAKER_CONTACT, ["惠企/免申即享", "科技创新"], now)
    await desk.subscribe(RESIDENT, ["社保医保"], now)
    await add_accounts(engine)
    client: Client = await make_client()
    return client


async def page(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    assert resp.status == status, (path, resp.status)
    return await resp.text()


def row(html: str, policy_id: str) -> str:
    """The eligibility table's row of one policy, as text."""
    for chunk in html.split("<tr ")[1:]:
        if policy_id in chunk:
            return re.sub(r"<[^>]+>|\s+", " ", chunk.split("</tr>")[0])
    raise AssertionError(f"no row for {policy_id}")


async def test_the_enterprise_page_gives_each_policys_verdict_and_why(console: Client) -> None:
    await sign_in(console, EDITOR)
    found = await page(console, "/console/enterprises?q=百货")
    assert "溪口百货商店" in found
    assert "青禾精工" not in found
    by_code = await page(console, f"/console/enterprises?q={MAKER[:12]}")
    assert "青禾精工有限公司" in by_code
    assert "找到 1 家" in by_code

    maker = await page(console, f"/console/enterprises/{MAKER}")
    assert "高新技术企业" in maker
    assert "80 人" in maker
    assert "oMak…0001" in maker  # the contact, masked
    assert MAKER_CONTACT not in maker
    high_tech = row(maker, "qh-b-025")
    assert "符合" in high_tech
    assert "具有高新技术企业资质" in high_tech
    retail = row(maker, "qh-b-023")
    assert "不符合" in retail
    assert "行业：制造业，不属于批发业、零售业、住宿业、餐饮业" in retail
    assert "未带有“限额以上”标签" in retail
    # 符合 comes first.
    assert maker.index("qh-b-025") < maker.index("qh-b-023")

    shop = row(await page(console, f"/console/enterprises/{SHOP}"), "qh-b-023")
    assert "符合" in shop
    assert "不符合" not in shop
    assert "带有“限额以上”标签" in shop

    pending = row(await page(console, f"/console/enterprises/{NO_INDUSTRY}"), "qh-b-023")
    assert "待确认" in pending
    assert "档案缺少信息，无法判断：行业属于批发业、零售业、住宿业、餐饮业" in pending
    assert "带有“限额以上”标签" in pending  # what the profile already meets

    farm = await page(console, f"/console/enterprises/{FARM}")
    assert "还没有联系人" in farm
    await page(console, "/console/enterprises/91110000600037341X", status=404)


async def test_a_binding_code_is_shown_once_and_binds_a_contact(
    console: Client, engine: AsyncEngine
) -> None:
    await sign_in(console, EDITOR)
    csrf = csrf_of(await page(console, f"/console/enterprises/{FARM}"))
    resp = await console.post(f"/console/enterprises/{FARM}/code", data={"_csrf": csrf})
    assert resp.status == 200
    shown = await resp.text()
    found = re.search(r'id="binding-code">(\d{8})<', shown)
    assert found
    code = found.group(1)
    assert f"绑定 {FARM} {code}" in shown
    assert code not in await page(console, f"/console/enterprises/{FARM}")  # once only

    binding = await Enterprises(engine).bind("oFarmer00000000000000000001", FARM, code)
    assert binding.result is BindResult.BOUND
    assert "oFar…0001" in await page(console, f"/console/enterprises/{FARM}")
    [entry] = [e for e in await audit.entries(engine) if e.action == "enterprise.code"]
    assert (entry.actor, entry.object_id) == (EDITOR, FARM)
    assert code not in json.dumps(entry.detail)


async def test_subscribers_are_found_by_openid_topic_and_enterprise(console: Client) -> None:
    await sign_in(console, EDITOR)
    everyone = await page(console, "/console/subscribers")
    assert "共 2 位订阅用户" in everyone
    assert "oMak…0001" in everyone
    assert "oRes…00x9" in everyone
    assert MAKER_CONTACT not in everyone
    assert RESIDENT not in everyone

    by_topic = await page(console, "/console/subscribers?topic=社保医保")
    assert "oRes…00x9" in by_topic
    assert "oMak…0001" not in by_topic
    by_openid = await page(console, "/console/subscribers?q=resident")  # case does not matter
    assert "找到 1 位" in by_openid
    assert "oRes…00x9" in by_openid
    by_enterprise = await page(console, "/console/subscribers?q=青禾精工")
    assert "oMak…0001" in by_enterprise
    assert "oRes…00x9" not in by_enterprise
    assert "青禾精工有限公司" in by_enterprise  # the enterprise they are a contact of
    nothing = await page(console, "/console/subscribers?q=%25")  # a literal %, not a wildcard
    assert "找到 0 位" in nothing

    number = re.search(r'href="/console/subscribers/(\d+)">oMak', by_enterprise)
    assert number
    detail = await page(console, f"/console/subscribers/{number.group(1)}")
    assert "惠企/免申即享" in detail
    assert "科技创新" in detail
    assert "查看将删除的内容" not in detail  # erasing is for admins


async def counts(engine: AsyncEngine, openid: str) -> tuple[int, int, int]:
    s = SUBSCRIBERS.c
    async with engine.connect() as conn:
        subscribers = (
            await conn.execute(select(func.count()).where(s.openid == openid))
        ).scalar_one()
        topics = (
            await conn.execute(
                select(func.count())
                .select_from(SUBSCRIPTIONS.join(SUBSCRIBERS, s.id == SUBSCRIPTIONS.c.subscriber_id))
                .where(s.openid == openid)
            )
        ).scalar_one()
        contacts = (
            await conn.execute(select(func.count()).where(CONTACTS.c.openid == openid))
        ).scalar_one()
    return int(subscribers), int(topics), int(contacts)


async def test_an_admin_erases_a_persons_data_on_request(
    console: Client, engine: AsyncEngine
) -> None:
    assert await counts(engine, MAKER_CONTACT) == (1, 2, 1)
    await sign_in(console, ADMIN)
    csrf = csrf_of(await page(console, "/console/subscribers"))
    resp = await console.post(
        "/console/people/erase", data={"_csrf": csrf, "openid": MAKER_CONTACT}
    )
    assert resp.status == 200
    check = await resp.text()
    assert "订阅的主题：2" in check
    assert "企业联系人身份：1" in check
    assert await counts(engine, MAKER_CONTACT) == (1, 2, 1)  # nothing deleted yet

    unticked = await console.post(
        "/console/people/erase/confirm", data={"_csrf": csrf, "openid": MAKER_CONTACT}
    )
    assert "请先勾选确认" in await unticked.text()
    assert await counts(engine, MAKER_CONTACT) == (1, 2, 1)

    done = await console.post(
        "/console/people/erase/confirm",
        data={
            "_csrf": csrf,
            "openid": MAKER_CONTACT,
            "confirm": "on",
            "reference": "依申请2026-07",
        },
    )
    assert done.status == 200
    assert "已删除用户 oMak…0001 的个人数据" in await done.text()
    assert await counts(engine, MAKER_CONTACT) == (0, 0, 0)
    assert await counts(engine, RESIDENT) == (1, 1, 0)  # nobody else
    assert "还没有联系人" in await page(console, f"/console/enterprises/{MAKER}")

    [entry] = [e for e in await audit.entries(engine) if e.action == "person.erase"]
    assert entry.actor == ADMIN
    assert entry.detail["removed"] == {"subscriber": 1, "subscriptions": 2, "contacts": 1}
    assert entry.detail["reference"] == "依申请2026-07"
    assert MAKER_CONTACT not in json.dumps(entry.to_json(), ensure_ascii=False)

    again = await console.post(
        "/console/people/erase", data={"_csrf": csrf, "openid": MAKER_CONTACT}
    )
    assert "没有找到这个 openid 的任何个人数据" in await again.text()


async def test_erasing_is_refused_to_an_editor_and_people_to_an_auditor(
    console: Client, engine: AsyncEngine
) -> None:
    await sign_in(console, EDITOR)
    csrf = csrf_of(await page(console, "/console/subscribers"))
    for path in ("/console/people/erase", "/console/people/erase/confirm"):
        resp = await console.post(path, data={"_csrf": csrf, "openid": RESIDENT, "confirm": "on"})
        assert resp.status == 403, path
    assert await counts(engine, RESIDENT) == (1, 1, 0)
    assert [e for e in await audit.entries(engine) if e.action == "person.erase"] == []

    await console.post("/console/logout", data={"_csrf": csrf})
    await sign_in(console, AUDITOR)
    for path in ("/console/subscribers", "/console/enterprises", f"/console/enterprises/{MAKER}"):
        await page(console, path, status=403)


# --- editing a profile, importing, binding codes -----------------------------------------------


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def upload(csrf: str, name: str, lines: list[Any]) -> FormData:
    body = "".join(
        (x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines
    )
    form = FormData()
    form.add_field("_csrf", csrf)
    form.add_field("file", body.encode(), filename=name, content_type="application/x-ndjson")
    return form


async def profile_of(engine: AsyncEngine, uscc: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(ENTERPRISES).where(ENTERPRISES.c.uscc == uscc))).first()
    assert row is not None
    return dict(row._mapping)


async def test_an_editor_edits_a_profile_and_the_eligibility_follows(
    console: Client, engine: AsyncEngine
) -> None:
    await sign_in(console, EDITOR)
    before = row(await page(console, f"/console/enterprises/{NO_INDUSTRY}"), "qh-b-023")
    assert "待确认" in before
    form = await page(console, f"/console/enterprises/{NO_INDUSTRY}/edit")
    assert 'value="云州某商行"' in form
    assert 'value="限额以上"' in form
    csrf = csrf_of(form)
    fields = {"_csrf": csrf, "name": "云州某商行", "tags": "限额以上", "qualifications": ""}

    bad = await console.post(
        f"/console/enterprises/{NO_INDUSTRY}/edit",
        data={**fields, "industry": "零售业", "employees": "-3", "founded": "2099-01-01"},
    )
    assert bad.status == 400
    refused = await bad.text()
    assert "没有保存" in refused
    assert "职工人数" in refused
    assert "应为不小于 0 的整数" in refused
    assert "成立日期" in refused
    assert "晚于今天" in refused
    assert 'value="零售业"' in refused  # the form comes back as typed
    assert (await profile_of(engine, NO_INDUSTRY))["industry"] is None

    saved = await console.post(
        f"/console/enterprises/{NO_INDUSTRY}/edit",
        data={**fields, "industry": " 零售业 ", "employees": "12", "town": "溪口街道"},
    )
    assert saved.status == 200
    assert saved.url.path == f"/console/enterprises/{NO_INDUSTRY}"
    shown = await saved.text()
    assert "已保存企业档案（改动：行业、职工人数、所在镇街）" in shown
    after = row(shown, "qh-b-023")
    assert "符合" in after
    assert "待确认" not in after
    assert "12 人" in shown
    stored = await profile_of(engine, NO_INDUSTRY)
    assert (stored["industry"], stored["employees"], stored["town"]) == ("零售业", 12, "溪口街道")
    [entry] = [e for e in await audit.entries(engine) if e.action == "enterprise.edit"]
    assert (entry.actor, entry.object_id) == (EDITOR, NO_INDUSTRY)
    assert entry.detail["changed"] == {
        "industry": [None, "零售业"],
        "employees": [None, 12],
        "town": [None, "溪口街道"],
    }

    same = await console.post(
        f"/console/enterprises/{NO_INDUSTRY}/edit",
        data={**fields, "industry": "零售业", "employees": "12", "town": "溪口街道"},
    )
    assert "档案没有变化" in await same.text()
    assert len([e for e in await audit.entries(engine) if e.action == "enterprise.edit"]) == 1


async def test_a_reviewer_may_look_but_not_edit_or_import(
    console: Client, engine: AsyncEngine
) -> None:
    await sign_in(console, REVIEWER)
    shown = await page(console, f"/console/enterprises/{MAKER}")
    assert "修改档案" not in shown
    assert "导入企业档案" not in await page(console, "/console/enterprises")
    csrf = csrf_of(shown)
    await page(console, f"/console/enterprises/{MAKER}/edit", status=403)
    resp = await console.post(
        f"/console/enterprises/{MAKER}/edit", data={"_csrf": csrf, "name": "改名", "employees": "1"}
    )
    assert resp.status == 403
    assert (await profile_of(engine, MAKER))["name"] == "青禾精工有限公司"
    for kind in ("enterprises", "subscribers"):
        await page(console, f"/console/{kind}/import", status=403)
        resp = await console.post(f"/console/{kind}/import", data=upload(csrf, "x.jsonl", []))
        assert resp.status == 403, kind


async def test_importing_enterprises_shows_a_preview_then_writes_on_confirmation(
    console: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    await sign_in(console, EDITOR)
    csrf = csrf_of(await page(console, "/console/enterprises/import"))
    new = valid("91330106MA2B3C4D7")
    lines = [
        {**RECORDS[0], "employees": 120},  # changed
        {"uscc": FARM, "name": "禾丰种植专业合作社"},  # as it is
        {"uscc": new, "name": "新开的工厂", "industry": "制造业", "employees": 30},
    ]
    resp = await console.post("/console/enterprises/import", data=upload(csrf, "企业.jsonl", lines))
    assert resp.status == 200
    preview = await resp.text()
    assert 'id="count-new">1<' in preview
    assert 'id="count-changed">1<' in preview
    assert 'id="count-same">1<' in preview
    assert "新开的工厂" in preview
    assert "职工人数" in preview  # the changed field of MAKER
    assert (await profile_of(engine, MAKER))["employees"] == 80  # nothing written yet
    token = re.search(r'name="token" value="([^"]+)"', preview)
    assert token

    done = await console.post(
        "/console/enterprises/import/confirm",
        data={"_csrf": csrf, "token": token.group(1), "name": "企业.jsonl"},
    )
    assert done.status == 200
    assert "已导入企业档案：新增 1 家，更新 1 家，未变 1 家" in await done.text()
    assert (await profile_of(engine, MAKER))["employees"] == 120
    assert "新开的工厂" in await page(console, f"/console/enterprises/{new}")
    [entry] = [e for e in await audit.entries(engine) if e.action == "enterprise.import"]
    assert (entry.actor, entry.object_id) == (EDITOR, "企业.jsonl")
    assert (entry.detail["created"], entry.detail["updated"], entry.detail["unchanged"]) == (
        1,
        1,
        1,
    )

    again = await console.post(
        "/console/enterprises/import/confirm",
        data={"_csrf": csrf, "token": token.group(1), "name": "企业.jsonl"},
    )
    assert "找不到待导入的文件" in await again.text()  # imported once only
    assert len([e for e in await audit.entries(engine) if e.action == "enterprise.import"]) == 1


async def test_a_bad_enterprise_file_names_line_and_field_and_writes_nothing(
    console: Client, engine: AsyncEngine
) -> None:
    await sign_in(console, EDITOR)
    csrf = csrf_of(await page(console, "/console/enterprises/import"))
    wrong_check_digit = MAKER[:-1] + ("0" if MAKER[-1] != "0" else "1")
    lines = [
        {"uscc": FARM, "name": "改了名的合作社"},  # good, but must not be written
        {"uscc": wrong_check_digit, "name": "抄错代码的企业"},
        '{"uscc": oops',
        {"uscc": SHOP, "name": "溪口百货商店", "employees": "很多"},
    ]
    resp = await console.post("/console/enterprises/import", data=upload(csrf, "bad.jsonl", lines))
    assert resp.status == 400
    text = plain(await resp.text())
    assert "文件 bad.jsonl 有 3 处错误， 没有导入任何内容" in text
    assert "2 统一社会信用代码 uscc 统一社会信用代码校验位不符" in text
    assert "3 整行 不是有效的 JSON" in text
    assert "4 职工人数 employees 应为不小于 0 的整数" in text
    assert "确认导入" not in text
    assert (await profile_of(engine, FARM))["name"] == "禾丰种植专业合作社"
    assert [e for e in await audit.entries(engine) if e.action == "enterprise.import"] == []

    other = await console.post("/console/enterprises/import", data=upload(csrf, "a.csv", []))
    assert "只能导入 .jsonl 文件" in await other.text()
    empty = await console.post("/console/enterprises/import", data=upload(csrf, "e.jsonl", []))
    assert "文件中没有记录" in await empty.text()
    assert "确认导入" not in await empty.text()


async def test_importing_subscribers_previews_names_bad_lines_and_writes_on_confirmation(
    console: Client, engine: AsyncEngine
) -> None:
    await sign_in(console, ADMIN)
    csrf = csrf_of(await page(console, "/console/subscribers/import"))
    newcomer = "oNewcomer00000000000000001"
    bad = [
        {"openid": newcomer, "topics": ["社保医保"]},
        {"openid": RESIDENT, "topics": ["没有的主题"]},
        {"openid": "x", "topics": []},
    ]
    resp = await console.post("/console/subscribers/import", data=upload(csrf, "s.jsonl", bad))
    assert resp.status == 400
    text = plain(await resp.text())
    assert "有 2 处错误， 没有导入任何内容" in text
    assert "2 订阅主题 topics 没有这个主题：没有的主题" in text
    assert "3 openid openid 缺少或不是有效的 openid" in text
    assert await counts(engine, newcomer) == (0, 0, 0)

    good = [
        {"openid": newcomer, "topics": ["社保医保"], "town": "禾丰镇"},
        {"openid": RESIDENT, "topics": ["社保医保"]},  # already so
        {"openid": MAKER_CONTACT, "topics": ["社保医保"]},  # a topic more
    ]
    resp = await console.post("/console/subscribers/import", data=upload(csrf, "s.jsonl", good))
    preview = await resp.text()
    assert 'id="count-new">1<' in preview
    assert 'id="count-changed">1<' in preview
    assert 'id="count-same">1<' in preview
    assert "oNew…0001" in preview
    assert newcomer not in preview
    assert await counts(engine, newcomer) == (0, 0, 0)
    token = re.search(r'name="token" value="([^"]+)"', preview)
    assert token
    done = await console.post(
        "/console/subscribers/import/confirm",
        data={"_csrf": csrf, "token": token.group(1), "name": "s.jsonl"},
    )
    assert done.url.path == "/console/subscribers"
    shown = await done.text()
    assert "已导入 3 位订阅用户：新增 1 位，更新 1 位，未变 1 位" in shown
    assert "oNew…0001" in shown
    assert await counts(engine, newcomer) == (1, 1, 0)
    assert await counts(engine, MAKER_CONTACT) == (1, 3, 1)
    [entry] = [e for e in await audit.entries(engine) if e.action == "subscriber.import"]
    assert entry.detail == {"new": 1, "changed": 1, "same": 1}
    assert newcomer not in json.dumps(entry.to_json())


async def test_open_binding_codes_are_listed_without_the_code_and_can_be_revoked(
    console: Client, engine: AsyncEngine
) -> None:
    await sign_in(console, EDITOR)
    csrf = csrf_of(await page(console, f"/console/enterprises/{FARM}"))
    codes = []
    for _ in range(2):
        issued = await (
            await console.post(f"/console/enterprises/{FARM}/code", data={"_csrf": csrf})
        ).text()
        found = re.search(r'id="binding-code">(\d{8})<', issued)
        assert found
        codes.append(found.group(1))
    shown = await page(console, f"/console/enterprises/{FARM}")
    assert "已发出、尚未使用的绑定码（2）" in shown
    assert shown.count(f"由 {EDITOR} 生成") == 2
    assert all(code not in shown for code in codes)
    revoke = re.findall(rf'action="(/console/enterprises/{FARM}/codes/\d+/revoke)"', shown)
    assert len(revoke) == 2

    resp = await console.post(revoke[-1], data={"_csrf": csrf})  # the older code
    after = await resp.text()
    assert "已作废这个绑定码" in after
    assert "已发出、尚未使用的绑定码（1）" in after
    refused = await Enterprises(engine).bind("oFarmer00000000000000000001", FARM, codes[0])
    assert refused.result is BindResult.REFUSED
    [entry] = [e for e in await audit.entries(engine) if e.action == "enterprise.code_revoke"]
    assert (entry.actor, entry.object_id) == (EDITOR, FARM)

    twice = await console.post(revoke[-1], data={"_csrf": csrf})
    assert "已被使用、已过期或已作废" in await twice.text()
    bound = await Enterprises(engine).bind("oFarmer00000000000000000001", FARM, codes[1])
    assert bound.result is BindResult.BOUND
    assert "没有未使用的绑定码" in await page(console, f"/console/enterprises/{FARM}")


async def test_an_erasure_and_its_audit_row_are_one_transaction(
    console: Client, engine: AsyncEngine
) -> None:
    """If the audit row cannot be written, the person's data stays (and vice versa)."""
    forget = console.server.app[keys.PERSONAL_DATA].forget

    async def broken(conn: AsyncConnection) -> None:
        raise RuntimeError("audit row failed")

    with pytest.raises(RuntimeError):
        await forget(MAKER_CONTACT, then=broken)
    assert await counts(engine, MAKER_CONTACT) == (1, 2, 1)
