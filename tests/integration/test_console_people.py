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
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from policy_index.library import SAMPLE_LIBRARY
from policy_index.repository import LibraryRepository
from push import audit
from push.enterprises import BindResult, Enterprises
from push.subscriptions import SubscriptionDesk
from push.tables import CONTACTS, SUBSCRIBERS, SUBSCRIPTIONS
from tests.conftest import MakeClient
from tests.console_helpers import ADMIN, AUDITOR, EDITOR, add_accounts, csrf_of
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
