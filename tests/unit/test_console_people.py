"""The people pages' pure parts, with known answers: openids masked, and the eligibility table
of one enterprise (verdicts, reasons, what cannot be settled, policies in force first)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.console.people_pages import eligibility
from policy_index.conditions import parse_conditions
from policy_index.model import Library, Policy, Status
from push.people import masked
from push.profiles import Enterprise

TODAY = dt.date(2026, 12, 7)
SMALL_MAKER = {
    "all": [
        {"field": "industry", "op": "in", "value": ["制造业"]},
        {"field": "employees", "op": "<=", "value": 100},
    ]
}
OLD_TOWN = {"field": "founded", "op": "<", "value": "2010-01-01"}
HIGH_TECH = {"field": "qualifications", "op": "has", "value": "高新技术企业"}


def policy(pid: str, raw: dict[str, Any] | None, **extra: Any) -> Policy:
    conditions = parse_conditions(raw) if raw is not None else None
    return Policy(id=pid, title=f"政策{pid}", conditions=conditions, **extra)


def enterprise(**fields: Any) -> Enterprise:
    values: dict[str, Any] = {
        "id": 1,
        "uscc": "91110000600037341L",
        "name": "青禾精工有限公司",
        "industry": None,
        "employees": None,
        "town": None,
        "founded": None,
        "qualifications": (),
        "tags": (),
    }
    return Enterprise(**{**values, **fields})


def test_openids_are_masked_to_their_ends() -> None:
    assert masked("oAbcdefghijklmnopqrstuvwxyz9") == "oAbc…xyz9"
    assert masked("o12345") == "o1…"  # too short to show both ends


def test_each_policy_with_conditions_gets_a_verdict_and_why() -> None:
    library = Library.of(
        [
            policy("a", HIGH_TECH),
            policy("b", SMALL_MAKER),
            policy("c", OLD_TOWN, status=Status.REPEALED),
            policy("d", None),  # no conditions: not listed
            policy("e", OLD_TOWN),
        ]
    )
    told = {"b": dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)}
    rows = eligibility(library, enterprise(industry="制造业"), TODAY, told)
    got = [(r["id"], r["verdict"], r["reasons"], r["unknown"], r["told"]) for r in rows]
    assert got == [
        ("b", "待确认", ["行业：制造业"], ["职工人数不超过 100 人"], "2026-11-02 10:00"),
        ("e", "待确认", [], ["成立日期早于2010年1月1日"], ""),
        ("a", "不符合", ["未登记高新技术企业资质"], [], ""),
        ("c", "待确认", [], ["成立日期早于2010年1月1日"], ""),  # repealed: last
    ]
    assert [r["in_force"] for r in rows] == [True, True, True, False]

    rows = eligibility(library, enterprise(industry="制造业", employees=80), TODAY, {})
    assert rows[0]["id"] == "b"
    assert rows[0]["verdict"] == "符合"
    assert rows[0]["reasons"] == ["行业：制造业", "职工人数 80 人，不超过 100 人"]
