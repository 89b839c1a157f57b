"""What a question is about, as a library sees it (known answers on the bundled sample library
and on a library of the realworld shape)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from handlers import answers, subjects
from policy_index.index import PolicyIndex, build_index
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.model import Policy

SHAPED = Path(__file__).parents[1] / "data" / "realworld_shape_library.jsonl"


@cache
def index(shaped: bool = False) -> PolicyIndex:
    return build_index(read_library([SHAPED if shaped else SAMPLE_LIBRARY]))


@pytest.mark.parametrize(
    ("word", "generic"),
    [
        ("登记", True),  # 户口迁移登记, 不动产登记, 市场主体登记: nothing else in common
        ("补贴", True),
        ("贷款", True),  # 创业担保贷款, 助学贷款, 公积金贷款
        ("低保", False),  # an alias: it names its policy alone
        ("小微企业", False),  # its policies' titles share 个体工商户 / 贴息 …
        ("电梯", False),  # the two 加装电梯 policies share 既有住宅
        ("结婚", False),  # not in any title
    ],
)
def test_generic_words_of_the_sample_library(word: str, generic: bool) -> None:
    assert subjects.is_generic(index(), word) is generic


def test_generic_words_of_a_catalogue_export() -> None:
    assert subjects.is_generic(index(shaped=True), "登记")  # three unrelated registrations
    assert not subjects.is_generic(index(shaped=True), "低保")


def test_subject_words_leave_question_and_facet_words_out() -> None:
    assert subjects.subject_words(index(), "那要多久能批下来") == ("批下", "批下来")
    assert subjects.subject_words(index(), "结婚登记需要带什么") == ("结婚", "登记", "结婚登记")
    assert subjects.subject_words(index(), "我想了解一下低保的事") == ("低保",)


def test_a_guess_linked_only_by_a_generic_word_is_weak() -> None:
    words = subjects.subject_words(index(), "结婚登记需要带什么")
    estate = subjects.fit(index(), words, "qh-a-038")  # 不动产登记
    assert estate.shared == ("登记",)
    assert estate.weak
    low_income = subjects.fit(index(), ("低保",), "qh-b-001")
    assert not low_income.weak
    assert not low_income.foreign


def test_another_subject_is_a_title_word_the_policy_shown_lacks() -> None:
    shaped = index(shaped=True)
    assert not subjects.other_subject(shaped, "那要多久能批下来", "rw-01", refers_back=True)
    assert subjects.other_subject(shaped, "公租房要什么材料", "rw-01", refers_back=False)
    assert subjects.other_subject(index(), "加装电梯要什么材料", "qh-b-001", refers_back=False)
    assert not subjects.other_subject(index(), "低保要什么材料", "qh-b-001", refers_back=False)


def policy(**fields: str | bool) -> Policy:
    return Policy(id="p", title="某政策", **fields)  # type: ignore[arg-type]


def test_a_lead_from_the_summary_for_a_library_without_guides() -> None:
    summary = (
        "小型微利企业是指年应纳税所得额不超过300万元的企业。"
        "对小型微利企业减按25%计算应纳税所得额。自受理之日起20个工作日内办结。"
    )
    granted = answers.lead(index().library, policy(summary=summary), "standard", benefit=True)
    assert granted is not None
    assert granted.text == "对小型微利企业减按25%计算应纳税所得额。"  # not the definition
    when = answers.lead(index().library, policy(summary=summary), "time_limit")
    assert when is not None
    assert when.text == "自受理之日起20个工作日内办结。"


def test_nothing_to_apply_for_leads_a_how_to_question() -> None:
    flagged = answers.lead(index().library, policy(exempt_application=True), "process")
    assert flagged is not None
    assert flagged.label == "免申即享"
    said = answers.lead(
        index().library, policy(summary="企业无需申请，资金直接拨付。"), "materials"
    )
    assert said is not None
    assert said.text == "企业无需申请，资金直接拨付。"


def test_a_single_guess_must_hold_most_of_the_question() -> None:
    words = subjects.subject_words(index(), "孩子上小学怎么报名")
    school = subjects.fit(index(), words, "qh-a-019")  # 义务教育 … 生活补助: only 小学
    assert school.covered < subjects.COVERED_SHARE
    typo = subjects.subject_words(index(), "我妈今年住院医保报完还能再报吗")
    assert "我妈" not in typo
    assert "今年" not in typo


@pytest.mark.parametrize(
    ("text", "other"),
    [
        ("那要多久能批下来", False),
        ("低保金多久到账", False),  # its own alias
        ("那补贴多少", False),  # points back: a generic word is not another subject
        ("要带什么证件", False),
        ("医疗救助怎么申请", True),  # mentioned in a 低保 answer, but the subject of another
        ("残疾人补贴多少钱", True),
        ("公租房要什么材料", True),
    ],
)
def test_what_starts_over_after_the_low_income_card(text: str, other: bool) -> None:
    back = text.startswith(("那", "这"))
    assert subjects.other_subject(index(), text, "qh-b-001", refers_back=back) is other
