"""The question-level decision: a direct answer when the model is sure the best candidate is
right, with the configured bands as floors; a numbered choice otherwise."""

from __future__ import annotations

import numpy as np

from policy_index.calibration import (
    WITH_VECTORS,
    Calibration,
    DecisionModel,
    default_calibration,
    logit,
)
from policy_index.index import PolicyIndex, build_index
from policy_index.matching import Candidate, Decision, Pool, decide, decision_signals
from policy_index.model import Library, Policy

MODEL = DecisionModel({"confidence": 1.0, "rival": -1.0}, 0.0, answer=0.9)
BANDS = Calibration({}, 0.0, answer=0.99, clarify=0.4, margin=0.5, decision=MODEL)


def test_the_model_s_certainty_decides_instead_of_the_bands() -> None:
    # confidence 0.8 is below the band's 0.99 and its lead below 0.5: the model is sure
    assert decide(BANDS, score=0.8, margin=0.3, unknown=0.0, certainty=0.95) is Decision.ANSWER
    assert decide(BANDS, score=0.8, margin=0.3, unknown=0.0, certainty=0.85) is Decision.CLARIFY
    assert decide(BANDS, score=0.2, margin=0.1, unknown=0.0, certainty=0.5) is Decision.NONE


def test_a_question_two_schemes_hold_is_still_a_choice() -> None:
    got = decide(BANDS, score=0.9, margin=0.3, unknown=0.0, broad=(0.9, 0.6), certainty=0.99)
    assert got is Decision.CLARIFY


def test_configured_bands_bound_the_model() -> None:
    strict = default_calibration(True, answer=0.97, margin=0.4, unknown=0.2)
    assert strict.decision is not None
    assert (strict.decision.answer, strict.decision.margin, strict.decision.unknown) == (
        0.97,
        0.4,
        0.2,
    )
    assert decide(strict, score=0.9, margin=0.3, unknown=0.0, certainty=0.99) is Decision.CLARIFY
    assert decide(strict, score=0.9, margin=0.5, unknown=0.3, certainty=0.99) is Decision.CLARIFY
    assert decide(strict, score=0.9, margin=0.5, unknown=0.1, certainty=0.99) is Decision.ANSWER


def test_the_fitted_model_trusts_signals_that_agree() -> None:
    """One confidence, one rival: the best candidate that every signal ranks first is answered;
    not when both sentence-vector signals rank another first, nor when it is a Q&A pair whose
    question is mostly about something the library does not know."""
    model = WITH_VECTORS.decision
    assert model is not None
    agree = {
        "confidence": 0.85,  # 0.7
        "rival": -3.0,  # 0.05
        "unknown": 0.0,
        "first_by_vector": 1.0,
        "first_by_document": 1.0,
        "first_by_chars": 1.0,
        "first_by_words": 1.0,
        "words_share": 1.0,
        "qa_uncovered": 0.0,
    }
    disagree = agree | {"first_by_vector": 0.0, "first_by_document": 0.0}
    assert model.certainty(agree) >= model.answer
    assert model.certainty(disagree) < model.answer
    # faq-smoke's 结婚登记需要什么材料 against 不动产登记需要准备哪些材料 in a library of forty
    # Q&A pairs: every signal puts the pair first and nothing else scores, but half the
    # question's words are unknown to the library and its words cover a quarter of the pair's
    marriage = agree | {
        "confidence": logit(0.58),
        "rival": logit(0.0),
        "unknown": 0.5,
        "qa_uncovered": 0.72,
    }
    assert model.certainty(marriage) < model.answer
    assert model.certainty(marriage | {"qa_uncovered": 0.1}) >= model.answer


def _versions_pool() -> tuple[PolicyIndex, Pool, list[int]]:
    """Two years' versions of one 低保 notice and an unrelated policy, with word BM25 shares
    that put the 2022 version first and the 2024 one second."""
    library = Library.of(
        [
            Policy("dibao-2022", "青禾区2022年城乡低保标准调整通知", summary="每人每月720元。"),
            Policy("dibao-2024", "青禾区2024年城乡低保标准调整通知", summary="每人每月800元。"),
            Policy("elderly", "青禾区高龄津贴发放办法", summary="80周岁以上每月100元。"),
        ]
    )
    index = build_index(library)
    targets = [index.target_of("policy", i) for i in ("dibao-2022", "dibao-2024", "elderly")]
    assert all(t is not None for t in targets)
    at = [int(t) for t in targets if t is not None]
    features = {
        name: np.asarray(values, dtype=np.float32)
        for name, values in {
            "words_rel": [1.0, 0.9, 0.4],
            "chars_rel": [0.95, 1.0, 0.5],
            "vector": [0.91, 0.90, 0.85],
            "doc_vector": [0.88, 0.89, 0.80],
        }.items()
    }
    return index, Pool("低保标准", np.asarray(at, dtype=np.intp), features, frozenset()), at


