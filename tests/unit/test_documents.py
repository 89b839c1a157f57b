"""Vectors over what a policy says: embedded once at index build, as passages, and kept in the
embedding cache; a question still costs one embedding."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from policy_index.calibration import WITH_VECTORS
from policy_index.embedding import EmbeddingCache, Vectors
from policy_index.index import build_index
from policy_index.matching import cosine_shares, match
from policy_index.model import Guide, Interpretation, Library, Policy


class CountingEmbedder:
    """Deterministic vectors; counts what it embeds, and how."""

    name = "counting"
    dim = 16

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.said: list[str] = []

    def _vectors(self, texts: Sequence[str]) -> Vectors:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)

    def queries(self, texts: Sequence[str], timeout: float | None = None) -> Vectors:
        self.asked.extend(texts)
        return self._vectors(texts)

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self._vectors(texts)

    def documents(self, texts: Sequence[str]) -> Vectors:
        self.said.extend(texts)
        return self._vectors(texts)


LIBRARY = Library.of(
    [
        Policy(
            "elderly",
            "青禾区高龄津贴发放办法",
            summary="年满80周岁的老年人每月领取高龄津贴。",
            guide=Guide(materials="身份证、户口簿"),
            interpretations=(Interpretation("一图读懂高龄津贴", summary="80岁以上按月发放。"),),
        ),
        Policy("bare", "青禾区临时救助办法"),
    ]
)


def test_what_each_policy_says_is_embedded_once_and_cached() -> None:
    embedder, cache = CountingEmbedder(), EmbeddingCache()
    index = build_index(LIBRARY, embedder=embedder, cache=cache)
    assert index.document_vectors is not None
    assert len(embedder.said) == 3  # summary, guide, interpretation — all with the title
    assert all(text.startswith("青禾区高龄津贴发放办法。") for text in embedder.said)
    assert "身份证、户口簿" in " ".join(embedder.said)
    build_index(LIBRARY, embedder=embedder, cache=cache)
    assert len(embedder.said) == 3  # a rebuild embeds nothing it has seen


def test_a_question_costs_one_embedding() -> None:
    embedder = CountingEmbedder()
    index = build_index(LIBRARY, embedder=embedder)
    every_time = replace(WITH_VECTORS, first=None)  # no lexical first pass: always embed
    result = match(index, "八十岁老人每月能领多少钱", calibration=every_time)
    assert len(embedder.asked) == 1
    assert {"doc_vector", "doc_rr", "doc_soft"} <= set(result.features)


def test_a_lead_in_cosine_counts_the_same_whatever_the_library_s_cosines() -> None:
    """e5's cosines run higher in one library than in another; what a lead of 0.01 is worth
    (the softmax at e5's training temperature) does not."""
    high = cosine_shares(np.asarray([0.92, 0.91, 0.85], dtype=np.float32))
    low = cosine_shares(np.asarray([0.62, 0.61, 0.55], dtype=np.float32))
    assert np.allclose(high, low, atol=1e-3)
    assert abs(float(high.sum()) - 1.0) < 1e-5
    assert 0.7 < high[0] < 0.75  # 0.01 ahead: e against 1
    assert high[2] < 1e-3  # 0.07 behind: out of the running
    assert not cosine_shares(np.zeros(3, dtype=np.float32)).any()  # no vectors, no share
