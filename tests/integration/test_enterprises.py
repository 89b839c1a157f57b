"""Enterprise profiles in a real database (SQLite, and PostgreSQL in CI): the import with its
reasons, binding codes, forgetting, and the eligible / 可能符合 audience of a policy."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.batches import Batches
from policy_index.conditions import parse_conditions
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.model import Policy
from policy_index.repository import LibraryRepository
from push.eligibility import Verdict
from push.enterprises import (
    CODE_TTL,
    MAX_FAILURES,
    BindResult,
    Enterprises,
    forget_statements,
)
from push.profiles import EnterpriseError, EnterpriseFormatError
from push.tables import BIND_FAILURES, BINDING_CODES, CONTACTS, MAYBE, NOTICES
from push.targeting import (
    assess,
    claim,
    eligibility_text,
    eligible_contacts,
    eligible_contacts_in,
    record_maybe,
)

# Valid 统一社会信用代码 (check digits computed with python-stdnum).
MAKER = "91110000600037341L"
TRADER = "91350100M000100Y43"


def valid(prefix: str) -> str:
    from stdnum.cn import uscc

    return prefix + str(uscc.calc_check_digit(prefix))


SHOP = valid("91330106MA2B3C4D5")
FARM = valid("93350203MA31XY900")

RECORDS: list[dict[str, Any]] = [
    {
        "uscc": MAKER,
        "name": "青禾精工有限公司",
        "industry": "制造业",
        "employees": 80,
        "town": "禾丰镇",
        "founded": "2019-05-08",
        "qualifications": ["高新技术企业"],
        "openids": ["oMaker000000000000000000001"],
    },
    {
        "uscc": SHOP,
        "name": "溪口百货商店",
        "industry": "零售业",
        "town": "溪口街道",
        "qualifications": [],
        "tags": ["限额以上"],
        "openids": ["oShop0000000000000000000001"],
    },
    {"uscc": FARM, "name": "禾丰种植专业合作社", "openids": []},
]


def write(path: Path, records: list[Any]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records)
        + "\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def service(engine: AsyncEngine) -> Enterprises:
    return Enterprises(engine)


@pytest.fixture
async def imported(service: Enterprises, tmp_path: Path) -> Enterprises:
    await service.import_file(write(tmp_path / "qy.jsonl", RECORDS))
    return service


async def count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


# --- import ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110000600037341", "应为 18 位，这里是 17 位"),
        ("91110000600037341I", "不允许的字符"),
        ("9111000060003734IL", "不允许的字符"),
        ("91110000600037342L", "校验位不符"),
    ],
)
async def test_a_bad_credit_code_is_rejected_with_line_and_reason_and_nothing_is_written(
    service: Enterprises, engine: AsyncEngine, tmp_path: Path, code: str, reason: str
) -> None:
    path = write(tmp_path / "qy.jsonl", [RECORDS[0], {**RECORDS[1], "uscc": code}])
    with pytest.raises(EnterpriseFormatError) as info:
        await service.import_file(path)
    [problem] = info.value.problems
    assert (problem.line, problem.field) == (2, "uscc")
    assert reason in problem.message
    assert "qy.jsonl:2: uscc: 统一社会信用代码" in str(info.value)
    assert await service.all() == []  # the good first line was not written either


async def test_every_bad_field_is_reported_at_once(service: Enterprises, tmp_path: Path) -> None:
    path = write(
        tmp_path / "qy.jsonl",
        [
            {"uscc": MAKER, "name": "甲", "employees": -3, "founded": "2019-02-30"},
            "{not json",
            {"uscc": TRADER, "name": "乙", "qualifications": "高新技术企业", "phone": "123"},
            {"uscc": MAKER.lower(), "name": "甲的重复"},
            {"name": "无代码"},
        ],
    )
    with pytest.raises(EnterpriseFormatError) as info:
        await service.import_file(path)
    found = {(p.line, p.field) for p in info.value.problems}
    assert found == {
        (1, "employees"),
        (1, "founded"),
        (2, "-"),
        (3, "qualifications"),
        (3, "phone"),
        (4, "uscc"),
        (5, "uscc"),
    }


async def test_import_is_idempotent_and_keeps_contacts_who_bound_in_chat(
    service: Enterprises, engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write(tmp_path / "qy.jsonl", RECORDS)
    first = await service.import_file(path)
    assert (first.created, first.updated, first.unchanged, first.contacts_added) == (3, 0, 0, 2)
    again = await service.import_file(path)
    assert (again.created, again.updated, again.unchanged, again.contacts_added) == (0, 0, 3, 0)
    assert await count(engine, CONTACTS) == 2

    issued = await service.issue_code(FARM, by="王")
    assert (await service.bind("oFarmer00000000000000000001", FARM, issued.code)).result is (
        BindResult.BOUND
    )
    changed = [{**RECORDS[0], "employees": 120, "openids": []}, RECORDS[2]]
    third = await service.import_file(write(tmp_path / "qy2.jsonl", changed))
    assert (third.updated, third.unchanged, third.contacts_removed) == (1, 1, 1)
    by_uscc = {e.uscc: e for e in await service.all()}
    assert by_uscc[MAKER].employees == 120
    assert by_uscc[MAKER].contacts == 0
    assert by_uscc[FARM].contacts == 1  # bound in chat: an import never removes them
    assert by_uscc[SHOP].name == "溪口百货商店"  # not in the file: untouched


async def test_staff_edit_checks_the_fields(imported: Enterprises) -> None:
    edited = await imported.edit(
        FARM, {"employees": 12, "qualifications": ["专精特新中小企业"]}, by="王"
    )
    assert (edited.employees, edited.qualifications) == (12, ("专精特新中小企业",))
    with pytest.raises(EnterpriseError, match="employees"):
        await imported.edit(FARM, {"employees": "很多"}, by="王")
    with pytest.raises(EnterpriseError, match="不能修改的字段：uscc"):
        await imported.edit(FARM, {"uscc": MAKER}, by="王")
    with pytest.raises(EnterpriseError, match="没有"):
        await imported.edit(TRADER, {"employees": 1}, by="王")


# --- binding -----------------------------------------------------------------------------------

STRANGER = "oStranger000000000000000001"


async def test_the_right_code_binds_once_and_only_its_hash_is_stored(
    imported: Enterprises, engine: AsyncEngine
) -> None:
    issued = await imported.issue_code(FARM, by="王")
    assert len(issued.code) == 8
    assert issued.code.isdigit()
    async with engine.connect() as conn:
        stored = (await conn.execute(select(BINDING_CODES))).mappings().one()
    assert issued.code not in json.dumps({k: str(v) for k, v in stored.items()})
    assert stored["expires_at"] - stored["created_at"] == CODE_TTL

    bound = await imported.bind(STRANGER, f" {FARM.lower()} ", issued.code)
    assert (bound.result, bound.enterprise) == (BindResult.BOUND, "禾丰种植专业合作社")
    assert [e.uscc for e in await imported.mine(STRANGER)] == [FARM]
    assert (await imported.bind(STRANGER, FARM, issued.code)).result is BindResult.ALREADY
    # The used code binds nobody else.
    other = await imported.bind("oOther0000000000000000000001", FARM, issued.code)
    assert other.result is BindResult.REFUSED
    assert [e.uscc for e in await imported.mine("oOther0000000000000000000001")] == []


async def test_a_public_credit_code_alone_or_another_enterprises_code_binds_nothing(
    imported: Enterprises,
) -> None:
    farm_code = (await imported.issue_code(FARM, by="王")).code
    assert (await imported.bind(STRANGER, MAKER, "")).result is BindResult.REFUSED
    assert (await imported.bind(STRANGER, MAKER, farm_code)).result is BindResult.REFUSED
    assert (await imported.bind(STRANGER, TRADER, farm_code)).result is BindResult.REFUSED
    assert (await imported.bind(STRANGER, "9111000060003734", farm_code)).result is (
        BindResult.BAD_USCC
    )
    assert await imported.mine(STRANGER) == []


async def test_an_expired_code_binds_nothing(engine: AsyncEngine, tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    clock = [now]
    service = Enterprises(engine, clock=lambda: clock[0])
    await service.import_file(write(tmp_path / "qy.jsonl", RECORDS))
    code = (await service.issue_code(FARM, by="王")).code
    clock[0] = now + CODE_TTL + dt.timedelta(seconds=1)
    assert (await service.bind(STRANGER, FARM, code)).result is BindResult.REFUSED


async def test_repeated_wrong_codes_lock_that_person_out_for_a_while(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    clock = [now]
    service = Enterprises(engine, clock=lambda: clock[0])
    await service.import_file(write(tmp_path / "qy.jsonl", RECORDS))
    code = (await service.issue_code(FARM, by="王")).code
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    left = [(await service.bind(STRANGER, FARM, wrong)).tries_left for _ in range(MAX_FAILURES)]
    assert left == [4, 3, 2, 1, 0]
    locked = await service.bind(STRANGER, FARM, code)  # even the right code, while locked
    assert locked.result is BindResult.LOCKED
    assert locked.retry_after is not None
    assert locked.retry_after > now
    assert (await service.bind("oSomeoneElse000000000000001", FARM, code)).result is (
        BindResult.BOUND
    )
    clock[0] = now + dt.timedelta(hours=1, seconds=1)
    code2 = (await service.issue_code(FARM, by="王")).code
    assert (await service.bind(STRANGER, FARM, code2)).result is BindResult.BOUND
    assert await count(engine, BIND_FAILURES) == 0


async def test_unbind_and_forget_remove_the_person(
    imported: Enterprises, engine: AsyncEngine
) -> None:
    maker_contact = RECORDS[0]["openids"][0]
    code = (await imported.issue_code(FARM, by="王")).code
    await imported.bind(maker_contact, FARM, code)
    assert len(await imported.mine(maker_contact)) == 2
    assert await imported.unbind(maker_contact, FARM) == ["禾丰种植专业合作社"]
    assert [e.uscc for e in await imported.mine(maker_contact)] == [MAKER]
    await imported.bind(maker_contact, FARM, "00000000")  # one wrong try is on record
    await imported.forget(maker_contact)
    assert await imported.mine(maker_contact) == []
    assert await count(engine, BIND_FAILURES) == 0
    assert await count(engine, CONTACTS) == 1  # the shop's contact stays


# --- eligibility audiences ---------------------------------------------------------------------


def policy(raw: dict[str, Any], policy_id: str = "p-test") -> Policy:
    return Policy(id=policy_id, title="测试政策", conditions=parse_conditions(raw))


SMALL_MAKER = {
    "all": [
        {"field": "industry", "op": "in", "value": ["制造业"]},
        {"field": "employees", "op": "<=", "value": 100},
    ]
}


async def test_eligible_contacts_and_the_maybe_list(
    imported: Enterprises, engine: AsyncEngine
) -> None:
    target = policy(SMALL_MAKER)
    contacts = await eligible_contacts(engine, target)
    assert [(openid, ev.reasons) for _, openid, ev in contacts] == [
        ("oMaker000000000000000000001", ("行业：制造业", "职工人数 80 人，不超过 100 人"))
    ]
    async with engine.connect() as conn:  # the sync form, as the outbox materialiser calls it
        assert await conn.run_sync(lambda c: eligible_contacts_in(c, target)) == contacts
    assessment = await assess(engine, target)
    assert [c.enterprise.uscc for c in assessment.maybe] == [FARM]  # no industry on record
    assert [u.field for u in assessment.maybe[0].evaluation.unknown] == ["industry", "employees"]
    assert assessment.checked == 3

    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:
        notice = (
            NOTICES.insert()
            .values(
                title="t",
                body="b",
                channel="template",
                state="draft",
                author="王",
                content_hash="x",
                created_at=now,
                updated_at=now,
                policy_id="p-test",
                eligible=True,
            )
            .returning(NOTICES.c.id)
        )
        notice_id = int((await conn.execute(notice)).scalar_one())
        later_id = int((await conn.execute(notice)).scalar_one())
        assert await record_maybe(conn, notice_id, assessment.maybe) == 1
        maker_id = contacts[0][0]
        assert await claim(conn, "p-test", notice_id, [maker_id], now) == {maker_id}
        assert await claim(conn, "p-test", notice_id, [maker_id], now) == {maker_id}  # resumed
        assert await claim(conn, "p-test", later_id, [maker_id], now) == set()  # another notice
    async with engine.connect() as conn:
        stored = (await conn.execute(select(MAYBE.c.unknown))).scalar_one()
    assert [u["text"] for u in stored] == ["行业属于制造业", "职工人数不超过 100 人"]
    # Never the same policy twice to one enterprise.
    assert await eligible_contacts(engine, target) == []
    assert (await assess(engine, target)).notified == 1


async def test_sample_policies_with_conditions_find_their_enterprises(
    imported: Enterprises, engine: AsyncEngine
) -> None:
    await LibraryRepository(engine).import_files([SAMPLE_LIBRARY])
    library = await LibraryRepository(engine).load()
    high_tech = library.policy("qh-b-025")
    retail = library.policy("qh-b-023")
    assert high_tech is not None
    assert retail is not None
    from_file = read_library([SAMPLE_LIBRARY]).policy("qh-b-025")
    assert from_file is not None
    assert high_tech.conditions == from_file.conditions  # stored and loaded back unchanged
    tech = await assess(engine, high_tech)
    assert [(c.enterprise.uscc, c.evaluation.verdict) for c in tech.eligible] == [
        (MAKER, Verdict.MEETS)
    ]
    text = eligibility_text(high_tech, tech.eligible[0])
    assert "【免申即享】青禾精工有限公司" in text
    assert "《青禾区新认定高新技术企业奖励免申即享实施细则》" in text
    assert "（具有高新技术企业资质）" in text
    assert "首次认定30万元" in text  # what it grants
    shops = await assess(engine, retail)
    assert [c.enterprise.uscc for c in shops.eligible] == [SHOP]
    assert shops.eligible[0].evaluation.reasons == ("行业：零售业", "带有“限额以上”标签")
    no_conditions = library.policy("qh-a-001")
    assert no_conditions is not None
    assert (await assess(engine, no_conditions)).conditional is False


async def test_forget_statements_run_in_the_personal_data_batches(
    imported: Enterprises, engine: AsyncEngine, batches: Batches
) -> None:
    maker_contact = RECORDS[0]["openids"][0]

    def forget(conn: Connection) -> None:
        for statement in forget_statements(maker_contact):
            conn.execute(statement)

    await batches.run(forget)
    assert await imported.mine(maker_contact) == []
    assert await count(engine, CONTACTS) == 1


async def test_people_racing_with_one_code_bind_one_of_them(imported: Enterprises) -> None:
    code = (await imported.issue_code(FARM, by="王")).code
    racers = [f"oRacer{i:021d}" for i in range(5)]
    results = await asyncio.gather(*(imported.bind(o, FARM, code) for o in racers))
    assert sorted(r.result.value for r in results) == ["bound"] + ["refused"] * 4
    bound = [o for o in racers if await imported.mine(o)]
    assert len(bound) == 1
