"""Grouping unanswered questions by similarity (known answers on residents' phrasings)."""

from __future__ import annotations

import random
import time

import pytest

from bot.grouping import THRESHOLD, cluster, content, similarity
from policy_index.normalise import normalise


def group_texts(questions: list[str], threshold: float = THRESHOLD) -> list[list[str]]:
    items = list(enumerate(questions))
    return [
        [text for _, text in c.members]
        for c in cluster(items, key=lambda item: normalise(item[1]), threshold=threshold)
    ]


def test_content_drops_the_words_that_only_make_a_question() -> None:
    assert content(normalise("请问怎么考驾照？？")) == "考驾照"
    assert content(normalise("驾照怎么考")) == "驾照考"
    assert content("什么 吗") == "什么吗"  # nothing but question words: kept as it is


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("怎么考驾照", "驾照怎么考？"),
        ("怎么考驾照", "考驾照需要什么条件"),
        ("垃圾分类怎么罚款", "垃圾分类罚款标准"),
        ("小孩上学户口", "孩子上学需要户口吗"),
        ("新能源车补贴", "新能源汽车补贴怎么领"),
    ],
)
def test_rephrasings_of_one_question_are_alike(a: str, b: str) -> None:
    assert similarity(content(normalise(a)), content(normalise(b))) >= THRESHOLD
    assert len(group_texts([a, b])) == 1  # the vectorised clustering agrees


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("怎么考驾照", "怎么办护照"),
        ("养狗要办证吗", "驾照要办证吗"),
        ("公积金贷款额度", "公积金怎么提取"),
        ("新能源车补贴", "新能源车充电桩"),
        ("办护照要多久", "办身份证要多久"),
        ("老人坐公交免费吗", "学生坐公交打折吗"),
    ],
)
def test_different_questions_on_shared_topics_stay_apart(a: str, b: str) -> None:
    assert similarity(content(normalise(a)), content(normalise(b))) < THRESHOLD
    assert len(group_texts([a, b])) == 2


def test_groups_are_largest_first_and_members_keep_their_order() -> None:
    questions = ["养狗要办证吗", "考驾照需要什么条件", "怎么考驾照", "怎么办护照", "驾照怎么考？"]
    assert group_texts(questions) == [
        ["考驾照需要什么条件", "怎么考驾照", "驾照怎么考？"],
        ["养狗要办证吗"],
        ["怎么办护照"],
    ]


def test_leaders_do_not_chain_different_questions_together() -> None:
    # Each neighbour is alike, the ends are not: single linkage would make one group.
    chain = ["社区食堂在哪", "社区食堂在哪里吃饭", "社区哪里吃饭便宜"]
    assert similarity(content(chain[0]), content(chain[2])) < THRESHOLD
    assert all(len(g) < 3 for g in group_texts(chain))


def test_grouping_depends_only_on_the_questions() -> None:
    questions = ["驾照怎么考", "怎么考驾照", "考驾照需要什么条件", "怎么考驾照"]
    shuffled = [questions[i] for i in (2, 0, 3, 1)]
    assert [sorted(g) for g in group_texts(questions)] == [sorted(g) for g in group_texts(shuffled)]


def test_the_threshold_is_respected() -> None:
    questions = ["怎么考驾照", "驾照怎么考"]
    assert len(group_texts(questions, threshold=0.8)) == 2
    assert len(group_texts(questions, threshold=0.3)) == 1


def test_many_questions_group_quickly() -> None:
    rng = random.Random(7)
    han = [chr(c) for c in range(0x5000, 0x8000)]  # common CJK, none of them question words
    topics = ["".join(rng.sample(han, 4)) for _ in range(2000)]
    questions = [f"{t}怎么办理" for t in topics] + [f"请问{t}如何办理" for t in topics]
    started = time.perf_counter()
    groups = group_texts(questions)
    assert time.perf_counter() - started < 5  # about 0.15 s; generous for a busy machine
    assert len(groups) == 2000
    assert all(len(g) == 2 for g in groups)


def test_personal_numbers_are_masked_and_other_numbers_kept() -> None:
    from bot.privacy import mask_numbers

    assert mask_numbers("电话13812345678") == "电话138****5678"
    assert mask_numbers("卡号6222021234567890123") == "卡号622************0123"
    assert mask_numbers("２０２４年补贴3000元，80岁以上") == "２０２４年补贴3000元，80岁以上"
