"""What each menu key answers, computed from known libraries on a fixed date."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any

import pytest

from bot.config import Settings
from bot.questions import AnswerCount
from bot.wechat import TEXT_LIMIT_BYTES
from handlers import menu, texts
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.model import Library, Policy, QAPair, Status

TODAY = date(2026, 6, 1)

MakePolicy = Callable[..., Policy]


@pytest.fixture
def make_policy() -> MakePolicy:
    counter = iter(range(1, 10_000))

    def make(**fields: Any) -> Policy:
        n = next(counter)
        values: dict[str, Any] = {"id": f"p{n}", "title": f"政策{n}", "audience": ("个人",)}
        values.update(fields)
        return Policy(**values)

    return make


@lru_cache(maxsize=1)
def sample() -> Library:
    return read_library([SAMPLE_LIBRARY])


def size(text: str) -> int:
    return len(text.encode())


def test_exempt_lists_policies_in_force_and_never_repealed_or_lapsed(
    make_policy: MakePolicy,
) -> None:
    library = Library.of(
        [
            make_policy(
                title="首次入规奖励免申即享办法",
                exempt_application=True,
                audience=("企业",),
                expiry_date=date(2027, 12, 31),
                date=date(2025, 3, 1),
            ),
            make_policy(title="高龄津贴免申即享", exempt_application=True, date=date(2026, 1, 5)),
            make_policy(title="已废止的免申办法", exempt_application=True, status=Status.REPEALED),
            make_policy(title="已修改的免申办法", exempt_application=True, status=Status.AMENDED),
            make_policy(
                title="过期的免申办法", exempt_application=True, expiry_date=date(2026, 5, 31)
            ),
            make_policy(title="要申请的补贴办法"),
        ]
    )
    text = menu.exempt_text(library, TODAY)
    assert text.startswith("【免申即享】")
    assert "截至2026年6月1日" in text
    assert "1. 高龄津贴免申即享（面向个人）" in text  # newest first
    assert "2. 首次入规奖励免申即享办法（面向企业，有效期至2027年12月31日）" in text
    for absent in ("已废止", "已修改", "过期", "要申请"):
        assert absent not in text


def test_exempt_without_any_says_so(make_policy: MakePolicy) -> None:
    library = Library.of([make_policy(title="要申请的补贴办法")])
    assert "没有正在执行的免申即享政策" in menu.exempt_text(library, TODAY)


def test_a_long_list_is_shortened_to_fit_and_says_how_many_are_left(
    make_policy: MakePolicy,
) -> None:
    long_title = "关于进一步优化营商环境支持市场主体高质量发展若干措施的免申即享实施细则"
    library = Library.of(
        make_policy(title=f"{long_title}{n}", exempt_application=True) for n in range(40)
    )
    text = menu.exempt_text(library, TODAY)
    assert size(text) <= TEXT_LIMIT_BYTES
    shown = sum(1 for line in text.splitlines() if line[:1].isdigit())
    assert 5 <= shown <= menu.EXEMPT_SHOWN
    assert f"另有 {40 - shown} 条未列出" in text
    assert text.endswith("直接发送政策名称或关键词即可。")  # never cut mid-line


def test_topics_for_an_audience_count_only_policies_in_force(make_policy: MakePolicy) -> None:
    library = Library.of(
        [
            make_policy(topics=("社会救助", "困难群众")),
            make_policy(topics=("社会救助",), audience=("个人", "企业")),
            make_policy(topics=("社会救助",), status=Status.REPEALED),
            make_policy(topics=("企业扶持",), audience=("企业",)),
        ]
    )
    assert menu.audience_topics(library, TODAY, "个人") == [("社会救助", 2), ("困难群众", 1)]
    assert menu.audience_topics(library, TODAY, "企业") == [("社会救助", 1), ("企业扶持", 1)]
    text = menu.topics_text(library, TODAY, "个人")
    assert text.startswith("【个人办事】")
    assert "· 社会救助（2 条）" in text
    assert "企业扶持" not in text


def test_hot_questions_stand_in_skips_policies_no_longer_in_force(
    make_policy: MakePolicy,
) -> None:
    current = make_policy(id="cur")
    repealed = make_policy(id="old", status=Status.REPEALED)
    library = Library.of(
        [current, repealed],
        [
            QAPair("q1", "低保怎么申请？", "……", similar=("a",), policy_id="cur"),
            QAPair("q2", "低保标准多少？", "……", similar=("a", "b"), policy_id="cur"),
            QAPair("q3", "旧办法怎么办？", "……", similar=("a", "b", "c"), policy_id="old"),
            QAPair("q4", "政务服务中心几点上班？", "……", similar=("a",)),
        ],
    )
    chosen = menu.hot_questions_from_library(library, TODAY)
    assert [q.id for q in chosen] == ["q2", "q4"]  # one per policy, most phrasings first
    assert [q.id for q in menu.hot_questions_from_library(library, TODAY, audience="个人")] == [
        "q2"
    ]
    text = menu.hot_questions_text(library, TODAY)
    assert "1. 低保标准多少？" in text
    assert "旧办法" not in text


def test_hot_questions_are_the_most_asked_answers_of_the_log(make_policy: MakePolicy) -> None:
    library = Library.of(
        [
            make_policy(id="cur", title="低保办法"),
            make_policy(id="oth", title="医保办法"),
            make_policy(id="bare", title="加装电梯补贴办法"),
            make_policy(id="old", status=Status.REPEALED),
        ],
        [
            QAPair("q1", "低保怎么申请？", "……", similar=("a",), policy_id="cur"),
            QAPair("q2", "低保标准多少？", "……", similar=("a", "b"), policy_id="cur"),
            QAPair("q3", "医保交多少？", "……", policy_id="oth"),
            QAPair("q4", "政务服务中心几点上班？", "……", similar=("a",)),
            QAPair("q5", "旧办法怎么办？", "……", policy_id="old"),
        ],
    )
    asked = [
        AnswerCount("qa", "q3", 9),
        AnswerCount("policy", "bare", 7),  # no Q&A pair: listed by its title
        AnswerCount("policy", "cur", 5),  # listed by its most rephrased Q&A question
        AnswerCount("qa", "q1", 4),  # the same policy again: one line per policy
        AnswerCount("policy", "old", 3),  # repealed: never listed
        AnswerCount("qa", "gone", 3),  # no longer in the library
        AnswerCount("qa", "q4", 1),  # asked once: not hot yet
    ]
    assert menu.hot_questions(library, TODAY, asked) == [
        "医保交多少？",
        "《加装电梯补贴办法》",
        "低保标准多少？",
        "政务服务中心几点上班？",  # filled in from the library's own list
    ]
    assert menu.hot_questions(library, TODAY) == [
        "低保标准多少？",
        "政务服务中心几点上班？",
        "医保交多少？",
    ]
    text = menu.hot_questions_text(library, TODAY, asked)
    assert text.splitlines()[1] == "1. 医保交多少？"


def test_contact_names_the_hotline_12345_and_disclosure_on_request() -> None:
    default = texts.menu_contact(Settings())
    assert default.count("12345") == 1
    assert "依申请公开" in default
    assert "20 个工作日" in default
    local = texts.menu_contact(Settings(hotline="0596-7280000"))
    assert "咨询电话：0596-7280000" in local
    assert "12345" in local


def test_my_subscriptions_lists_what_one_follows_or_how_to_start() -> None:
    catalogue = [("就业创业", "就业补贴"), ("救助", "低保")]
    empty = texts.my_subscriptions([], catalogue)
    assert "还没有订阅" in empty
    assert "订阅 主题名" in empty
    assert "就业创业" in empty
    some = texts.my_subscriptions(["救助"], catalogue)
    assert "您订阅的主题：救助" in some
    assert "退订 全部" in some


def test_an_empty_library_gets_a_plain_answer() -> None:
    empty = Library()
    for text in (
        menu.topics_text(empty, TODAY, "个人"),
        menu.exempt_text(empty, TODAY),
        menu.hot_questions_text(empty, TODAY),
    ):
        assert text == texts.MENU_LIBRARY_EMPTY


@pytest.mark.parametrize(
    "reply",
    [
        lambda lib, day: menu.topics_text(lib, day, "个人"),
        lambda lib, day: menu.topics_text(lib, day, "企业"),
        menu.exempt_text,
        menu.hot_questions_text,
    ],
    ids=["personal", "enterprise", "exempt", "hot"],
)
@pytest.mark.parametrize("day", [date(2024, 1, 1), TODAY, date(2030, 1, 1)])
def test_sample_library_replies_fit_wechat(reply: Any, day: date) -> None:
    text = reply(sample(), day)
    assert 0 < size(text) <= TEXT_LIMIT_BYTES


def test_sample_exempt_list_on_a_fixed_date() -> None:
    lapsed = dataclasses.replace(
        sample().policy("qh-b-019"),  # type: ignore[type-var]
        id="x-lapsed",
        title="一条已过期的免申即享办法",
        expiry_date=date(2026, 5, 1),
    )
    library = Library.of([*sample().policies, lapsed])
    text = menu.exempt_text(library, TODAY)
    for pid in ("qh-b-019", "qh-b-025", "qh-a-022", "qh-a-031"):
        title = library.policy(pid).title  # type: ignore[union-attr]
        assert title in text
    assert "已过期" not in text


def test_the_exempt_topic_counts_what_the_exempt_list_shows(make_policy: MakePolicy) -> None:
    library = Library.of(
        [
            make_policy(
                topics=("免申即享", "企业扶持"), audience=("企业",), exempt_application=True
            ),
            make_policy(topics=("企业扶持",), audience=("企业",), exempt_application=True),
            make_policy(topics=("免申即享",), audience=("个人", "企业")),  # filed under the topic
            make_policy(topics=("免申即享",), status=Status.REPEALED, exempt_application=True),
        ]
    )
    listed = menu.exempt_policies(library, TODAY)
    assert len(listed) == 3
    for audience, count in (("企业", 3), ("个人", 1)):
        assert dict(menu.audience_topics(library, TODAY, audience))["免申即享"] == count
        assert count == sum(audience in p.audience for p in listed)
    text = menu.exempt_text(library, TODAY)
    assert text.count("\n1. ") + text.count("\n2. ") + text.count("\n3. ") == 3
