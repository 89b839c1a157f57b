"""The lexical first pass: a question it is sure about skips the query embedding."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest

from policy_index.calibration import LEXICAL, WITH_VECTORS, default_calibration
from policy_index.embedding import Vectors, _EngineThread
from policy_index.index import PolicyIndex, build_index
from policy_index.interchange import read_library
from policy_index.library import SAMPLE_LIBRARY
from policy_index.matching import Decision, match


class HashingEmbedder:
    """Deterministic unit vectors from a text's hash; counts the questions it embeds."""

    name = "hashing"
    dim = 16

    def __init__(self) -> None:
        self.questions: list[str] = []

    def _vectors(self, texts: Sequence[str]) -> Vectors:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)

    def queries(self, texts: Sequence[str], timeout: float | None = None) -> Vectors:
        self.questions.extend(texts)
        return self._vectors(texts)

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self._vectors(texts)

    def documents(self, texts: Sequence[str]) -> Vectors:
        return self._vectors(texts)


@lru_cache(maxsize=1)
def indexes() -> tuple[PolicyIndex, PolicyIndex, HashingEmbedder]:
    embedder = HashingEmbedder()
    with_vectors = build_index(read_library([SAMPLE_LIBRARY]), embedder=embedder)
    lexical = replace(with_vectors, unit_vectors=None, embedder=None)
    return with_vectors, lexical, embedder


def test_a_question_the_lexical_pass_is_sure_of_is_not_embedded() -> None:
    with_vectors, lexical, embedder = indexes()
    question = "就业见习补贴怎么申请"
    embedder.questions.clear()
    result = match(with_vectors, question)
    assert embedder.questions == []
    alone = match(lexical, question)
    assert result.decision is alone.decision is Decision.ANSWER
    assert [c.id for c in result.candidates] == [c.id for c in alone.candidates]


def test_a_vague_question_goes_on_to_the_vectors() -> None:
    with_vectors, _, embedder = indexes()
    embedder.questions.clear()
    result = match(with_vectors, "有啥补贴")
    assert len(embedder.questions) == 1
    assert result.decision is not Decision.ANSWER


def test_a_named_policy_is_answered_without_the_vectors() -> None:
    with_vectors, _, embedder = indexes()
    embedder.questions.clear()
    result = match(with_vectors, "青禾区就业见习补贴暂行办法")  # a title, word for word
    assert embedder.questions == []
    assert result.best is not None
    assert result.best.named


def test_the_lexical_pass_never_answers_below_its_sure_band() -> None:
    with_vectors, _, embedder = indexes()
    never = replace(WITH_VECTORS, sure=1.01)  # a band no confidence reaches: always embed
    embedder.questions.clear()
    match(with_vectors, "低保怎么申请", calibration=never)
    assert len(embedder.questions) == 1


def test_past_the_deadline_the_lexical_result_stands_without_a_vector() -> None:
    with_vectors, lexical, embedder = indexes()
    embedder.questions.clear()
    late = match(with_vectors, "有啥补贴", deadline=time.monotonic() - 1)
    assert embedder.questions == []
    alone = match(lexical, "有啥补贴")
    assert late.decision is alone.decision
    assert [c.id for c in late.candidates] == [c.id for c in alone.candidates]
    in_time = match(with_vectors, "有啥补贴", deadline=time.monotonic() + 60)
    assert embedder.questions == ["有啥补贴"]
    assert in_time.candidates


def test_the_engine_thread_withdraws_a_request_whose_caller_gave_up() -> None:
    engine = _EngineThread()
    ran: list[str] = []
    release = threading.Event()
    busy = threading.Thread(target=engine.call, args=(release.wait,))
    busy.start()  # occupies the engine
    with pytest.raises(TimeoutError):
        engine.call(lambda: ran.append("late"), timeout=0.05)
    release.set()
    busy.join()
    assert engine.call(lambda: "next") == "next"  # the engine goes on
    assert ran == []  # the abandoned request never ran


def test_a_stricter_configured_answer_band_also_binds_the_first_pass() -> None:
    strict = default_calibration(True, answer=0.9, margin=0.3, unknown=0.2)
    assert strict.first is not None
    assert strict.sure >= 0.9
    assert strict.first.margin >= 0.3
    assert strict.first.unknown <= 0.2
    lax = default_calibration(True, answer=0.3)
    assert lax.sure == WITH_VECTORS.sure  # a laxer band never makes the first pass laxer
    assert default_calibration(False).first is None
    assert WITH_VECTORS.first is LEXICAL