def test_a_version_of_its_own_scheme_is_no_rival_for_first_place() -> None:
    # the 2024 notice is the answer (the newer version); the 2022 one beats it on words and on
    # the short-text cosine, but it is the same scheme, and the unrelated policy is behind
    index, pool, (_, new, other) = _versions_pool()
    best = Candidate(new, "policy", "dibao-2024", "dibao-2024", 0.8)
    rival = Candidate(other, "policy", "elderly", "elderly", 0.1)
    aside = decision_signals(pool, best, rival, index)
    assert (aside["first_by_words"], aside["first_by_vector"]) == (1.0, 1.0)
    counted = decision_signals(pool, best, rival)  # without the index, versions count
    assert (counted["first_by_words"], counted["first_by_vector"]) == (0.0, 0.0)
    # the unrelated policy is still a rival: were it first by words, the best would not be
    pool.features["words_rel"][2] = 1.2
    assert decision_signals(pool, best, rival, index)["first_by_words"] == 0.0


def test_confidences_near_zero_or_one_are_one_value_to_the_model() -> None:
    index, pool, (_, new, other) = _versions_pool()
    best = Candidate(new, "policy", "dibao-2024", "dibao-2024", 0.8)
    signals = [
        decision_signals(pool, best, Candidate(other, "policy", "elderly", "elderly", p), index)
        for p in (0.01, 0.0001, 0.0)
    ]
    assert signals[0]["rival"] == signals[1]["rival"] == signals[2]["rival"]
    higher = Candidate(other, "policy", "elderly", "elderly", 0.2)
    assert decision_signals(pool, best, higher, index)["rival"] > signals[0]["rival"]


def _levels_pool(place: str | None) -> tuple[PolicyIndex, Pool, dict[str, int]]:
    """The national 育儿补贴 scheme, 乌海's own 三孩 grant, the home county's 托育 subsidy and
    an unrelated national policy; word BM25 shares put 乌海's grant first, the home county's
    second, the national scheme third."""
    library = Library.of(
        [
            Policy("national", "育儿补贴制度实施方案", issuer="国务院办公厅", region="全国"),
            Policy("wuhai", "乌海市三孩一次性育儿补贴政策", issuer="乌海市卫生健康委员会"),
            Policy("home", "青禾区托育服务补贴办法", issuer="青禾区人民政府"),
            Policy("pension", "个人养老金实施办法", issuer="人力资源社会保障部", region="全国"),
        ]
    )
    index = build_index(library, home_region="江屿省云州市青禾区")
    ids = ("national", "wuhai", "home", "pension")
    at = {i: int(t) for i in ids if (t := index.target_of("policy", i)) is not None}
    assert len(at) == len(ids)
    features = {
        "words_rel": np.asarray([0.8, 1.0, 0.9, 0.1], dtype=np.float32),
        "vector": np.asarray([0.92, 0.91, 0.88, 0.80], dtype=np.float32),
    }
    asked = index.gazetteer.asked(place) if place and index.gazetteer else None
    targets = np.asarray([at[i] for i in ids], dtype=np.intp)
    return index, Pool("育儿补贴", targets, features, frozenset(), place=asked), at


def test_another_places_own_policy_is_no_rival_for_first_place_when_no_place_is_named() -> None:
    # "育儿补贴二胎能领吗", no place: the national scheme answers whoever asks, 乌海's grant
    # only 乌海's residents, so its sharing more words leaves the national scheme first; the
    # home county's own subsidy still counts (it answers the people this account serves)
    index, pool, at = _levels_pool(None)
    best = Candidate(at["national"], "policy", "national", "national", 0.8)
    rival = Candidate(at["pension"], "policy", "pension", "pension", 0.05)
    signals = decision_signals(pool, best, rival, index)
    assert signals["first_by_vector"] == 1.0
    assert signals["first_by_words"] == 0.0  # the home county's subsidy leads it on words
    pool.features["words_rel"][2] = 0.5
    assert decision_signals(pool, best, rival, index)["first_by_words"] == 1.0
    assert decision_signals(pool, best, rival)["first_by_words"] == 0.0  # no index: all count
    # the best is 乌海's own grant: the other candidates all count against it
    local = Candidate(at["wuhai"], "policy", "wuhai", "wuhai", 0.8)
    assert decision_signals(pool, local, rival, index)["first_by_vector"] == 0.0


def test_when_the_question_names_a_place_its_own_policy_counts_against_a_national_one() -> None:
    index, pool, at = _levels_pool("乌海市育儿补贴")
    assert pool.place is not None
    best = Candidate(at["national"], "policy", "national", "national", 0.8)
    rival = Candidate(at["pension"], "policy", "pension", "pension", 0.05)
    pool.features["words_rel"][2] = 0.5
    assert decision_signals(pool, best, rival, index)["first_by_words"] == 0.0
