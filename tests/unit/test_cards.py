"""Answer cards and numbered options: pure functions over the bundled sample library."""

from __future__ import annotations

import re
from datetime import date
from functools import cache

import pytest

from bot.config import Settings
from bot.conversations import Option
from bot.wechat.replies import TEXT_LIMIT_BYTES
from handlers import cards
from handlers.choices import (
    OVERVIEW,
    choice_options,
    facet_options,
    has_more,
    page_of,
    related_options,
    single_policy,
)
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.matching import Candidate, Decision, MatchResult
from policy_index.model import GUIDE_FIELDS, Library, Policy

TODAY = date(2026, 11, 22)
LINK = re.compile(r'<a href="[^"]*">[^<]*</a>')


@cache
def library() -> Library:
    return read_library([SAMPLE_LIBRARY])


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def policy(policy_id: str) -> Policy:
    found = library().policy(policy_id)
    assert found is not None
    return found


def candidate(kind: str, target_id: str, group: str, score: float) -> Candidate:
    return Candidate(0, kind, target_id, group, score)


def result(decision: Decision, *candidates: Candidate) -> MatchResult:
    return MatchResult("q", "q", decision, candidates)


def test_every_card_of_the_sample_library_fits_a_text_reply() -> None:
    lib, settings = library(), Settings()
    for p in lib.policies:
        card = cards.policy_card(p, lib, TODAY)
        assert size(card) <= TEXT_LIMIT_BYTES, p.id
        assert card.startswith(f"《{p.title}》")
        for facet in GUIDE_FIELDS:
            assert size(cards.facet_card(p, facet, settings)) <= TEXT_LIMIT_BYTES
    for qa in lib.qa_pairs:
        card = cards.qa_card(qa, lib, TODAY)
        assert size(card) <= TEXT_LIMIT_BYTES, qa.id
        assert qa.answer in card  # verbatim


def test_card_names_source_validity_and_links() -> None:
    card = cards.policy_card(policy("qh-b-001"), library(), TODAY)
    assert "文号：青民发〔2024〕5号" in card
    assert "效力：现行有效" in card
    assert '原文：<a href="https://www.qinghe.gov.cn/zwgk/zcwj/2024/qh-b-001.html">' in card
    assert card.count("解读：<a href=") == 2


def test_a_repealed_policy_names_its_current_replacement() -> None:
    card = cards.policy_card(policy("qh-b-002"), library(), TODAY)
    assert "效力：已废止" in card
    assert "现行政策：《青禾区最低生活保障实施办法》（青民发〔2024〕5号）" in card
    assert "回复“1”" in card


def test_an_answer_that_replaced_an_old_policy_says_so() -> None:
    card = cards.policy_card(policy("qh-b-001"), library(), TODAY, replaced="qh-b-002")
    assert "原《青禾区城乡居民最低生活保障实施办法》已废止" in card


def test_validity_shows_the_expiry_date_and_lapses_after_it() -> None:
    p = policy("qh-a-005")  # in force until 2027-12-31
    assert "现行有效（有效期至2027年12月31日）" in cards.policy_card(p, library(), TODAY)
    assert "效力：已失效" in cards.policy_card(p, library(), date(2028, 1, 1))


def test_compose_drops_expendable_lines_first_and_never_cuts_a_link() -> None:
    link = cards.link("https://example.org/a?b=1", "原文")
    lines = [
        cards.Line("标题"),
        cards.Line("长" * 500, drop=5, flexible=True),
        cards.Line(link),
        cards.Line("提示" * 100, drop=7),
    ]
    text = cards.compose(lines, limit=1200)
    assert size(text) <= 1200
    assert "提示" not in text  # dropped first
    assert link in text
    short = cards.compose(lines, limit=300)
    assert size(short) <= 300
    assert "长" not in short
    assert LINK.search(short)


def test_compose_shortens_free_text_when_nothing_is_left_to_drop() -> None:
    text = cards.compose([cards.Line("问：？"), cards.Line("答" * 1000, flexible=True)])
    assert size(text) <= TEXT_LIMIT_BYTES
    assert text.startswith("问：？\n答答")
    assert text.endswith("…")


def test_link_is_safe_inside_its_attribute() -> None:
    assert cards.link('https://x.org/a b"c', "t<") == '<a href="https://x.org/a%20b%22c">t＜</a>'


def test_gist_keeps_whole_opening_sentences() -> None:
    assert cards.gist("第一句。第二句。" + "长" * 100 + "。") == "第一句。第二句。"
    assert cards.gist("长" * 200).endswith("…")
    assert len(cards.gist("长" * 200)) == cards.GIST_CHARS


def test_options_are_one_per_policy_and_above_the_band() -> None:
    r = result(
        Decision.CLARIFY,
        candidate("policy", "qh-a-012", "qh-a-012", 0.9),
        candidate("qa", "qh-a-012-qa1", "qh-a-012", 0.85),
        candidate("qa", "qh-a-013-qa1", "qh-a-013", 0.8),
        candidate("policy", "qh-a-013", "qh-a-013", 0.7),
        candidate("policy", "qh-a-004", "qh-a-004", 0.2),
    )
    options = choice_options(r, band=0.3)
    assert options == (Option("policy", "qh-a-012"), Option("qa", "qh-a-013-qa1"))
    assert single_policy(r, options) is None
    assert related_options(r, band=0.3) == (*options, Option("policy", "qh-a-004"))


def test_one_policy_with_its_questions_is_a_facet_question() -> None:
    r = result(
        Decision.CLARIFY,
        candidate("qa", "qh-b-001-qa1", "qh-b-001", 0.4),
        candidate("policy", "qh-b-001", "qh-b-001", 0.36),
        candidate("qa", "qh-a-036-qa1", "qh-a-036", 0.05),
    )
    options = choice_options(r, band=0.33)
    assert single_policy(r, options) == "qh-b-001"
    facets = facet_options(library(), "qh-b-001")
    assert [o.id for o in facets] == [
        "conditions",
        "standard",
        "process",
        "materials",
        "phone",
        OVERVIEW,
    ]
    text = cards.facet_choice(policy("qh-b-001"), facets)
    assert "1. 申请条件" in text
    assert "5. 咨询电话" in text
    assert facet_options(library(), "qh-b-002") == ()  # no guide: show the card instead


def test_a_question_without_a_policy_is_not_a_facet_question() -> None:
    r = result(Decision.CLARIFY, candidate("qa", "qh-a-qa-003", "qh-a-qa-003", 0.39))
    assert single_policy(r, choice_options(r, band=0.33)) is None


@pytest.mark.parametrize(("page", "first", "count", "more"), [(0, 1, 3, True), (1, 4, 2, False)])
def test_pages_of_three(page: int, first: int, count: int, more: bool) -> None:
    options = tuple(Option("policy", f"p{n}") for n in range(5))
    start, shown = page_of(options, page)
    assert (start, len(shown), has_more(options, page)) == (first, count, more)


def test_choice_list_numbers_across_pages() -> None:
    ids = ("qh-a-021", "qh-a-004", "qh-a-027", "qh-b-021")
    options = tuple(Option("policy", i) for i in ids)
    first = cards.choice_list(library(), options, 0)
    assert first.startswith("您是想问：\n1. 《")
    assert "回复“更多”" in first
    second = cards.choice_list(library(), options, 1)
    assert "4. 《青禾区小微企业创业担保贷款贴息免申即享实施细则》" in second
    assert "更多" not in second
