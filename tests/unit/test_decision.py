"""The question-level decision: a direct answer when the model is sure the best candidate is
right, with the configured bands as floors; a numbered choice otherwise."""

from __future__ import annotations

from policy_index.calibration import WITH_VECTORS, Calibration, DecisionModel, default_calibration
from policy_index.matching import Decision, decide

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
    question is mostly about something else."""
    model = WITH_VECTORS.decision
    assert model is not None
    agree = {
        "confidence": 1.4,  # 0.8
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
    # a Q&A pair whose question the user's words cover a quarter of (结婚登记 → 不动产登记)
    assert model.certainty(agree | {"qa_uncovered": 0.75}) < model.answer
    assert model.certainty(agree | {"qa_uncovered": 0.1}) >= model.answer
