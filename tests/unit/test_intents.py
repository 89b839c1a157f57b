"""Short replies: numbered choices and facet follow-ups (known answers)."""

from __future__ import annotations

import pytest

from handlers.intents import (
    asks_benefit,
    asks_exempt_list,
    detect_facet,
    is_follow_up,
    may_follow_up,
    parse_choice,
)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("2", 2),
        ("２", 2),
        (" 3。", 3),
        ("第二个", 2),
        ("选1", 1),
        ("十", 10),
        ("12", 12),
        ("123", None),
        ("2个月", None),
        ("低保", None),
        ("", None),
    ],
)
def test_parse_choice(text: str, number: int | None) -> None:
    assert parse_choice(text) == number


@pytest.mark.parametrize(
    ("text", "facet", "follow_up"),
    [
        ("那要什么材料？", "materials", True),
        ("需要准备哪些材料", "materials", True),
        ("多久到账", "time_limit", True),
        ("多久能到账？", "time_limit", True),
        ("电话多少", "phone", True),
        ("咨询电话是多少", "phone", True),
        ("在哪里办", "location", True),
        ("申请条件是什么", "conditions", True),
        ("能领多少钱", "standard", True),
        ("办理流程", "process", True),
        ("低保要什么材料", "materials", False),  # names a topic: a new question
        ("公租房电话多少", "phone", False),
        ("低保怎么申请", "process", False),
        ("灵活就业人员社保补贴", None, False),
        ("谢谢", None, False),
    ],
)
def test_facets_and_follow_ups(text: str, facet: str | None, follow_up: bool) -> None:
    assert detect_facet(text) == facet
    assert is_follow_up(text) is follow_up


@pytest.mark.parametrize(
    "text", ["免申即享政策清单", "免审即享政策清单", "免申即享的政策有哪些？", "免申即享目录"]
)
def test_asking_for_the_exempt_list(text: str) -> None:
    assert asks_exempt_list(text)


@pytest.mark.parametrize(
    "text", ["免申即享有什么条件", "免申即享政策", "补贴政策清单", "首次入规奖励免申即享吗"]
)
def test_not_a_request_for_the_exempt_list(text: str) -> None:
    assert not asks_exempt_list(text)


@pytest.mark.parametrize(
    ("text", "may"),
    [
        ("那要多久能批下来", True),  # a facet, and it points back
        ("这个在哪办", True),
        ("电话多少", True),
        ("那个呢", True),  # points back, no facet
        ("公租房要什么材料", True),  # a facet: the library decides whether it names a subject
        ("低保", False),
        ("我家老头子中风了瘫在床上儿女都在外地打工，听说有上门服务补贴，咋弄要什么材料", False),
    ],
)
def test_may_follow_up(text: str, may: bool) -> None:
    assert may_follow_up(text) is may


@pytest.mark.parametrize(
    ("text", "facet", "benefit"),
    [
        ("小微企业有什么税收优惠", "standard", True),
        ("残疾人有哪些补贴", "standard", True),
        ("稳岗补贴怎么领", "process", False),
        ("稳岗补贴需要申请吗", "process", False),
        ("低保找谁", "phone", False),
        ("能领多少", "standard", False),
        ("低保是什么", None, False),
    ],
)
def test_what_an_answer_leads_with(text: str, facet: str | None, benefit: bool) -> None:
    assert detect_facet(text) == facet
    assert asks_benefit(text) is benefit
