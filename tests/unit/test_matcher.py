"""The matcher on the bundled sample library, lexical path (no sentence vectors needed)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from policy_index.evaluation import Outcome, evaluate, read_labelled
from policy_index.index import PolicyIndex, build_index, title_subject
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.matching import Decision, Terms, expand_aliases, match, title_cover
from policy_index.model import Library, QAPair
from policy_index.normalise import normalise

HOLDOUT = Path(__file__).resolve().parent.parent / "data" / "holdout_questions.jsonl"
DEV = Path(__file__).resolve().parent.parent / "data" / "dev_questions.jsonl"


@lru_cache(maxsize=1)
def sample_index() -> PolicyIndex:
    return build_index(read_library([SAMPLE_LIBRARY]))


def top(query: str) -> str | None:
    result = match(sample_index(), query)
    return result.best.id if result.best else None


def test_traditional_characters_match_like_simplified() -> None:
    assert top("見習補貼標準") == top("见习补贴标准")
    assert top("見習補貼標準") in {"qh-a-001", "qh-a-001-qa1", "qh-a-001-qa2"}


def test_homophone_typo_of_an_alias_finds_the_policy() -> None:
    result = match(sample_index(), "低宝怎么申请")
    assert result.best is not None
    assert result.best.group == "qh-b-001"  # 最低生活保障


def test_a_real_word_is_never_taken_for_a_homophone_of_an_alias() -> None:
    # 救济 sounds like the colloquial alias 救急 (→ 临时救助), but it is a word of its own.
    asked = "被公司辞退了 每个月能拿多少救济"
    assert "临时救助" not in expand_aliases(sample_index(), asked)
    result = match(sample_index(), asked)
    assert result.best is not None
    assert result.best.group != "qh-b-004"  # 临时救助
    assert "最低生活保障" in expand_aliases(sample_index(), "低宝一个月多少钱")


def test_a_homophone_is_never_read_across_a_word_the_user_typed() -> None:
    # 九几 sounds like 救急 (→ 临时救助), but 几年 is a word: the building is from the 1990s.
    asked = "我们那栋楼是九几年盖的 六层没电梯 想装个电梯 政府能出多少钱"
    assert "临时救助" not in expand_aliases(sample_index(), asked)
    result = match(sample_index(), asked)
    assert result.best is not None
    assert result.best.group == "qh-a-029"  # 既有住宅加装电梯财政补贴


def test_exempt_application_is_one_term_and_survives_a_typo() -> None:
    result = match(sample_index(), "免审即享政策有哪些")
    assert result.best is not None
    policy = sample_index().library.policy(result.best.group)
    assert policy is not None
    assert policy.exempt_application


def test_out_of_scope_and_empty_questions_get_none() -> None:
    assert match(sample_index(), "今天天气怎么样").decision is Decision.NONE
    assert match(sample_index(), "？？？").decision is Decision.NONE
    assert match(sample_index(), "").candidates == ()


def test_repealed_policy_gives_way_to_its_replacement() -> None:
    old = sample_index().library.policy("qh-b-002")
    assert old is not None
    assert old.replaced_by == "qh-b-001"
    result = match(sample_index(), "城乡居民最低生活保障怎么申请")
    ids = [c.id for c in result.candidates]
    assert "qh-b-002" not in ids
    assert result.best is not None
    assert result.best.group == "qh-b-001"


def test_named_old_policy_is_returned_and_flagged() -> None:
    result = match(sample_index(), "青民发〔2021〕9号还有效吗")
    assert result.decision is Decision.ANSWER
    assert result.best is not None
    assert result.best.id == "qh-b-002"
    assert result.best.named


def test_policy_without_replacement_is_dropped_once_expired() -> None:
    from dataclasses import replace
    from datetime import date

    base = read_library([SAMPLE_LIBRARY])
    lapsed = [
        replace(p, expiry_date=date(2020, 1, 1), replaced_by=None) if p.id == "qh-a-001" else p
        for p in base.policies
    ]
    index = build_index(Library.of(lapsed, base.qa_pairs, base.aliases))
    ids = [c.group for c in match(index, "就业见习补贴标准").candidates]
    assert "qh-a-001" not in ids


def lexical_figures(questions: Path) -> dict[str, Any]:
    """Quality figures of the lexical path over a labelled question file."""
    items = read_labelled(questions)
    index = sample_index()
    outcomes = [
        Outcome(r.decision.value, [c.id for c in r.candidates])
        for r in (match(index, i.query) for i in items)
    ]
    return evaluate(items, outcomes).figures()


def test_quality_floor_on_our_development_questions() -> None:
    """Lexical path only; the figures with sentence vectors are higher (bench/calibrate.py)."""
    figures = lexical_figures(DEV)
    # In-sample figures of the fitted bands: R@1 0.93, R@3 0.996, direct answers 96.2 % right,
    # 51 of the 56 out-of-scope questions not answered (cross-validated: bench/calibrate.py).
    assert figures["recall_at_1"] >= 0.88
    assert figures["recall_at_3"] >= 0.96
    assert figures["answer_accuracy"] >= 0.92
    assert figures["oos_not_answered"] >= 0.80


def test_quality_on_questions_written_after_the_fit() -> None:
    """tests/data/holdout_questions.jsonl was written without sight of the development set and
    is never fitted on: colloquial, typo, traditional, voice-like, short and enterprise
    questions, and 20 out of scope (14 of them near misses such as 独生子女父母奖励费)."""
    figures = lexical_figures(HOLDOUT)
    # Lexical path, December 2026: R@1 0.94, R@3 0.97, direct answers 96 % right, 18 of the
    # 20 out-of-scope questions not answered.
    assert figures["recall_at_1"] >= 0.88
    assert figures["recall_at_3"] >= 0.95
    assert figures["answer_accuracy"] >= 0.92
    assert figures["oos_not_answered"] >= 0.65


@pytest.mark.parametrize("query", ["公积金怎么提取", "孩子上幼儿园有补助吗", "八十岁老人有啥补贴"])
def test_answers_carry_calibrated_scores_in_order(query: str) -> None:
    result = match(sample_index(), query)
    scores = [c.score for c in result.candidates]
    # in order of confidence; equal fits (to two decimals) may come home first, then newer
    shown = [round(s, 2) for s in scores]
    assert shown == sorted(shown, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert len(result.candidates) <= 5


def test_configured_bands_override_the_calibrated_ones() -> None:
    from policy_index.calibration import default_calibration

    strict = default_calibration(False, answer=0.999, clarify=0.998)
    result = match(sample_index(), "提取住房公积金需要啥手续", calibration=strict)
    assert result.decision is Decision.NONE
    assert result.candidates  # still ranked, just not confident enough to answer
    assert default_calibration(False).answer < 0.999
    assert match(sample_index(), "提取住房公积金需要啥手续").decision is Decision.ANSWER
    # a stored question that holds the whole question is still offered, never answered
    held = match(sample_index(), "公积金怎么提取", calibration=strict)
    assert held.decision is Decision.CLARIFY
    assert held.candidates[0].group == "qh-a-025"


def groups(query: str) -> list[str]:
    result = match(sample_index(), query, top=15)
    return list(dict.fromkeys(c.group for c in result.candidates if c.covers))


def test_a_topic_many_titles_share_is_offered_as_a_choice() -> None:
    """One word that heads many policies' titles ("补贴") scores low against each of them,
    yet the user is offered them to choose from, not told nothing was found."""
    result = match(sample_index(), "补贴", top=15)
    assert result.decision is Decision.CLARIFY
    held = [sample_index().short[c.target] for c in result.candidates if c.covers]
    assert len({c.group for c in result.candidates if c.covers}) >= 5
    assert all(any("补贴" in text for text in texts) for texts in held)


def test_a_word_two_policies_are_named_by_is_not_answered_with_one() -> None:
    """ "公积金" heads both the withdrawal and the loan rules: the user chooses."""
    result = match(sample_index(), "公积金", top=15)
    assert result.decision is Decision.CLARIFY
    assert {"qh-a-025", "qh-a-027"} <= set(groups("公积金"))
    # naming one of them is not broad: only the loan rules hold it, and they come first
    assert groups("公积金贷款") == ["qh-a-027"]
    assert top("公积金贷款") in {"qh-a-027", "qh-a-027-qa1", "qh-a-027-qa2"}


def test_sentence_vectors_bring_paraphrases_together() -> None:
    from policy_index.embedding import load_embedder

    embedder = load_embedder()
    if embedder is None:
        pytest.skip("no sentence-embedding engine on this machine")
    question, right, wrong = embedder.queries(
        ["被公司辞退了每个月能领多少钱", "失业保险金申领标准", "耕地地力保护补贴发放"]
    )
    assert float(question @ right) > float(question @ wrong) + 0.01  # e5 cosines span ~0.8-1
    assert abs(float(question @ question) - 1.0) < 1e-3  # normalised: dot product = cosine


def test_words_the_library_never_uses_count_against_a_direct_answer() -> None:
    from policy_index.calibration import default_calibration
    from policy_index.matching import Terms, unknown_share
    from policy_index.normalise import normalise

    index = sample_index()

    def share(query: str) -> float:
        return unknown_share(index, Terms.of(index, normalise(query)))

    # 公积金 and 提取 are library words; 结婚 and 护照 are not.
    assert share("公积金提取要预约吗") == 0.0
    assert share("结婚登记要预约吗") > share("公积金提取要预约吗")
    assert share("护照怎么办理") > 0.0

    question = "住房公积金提取需要带护照吗"
    lenient = default_calibration(False, unknown=1.0)
    strict = default_calibration(False, unknown=0.0)
    assert match(index, question, calibration=lenient).decision is Decision.ANSWER
    strict_result = match(index, question, calibration=strict)
    assert strict_result.decision is not Decision.ANSWER
    assert strict_result.best is not None  # still offered as a choice, not lost


# A service hall's FAQ list (Q&A pairs only, no policies), as many counties publish one.
HALL_FAQ = (
    "不动产登记需要准备哪些材料",
    "营业执照办理需要多长时间",
    "社保卡丢了怎么补办",
    "公积金提取需要什么条件",
    "居住证怎么办理",
    "医保异地就医怎么备案",
    "失业保险金怎么申领",
    "灵活就业人员怎么参加养老保险",
    "新生儿怎么办理医保",
    "残疾人两项补贴怎么申请",
    "高龄津贴发放标准是多少",
    "创业担保贷款申请条件",
)


@lru_cache(maxsize=1)
def hall_index() -> PolicyIndex:
    pairs = [QAPair(f"faq-{i}", q, answer="（答复）") for i, q in enumerate(HALL_FAQ)]
    return build_index(Library.of((), pairs))


@pytest.mark.parametrize("asked", ["结婚登记需要什么材料", "二手车过户要带什么材料"])
def test_a_different_thing_with_the_same_frame_is_not_answered(asked: str) -> None:
    # Only "登记"/"过户" and "材料" are shared with 不动产登记需要准备哪些材料: the question is
    # about something else, and must not get that FAQ's answer as if it were its own.
    assert match(hall_index(), asked).decision is not Decision.ANSWER


@pytest.mark.parametrize("asked", ["办不动产登记要带哪些材料", "房子过户要带什么材料"])
def test_the_same_thing_asked_loosely_is_answered(asked: str) -> None:
    result = match(hall_index(), asked)
    assert result.best is not None
    assert result.best.id == "faq-0"
    assert result.decision is Decision.ANSWER


def test_a_title_is_about_what_follows_its_issuers() -> None:
    issued = "江屿省人力资源和社会保障厅 江屿省财政厅关于继续实施失业保险稳岗返还政策的通知"
    assert title_subject(issued) == "继续实施失业保险稳岗返还政策的通知"
    assert title_subject("青禾区就业见习补贴暂行办法") == "青禾区就业见习补贴暂行办法"


def test_one_character_words_count_in_what_a_title_is_about() -> None:
    """ "3孩奖励" is about the third child, not about any 奖励: a question on another reward
    does not cover it."""
    index = sample_index()
    third_child = index.target_of("policy", "qh-b-037")
    assert third_child is not None

    def cover(question: str) -> float:
        words = Terms.of(index, normalise(question)).words
        return title_cover(index, words, [third_child])[0]

    assert cover("三孩奖励") == pytest.approx(1.0)
    assert cover("独生子女父母奖励费") < 0.5
