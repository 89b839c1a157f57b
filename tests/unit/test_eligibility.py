"""Three-valued eligibility with known answers: 符合 / 不符合 / 待确认, reasons in Chinese."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from policy_index.conditions import Check, parse_conditions
from push.eligibility import Evaluation, Profile, Verdict, evaluate, requirement

MAKER = Profile(
    uscc="91110000600037341L",
    name="青禾精工有限公司",
    industry="制造业",
    employees=80,
    town="禾丰镇",
    founded=dt.date(2019, 5, 8),
    qualifications=("高新技术企业", "专精特新中小企业"),
    tags=("规上工业",),
)
UNKNOWN_SIZE = Profile(uscc="91110000600037341L", name="无人数记录公司", industry="制造业")

HIGH_TECH_SMALL_MAKER = {
    "all": [
        {"field": "industry", "op": "in", "value": ["制造业"]},
        {"field": "employees", "op": "<=", "value": 100},
        {"field": "qualifications", "op": "has", "value": "高新技术企业"},
    ]
}


def check(raw: dict[str, Any], profile: Profile = MAKER) -> Evaluation:
    return evaluate(parse_conditions(raw), profile)


def test_a_profile_that_meets_every_condition_is_told_why() -> None:
    result = check(HIGH_TECH_SMALL_MAKER)
    assert result.verdict is Verdict.MEETS
    assert result.reasons == (
        "行业：制造业",
        "职工人数 80 人，不超过 100 人",
        "具有高新技术企业资质",
    )
    assert result.unknown == ()


def test_one_failed_condition_fails_the_whole_even_when_another_is_unknown() -> None:
    raw = {
        "all": [
            {"field": "employees", "op": "<=", "value": 100},
            {"field": "qualifications", "op": "has", "value": "科技型中小企业"},
        ]
    }
    assert check(raw).verdict is Verdict.FAILS
    assert check(raw).reasons == ("未登记科技型中小企业资质",)
    unknown_size = check(raw, UNKNOWN_SIZE)  # employees unknown, but the qualification fails
    assert unknown_size.verdict is Verdict.FAILS


def test_a_missing_field_leaves_the_answer_open_and_names_the_condition() -> None:
    result = check(
        HIGH_TECH_SMALL_MAKER,
        Profile("x", "y", industry="制造业", qualifications=("高新技术企业",)),
    )
    assert result.verdict is Verdict.UNKNOWN
    assert result.unknown == (Check("employees", "<=", 100),)
    assert [u["text"] for u in result.unknown_json()] == ["职工人数不超过 100 人"]
    assert result.reasons == ("行业：制造业", "具有高新技术企业资质")  # what is already met


def test_any_holds_on_one_branch_even_when_another_is_unknown() -> None:
    raw = {
        "any": [
            {"field": "founded", "op": ">=", "value": "2024-01-01"},
            {"field": "qualifications", "op": "has", "value": "专精特新中小企业"},
        ]
    }
    assert check(raw).verdict is Verdict.MEETS
    assert check(raw).reasons == ("具有专精特新中小企业资质",)
    nothing = Profile("x", "y")
    assert check(raw, nothing).verdict is Verdict.UNKNOWN  # founded unknown, no qualification
    assert check(raw, nothing).unknown == (Check("founded", ">=", dt.date(2024, 1, 1)),)
    old = Profile("x", "y", founded=dt.date(2010, 1, 1))
    assert check(raw, old).verdict is Verdict.FAILS
    assert check(raw, old).reasons == (
        "成立于2010年1月1日，早于2024年1月1日",
        "未登记专精特新中小企业资质",
    )


@pytest.mark.parametrize(
    ("raw", "verdict", "reason"),
    [
        (
            {"field": "employees", "op": "<", "value": 80},
            Verdict.FAILS,
            "职工人数 80 人，不少于 80 人",
        ),
        (
            {"field": "employees", "op": ">", "value": 50},
            Verdict.MEETS,
            "职工人数 80 人，超过 50 人",
        ),
        (
            {"field": "employees", "op": ">=", "value": 100},
            Verdict.FAILS,
            "职工人数 80 人，少于 100 人",
        ),
        ({"field": "employees", "op": "==", "value": 80}, Verdict.MEETS, "职工人数：80 人"),
        (
            {"field": "town", "op": "in", "value": ["溪口街道", "禾丰镇"]},
            Verdict.MEETS,
            "所在镇街：禾丰镇",
        ),
        (
            {"field": "town", "op": "in", "value": ["溪口街道"]},
            Verdict.FAILS,
            "所在镇街：禾丰镇，不属于溪口街道",
        ),
        (
            {"field": "industry", "op": "not_in", "value": ["房地产业"]},
            Verdict.MEETS,
            "行业：制造业，不属于房地产业",
        ),
        ({"field": "industry", "op": "!=", "value": "制造业"}, Verdict.FAILS, "行业：制造业"),
        (
            {"field": "founded", "op": "<=", "value": "2019-05-08"},
            Verdict.MEETS,
            "成立于2019年5月8日，不晚于2019年5月8日",
        ),
        (
            {"field": "founded", "op": ">", "value": "2019-05-08"},
            Verdict.FAILS,
            "成立于2019年5月8日，不晚于2019年5月8日",
        ),
        ({"field": "tags", "op": "has", "value": "规上工业"}, Verdict.MEETS, "带有“规上工业”标签"),
    ],
)
def test_each_operator_with_known_answers(
    raw: dict[str, Any], verdict: Verdict, reason: str
) -> None:
    result = check(raw)
    assert (result.verdict, result.reasons) == (verdict, (reason,))


def test_requirements_read_as_sentences_for_staff() -> None:
    assert requirement(Check("founded", "<", dt.date(2020, 1, 1))) == "成立日期早于2020年1月1日"
    assert requirement(Check("industry", "in", ("批发业", "零售业"))) == "行业属于批发业、零售业"
    assert requirement(Check("town", "==", "禾丰镇")) == "所在镇街为禾丰镇"
