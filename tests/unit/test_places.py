"""Places and versions: which place a question asks about, which a policy belongs to, and which
of several versions of a scheme comes first (lexical path, a small library of our own)."""

from __future__ import annotations

from datetime import date
from functools import cache

import pytest

from policy_index.dates import parse_date
from policy_index.index import PolicyIndex, build_index, years_named
from policy_index.matching import Decision, candidate_pool, match
from policy_index.model import Library, Policy
from policy_index.places import Tier, gazetteer

HOME = "江屿省云州市青禾区"
SUMMARY = "年满80周岁的老年人按月领取高龄津贴，80至89周岁每人每月100元，由户籍所在地乡镇受理。"


def allowance(policy_id: str, issuer: str, title: str, day: str = "2023-05") -> Policy:
    return Policy(policy_id, title, issuer=issuer, date=parse_date(day), summary=SUMMARY)


@cache
def library() -> Library:
    return Library.of(
        [
            allowance("chaoyang", "朝阳市民政局", "朝阳市调整老年人高龄津贴政策"),
            allowance("qinghe", "青禾区民政局", "青禾区调整老年人高龄津贴政策"),
            allowance("state", "国务院", "国务院关于建立残疾人两项补贴制度的意见", "2015-09"),
            Policy(
                "dibao-2022",
                "青禾区2022年城乡低保标准调整通知",
                issuer="青禾区民政局",
                date=parse_date("2022"),
                summary="城乡低保标准每人每月提高到720元。",
            ),
            Policy(
                "dibao-2024",
                "青禾区2024年城乡低保标准调整通知",
                issuer="青禾区民政局",
                date=parse_date("2024"),
                summary="城乡低保标准每人每月提高到800元。",
            ),
        ]
    )


@cache
def index(home: str | None = HOME) -> PolicyIndex:
    return build_index(library(), home_region=home, today=date(2026, 1, 1))


@pytest.mark.parametrize(
    ("question", "place", "tier"),
    [
        ("2021四川省高龄老人补贴政策", "四川省", Tier.PROVINCE),
        ("重庆市九龙坡区高新技术企业认定的企业奖励", "九龙坡区", Tier.COUNTY),
        ("北京残疾人两项补贴多少钱", "北京市", Tier.PROVINCE),
        ("大厂县低保户需要什么条件", "大厂回族自治县", Tier.COUNTY),
        ("辽宁朝阳高龄津贴", "朝阳市", Tier.CITY),
        ("生二胎国家给补多少钱", "全国", Tier.NATION),
    ],
)
def test_the_place_a_question_names(question: str, place: str, tier: Tier) -> None:
    asked = gazetteer().asked(question)
    assert asked is not None
    assert (asked.name, asked.tier) == (place, tier)


@pytest.mark.parametrize("question", ["城区低保怎么申请", "高龄津贴多少钱", "和县里说的一样吗"])
def test_ordinary_words_are_not_places(question: str) -> None:
    assert gazetteer().asked(question) is None


def test_the_home_region_is_known_down_to_its_own_names() -> None:
    extended, home = gazetteer().with_home(HOME)
    assert home is not None
    assert home.tier is Tier.COUNTY
    assert [p.name for p in extended.chain(home)] == ["青禾区", "云州市", "江屿省", "全国"]
    assert extended.asked("青禾区高龄津贴") == home


def test_another_places_local_policy_is_never_the_direct_answer() -> None:
    result = match(index(), "四川省高龄老人补贴政策")
    assert (
        result.decision is not Decision.ANSWER
        or result.best is None
        or (result.best.id not in {"chaoyang", "qinghe"})
    )
    assert all(c.elsewhere for c in result.candidates if c.id in {"chaoyang", "qinghe"})


def test_a_place_the_library_has_nothing_for_gets_none() -> None:
    result = match(index(), "北京高龄津贴每月多少钱")
    assert result.decision is Decision.NONE


def test_a_national_policy_still_answers_a_question_about_a_place() -> None:
    result = match(index(), "北京残疾人两项补贴制度是怎么规定的")
    assert result.best is not None
    assert result.best.id == "state"
    assert not result.best.elsewhere


def test_the_place_named_is_preferred_to_home() -> None:
    result = match(index(), "朝阳市高龄津贴多少钱")
    assert result.best is not None
    assert result.best.id == "chaoyang"


def test_among_equal_fits_the_home_regions_policy_comes_first() -> None:
    assert [c.id for c in match(index(), "高龄津贴多少钱").candidates[:2]] == [
        "qinghe",
        "chaoyang",
    ]


def test_of_two_versions_the_newer_comes_first_unless_a_year_is_named() -> None:
    assert match(index(), "低保标准是多少").candidates[0].id == "dibao-2024"
    assert match(index(), "2022年低保标准是多少").candidates[0].id == "dibao-2022"


def test_years_a_title_names() -> None:
    assert years_named("关于做好2023—2025年就业工作的通知") == {2023, 2024, 2025}
    assert years_named("2024届毕业生求职创业补贴") == {2024}
    assert years_named("城市居民最低生活保障条例") == frozenset()


def _own_level(question: str, home: str | None = HOME) -> dict[str, float]:
    built = index(home)
    pool = candidate_pool(built, question)
    assert pool is not None
    ids = [built.targets[int(t)].id for t in pool.targets]
    return dict(zip(ids, pool.features["own_level"].tolist(), strict=True))


def test_with_no_place_named_national_and_home_policies_answer_whoever_asks() -> None:
    # Rule 3 of the labelling (a product rule): with no place named, a national policy that
    # answers always counts; another place's own policy only for that place's residents.
    level = _own_level("高龄津贴和残疾人两项补贴多少钱")
    assert (level["qinghe"], level["state"], level["chaoyang"]) == (1.0, 1.0, 0.0)
    # without a home region only the national one
    level = _own_level("高龄津贴和残疾人两项补贴多少钱", home=None)
    assert (level["qinghe"], level["state"], level["chaoyang"]) == (0.0, 1.0, 0.0)


def test_a_named_place_leaves_the_level_to_the_place_features() -> None:
    level = _own_level("朝阳市高龄津贴和残疾人两项补贴多少钱")
    assert set(level.values()) == {0.0}
