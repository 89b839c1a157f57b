"""Versions of one scheme: titles from other places or years read as the same thing, and a
direct answer's lead is measured over another scheme, not over its own versions."""

from __future__ import annotations

import pytest

from policy_index.index import build_index
from policy_index.matching import Candidate, broad_groups, one_scheme, runner_up
from policy_index.model import Library, Policy
from policy_index.normalise import normalise
from policy_index.places import gazetteer
from policy_index.schemes import alike, subject


def about(title: str) -> str:
    return subject(normalise(title), gazetteer())


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("龙城区农村危房改造补助标准", "农村危房改造资金补助标准（旌德县）"),
        ("育儿补贴制度实施方案", "天津市育儿补贴制度实施方案"),
        (
            "人力资源社会保障部 教育部 财政部关于延续实施一次性扩岗补助政策的通知（2023年）",
            "岱山县参照执行浙江省延续实施一次性扩岗补助政策（2024年）",
        ),
        (
            "刚察县自主就业退役士兵一次性经济补助发放",
            "邵阳县落实2014年度冬季自主就业退役士兵一次性经济补助",
        ),
    ],
)
def test_versions_of_one_scheme_read_alike(a: str, b: str) -> None:
    assert alike(about(a), about(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("宿迁市城乡医疗救助暂行办法", "西双版纳州城乡居民基本医疗保险实施办法"),
        ("失业保险条例", "三门峡市失业保险稳岗返还政策（2025年）"),
        ("住房公积金管理条例", "天津市住房公积金提取管理办法"),
        ("关于印发…的通知", "关于做好…工作的通知"),
    ],
)
def test_different_schemes_do_not(a: str, b: str) -> None:
    assert not alike(about(a), about(b))


def test_a_subject_drops_issuers_places_years_and_the_kind_of_document() -> None:
    assert about("济南市人民政府办公厅关于调整2019年城乡低保标准的通知") == "城乡低保标准"


def test_the_lead_is_over_another_scheme() -> None:
    library = Library.of(
        [
            Policy("a", "甲县农村危房改造补助标准", summary="每户补助2万元。"),
            Policy("b", "乙县农村危房改造补助标准", summary="每户补助1.5万元。"),
            Policy("c", "城乡医疗救助办法", summary="低保对象住院自付部分按70%救助。"),
        ]
    )
    index = build_index(library)
    a, b, c = (
        Candidate(index.target_of("policy", i) or 0, "policy", i, i, s, covers=True)
        for i, s in (("a", 0.9), ("b", 0.85), ("c", 0.3))
    )
    assert one_scheme(index, a, b)
    assert not one_scheme(index, a, c)
    assert runner_up(index, [a, b, c]) == c
    assert broad_groups(index, [a, b, c]) == (0.9, 0.3)
