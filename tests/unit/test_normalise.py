"""Normalisation: the same canonical text for the ways residents type the same question."""

from __future__ import annotations

import pytest

from policy_index.normalise import chinese_number, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("請問，見習補貼標準是多少？", "见习补贴标准是多少"),
        ("嗯嗯那个我想问一下八十岁老人有啥补贴吗", "80岁老人有啥补贴"),
        ("你好你好，低保怎么申请呢谢谢", "低保怎么申请"),
        ("免申即享政策清单！！！", "免申即享政策清单"),
        ("ＡＢＣ１２３　社保", "abc123 社保"),
        ("一万二千五百元", "12500元"),
        ("三孩家庭育儿补贴怎么领啊", "3孩家庭育儿补贴怎么领"),
        ("啊啊啊啊社保", "社保"),
        # a year read out digit by digit, as voice input writes it
        ("孩子是二零二四年出生的", "孩子是2024年出生的"),
        ("一二级残疾", "一二级残疾"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_words_that_only_look_like_fillers_survive() -> None:
    assert normalise("怎么办") == "怎么办"
    assert normalise("一次性吸纳就业补贴") == "一次性吸纳就业补贴"
    assert normalise("统一社会信用代码") == "统一社会信用代码"


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("八十", 80),
        ("十五", 15),
        ("一万二千", 12000),
        ("三千五百", 3500),
        ("两万", 20000),
        ("一二", None),
        # amounts as people say them: a digit after a unit counts in the next unit down
        ("三千六", 3600),
        ("一万二", 12000),
        ("一百五", 150),
        ("三千零六", 3006),
        ("五百零五", 505),
    ],
)
def test_chinese_numbers(numeral: str, value: int | None) -> None:
    assert chinese_number(numeral) == value
