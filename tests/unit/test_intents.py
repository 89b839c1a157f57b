"""Short replies: numbered choices and facet follow-ups (known answers)."""

from __future__ import annotations

import pytest

from handlers.intents import asks_exempt_list, detect_facet, is_follow_up, parse_choice


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
